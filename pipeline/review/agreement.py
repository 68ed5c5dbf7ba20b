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
from pipeline.i18n import N_, _

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
        raise CodeerError(_("Gold file {path} does not exist.").format(path=path))
    data = path.read_bytes()
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CodeerError(_(
            "{file} line {line}: must be UTF-8 text. Got byte 0x{byte:02x} instead. Save the "
            "gold file as UTF-8 (in Excel: CSV UTF-8).").format(file=path.name, line=line,
                                                                 byte=data[exc.start])) from None
    try:
        if path.suffix.lower() in (".jsonl", ".json"):
            rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
            gold = pd.DataFrame(rows)
        else:
            gold = pd.read_csv(io.StringIO(raw), dtype=str, keep_default_na=False)
    except (ValueError, json.JSONDecodeError) as exc:
        raise CodeerError(_("{file}: cannot be read ({error}).").format(file=path.name,
                                                                      error=exc)) from None
    missing = [c for c in GOLD_COLUMNS if c not in gold.columns]
    if missing or not ({"start", "end"} <= set(gold.columns) or "text" in gold.columns):
        raise CodeerError(_(
            "{file} line 1: needs the columns document, codes and either start,end or text. "
            "Got {columns} instead.").format(file=path.name, columns=list(gold.columns)))
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
            raise CodeerError(_("{file} line {line}: document '{document}' is not in "
                                "documents.parquet. Use a document id or a file name.")
                              .format(file=path.name, line=line, document=doc))
        text = texts[doc_id]
        if row.get("start") not in (None, "") and row.get("end") not in (None, ""):
            try:
                start, end = int(row["start"]), int(row["end"])
            except (TypeError, ValueError):
                raise CodeerError(_("{file} line {line}: start and end must be whole numbers. "
                                    "Got '{start}' and '{end}' instead.").format(
                                        file=path.name, line=line, start=row["start"],
                                        end=row["end"])) from None
            if not 0 <= start < end <= len(text):
                raise CodeerError(_("{file} line {line}: offsets {start}-{end} lie outside "
                                    "document '{document}' ({length} characters).").format(
                                        file=path.name, line=line, start=start, end=end,
                                        document=doc_id, length=len(text)))
        else:
            passage = str(row.get("text") or "").strip()
            start = text.find(passage) if passage else -1
            if start < 0:
                raise CodeerError(_("{file} line {line}: the text is not found in document "
                                    "'{document}'. Copy it exactly from the transcript.")
                                  .format(file=path.name, line=line, document=doc_id))
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
        reference: Codes per segment id (the gold); every segment listed is judged for every
            code.
        predicted: Codes per segment id (automatic codes); segments missing here count as
            uncoded.
        codes: The code ids to report.

    Returns:
        See :func:`agreement_arrays`.
    """
    seg_ids = sorted(reference)
    arrays = {
        code: (np.array([code in reference[s] for s in seg_ids], dtype=int),
               np.array([code in predicted.get(s, set()) for s in seg_ids], dtype=int))
        for code in codes
    }
    table, pooled = agreement_arrays(arrays)
    pooled["segments"] = len(seg_ids)
    pooled["coded_share"] = (float(np.mean([bool(predicted.get(s)) for s in seg_ids]))
                             if seg_ids else float("nan"))
    return table, pooled


def agreement_arrays(arrays: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[pd.DataFrame,
                                                                               dict]:
    """Agreement figures from 0/1 decisions per code: ``{code: (reference, predicted)}``.

    Returns:
        A table with ``code_id, support, predicted, tp, fp, fn, precision, recall, f1, kappa,
        alpha`` and pooled figures: micro precision/recall/F1, macro-F1 over codes with
        support, and kappa and alpha over all code x segment decisions.
    """
    rows = []
    for code, (ref, pred) in arrays.items():
        tp, fp, fn = int((ref & pred).sum()), int(((1 - ref) & pred).sum()), \
            int((ref & (1 - pred)).sum())
        rows.append({"code_id": code, "support": int(ref.sum()), "predicted": int(pred.sum()),
                     "tp": tp, "fp": fp, "fn": fn,
                     "precision": tp / (tp + fp) if tp + fp else float("nan"),
                     "recall": tp / (tp + fn) if tp + fn else float("nan"),
                     "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
                     "kappa": _kappa(ref, pred), "alpha": _alpha(ref, pred)})
    table = pd.DataFrame(rows, columns=["code_id", "support", "predicted", "tp", "fp", "fn",
                                        "precision", "recall", "f1", "kappa", "alpha"])
    ref_all = np.concatenate([a for a, _b in arrays.values()]) if arrays else np.zeros(0, int)
    pred_all = np.concatenate([b for _a, b in arrays.values()]) if arrays else np.zeros(0, int)
    tp = int((ref_all & pred_all).sum())
    fp = int(((1 - ref_all) & pred_all).sum())
    fn = int((ref_all & (1 - pred_all)).sum())
    supported = table[table["support"] > 0]
    pooled = {
        "decisions": int(len(ref_all)),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
        "macro_f1": float(supported["f1"].fillna(0).mean()) if len(supported) else float("nan"),
        "kappa": _kappa(ref_all, pred_all),
        "alpha": _alpha(ref_all, pred_all),
    }
    return table, pooled


def review_agreement(
    codings: pd.DataFrame, reviews: pd.DataFrame, codes: list[str]
) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Agreement of the automatic codes with the reviewers, and between reviewers.

    For each code, the reviewed (segment, code) pairs are the units: a reviewer's ``accept``
    or ``add`` is a 1, ``reject`` a 0; the coder's 1 is an automatic coding of the pair.

    Returns:
        ``{"auto_vs_review": (table, pooled)}`` and, for every two reviewers who decided on
        the same pairs, ``{"<a>_vs_<b>": (table, pooled)}``.
    """
    from pipeline.review.decisions import latest_decisions

    auto = codings[codings["method"] != "human"]
    auto_pairs = set(zip(auto["segment_id"], auto["code_id"], strict=True))
    latest = latest_decisions(reviews)
    results = {}
    arrays = {}
    for code in codes:
        rows = latest[latest["code_id"] == code]
        truth = rows["decision"].isin(["accept", "add"]).to_numpy().astype(int)
        pred = np.array([(s, code) in auto_pairs for s in rows["segment_id"]], dtype=int)
        arrays[code] = (truth, pred)
    results["auto_vs_review"] = agreement_arrays(arrays)
    reviewers = sorted(r for r in reviews["reviewer"].unique() if r)
    for i, a in enumerate(reviewers):
        for b in reviewers[i + 1 :]:
            da = latest_decisions(reviews, a).set_index(["segment_id", "code_id"])["decision"]
            db = latest_decisions(reviews, b).set_index(["segment_id", "code_id"])["decision"]
            both = da.index.intersection(db.index)
            if not len(both):
                continue
            pair_arrays = {}
            for code in codes:
                keys = [k for k in both if k[1] == code]
                pair_arrays[code] = (
                    np.array([da[k] != "reject" for k in keys], dtype=int),
                    np.array([db[k] != "reject" for k in keys], dtype=int))
            results[f"{a}_vs_{b}"] = agreement_arrays(pair_arrays)
    return results


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
    lines.append(_("pooled: {figures}").format(figures="  ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in pooled.items())))
    return "\n".join(lines)


def to_dict(table: pd.DataFrame, pooled: dict) -> dict:
    """Per-code and pooled figures as plain data (NaN becomes None)."""
    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    return {"per_code": [{k: clean(v) for k, v in r.items()} for r in table.to_dict("records")],
            "pooled": {k: clean(v) for k, v in pooled.items()}}


def to_json(table: pd.DataFrame, pooled: dict) -> str:
    """Per-code and pooled figures as JSON."""
    return json.dumps(to_dict(table, pooled), indent=2, ensure_ascii=False)


# --------------------------------------------------------------------------- uncertainty


def bootstrap_kappa(reference: np.ndarray, predicted: np.ndarray,
                    groups: np.ndarray | None = None, n_resamples: int = 1000,
                    level: float = 0.95, seed: int | None = None,
                    max_undefined: float = 0.1) -> dict:
    """Cohen's kappa with a percentile bootstrap confidence interval.

    The units (or, with ``groups``, whole groups of units: the decisions on the sentences of
    one turn hang together, so resampling them one by one would make the interval too narrow)
    are drawn with replacement by :func:`scipy.stats.bootstrap`, ``n_resamples`` times, with a
    fixed seed, and kappa is computed on each draw. A draw in which both raters give one value
    only has no kappa; when more than ``max_undefined`` of the draws have none, there are too
    few decisions for an interval and the bounds are NaN.

    Args:
        reference: 0/1 decisions of the first rater (the reviewer).
        predicted: 0/1 decisions of the second rater (the coder, or a second reviewer).
        groups: A group label per unit (e.g. the turn of its segment); None: every unit alone.
        n_resamples: Bootstrap draws.
        level: Confidence level of the interval.
        seed: Seed of the draws (default :data:`pipeline.config.SEED`).
        max_undefined: Largest share of draws without a kappa that still gives an interval.

    Returns:
        ``kappa`` (on all units), ``low``, ``high`` (NaN without an interval), ``n`` (units),
        ``groups`` (groups drawn), ``resamples`` and ``undefined`` (draws without a kappa).
    """
    import warnings

    from scipy.stats import bootstrap

    from pipeline import config

    reference = np.asarray(reference, dtype=int)
    predicted = np.asarray(predicted, dtype=int)
    if reference.shape != predicted.shape:
        raise ValueError("reference and predicted must have the same length.")
    labels = np.arange(len(reference)) if groups is None else np.asarray(groups)
    names, codes = np.unique(labels, return_inverse=True)
    # Per group the four cells of the 2x2 table: a draw of groups sums their cells.
    cells = np.zeros((len(names), 4))
    np.add.at(cells, (codes, 2 * reference + predicted), 1)
    result = {"kappa": _kappa(reference, predicted), "low": float("nan"),
              "high": float("nan"), "n": int(len(reference)), "groups": int(len(names)),
              "resamples": int(n_resamples), "undefined": int(n_resamples)}
    if len(names) < 2 or math.isnan(result["kappa"]):
        return result

    def statistic(drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        drawn = np.moveaxis(np.asarray(drawn), axis, -1).astype(int)
        return kappa_from_cells(cells[drawn].sum(axis=-2))

    with warnings.catch_warnings():  # a draw without kappa: counted below, not warned about
        warnings.simplefilter("ignore")
        res = bootstrap((np.arange(len(names)),), statistic, paired=True, vectorized=True,
                        n_resamples=n_resamples, confidence_level=level, method="percentile",
                        rng=np.random.default_rng(config.SEED if seed is None else seed))
    draws = np.asarray(res.bootstrap_distribution, dtype=float)
    undefined = int(np.isnan(draws).sum())
    result["undefined"] = undefined
    if undefined <= max_undefined * len(draws):
        tail = 100 * (1 - level) / 2
        low, high = np.nanpercentile(draws, [tail, 100 - tail])
        result["low"], result["high"] = float(low), float(high)
    return result


def kappa_from_cells(cells: np.ndarray) -> np.ndarray:
    """Cohen's kappa of two raters' 0/1 decisions from the cells of their 2x2 table.

    The bootstrap needs thousands of kappas, and :func:`sklearn.metrics.cohen_kappa_score`
    takes milliseconds each; this is the same formula on counts, for many tables at once.

    Args:
        cells: ``(..., 4)`` counts of (0, 0), (0, 1), (1, 0), (1, 1) (first rater, second).

    Returns:
        Kappa per table; NaN where both raters give one and the same value only (as
        :func:`_kappa`).
    """
    cells = np.asarray(cells, dtype=float)
    n = cells.sum(axis=-1)
    observed = (cells[..., 0] + cells[..., 3]) / n
    first = (cells[..., 2] + cells[..., 3]) / n
    second = (cells[..., 1] + cells[..., 3]) / n
    expected = first * second + (1 - first) * (1 - second)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - expected) / (1 - expected)
    return np.where(np.isclose(expected, 1.0), np.nan, kappa)


def kappa_words(kappa: float) -> str:
    """The conventional reading of a kappa (Landis and Koch, 1977), in the current language."""
    if math.isnan(kappa):
        return _("cannot be computed")
    if kappa < 0:
        return _("less agreement than chance")
    if kappa == 0:
        return _("no more agreement than chance")
    for limit, words in ((0.20, N_("hardly more than chance")), (0.40, N_("fair agreement")),
                         (0.60, N_("moderate agreement")), (0.80, N_("substantial agreement"))):
        if kappa <= limit:
            return _(words)
    return _("(almost) perfect agreement")
