"""Themes over a large corpus: a deterministic sample is fitted, the rest joins the nearest theme.

The fits here stay below core.TINY segments (KMeans, no UMAP compilation), on real debate text
with the stand-in embedder of conftest.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline import config, schema, storage
from pipeline.i18n import thousands
from pipeline.themes import core, scale
from tests.conftest import CODEBOOK, DEBATES, fake_vectors

FILES = ("TK_2018-04-05_VAO_Wmo_Mantelzorg_Hulpmiddelenbeleid.txt",
         "TK_2018-04-05_VAO_Wlz_Pgb_ggz.txt")


@pytest.fixture(scope="module")
def debates(tmp_path_factory) -> Path:
    from pipeline.ingest import command as ingest

    base = tmp_path_factory.mktemp("scale")
    raw = base / "raw"
    raw.mkdir()
    for name in FILES:
        shutil.copy(DEBATES / name, raw / name)
    ingest.run(raw, base / "out", progress=False)
    return base / "out"


@pytest.fixture(scope="module")
def corpus(debates) -> tuple[list[str], np.ndarray, list[str]]:
    """Lemmas, stand-in vectors and texts of the debates' content segments (~300)."""
    segments = storage.read_table(debates / config.SEGMENTS_FILE, schema.SEGMENTS)
    segments = segments[core.has_content(segments["lemmas"].fillna("").tolist())]
    texts = segments["text"].astype(str).tolist()
    return segments["lemmas"].astype(str).tolist(), fake_vectors(texts), texts


def _embedder(corpus):
    lemmas, _, texts = corpus
    return core.make_embedder(fake_vectors, dict(zip(lemmas, texts, strict=True)))


def test_the_sample_is_deterministic_sorted_and_without_repeats():
    a = scale.sample_indices(1000, 100, seed=42)
    assert np.array_equal(a, scale.sample_indices(1000, 100, seed=42))
    assert len(a) == 100 and len(set(a.tolist())) == 100 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, scale.sample_indices(1000, 100, seed=7))
    assert np.array_equal(scale.sample_indices(50, 100), np.arange(50))


@pytest.mark.parametrize(("rows", "expected"), [
    ([[1, 0], [0.9, 0.1]], [3, 3]),          # near topic 3's centroid
    ([[0, 1], [0.2, 0.9]], [5, 5]),          # near topic 5's
    ([[1, 1]], [3]),                         # a tie goes to the lower topic
    ([[-1, 0]], [5]),                        # opposite to 3: the less dissimilar one
])
def test_nearest_centroid(rows, expected):
    fitted = np.array([[1, 0], [1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    topics = np.array([3, 3, 5, -1])  # the outlier is no centroid
    got = scale.nearest_centroid(np.array(rows, dtype=np.float32), fitted, topics)
    assert got.tolist() == expected


def test_nearest_centroid_without_topics_leaves_outliers():
    got = scale.nearest_centroid(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32),
                                 np.array([-1, -1]))
    assert got.tolist() == [-1, -1]


def test_sampled_fit_keeps_the_sample_and_assigns_the_rest(corpus):
    lemmas, vectors, _ = corpus
    embedder = _embedder(corpus)
    n = len(lemmas)
    assert n > 200
    got = scale.fit_sampled(lemmas, vectors, embedder, seed=42, sample_size=50)
    idx = scale.sample_indices(n, 50, 42)
    alone = core.fit_topics([lemmas[i] for i in idx], vectors[idx], embedder, 42)
    assert got.topics[idx].tolist() == alone.topics.tolist()
    assert got.keywords == alone.keywords and got.mmr_keywords == alone.mmr_keywords
    assert got.method == alone.method + scale.SAMPLED
    rest = np.setdiff1d(np.arange(n), idx)
    assert set(got.topics[rest].tolist()) <= set(alone.topics.tolist()) - {core.OUTLIER}
    assert np.all(got.probabilities[rest] == 0.0)
    expected = scale.nearest_centroid(vectors[rest], vectors[idx], alone.topics)
    assert got.topics[rest].tolist() == expected.tolist()
    again = scale.fit_sampled(lemmas, vectors, embedder, seed=42, sample_size=50)
    assert again.topics.tolist() == got.topics.tolist()


def test_the_switch_happens_above_the_documented_size(corpus, caplog):
    lemmas, vectors, _ = corpus
    seen: list[int] = []

    def fit(docs, embeddings, embedder, seed):
        seen.append(len(docs))
        return core.Clustering(np.zeros(len(docs), dtype=int), np.ones(len(docs)), {0: ["x"]},
                               {0: ["x"]}, "kmeans")

    caplog.set_level(logging.INFO, logger="codeer")
    n = len(lemmas)
    full = scale.fit_auto(lemmas, vectors, None, fit=fit, large=n)
    assert seen == [n] and full.method == "kmeans"
    assert f"themes: de thema's worden bepaald op alle {thousands(n)} segmenten" in caplog.text
    sampled = scale.fit_auto(lemmas, vectors, None, fit=fit, large=n - 1, sample_size=40)
    assert seen[-1] == 40 and sampled.method == "kmeans+sample"
    assert f"meer dan {thousands(n - 1)}: de thema's worden bepaald op een steekproef van 40 " \
        "(seed 42)" in caplog.text


def test_themes_command_takes_the_large_corpus_path(debates, tmp_path, fake_embedder,
                                                     monkeypatch, caplog):
    """Above LARGE_CORPUS the stage fits a sample, says so, and writes a theme for every
    segment with content."""
    from pipeline.themes import command

    out = tmp_path / "out"
    shutil.copytree(debates, out)
    monkeypatch.setenv("CODEER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(scale, "LARGE_CORPUS", 100)
    monkeypatch.setattr(scale, "SAMPLE_SIZE", 50)
    caplog.set_level(logging.INFO, logger="codeer")
    result = command.run(out, CODEBOOK, progress=False)
    assert result.method.endswith(scale.SAMPLED)
    assert "de thema's worden bepaald op een steekproef van 50 (seed 42)" in caplog.text
    themes = storage.read_table(out / config.THEMES_FILE, schema.THEMES)
    assert (themes["topic"] != core.OUTLIER).sum() > 200
