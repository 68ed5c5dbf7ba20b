"""What the coder learns from a researcher: the review queue that teaches fastest, simulated
reviewers, and the learning curve.

* :func:`review_queue`: per code, the passages whose decision would teach the classifier most:
  the uncertain ones (probability near the threshold; optionally mixed with the likeliest ones
  not yet decided), diversified (one per paragraph, nothing nearly identical to an earlier pick,
  codes taken in turn).
* :func:`simulate_full_review`: the decisions of a researcher who reviews whole documents as in
  a CAQDAS: every machine coding accepted or rejected, every missed code added on every sentence
  of the paragraph that carries it.
* :func:`learning_curve`: a reviewer simulated on training documents answers the queue from a
  gold file; after 0, 25, 50, 100 and 200 decisions the coder is retrained and measured on the
  held-out documents (group k-fold by document).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from pipeline.coding import coder
from pipeline.review.gold import passage_agreement, passage_members
from pipeline.vocab import QUEUE_NOTE

STEPS = (0, 25, 50, 100, 200)
SIMULATED_REVIEWER = "simulatie"


def gold_segment_codes(target: pd.DataFrame, gold: pd.DataFrame) -> dict[str, set[str]]:
    """Gold codes per in-scope segment of the gold's documents (empty set: no code)."""
    docs = set(gold["document_id"])
    out = {s: set() for s, d in zip(target["segment_id"], target["document_id"], strict=True)
           if d in docs}
    for row, members in zip(gold.itertuples(), passage_members(target, gold), strict=True):
        for s in members:
            out.setdefault(s, set()).update(row.codes)
    return out


def _decision_frame(rows: list[tuple[str, str, str]], start: datetime,
                    note: str = "") -> pd.DataFrame:
    times = [start + timedelta(seconds=i) for i in range(len(rows))]
    return pd.DataFrame({
        "segment_id": [r[0] for r in rows], "code_id": [r[1] for r in rows],
        "decision": [r[2] for r in rows], "reviewer": SIMULATED_REVIEWER,
        "timestamp": [t.isoformat(timespec="seconds") for t in times], "note": note,
        "line": range(2, len(rows) + 2), "time": times,
    })


