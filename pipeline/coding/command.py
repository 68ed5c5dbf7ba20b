"""The ``codeer code`` command: read segments, codebook, reviews and calibration; code; write.

The embedding cache (``OUT/cache``) means a codebook edit re-embeds only the codebook.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from pipeline import config, schema, storage
from pipeline.coding.codebook import load_codebook
from pipeline.coding.coder import code_segments, embed_codebook, select_scope
from pipeline.coding.prototypes import segment_vectors
from pipeline.errors import CodeerError
from pipeline.models.cache import EmbeddingCache

log = logging.getLogger("codeer")


def load_calibration(out: Path) -> dict[str, float]:
    """Per-code thresholds from ``OUT/calibration.yaml`` (written by ``codeer calibrate``)."""
    import yaml

    path = Path(out) / config.CALIBRATION_FILE
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return {str(k): float(v["threshold"]) for k, v in (data.get("codes") or {}).items()
                if v.get("calibrated")}
    except (yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CodeerError(f"{path} cannot be read ({exc}). Delete it or run `codeer calibrate` "
                          "again.") from None


def run(
    out: Path = config.OUT_DIR,
    codebook: Path = config.CODEBOOK_FILE,
    model: str | None = None,
    rules_only: bool = False,
    scope: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Code ``OUT/segments.parquet`` with the codebook into ``OUT/codings.parquet``.

    Raises:
        CodeerError: Invalid codebook, missing or outdated segments, missing model folder.
    """
    t0 = time.perf_counter()
    out = Path(out)
    book, sha = load_codebook(codebook)  # validate before any work
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    target = select_scope(segments, scope or book.defaults.scope)
    if target.empty:
        raise CodeerError(
            f"{out / config.SEGMENTS_FILE} has no segments in scope "
            f"'{scope or book.defaults.scope}'. Check the roles, or pass --scope all."
        )
    vectors = cb = None
    model_id = ""
    if not rules_only:
        cache = EmbeddingCache(config.cache_dir(out), model)
        vectors = segment_vectors(target, segments, cache, book.defaults.context, progress)
        cb = embed_codebook(book, cache)
        cache.save()
        model_id = cache.model_id
        log.debug("embedding cache: %d hits, %d misses", cache.hits, cache.misses)
    from pipeline.review import decisions as review

    codings = code_segments(segments, book, sha, vectors, cb, model_id,
                            load_calibration(out), scope)
    reviews = review.read_reviews(out, {c.id for c in book.codes})
    codings, notes = review.apply_reviews(codings, reviews, set(segments["segment_id"]))
    for note in notes:
        log.warning("%s", note)
    storage.write_table(codings, out / config.CODINGS_FILE, schema.CODINGS)
    n_seg = codings["segment_id"].nunique()
    by_method = codings["method"].value_counts().to_dict()
    log.info(
        "code: %d codings on %d of %d segments in scope (%.1f%%; %s) in %.1f s -> %s",
        len(codings), n_seg, len(target), 100 * n_seg / max(len(target), 1),
        ", ".join(f"{k} {v}" for k, v in sorted(by_method.items())),
        time.perf_counter() - t0, out / config.CODINGS_FILE,
    )
    return codings
