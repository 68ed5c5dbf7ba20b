"""Paths, file names and defaults: the one place where they live."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.vocab import Backend, Unit

# Default folders, relative to the working directory (the repository root for `make`).
RAW_DIR = Path("data/raw")
OUT_DIR = Path("data/coded")
CODEBOOK_FILE = Path("codebook.yaml")

# Stage outputs inside OUT.
DOCUMENTS_FILE = "documents.parquet"
SEGMENTS_FILE = "segments.parquet"
CODINGS_FILE = "codings.parquet"
THEMES_FILE = "themes.parquet"
THEME_INFO_FILE = "theme_info.parquet"
THEME_SPREAD_FILE = "theme_spread.parquet"
TABLES_DIR = "tables"
WORKBOOK_FILE = "codeer.xlsx"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
KEY_FILE = "pseudonymisation_key.csv"  # inside PRIVATE_DIR, never referenced from exports
# Every replacement per document (what, where, why), to check before sharing; inside PRIVATE_DIR.
OVERVIEW_FILE = "pseudonymisation_overview.csv"
# Terms to keep, extra names to remove, district and month policy: read from beside the
# codebook when present (or --pseudonymisation FILE); see docs/pseudonimisering.md.
PSEUDONYMISATION_FILE = "pseudonimisering.yaml"
REVIEWS_FILE = "reviews.csv"
MEMOS_FILE = "memos.csv"  # append-only, like the review log
CALIBRATION_FILE = "calibration.yaml"
CACHE_DIR = "cache"
FIGURES_DIR = "figures"
PRIVATE_DIR = "private"

# Metadata sheet in RAW (first one found wins).
METADATA_FILES = ("interviews.csv", "interviews.xlsx")

# Transcript formats the ingest stage reads.
SUPPORTED_SUFFIXES = (".txt", ".md", ".docx", ".odt", ".vtt", ".srt")

# Files in RAW that are documentation, not transcripts.
IGNORED_RAW_FILES = ("README.md", "README.txt", "LICENSE", "SOURCES.md")

# Segmentation unit (see pipeline.vocab.Unit).
DEFAULT_UNIT = Unit.SENTENCE

# Embedding model: the rebuilt multilingual-e5-small folder (see pipeline.models).
# Texts per forward pass. Measured on 640 context windows of the x4 bench corpus (2 cores,
# quiet machine, texts/s): bs8 75-79, bs16 76-77, bs32 68, bs64 49-51. Smaller batches pad
# less (sentence-transformers sorts by length, but windows still differ within a batch).
EMBED_BATCH_SIZE = 16
# ONNX Runtime on the same windows (same machine): bs4 69-79, bs8 65-75, bs16 51-66.
ONNX_BATCH_SIZE = 8

# Seeds: every stochastic step uses this one.
SEED = 42


def cache_dir(out: Path) -> Path:
    """Where embeddings are cached: ``OUT/cache``, or ``$CODEER_CACHE_DIR`` to share one cache
    between several output folders (keys are model and text hashes, so sharing is safe)."""
    return Path(os.environ.get("CODEER_CACHE_DIR") or Path(out) / CACHE_DIR)


# How the embedding model runs: "torch" (sentence-transformers) or "onnx" (ONNX Runtime on the
# model's ONNX export, built by `codeer models`). Chosen per machine, not per analysis: the
# environment variable CODEER_BACKEND or `--backend` on run/code/themes.
BACKENDS = Backend.values()
DEFAULT_BACKEND = Backend.TORCH.value


def embed_backend() -> str:
    """The embedding backend of this process: ``$CODEER_BACKEND`` or :data:`DEFAULT_BACKEND`.

    Raises:
        CodeerError: If ``CODEER_BACKEND`` names no backend.
    """
    value = os.environ.get("CODEER_BACKEND", "").strip().lower() or DEFAULT_BACKEND
    if value not in BACKENDS:
        from pipeline.errors import CodeerError

        raise CodeerError(f"CODEER_BACKEND must be one of {', '.join(BACKENDS)}. "
                          f"Got '{value}' instead.")
    return value


def embed_batch_size(backend: str | None = None) -> int:
    """Texts per forward pass for ``backend`` (default: this process's backend)."""
    return ONNX_BATCH_SIZE if (backend or embed_backend()) == "onnx" else EMBED_BATCH_SIZE


def model_offline_env() -> None:
    """Forbid any model-hub traffic for this process (set before importing HF libraries)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
