"""The review commands: ``codeer evaluate`` and ``codeer calibrate`` (read, compute, write).

``codeer review`` itself appends to the review log through
:func:`pipeline.review.decisions.record`, the only writer of ``OUT/reviews.csv``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from pipeline import config, schema, storage
from pipeline.coding.codebook import load_codebook
from pipeline.errors import CodeerError
from pipeline.i18n import _
from pipeline.review import decisions as review
from pipeline.review.agreement import (
    agreement,
    gold_labels,
    predicted_labels,
    review_agreement,
    to_dict,
)
from pipeline.review.calibrate import choose_threshold, reviewed_scores

log = logging.getLogger("codeer")


def evaluate(out: Path, gold: Path, codebook: Path,
             scope: str | None = None) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Evaluate ``OUT/codings.parquet`` against a gold file; writes ``OUT/evaluation.json``.

    Two views: per segment (``auto_vs_gold``: every in-scope segment of a gold document, with
    the codes of the gold passages covering it) and per gold passage (``auto_vs_gold_passages``:
    a passage has a code when any of its segments has it; with the false-positive rate). Gold
    files of every format of :func:`pipeline.review.gold.read_any_gold` are read.
    """
    from pipeline.coding.coder import select_scope
    from pipeline.review.gold import passage_agreement, read_any_gold

    out = Path(out)
    book, _sha = load_codebook(codebook)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    gold_rows = read_any_gold(gold, documents)
    in_scope = select_scope(segments, scope or book.defaults.scope)
    reference = gold_labels(in_scope, gold_rows)
    gold_codes = {c for cs in gold_rows["codes"] for c in cs}
    # Codes the gold never uses (a coder coded only some of the codebook) are left out.
    codes = [c.id for c in book.codes if c.id in gold_codes] or [c.id for c in book.codes]
    predicted = predicted_labels(codings)
    results = {"auto_vs_gold": agreement(reference, predicted, codes),
               "auto_vs_gold_passages": passage_agreement(in_scope, gold_rows, predicted, codes)}
    storage.write_text(out / "evaluation.json", json.dumps(
        {name: to_dict(t, p) for name, (t, p) in results.items()}, indent=2, ensure_ascii=False))
    return results


