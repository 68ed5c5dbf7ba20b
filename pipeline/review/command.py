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
from pipeline.review import decisions as review
from pipeline.review.agreement import (
    agreement,
    gold_labels,
    predicted_labels,
    read_gold,
    review_agreement,
    to_dict,
    to_json,
)
from pipeline.review.calibrate import choose_threshold, reviewed_scores

log = logging.getLogger("codeer")


def evaluate(out: Path, gold: Path, codebook: Path, scope: str | None = None) -> tuple[pd.DataFrame,
                                                                                  dict]:
    """Evaluate ``OUT/codings.parquet`` against a gold file; writes ``OUT/evaluation.json``."""
    from pipeline.coding.coder import select_scope

    out = Path(out)
    book, _ = load_codebook(codebook)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    gold_rows = read_gold(gold, documents)
    in_scope = select_scope(segments, scope or book.defaults.scope)
    reference = gold_labels(in_scope, gold_rows)
    codes = [c.id for c in book.codes]
    table, pooled = agreement(reference, predicted_labels(codings), codes)
    storage.write_text(out / "evaluation.json", to_json(table, pooled))
    return table, pooled


def evaluate_reviews(out: Path, codebook: Path) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Agreement of the automatic codes with ``OUT/reviews.csv`` (and between reviewers)."""
    book, _ = load_codebook(codebook)
    codings = storage.read_table(Path(out) / config.CODINGS_FILE, schema.CODINGS)
    reviews = review.read_reviews(out, {c.id for c in book.codes})
    if reviews.empty:
        raise CodeerError(f"No usable decisions in {Path(out) / config.REVIEWS_FILE}. Review "
                          "excerpts first (notebooks/02-review.ipynb or pipeline.review.record).")
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
        raise CodeerError(f"--metric must be 'f1' or 'kappa'. Got '{metric}' instead.")
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
    log.info("calibrate: %d of %d reviewed codes calibrated (%s) -> %s", len(done), len(entries),
             ", ".join(f"{k} {entries[k]['threshold']:+.3f}" for k in done) or "none",
             Path(out) / config.CALIBRATION_FILE)
    return content
