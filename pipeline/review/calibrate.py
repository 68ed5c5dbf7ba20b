"""Per-code probability thresholds chosen from the researcher's review decisions.

A reviewed (segment, code) pair is a positive when its latest decision is ``accept`` or
``add`` and a negative when it is ``reject``. Its probability comes from the learner trained
WITHOUT the decisions of its own document (out of fold by document: a decision cannot vouch for
itself). For each code with enough reviewed pairs, the threshold that maximises F1 (or Cohen's
kappa) over those pairs is chosen. The result goes to ``OUT/calibration.yaml`` (the codebook
itself is never rewritten) and ``codeer code`` uses it when present.

The learner already learns from every decision; calibration only moves the line between "code"
and "do not code". On the development sets a fixed 0.5 was as good or better (docs/learning.md),
so use it when you want fewer (or more) automatic codes than the default gives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import config, schema, storage
from pipeline.errors import CodeerError
from pipeline.i18n import _

log = logging.getLogger("codeer")

MIN_REVIEWED = 8
MIN_PER_CLASS = 2


@dataclass
class ReviewedScores:
    """Scores and decisions of the reviewed pairs of one code."""

    code_id: str
    score: np.ndarray  # out-of-fold probability that the code applies
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
    return (rs.score >= threshold).astype(int)


def threshold_curve(rs: ReviewedScores) -> pd.DataFrame:
    """Precision, recall, F1 and kappa of the coder at every candidate threshold."""
    candidates = np.unique(np.clip(np.concatenate([rs.score, rs.score + 1e-6, [0.01, 0.99]]),
                                   0.01, 0.99))
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
                     reason=_("{n} reviewed ({positive} positive); needs {needed} with at "
                              "least {per_class} accepted and {per_class} rejected").format(
                                  n=n, positive=pos, needed=MIN_REVIEWED,
                                  per_class=MIN_PER_CLASS))
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
    """Out-of-fold probabilities of every reviewed (segment, code) pair.

    For each document with decisions, the learner is trained on the codebook and the decisions
    of the other documents, and scores that document's reviewed pairs.
    """
    from pipeline.coding import coder
    from pipeline.coding.codebook import load_codebook
    from pipeline.models.cache import EmbeddingCache
    from pipeline.review import decisions as review

    book, _sha = load_codebook(codebook)
    out = Path(out)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    target = coder.select_scope(segments, book.defaults.scope)
    decisions = review.latest_decisions(review.read_reviews(out, {c.id for c in book.codes}))
    decisions = decisions[decisions["segment_id"].isin(set(target["segment_id"]))]
    if decisions.empty:
        raise CodeerError(_("No usable review decisions in {path}. Review excerpts first "
                            "(notebooks/02-review.ipynb).").format(path=out / config.REVIEWS_FILE))
    cache = EmbeddingCache(config.cache_dir(out), model)
    prepared = coder.prepare(target, segments, documents, book, cache)
    cache.save()
    doc_of = dict(zip(target["segment_id"], target["document_id"], strict=True))
    row_of = {s: i for i, s in enumerate(target["segment_id"])}
    docs = decisions["segment_id"].map(doc_of)
    probs = np.zeros(len(decisions))
    col = {c: j for j, c in enumerate(prepared.code_ids)}
    for doc in sorted(set(docs)):
        mine = (docs == doc).to_numpy()
        scores = coder.score(prepared, target, decisions[~mine], config.cache_dir(out))
        rows = decisions[mine]
        probs[mine] = [scores.probabilities[row_of[s], col[c]]
                       for s, c in zip(rows["segment_id"], rows["code_id"], strict=True)]
    out_list = []
    for code_id in prepared.code_ids:
        mine = (decisions["code_id"] == code_id).to_numpy()
        if mine.any():
            out_list.append(ReviewedScores(
                code_id=code_id, score=probs[mine],
                truth=decisions.loc[mine, "decision"].isin(["accept", "add"]).to_numpy()
                .astype(int)))
    return out_list
