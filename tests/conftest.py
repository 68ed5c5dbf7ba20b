"""Shared fixtures: paths to real Dutch texts, and a fast stand-in embedder for unit tests."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Tests check what researchers read, in their default language (Dutch); a contributor's
# CODEER_LANG=en (docs/vertalen.md) must not fail them. Tests that want English set it.
os.environ.pop("CODEER_LANG", None)
# One embedding cache for the whole session: several tests code the same demo interviews
# and debates in their own output folders, and need not embed them again.
if "CODEER_CACHE_DIR" not in os.environ:
    os.environ["CODEER_CACHE_DIR"] = tempfile.mkdtemp(prefix="codeer-test-cache-")
    # Removed when the session ends (it holds ~10 MB of vectors per session).
    atexit.register(shutil.rmtree, os.environ["CODEER_CACHE_DIR"], True)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
# Real Dutch texts copied into the repository, with their sources and licences in SOURCES.md.
CORPORA = DATA / "corpora"
DEBATES = CORPORA / "handelingen-2018-04-05"
SIGNALEN = CORPORA / "signalen" / (
    "Signalen_interview_Erik_Veerman_gemeente_sHertogenbosch_2021-06-21.txt")
GOVERNANCE = CORPORA / "governance"
DEMO_RAW = ROOT / "data" / "raw"
CODEBOOK = ROOT / "codebook.yaml"


def fake_vectors(texts: list[str], dim: int = 384) -> np.ndarray:
    """Deterministic bag-of-words vectors: texts sharing words get similar vectors."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        words = [w.strip(".,:;?!'\"()").lower() for w in text.split()]
        for w in words:
            if len(w) < 3:
                continue
            h = zlib.crc32(w[:6].encode())
            out[i, h % dim] += 1.0
            out[i, (h // dim) % dim] += 0.5
        out[i, zlib.crc32(b"bias") % dim] += 0.1
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


class FakeModel:
    """Stands in for a SentenceTransformer in unit tests (no model files needed)."""

    def get_sentence_embedding_dimension(self) -> int:
        return 384


@pytest.fixture
def fake_embedder(monkeypatch):
    """Replace the embedding model with :func:`fake_vectors` (fast, offline, deterministic)."""
    from pipeline.models import cache, runtime

    monkeypatch.setattr(runtime, "load_model", lambda name=None, backend=None: FakeModel())
    monkeypatch.setattr(
        runtime, "encode",
        lambda model, texts, kind="query", batch_size=32, show_progress=False:
        fake_vectors(list(texts)),
    )
    monkeypatch.setattr(cache, "model_key", lambda name=None, backend=None: "fake-bow")
    return fake_vectors


@pytest.fixture(scope="session")
def demo_coded(tmp_path_factory):
    """The demo interviews ingested and coded with the real model (shared, read-only)."""
    from pipeline.coding import command as code
    from pipeline.ingest import command as ingest
    from pipeline.models.build import build_model

    build_model()
    out = tmp_path_factory.mktemp("demo") / "out"
    ingest.run(DEMO_RAW, out, progress=False)
    code.run(out, CODEBOOK, progress=False)
    return out


@pytest.fixture
def demo_copy(demo_coded, tmp_path):
    """A private copy of :func:`demo_coded` that a test may change."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(demo_coded, out)
    return out
