"""The ``codeer themes`` command: read segments and codings, find themes, write them.

The clustering is cached in the embedding cache folder as JSON and a NumPy ``.npz`` without
pickled objects: a cache file from elsewhere can hold wrong numbers, never code.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import config, schema, storage
from pipeline.i18n import _
from pipeline.themes.core import (
    Clustering,
    ThemesResult,
    build_themes,
    fit_topics,
    make_embedder,
    select_segments,
)
from pipeline.vocab import ThemeScope

log = logging.getLogger("codeer")



def _save_clustering(path: Path, clustering: Clustering) -> None:
    meta = {
        "method": clustering.method,
        "n_reassigned": int(clustering.n_reassigned),
        "keywords": {str(k): v for k, v in clustering.keywords.items()},
        "mmr_keywords": {str(k): v for k, v in clustering.mmr_keywords.items()},
    }
    with storage.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, topics=clustering.topics.astype(np.int64),
                     probabilities=clustering.probabilities.astype(np.float64),
                     meta=np.array(json.dumps(meta, ensure_ascii=False)))


def _load_clustering(path: Path, n: int) -> Clustering | None:
    """The cached clustering, or None when the file is unreadable or does not fit."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            topics = data["topics"].astype(int)
            probabilities = data["probabilities"].astype(float)
        clustering = Clustering(
            topics=topics, probabilities=probabilities,
            keywords={int(k): [str(w) for w in v] for k, v in meta["keywords"].items()},
            mmr_keywords={int(k): [str(w) for w in v] for k, v in meta["mmr_keywords"].items()},
            method=str(meta["method"]), n_reassigned=int(meta["n_reassigned"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return clustering if len(clustering.topics) == len(clustering.probabilities) == n else None


def _cached_fit(cache_dir: Path) -> Callable[..., Clustering]:
    """:func:`fit_topics` with its result kept in the embedding cache folder.

    The clustering depends only on the lemmas, the vectors, the seed and the themes code, not on
    the codebook or the codings; a codebook edit therefore re-uses it and pays only for relating
    the themes to the codes (UMAP's numba compilation alone costs 20-40 s per process). Above
    :data:`pipeline.themes.scale.LARGE_CORPUS` segments the fit runs on a sample
    (:func:`pipeline.themes.scale.fit_auto`).
    """
    def fit(docs: list[str], embeddings: np.ndarray, embedder: Any, seed: int) -> Clustering:
        import bertopic

        from pipeline.themes import core, scale

        digest = hashlib.sha256()
        for part in (Path(core.__file__).read_bytes(), Path(scale.__file__).read_bytes(),
                     bertopic.__version__.encode(),
                     str(seed).encode(), "\x00".join(docs).encode(),
                     np.ascontiguousarray(embeddings, dtype=np.float32).tobytes()):
            digest.update(hashlib.sha256(part).digest())
        path = Path(cache_dir) / f"themes-{digest.hexdigest()[:24]}.npz"
        if path.exists():
            cached = _load_clustering(path, len(docs))
            if cached is not None:
                return cached
            log.warning(_("themes: cached clustering %s is unreadable; fitting again."), path)
        clustering = scale.fit_auto(docs, embeddings, embedder, seed, fit=fit_topics)
        _save_clustering(path, clustering)
        return clustering

    return fit


def run(out: Path = config.OUT_DIR, codebook: Path = config.CODEBOOK_FILE,
        scope: str = ThemeScope.RESPONDENT,
        progress: bool = True, seed: int = config.SEED) -> ThemesResult:
    """Find themes in the respondent segments of ``out`` and write them beside the codings.

    Reads ``segments.parquet`` and, when present, ``codings.parquet``; writes
    ``themes.parquet``, ``theme_info.parquet`` and ``theme_spread.parquet`` atomically. A
    missing codebook is no error (the stage is useful before there is one): every theme is then
    emerging, with no best code.

    Args:
        out: The output folder of earlier stages.
        codebook: The codebook file (for the code prototypes).
        scope: ``"respondent"`` (every respondent segment) or ``"uncoded"`` (respondent
            segments without a code); see :class:`pipeline.vocab.ThemeScope`.
        progress: Show a progress bar while embedding.
        seed: Seed for UMAP and KMeans.

    Raises:
        CodeerError: Unknown scope, missing/old segments table, invalid codebook (exit 2).
    """
    from pipeline.coding.codebook import load_codebook
    from pipeline.coding.prototypes import KIND, code_prototypes, context_windows
    from pipeline.models.cache import EmbeddingCache

    config.model_offline_env()
    out = Path(out)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings_path = out / config.CODINGS_FILE
    codings = storage.read_table(codings_path, schema.CODINGS) if codings_path.exists() else None
    if scope == "uncoded" and codings is None:
        log.warning(_("themes: no %s yet, so every respondent segment counts as uncoded."),
                    config.CODINGS_FILE)
    book = None
    if Path(codebook).exists():
        book, _digest = load_codebook(Path(codebook))
    else:
        log.warning(_("themes: codebook %s not found; themes are not compared with codes."),
                    codebook)
    selected = select_segments(segments, codings, scope)
    cache = EmbeddingCache(config.cache_dir(out))  # the coder's cache: same vectors
    try:
        if len(selected):
            # The coder's vectors (each segment with its neighbours in the turn): one embedding
            # pass serves both stages.
            width = book.defaults.context if book is not None else 1
            texts = context_windows(selected, segments, width)
            embeddings = cache.encode(texts, kind=KIND, progress=progress)
            prototypes = code_prototypes(book, cache) if book is not None else {}
            embedder = make_embedder(lambda t: cache.encode(t, kind=KIND),
                                     dict(zip(selected["lemmas"].astype(str), texts, strict=True)))
        else:
            log.warning(_("themes: no respondent segments in scope '%s'; writing empty "
                          "outputs."), scope)
            embeddings, prototypes, embedder = np.zeros((0, 0), dtype=np.float32), {}, None
        result = build_themes(selected, embeddings, embedder, prototypes, codings, seed,
                              fit=_cached_fit(config.cache_dir(out)))
    finally:
        cache.save()
    storage.write_table(result.themes, out / config.THEMES_FILE, schema.THEMES)
    storage.write_table(result.info, out / config.THEME_INFO_FILE, schema.THEME_INFO)
    storage.write_table(result.spread, out / config.THEME_SPREAD_FILE, schema.THEME_SPREAD)
    log.info(
        _("themes: %d segments (%s), %d themes (%s), %.0f%% outliers, %d emerging -> %s"),
        len(result.themes), scope, result.n_themes, result.method,
        100 * result.outlier_share, int(result.info["emerging"].sum()), out,
    )
    return result
