"""Per-code embedding thresholds chosen from the researcher's review decisions.

A reviewed (segment, code) pair is a positive when its latest decision is ``accept`` or
``add`` and a negative when it is ``reject``. For each code with enough reviewed pairs, the
threshold that maximises F1 (or Cohen's kappa) over those pairs is chosen; a rule match
always codes, whatever the threshold. The result goes to ``OUT/calibration.yaml`` (the
codebook itself is never rewritten) and ``codeer code`` uses it when present.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import config, schema, storage
from pipeline.errors import CodeerError

log = logging.getLogger("codeer")

MIN_REVIEWED = 8
MIN_PER_CLASS = 2


@dataclass
class ReviewedScores:
    """Scores and decisions of the reviewed pairs of one code."""

    code_id: str
    score: np.ndarray  # contrastive embedding score
    best: np.ndarray  # the code is the segment's best-scoring code (within the margin)
    rule: np.ndarray  # a rule of the code fires on the segment
    truth: np.ndarray  # 1 accept/add, 0 reject


def _f1(truth: np.ndarray, pred: np.ndarray) -> float:
    tp = int((truth & pred).sum())
    fp = int(((1 - truth) & pred).sum())
    fn = int((truth & (1 - pred)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def _kappa(truth: np.ndarray, pred: np.ndarray) -> float:
    from pipeline.review.agreement import _kappa as kappa

    value = kappa(truth, pred)
    # One class only: no agreement beyond chance can be shown; 0 keeps thresholds comparable.
    return 0.0 if np.isnan(value) else value


def predict(rs: ReviewedScores, threshold: float) -> np.ndarray:
    """The coder's decision on the reviewed pairs at ``threshold``."""
    return (rs.rule | (rs.best & (rs.score >= threshold))).astype(int)


def threshold_curve(rs: ReviewedScores) -> pd.DataFrame:
    """Precision, recall, F1 and kappa of the coder at every candidate threshold."""
    candidates = np.unique(np.concatenate([rs.score, rs.score + 1e-6, [-1.0, 1.0]]))
    rows = []
    for th in candidates:
        pred = predict(rs, float(th))
        tp = int((rs.truth & pred).sum())
        rows.append({
            "threshold": float(th),
            "precision": tp / pred.sum() if pred.sum() else np.nan,
            "recall": tp / rs.truth.sum() if rs.truth.sum() else np.nan,
            "f1": _f1(rs.truth, pred),
            "kappa": _kappa(rs.truth, pred),
        })
    return pd.DataFrame(rows)


def choose_threshold(
    rs: ReviewedScores, default: float, metric: str = "f1"
) -> dict:
    """Pick the threshold that maximises ``metric``; keep ``default`` with too few reviews."""
    n, pos = len(rs.truth), int(rs.truth.sum())
    entry = {"default": round(default, 4), "reviewed": n, "positives": pos,
             "f1_default": round(_f1(rs.truth, predict(rs, default)), 4)}
    if n < MIN_REVIEWED or pos < MIN_PER_CLASS or n - pos < MIN_PER_CLASS:
        entry.update(threshold=round(default, 4), calibrated=False,
                     reason=f"{n} reviewed ({pos} positive); needs {MIN_REVIEWED} with at least "
                            f"{MIN_PER_CLASS} accepted and {MIN_PER_CLASS} rejected")
        return entry
    curve = threshold_curve(rs)
    best = curve[metric].max()
    # Among equally good thresholds take the highest: fewer automatic codes to review.
    chosen = float(curve[curve[metric] >= best - 1e-12]["threshold"].max())
    pred = predict(rs, chosen)
    entry.update(threshold=round(chosen, 4), calibrated=True,
                 f1_calibrated=round(_f1(rs.truth, pred), 4),
                 kappa_calibrated=round(_kappa(rs.truth, pred), 4))
    return entry


def reviewed_scores(out: Path, codebook: Path, model: str | None = None) -> list[ReviewedScores]:
    """Scores of every reviewed (segment, code) pair, from the embedding cache."""
    from pipeline.coding.codebook import load_codebook
    from pipeline.coding.coder import embed_codebook, embedding_scores, select_scope
    from pipeline.coding.prototypes import segment_vectors
    from pipeline.coding.rules import RuleMatcher
    from pipeline.models.cache import EmbeddingCache
    from pipeline.nlp import get_nlp
    from pipeline.review import decisions as review

    book, _ = load_codebook(codebook)
    segments = storage.read_table(Path(out) / config.SEGMENTS_FILE, schema.SEGMENTS)
    decisions = review.latest_decisions(review.read_reviews(out, {c.id for c in book.codes}))
    decisions = decisions[decisions["segment_id"].isin(set(segments["segment_id"]))]
    if decisions.empty:
        raise CodeerError(f"No usable review decisions in {Path(out) / config.REVIEWS_FILE}. "
                          "Review excerpts first (notebooks/02-review.ipynb).")
    seg_ids = sorted(set(decisions["segment_id"]))
    target = select_scope(segments, "all").set_index("segment_id").loc[seg_ids].reset_index()
    cache = EmbeddingCache(config.cache_dir(out), model)
    vectors = segment_vectors(target, segments, cache, book.defaults.context)
    cb = embed_codebook(book, cache)
    cache.save()
    scores, _ = embedding_scores(vectors, cb)
    best = scores >= scores.max(axis=1, keepdims=True) - book.defaults.margin
    nlp = get_nlp(sentences=False)
    matcher = RuleMatcher({c.id: c.parsed_rules for c in book.codes if c.rules}, nlp.vocab)
    fired = [set(hits) for hits in matcher.match_all(nlp.pipe(target["text"].tolist()))]
    row = {s: i for i, s in enumerate(seg_ids)}
    out_list = []
    for code_id, group in decisions.groupby("code_id"):
        if code_id not in cb.code_ids:
            continue
        j = cb.code_ids.index(code_id)
        idx = np.array([row[s] for s in group["segment_id"]])
        out_list.append(ReviewedScores(
            code_id=code_id, score=scores[idx, j], best=best[idx, j],
            rule=np.array([code_id in fired[i] for i in idx]),
            truth=group["decision"].isin(["accept", "add"]).to_numpy().astype(int)))
    return out_list
