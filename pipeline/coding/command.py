"""The ``codeer code`` command: read segments, codebook, reviews and calibration; code; write.

The embedding cache (``OUT/cache``) means a codebook edit re-embeds only the codebook.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipeline import config, schema, storage
from pipeline.coding.codebook import load_codebook
from pipeline.coding.coder import code_segments, prepare, score, select_scope
from pipeline.errors import CodeerError
from pipeline.i18n import N_, _, decimal
from pipeline.models.cache import EmbeddingCache
from pipeline.vocab import Method

log = logging.getLogger("codeer")
# How each coding was made, as the summary line names it (vocab.METHOD_NAMES in Dutch).
METHOD_LABELS = {"rule": N_("rule"), "embedding": N_("model"), "both": N_("rule and model"),
                 "human": N_("by hand")}


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
        raise CodeerError(_("{path} cannot be read ({detail}). Delete it or run `codeer "
                            "calibrate` again.").format(path=path, detail=exc)) from None


def run(
    out: Path = config.OUT_DIR,
    codebook: Path = config.CODEBOOK_FILE,
    model: str | None = None,
    rules_only: bool = False,
    scope: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Code ``OUT/segments.parquet`` with the codebook into ``OUT/codings.parquet``.

    The review decisions in ``OUT/reviews.csv`` are both training data for the classifiers and
    the statuses of the codings they are about.

    Raises:
        CodeerError: Invalid codebook, missing or outdated segments, missing model folder.
    """
    from pipeline.review import decisions as review

    t0 = time.perf_counter()
    out = Path(out)
    book, sha = load_codebook(codebook)  # validate before any work
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    target = select_scope(segments, scope or book.defaults.scope)
    if target.empty:
        raise CodeerError(
            _("{path} has no segments in scope '{scope}'. Check the roles, or pass --scope all.")
            .format(path=out / config.SEGMENTS_FILE, scope=scope or book.defaults.scope)
        )
    reviews = review.read_reviews(out, {c.id for c in book.codes})
    latest = review.latest_decisions(reviews)
    scores = None
    model_id = ""
    if not rules_only:
        documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
        cache = EmbeddingCache(config.cache_dir(out), model)
        prepared = prepare(target, segments, documents, book, cache, progress)
        cache.save()
        model_id = cache.model_id
        scores = score(prepared, target, latest, config.cache_dir(out))
        log.debug("embedding cache: %d hits, %d misses", cache.hits, cache.misses)
    codings = code_segments(target, book, sha, scores, model_id, load_calibration(out))
    codings, notes = review.apply_reviews(codings, reviews, set(segments["segment_id"]))
    for note in notes:
        log.warning("%s", note)
    codings = stamp_coded_at(codings, _previous_codings(out / config.CODINGS_FILE),
                             config.run_time())
    storage.write_table(codings, out / config.CODINGS_FILE, schema.CODINGS)
    n_seg = codings["segment_id"].nunique()
    by_method = codings["method"].value_counts().to_dict()
    learned = int(scores.model.n_decisions.sum()) if scores is not None else 0
    log.info(
        _("code: %d codings on %d of %d segments in scope (%s%%; %s; learned from %d review "
          "decisions) in %s s -> %s"),
        len(codings), n_seg, len(target), decimal(100 * n_seg / max(len(target), 1)),
        ", ".join(f"{_(METHOD_LABELS[k])} {v}" for k, v in sorted(by_method.items())), learned,
        decimal(time.perf_counter() - t0), out / config.CODINGS_FILE,
    )
    return codings


def _previous_codings(path: Path) -> pd.DataFrame | None:
    """The codings of the previous run, or None when there is none this codeer can read."""
    if not path.exists():
        return None
    try:
        return storage.read_table(path, schema.CODINGS)
    except CodeerError:  # an older schema or a damaged file: every coding is new
        return None


def stamp_coded_at(codings: pd.DataFrame, previous: pd.DataFrame | None,
                   now: datetime) -> pd.DataFrame:
    """Fill ``coded_at`` of the automatic codings: the previous run's date where that run made
    the same coding (same segment, code, method and evidence), else ``now``.

    Human codings keep none (a researcher's decision is dated by ``reviewed_at``). Keeping the
    earlier date makes a re-run that changes nothing date nothing anew, so its exports are the
    same bytes.
    """
    keys = ["segment_id", "code_id", "method", "evidence"]
    stamp = now.astimezone(UTC).isoformat(timespec="seconds")
    out = codings.copy()
    earlier: dict[tuple, str] = {}
    if previous is not None and "coded_at" in previous:
        known = previous[previous["coded_at"].notna()]
        earlier = dict(zip(known[keys].itertuples(index=False, name=None), known["coded_at"],
                           strict=True))
    automatic = out["method"] != Method.HUMAN.value
    dates = [earlier.get(k, stamp) if auto else pd.NA
             for k, auto in zip(out[keys].itertuples(index=False, name=None), automatic,
                                strict=True)]
    out["coded_at"] = pd.array(dates, dtype="string")
    return out