def simulate_full_review(target: pd.DataFrame, codings: pd.DataFrame, gold: pd.DataFrame,
                         documents: set[str], code_ids: list[str],
                         start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> pd.DataFrame:
    """Decisions of a researcher who reviews ``documents`` in full against ``gold``.

    Every automatic coding on them is accepted when the gold passage has the code and rejected
    otherwise; every gold code without a coding is added on every sentence of its passage
    (coarse, as a CAQDAS user codes a paragraph). Returns rows like the parsed review log.
    """
    truth = gold_segment_codes(target, gold[gold["document_id"].isin(documents)])
    auto = codings[codings["method"] != "human"]
    coded = set(zip(auto["segment_id"], auto["code_id"], strict=True))
    rows = []
    for seg in target["segment_id"]:
        if seg not in truth:
            continue
        for code in code_ids:
            has, machine = code in truth[seg], (seg, code) in coded
            if machine:
                rows.append((seg, code, "accept" if has else "reject"))
            elif has:
                rows.append((seg, code, "add"))
    return _decision_frame(rows, start)


# --------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueueSettings:
    """How the queue mixes uncertain and likely passages.

    Attributes:
        likely_share: Share of each code's picks taken from the likeliest undecided passages
            (they confirm or correct what the coder would code); the rest are the most
            uncertain (probability closest to the threshold). Measured on Heerenveen (five
            folds, kappa after 25/50/100/200 answers): 0.0 gives 0.24/0.26/0.31/0.29, 0.5 gives
            0.24/0.23/0.26/0.31 at a higher false-positive rate; hence 0.0.
        max_similarity: A candidate whose window vector has at least this cosine with an
            earlier pick of the same code is skipped (near-duplicates teach nothing new).
    """

    likely_share: float = 0.0
    max_similarity: float = 0.95


def review_queue(target: pd.DataFrame, scores: coder.Scores, window_vectors: np.ndarray,
                 paragraph_of: list[str], thresholds: dict[str, float], decided: set[tuple],
                 n: int, codes: list[str] | None = None, eligible: np.ndarray | None = None,
                 settings: QueueSettings = QueueSettings()) -> pd.DataFrame:
    """The ``n`` (segment, code) pairs whose decision would teach the coder most.

    Args:
        target: The in-scope segments (rows of ``scores``).
        scores: The learner's scores.
        window_vectors: The segments' context vectors (for diversity).
        paragraph_of: Paragraph id per target row (one pick per paragraph and code).
        thresholds: Probability threshold per code.
        decided: ``(segment_id, code_id)`` pairs that already have a decision.
        n: How many pairs.
        codes: The codes to queue (default: every code with a classifier).
        eligible: Boolean mask of target rows that may be queued (default all).
        settings: Queue settings.

    Returns:
        ``segment_id, code_id, probability, reason`` (``onzeker`` or ``waarschijnlijk``), in
        the order to review them.
    """
    codes = codes or [c for c, t in zip(scores.code_ids, scores.model.trained, strict=True) if t]
    col = {c: j for j, c in enumerate(scores.code_ids)}
    seg_ids = target["segment_id"].to_numpy()
    mask = np.ones(len(target), bool) if eligible is None else np.asarray(eligible, bool)
    per_code: dict[str, list[tuple[int, str]]] = {}
    for code in codes:
        p = scores.probabilities[:, col[code]]
        open_rows = np.array([i for i in np.flatnonzero(mask)
                              if (seg_ids[i], code) not in decided], dtype=np.int64)
        if not len(open_rows):
            per_code[code] = []
            continue
        t = thresholds.get(code, coder.DEFAULT_THRESHOLD)
        uncertain = open_rows[np.lexsort((open_rows, np.abs(p[open_rows] - t)))]
        likely = open_rows[np.lexsort((open_rows, -p[open_rows]))]
        order: list[tuple[int, str]] = []
        seen: set[int] = set()
        u = lk = n_likely = 0
        while u < len(uncertain) or lk < len(likely):
            take_likely = n_likely < settings.likely_share * (len(order) + 1)
            if take_likely and lk < len(likely) or u >= len(uncertain):
                i, reason, lk = likely[lk], "waarschijnlijk", lk + 1
            else:
                i, reason, u = uncertain[u], "onzeker", u + 1
            if i not in seen:
                seen.add(i)
                order.append((int(i), reason))
                n_likely += reason == "waarschijnlijk"
        per_code[code] = order
    picked: list[tuple[int, str, str]] = []
    taken: dict[str, list[int]] = {c: [] for c in codes}
    paras: dict[str, set[str]] = {c: set() for c in codes}
    pos = {c: 0 for c in codes}
    while len(picked) < n and any(pos[c] < len(per_code[c]) for c in codes):
        for code in codes:
            if len(picked) >= n:
                break
            while pos[code] < len(per_code[code]):
                i, reason = per_code[code][pos[code]]
                pos[code] += 1
                if paragraph_of[i] in paras[code]:
                    continue
                if taken[code] and float(np.max(window_vectors[taken[code]] @ window_vectors[i])
                                         ) >= settings.max_similarity:
                    continue
                taken[code].append(i)
                paras[code].add(paragraph_of[i])
                picked.append((i, code, reason))
                break
    return pd.DataFrame({
        "segment_id": [seg_ids[i] for i, _, _ in picked],
        "code_id": [c for _, c, _ in picked],
        "probability": [float(scores.probabilities[i, col[c]]) for i, c, _ in picked],
        "reason": [r for _, _, r in picked],
    })


# --------------------------------------------------------------------------- learning curve


def _predicted(target: pd.DataFrame, scores: coder.Scores,
               thresholds: dict[str, float]) -> dict[str, set[str]]:
    limits = np.array([thresholds.get(c, coder.DEFAULT_THRESHOLD) for c in scores.code_ids])
    out: dict[str, set[str]] = {}
    for i, j in zip(*np.nonzero(scores.probabilities >= limits), strict=True):
        out.setdefault(target["segment_id"].iloc[i], set()).add(scores.code_ids[j])
    return out


def learning_curve(prepared: coder.Prepared, target: pd.DataFrame, gold: pd.DataFrame,
                   code_ids: list[str], thresholds: dict[str, float],
                   steps: tuple[int, ...] = STEPS, folds: int = 5,
                   batch: int = 25) -> pd.DataFrame:
    """Kappa, precision, recall and false-positive rate on held-out documents as a simulated
    reviewer answers the queue on the training documents.

    Documents are split into ``folds`` groups (group k-fold by document, deterministic). In each
    fold the reviewer answers the queue ``batch`` decisions at a time from the gold (accept or
    add when the gold passage has the code, reject otherwise); the coder is retrained after each
    batch, and measured at every step of ``steps`` on the held-out documents, per passage.

    Returns:
        One row per fold and step: ``fold, decisions, kappa, precision, recall, f1,
        false_positive_rate, passages``; plus the pooled rows (``fold == "alle"``) computed
        over the held-out passages of every fold together.
    """
    from sklearn.model_selection import GroupKFold

    gold_docs = sorted(set(gold["document_id"]) & set(target["document_id"]))
    folds = max(2, min(folds, len(gold_docs)))
    truth = gold_segment_codes(target, gold)
    docs_arr = np.array(gold_docs)
    splitter = GroupKFold(n_splits=folds)
    rows, pooled_pred = [], {s: {} for s in steps}
    for k, (train_i, test_i) in enumerate(splitter.split(docs_arr, groups=docs_arr)):
        train_docs, test_docs = set(docs_arr[train_i]), set(docs_arr[test_i])
        eligible = target["document_id"].isin(train_docs).to_numpy() & \
            target["segment_id"].isin(truth).to_numpy()
        test_gold = gold[gold["document_id"].isin(test_docs)]
        test_target = target[target["document_id"].isin(test_docs)]
        decisions = _decision_frame([], datetime(2026, 1, 1, tzinfo=UTC))
        done = 0
        for step in sorted(steps):
            while done < step:
                scores = coder.score(prepared, target, decisions)
                decided = set(zip(decisions["segment_id"], decisions["code_id"], strict=True))
                queue = review_queue(target, scores, prepared.window_vectors,
                                     prepared.units.paragraph_of, thresholds, decided,
                                     min(batch, step - done), eligible=eligible)
                if queue.empty:
                    break
                coded = _predicted(target, scores, thresholds)
                new = [(s, c, ("accept" if c in coded.get(s, set()) else "add")
                        if c in truth.get(s, set()) else "reject")
                       for s, c in zip(queue["segment_id"], queue["code_id"], strict=True)]
                decisions = pd.concat([decisions, _decision_frame(
                    new, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=done),
                    QUEUE_NOTE)], ignore_index=True)
                done += len(new)
            scores = coder.score(prepared, target, decisions)
            predicted = _predicted(target, scores, thresholds)
            _, pooled = passage_agreement(test_target, test_gold, predicted, code_ids)
            pooled_pred[step].update({s: predicted.get(s, set())
                                      for s in test_target["segment_id"]})
            rows.append({"fold": str(k + 1), "decisions": done, **_figures(pooled)})
    for step in sorted(steps):
        _, pooled = passage_agreement(target[target["document_id"].isin(gold_docs)], gold,
                                      pooled_pred[step], code_ids)
        rows.append({"fold": "alle", "decisions": step, **_figures(pooled)})
    return pd.DataFrame(rows)


def _figures(pooled: dict) -> dict:
    return {"kappa": pooled["kappa"], "precision": pooled["precision"],
            "recall": pooled["recall"], "f1": pooled["f1"],
            "false_positive_rate": pooled["false_positive_rate"],
            "passages": pooled["passages"]}