def evaluate_reviews(out: Path, codebook: Path) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Agreement of the automatic codes with ``OUT/reviews.csv`` (and between reviewers)."""
    book, _sha = load_codebook(codebook)
    codings = storage.read_table(Path(out) / config.CODINGS_FILE, schema.CODINGS)
    reviews = review.read_reviews(out, {c.id for c in book.codes})
    if reviews.empty:
        raise CodeerError(_("No usable decisions in {path}. Review excerpts first "
                            "(notebooks/02-review.ipynb or pipeline.review.record).")
                          .format(path=Path(out) / config.REVIEWS_FILE))
    results = review_agreement(codings, reviews, [c.id for c in book.codes])
    data = {name: to_dict(t, p) for name, (t, p) in results.items()}
    storage.write_text(Path(out) / "agreement.json",
                       json.dumps(data, indent=2, ensure_ascii=False))
    return results


def calibrate(out: Path = config.OUT_DIR, codebook: Path = config.CODEBOOK_FILE,
        metric: str = "f1", model: str | None = None) -> dict:
    """Write ``OUT/calibration.yaml`` from the review log; returns its content."""
    import yaml

    if metric not in ("f1", "kappa"):
        raise CodeerError(_("--metric must be 'f1' or 'kappa'. Got '{got}' instead.")
                          .format(got=metric))
    book, sha = load_codebook(codebook)
    entries = {}
    for rs in reviewed_scores(out, codebook, model):
        code = next(c for c in book.codes if c.id == rs.code_id)
        entries[rs.code_id] = choose_threshold(rs, book.threshold_of(code), metric)
    content = {"metric": metric, "codebook_sha256": sha, "codes": entries}
    storage.write_text(Path(out) / config.CALIBRATION_FILE,
                       "# Written by `codeer calibrate`; `codeer code` uses calibrated thresholds."
                       "\n" + yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
    done = [k for k, v in entries.items() if v["calibrated"]]
    log.info(_("calibrate: %d of %d reviewed codes calibrated (%s) -> %s"), len(done),
             len(entries),
             ", ".join(f"{k} {entries[k]['threshold']:+.3f}" for k in done) or _("none"),
             Path(out) / config.CALIBRATION_FILE)
    return content


# --------------------------------------------------------------------------- the review queue


def _context(segments: pd.DataFrame, seg_ids: list[str], width: int = 2) -> dict[str, str]:
    """The passage around each segment in its turn (``width`` sentences each side), the
    segment marked »…«."""
    ordered = segments.sort_values(["document_id", "segment_index"])
    by_turn = {k: (g["segment_id"].tolist(), g["text"].tolist())
               for k, g in ordered.groupby(["document_id", "turn_index"], sort=False)}
    wanted = segments.set_index("segment_id").loc[seg_ids]
    out = {}
    for seg_id, doc, turn in zip(seg_ids, wanted["document_id"], wanted["turn_index"],
                                 strict=True):
        ids, texts = by_turn[(doc, turn)]
        i = ids.index(seg_id)
        lo, hi = max(i - width, 0), min(i + width + 1, len(ids))
        out[seg_id] = ("… " if lo else "") + " ".join(
            f"»{t}«" if j == i else t for j, t in zip(range(lo, hi), texts[lo:hi], strict=True)) + \
            (" …" if hi < len(ids) else "")
    return out


def teaching_queue(out: Path, codebook: Path, n: int = 10, code_id: str | None = None,
                   reviewer: str | None = None, model: str | None = None) -> pd.DataFrame:
    """The ``n`` passages whose decision would teach the coder most, with their context.

    Args:
        out: The output folder (segments, reviews).
        codebook: The codebook.
        n: How many (segment, code) pairs.
        code_id: Only this code (default: every code, taken in turn).
        reviewer: Only this reviewer's decisions count as made (for a second, independent
            review); None: anyone's.
        model: Embedding model name or folder.

    Returns:
        ``segment_id, document_id, code_id, code_name, probability, reason, coded, text,
        context`` in the order to review them.

    Raises:
        CodeerError: Unknown code, or no segments yet.
    """
    from pipeline.coding import coder
    from pipeline.coding.command import load_calibration
    from pipeline.models.cache import EmbeddingCache
    from pipeline.review.learning import review_queue

    out = Path(out)
    book, _sha = load_codebook(codebook)
    names = {c.id: c.name for c in book.codes}
    if code_id is not None and code_id not in names:
        raise CodeerError(_("--code must be one of {codes}. Got '{got}' instead.")
                          .format(codes=list(names), got=code_id))
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    target = coder.select_scope(segments, book.defaults.scope)
    reviews = review.read_reviews(out, set(names))
    latest = review.latest_decisions(reviews)
    mine = review.latest_decisions(reviews, reviewer) if reviewer is not None else latest
    cache = EmbeddingCache(config.cache_dir(out), model)
    prepared = coder.prepare(target, segments, documents, book, cache)
    cache.save()
    scores = coder.score(prepared, target, latest, config.cache_dir(out))
    thresholds = {c.id: book.threshold_of(c) for c in book.codes} | load_calibration(out)
    decided = set(zip(mine["segment_id"], mine["code_id"], strict=True))
    queue = review_queue(target, scores, prepared.window_vectors, prepared.units.paragraph_of,
                         thresholds, decided, n, [code_id] if code_id else None)
    if queue.empty:
        return queue.assign(document_id=[], code_name=[], coded=[], text=[], context=[])
    seg = target.set_index("segment_id")
    queue["document_id"] = queue["segment_id"].map(seg["document_id"])
    queue["code_name"] = queue["code_id"].map(names)
    queue["coded"] = [p >= thresholds[c] for p, c in zip(queue["probability"],
                                                         queue["code_id"], strict=True)]
    queue["text"] = queue["segment_id"].map(seg["text"])
    queue["context"] = queue["segment_id"].map(_context(segments, queue["segment_id"].tolist()))
    return queue[["segment_id", "document_id", "code_id", "code_name", "probability", "reason",
                  "coded", "text", "context"]]


def review_progress(out: Path, codebook: Path) -> pd.DataFrame:
    """Per code: the decisions so far and what they say about the coder.

    ``precision`` is the share of the coder's codings that reviewers accepted (accept against
    reject of automatic codings); ``recall`` the share of the passages reviewers gave the code
    that the coder had found (accept against add). Both are estimates from the decisions
    alone, over the passages someone looked at, with their counts beside them.
    """
    book, _sha = load_codebook(codebook)
    codings = storage.read_table(Path(out) / config.CODINGS_FILE, schema.CODINGS)
    latest = review.latest_decisions(review.read_reviews(out, {c.id for c in book.codes}))
    auto = set(zip(codings.loc[codings["method"] != "human", "segment_id"],
                   codings.loc[codings["method"] != "human", "code_id"], strict=True))
    rows = []
    for code in book.codes:
        d = latest[latest["code_id"] == code.id]
        accept = int((d["decision"] == "accept").sum())
        reject = int((d["decision"] == "reject").sum())
        add = int((d["decision"] == "add").sum())
        rows.append({
            "code_id": code.id, "decisions": len(d), "accept": accept, "reject": reject,
            "add": add, "open_codings": sum(1 for s, c in auto if c == code.id
                                            and (s, c) not in set(zip(d["segment_id"],
                                                                      d["code_id"],
                                                                      strict=True))),
            "precision": accept / (accept + reject) if accept + reject else float("nan"),
            "recall": accept / (accept + add) if accept + add else float("nan"),
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- learning curve


def evaluate_learning_curve(out: Path, gold: Path, codebook: Path,
                            steps: tuple[int, ...] | None = None, folds: int = 5,
                            model: str | None = None) -> pd.DataFrame:
    """``codeer evaluate --gold FILE --learning-curve``: writes ``OUT/learning_curve.json``.

    See :func:`pipeline.review.learning.learning_curve`.
    """
    from pipeline.coding import coder
    from pipeline.coding.command import load_calibration
    from pipeline.models.cache import EmbeddingCache
    from pipeline.review.gold import read_any_gold
    from pipeline.review.learning import STEPS, learning_curve

    out = Path(out)
    book, _sha = load_codebook(codebook)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    target = coder.select_scope(segments, book.defaults.scope)
    gold_rows = read_any_gold(gold, documents)
    n_docs = gold_rows["document_id"].nunique()
    if n_docs < 2:
        raise CodeerError(_("{file} must cover at least 2 documents for a learning curve "
                            "(documents are held out). Got {n} instead.")
                          .format(file=Path(gold).name, n=n_docs))
    cache = EmbeddingCache(config.cache_dir(out), model)
    prepared = coder.prepare(target, segments, documents, book, cache)
    cache.save()
    thresholds = {c.id: book.threshold_of(c) for c in book.codes} | load_calibration(out)
    codes = sorted({c for cs in gold_rows["codes"] for c in cs} & set(prepared.code_ids),
                   key=prepared.code_ids.index)
    table = learning_curve(prepared, target, gold_rows, codes, thresholds,
                           steps or STEPS, folds)
    storage.write_text(out / "learning_curve.json",
                       table.to_json(orient="records", force_ascii=False, indent=2))
    return table
