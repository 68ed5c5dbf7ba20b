"""Themes over a large corpus: fit on a deterministic sample, assign the rest to the nearest theme.

UMAP and HDBSCAN on every segment stop fitting a two-core machine between 80,000 and 160,000
segments: measured with ``python -m bench.themes_scale`` (``bench/results.md``, "Themes at
scale"; quiet machine, 2026-12-01) the full fit took 24 s at 10,000 segments, 34 s at 20,000,
93 s at 40,000 and 350 s at 80,000 (peak 2.7 GB), and at 160,000 it had not finished after
20 minutes (4.8 GB by then). Time, not memory, is the limit: the exact neighbour search grows
with the square of the segments. Above :data:`LARGE_CORPUS` segments the themes stage therefore:

1. fits :func:`pipeline.themes.core.fit_topics` (UMAP + HDBSCAN, keywords, outlier reduction) on
   :data:`SAMPLE_SIZE` segments drawn without replacement with the run's seed (so the same
   corpus gives the same sample, in corpus order);
2. assigns every other segment to the theme whose centroid, the mean vector of its sampled
   segments, is most similar by cosine: the rule that ``fit_topics`` already applies to
   HDBSCAN's outliers (BERTopic's ``reduce_outliers(strategy="embeddings")``). The keywords are
   those of the sample's themes.

BERTopic's ``transform`` would project new points through UMAP and HDBSCAN's
``approximate_predict`` instead; it needs a UMAP fitted with its own search index (whose numba
compilation costs ~45 s per process, see :func:`pipeline.themes.core.exact_knn`) and gives the
sampled themes all the same.

What sampling does to the themes, measured against the full fit on the same corpus: the
sampled themes are coarser. Adjusted Rand index of the assignments 0.62 at 40,000 segments
with a sample of 20,000 (60 themes against 98), 0.18 at 80,000 with 20,000 (36 against 206)
and 0.29 at 80,000 with 40,000 (80 against 206). Read the themes of a sampled fit as the broad
lines of the batch, not as its fine structure.

Segments that were not in the sample get probability 0.0, like the outliers that outlier
reduction attaches to a theme: HDBSCAN gave them no membership strength.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline import config, hooks
from pipeline.i18n import _, thousands
from pipeline.themes.core import OUTLIER, Clustering, fit_topics

log = logging.getLogger("codeer")

# Above this many segments (with content) the themes are fitted on a sample. Measured: the
# full fit takes ~6 minutes at 80,000 segments on two cores, about as long as embedding 10,000
# texts, so a batch of a million words (~70,000 segments) still gets the full fit; at 160,000 it
# did not finish in 20 minutes.
LARGE_CORPUS = 80_000
# Segments in the sample: the largest whose fit stays near a minute and a half (78 s at 40,000)
# and that keeps the sampled themes closest to the full ones (ARI 0.29 against 0.18 for a
# sample of 20,000, at 80,000 segments).
SAMPLE_SIZE = 40_000
SAMPLED = "+sample"  # appended to the clustering method


def sample_indices(n: int, size: int, seed: int = config.SEED) -> np.ndarray:
    """``size`` of ``range(n)`` without replacement, drawn with ``seed``, in ascending order."""
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


@hooks.timed("assign_rest")
def nearest_centroid(embeddings: np.ndarray, fitted: np.ndarray, topics: np.ndarray,
                     block: int = 8192) -> np.ndarray:
    """The topic of each row of ``embeddings``: the one whose centroid is most similar (cosine).

    Args:
        embeddings: Vectors to assign (rows).
        fitted: The vectors the topics were fitted on.
        topics: Their topics (-1: outlier, never a centroid).
        block: Rows per matrix product.

    Returns:
        One topic per row; all -1 when no topic has a segment. Ties go to the lowest topic.
    """
    ids = np.array(sorted(set(topics.tolist()) - {OUTLIER}), dtype=int)
    if not len(ids):
        return np.full(len(embeddings), OUTLIER, dtype=int)
    cents = np.stack([fitted[topics == t].astype(np.float64).mean(axis=0) for t in ids])
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
    out = np.empty(len(embeddings), dtype=int)
    for start in range(0, len(embeddings), block):
        sims = embeddings[start:start + block].astype(np.float64) @ cents.T
        out[start:start + block] = ids[np.argmax(sims, axis=1)]
    return out


def fit_sampled(docs: list[str], embeddings: np.ndarray, embedder: Any, seed: int = config.SEED,
                sample_size: int | None = None,
                fit: Callable[..., Clustering] = fit_topics) -> Clustering:
    """Fit the themes on a sample of ``sample_size`` segments; assign the rest (see module doc).

    Args:
        docs: Lemma string per segment.
        embeddings: Vector per segment, in the same order.
        embedder: For keyword embeddings (see :func:`pipeline.themes.core.make_embedder`).
        seed: Draws the sample and seeds the fit.
        sample_size: Segments to fit on; default :data:`SAMPLE_SIZE`.
        fit: The fit to run on the sample (:func:`pipeline.themes.core.fit_topics`).

    Returns:
        The clustering of every segment; its method ends in ``+sample``.
    """
    n = len(docs)
    idx = sample_indices(n, SAMPLE_SIZE if sample_size is None else sample_size, seed)
    fitted = fit([docs[i] for i in idx], embeddings[idx], embedder, seed)
    topics = nearest_centroid(embeddings, embeddings[idx], fitted.topics)
    topics[idx] = fitted.topics
    probs = np.zeros(n, dtype=float)
    probs[idx] = fitted.probabilities
    return Clustering(topics, probs, fitted.keywords, fitted.mmr_keywords,
                      f"{fitted.method}{SAMPLED}", fitted.n_reassigned)


def fit_auto(docs: list[str], embeddings: np.ndarray, embedder: Any, seed: int = config.SEED,
             fit: Callable[..., Clustering] = fit_topics, large: int | None = None,
             sample_size: int | None = None) -> Clustering:
    """:func:`fit_sampled` above ``large`` segments (default :data:`LARGE_CORPUS`), else the
    full ``fit``; logs which."""
    n = len(docs)
    large = LARGE_CORPUS if large is None else large
    sample_size = SAMPLE_SIZE if sample_size is None else sample_size
    if n > large:
        log.info(_("themes: %s segments, more than %s: fitting on a sample of %s (seed %d), "
                   "every other segment joins the nearest theme"), thousands(n), thousands(large),
                 thousands(sample_size), seed)
        return fit_sampled(docs, embeddings, embedder, seed, sample_size, fit)
    log.info(_("themes: fitting on all %s segments"), thousands(n))
    return fit(docs, embeddings, embedder, seed)
