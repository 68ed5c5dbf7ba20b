"""Agreement of automatic codes with a gold standard: precision, recall, F1, kappa, alpha.

Gold is a CSV or JSONL file, one row per coded passage::

    document,start,end,codes            (offsets into documents.text, end exclusive)
    document,text,codes                 (or the passage's exact text)

``document`` is a document id or a transcript's file name; ``codes`` holds code ids separated by
``;`` (empty: the passage carries no code). Every in-scope segment of a gold document that no gold
row covers counts as "no code". A segment takes the codes of the gold passages that cover at least
half of it (or that lie inside it).
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import CodeerError

GOLD_COLUMNS = ("document", "codes")


def _split_codes(value) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [c.strip() for c in re.split(r"[;,|]", str(value)) if c.strip()]


def read_gold(path: Path, documents: pd.DataFrame) -> pd.DataFrame:
    """Read a gold file into ``document_id, start, end, codes`` (codes as a list).

    Raises:
        CodeerError: Unreadable file, missing columns, unknown documents, text that cannot be
            found, or offsets out of range; the message names the line.
    """
    path = Path(path)
    if not path.exists():
        raise CodeerError(f"Gold file {path} does not exist.")
    raw = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix.lower() in (".jsonl", ".json"):
            rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
            gold = pd.DataFrame(rows)
        else:
            gold = pd.read_csv(io.StringIO(raw), dtype=str, keep_default_na=False)
    except (ValueError, json.JSONDecodeError) as exc:
        raise CodeerError(f"{path.name}: cannot be read ({exc}).") from None
    missing = [c for c in GOLD_COLUMNS if c not in gold.columns]
    if missing or not ({"start", "end"} <= set(gold.columns) or "text" in gold.columns):
        raise CodeerError(
            f"{path.name} line 1: needs the columns document, codes and either start,end or "
            f"text. Got {list(gold.columns)} instead."
        )
    texts = dict(zip(documents["document_id"], documents["text"], strict=True))
    by_file = {Path(p).name: d for p, d in zip(documents["source_path"],
                                                documents["document_id"], strict=True)}
    out = []
    first_line = 1 if path.suffix.lower() in (".jsonl", ".json") else 2
    for i, row in enumerate(gold.to_dict("records")):
        line = first_line + i
        doc = str(row["document"]).strip()
        doc_id = doc if doc in texts else by_file.get(Path(doc).name)
        if doc_id is None:
            raise CodeerError(f"{path.name} line {line}: document '{doc}' is not in "
                              "documents.parquet. Use a document id or a file name.")
        text = texts[doc_id]
        if row.get("start") not in (None, "") and row.get("end") not in (None, ""):
            start, end = int(row["start"]), int(row["end"])
            if not 0 <= start < end <= len(text):
                raise CodeerError(f"{path.name} line {line}: offsets {start}-{end} lie outside "
                                  f"document '{doc_id}' ({len(text)} characters).")
        else:
            passage = str(row.get("text") or "").strip()
            start = text.find(passage) if passage else -1
            if start < 0:
                raise CodeerError(f"{path.name} line {line}: the text is not found in document "
                                  f"'{doc_id}'. Copy it exactly from the transcript.")
            end = start + len(passage)
        out.append({"document_id": doc_id, "start": start, "end": end,
                    "codes": _split_codes(row.get("codes"))})
    return pd.DataFrame(out, columns=["document_id", "start", "end", "codes"])


def gold_labels(segments: pd.DataFrame, gold: pd.DataFrame) -> dict[str, set[str]]:
    """Gold codes per segment id, for every segment of the documents named in ``gold``."""
    labels: dict[str, set[str]] = {}
    docs = set(gold["document_id"])
    for seg in segments[segments["document_id"].isin(docs)].itertuples():
        labels[seg.segment_id] = set()
        length = max(seg.end - seg.start, 1)
        for g in gold[gold["document_id"] == seg.document_id].itertuples():
            overlap = min(seg.end, g.end) - max(seg.start, g.start)
            if overlap >= 0.5 * length or (g.start >= seg.start and g.end <= seg.end):
                labels[seg.segment_id].update(g.codes)
    return labels


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    from sklearn.metrics import cohen_kappa_score

    if len(set(a.tolist()) | set(b.tolist())) < 2:
        return float("nan")
    return float(cohen_kappa_score(a, b))


def _alpha(a: np.ndarray, b: np.ndarray) -> float:
    import krippendorff

    if len(set(a.tolist()) | set(b.tolist())) < 2:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=np.vstack([a, b]).astype(float),
                                    level_of_measurement="nominal"))


def agreement(
    reference: dict[str, set[str]], predicted: dict[str, set[str]], codes: list[str]
) -> tuple[pd.DataFrame, dict]:
    """Per-code and pooled agreement of ``predicted`` with ``reference`` over the same segments.

    Args:
        reference: Codes per segment id (the gold, or a first reviewer).
        predicted: Codes per segment id (automatic codes, or a second reviewer); segments
            missing here count as uncoded.
        codes: The code ids to report.

    Returns:
        A table with ``code_id, support, predicted, tp, fp, fn, precision, recall, f1,
        kappa, alpha`` and a dict of pooled figures (micro precision/recall/F1, macro-F1 over
        codes with support, pooled kappa and alpha over segment x code decisions).
    """
    seg_ids = sorted(reference)
    rows, all_ref, all_pred = [], [], []
    for code in codes:
        ref = np.array([code in reference[s] for s in seg_ids], dtype=int)
        pred = np.array([code in predicted.get(s, set()) for s in seg_ids], dtype=int)
        all_ref.append(ref)
        all_pred.append(pred)
        tp, fp, fn = int((ref & pred).sum()), int(((1 - ref) & pred).sum()), \
            int((ref & (1 - pred)).sum())
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        rows.append({"code_id": code, "support": int(ref.sum()), "predicted": int(pred.sum()),
                     "tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall,
                     "f1": f1, "kappa": _kappa(ref, pred), "alpha": _alpha(ref, pred)})
    table = pd.DataFrame(rows)
    ref_all = np.concatenate(all_ref) if all_ref else np.zeros(0, int)
    pred_all = np.concatenate(all_pred) if all_pred else np.zeros(0, int)
    tp = int((ref_all & pred_all).sum())
    fp = int(((1 - ref_all) & pred_all).sum())
    fn = int((ref_all & (1 - pred_all)).sum())
    supported = table[table["support"] > 0] if len(table) else table
    pooled = {
        "segments": len(seg_ids),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
        "macro_f1": float(supported["f1"].fillna(0).mean()) if len(supported) else float("nan"),
        "kappa": _kappa(ref_all, pred_all),
        "alpha": _alpha(ref_all, pred_all),
        "coded_share": float(np.mean([bool(predicted.get(s)) for s in seg_ids]))
        if seg_ids else float("nan"),
    }
    return table, pooled


def predicted_labels(codings: pd.DataFrame, include_human: bool = False) -> dict[str, set[str]]:
    """Codes per segment from ``codings`` (rejected ones left out; human ones optional)."""
    keep = codings[codings["status"] != "rejected"]
    if not include_human:
        keep = keep[keep["method"] != "human"]
    out: dict[str, set[str]] = {}
    for seg_id, code_id in zip(keep["segment_id"], keep["code_id"], strict=True):
        out.setdefault(seg_id, set()).add(code_id)
    return out


def format_table(table: pd.DataFrame, pooled: dict) -> str:
    """A plain-text table for the terminal."""
    shown = table.copy()
    for col in ("precision", "recall", "f1", "kappa", "alpha"):
        shown[col] = shown[col].map(lambda v: "  -" if pd.isna(v) else f"{v:.2f}")
    lines = [shown.to_string(index=False), ""]
    lines.append("pooled: " + "  ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in pooled.items()))
    return "\n".join(lines)


def to_json(table: pd.DataFrame, pooled: dict) -> str:
    """Per-code and pooled figures as JSON (NaN written as null)."""
    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    data = {"per_code": [{k: clean(v) for k, v in r.items()} for r in table.to_dict("records")],
            "pooled": {k: clean(v) for k, v in pooled.items()}}
    return json.dumps(data, indent=2, ensure_ascii=False)


def run(out: Path, gold: Path, codebook: Path, scope: str | None = None) -> tuple[pd.DataFrame,
                                                                                  dict]:
    """Evaluate ``OUT/codings.parquet`` against a gold file; writes ``OUT/evaluation.json``."""
    from pipeline import config, schema, storage
    from pipeline.code import select_scope
    from pipeline.codebook import load_codebook

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
