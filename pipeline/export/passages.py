"""Passages: the codings as a researcher reads, counts and exports them.

The coder scores, and the review log records, one row per segment (a sentence) and code
(``codings.parquet``). A researcher reads passages: adjacent sentences of one spreekbeurt that
carry the same code are *one* coding, with one quote, one excerpt row and one REFI-QDA
selection from the start of the first to the end of the last sentence. Passages are derived
here, at export, by one pure function (:func:`passage_codings`); the codings stay as they are.

The rules:

* **A run** is, for one code, a longest sequence of segments that carry the code, follow each
  other in the document (no segment in between) and belong to one turn. A new turn, another
  speaker's words or a sentence without the code ends it.
* **Rejected sentences split a run.** Rejected codings form runs of their own (adjacent rejected
  sentences of one turn), so a passage is rejected only when all its sentences are, and a
  passage that counts holds no rejected sentence. Why: a CAQDAS, and ``codeer import``, read a
  selection as a coding of every sentence it covers, so a rejected sentence inside an exported
  passage would come back as an 'add' and undo the researcher's decision.
* **Several codes, one passage.** Runs of different codes over exactly the same sentences are
  one passage that carries each of those codes (one excerpt row per code, one REFI-QDA selection
  with one coding per code). Runs that overlap without covering the same sentences are different
  passages, which a CAQDAS shows as overlapping codings.
* **How statuses mix** (per code of a passage): ``accepted`` when every sentence is accepted (a
  researcher confirmed the whole passage), ``auto`` as soon as one sentence is not reviewed yet,
  ``rejected`` for a rejected run. The passage as a whole: ``rejected`` when every code is,
  ``accepted`` when every code is, ``auto`` otherwise.
* **How methods mix:** one method when the sentences share it; ``both`` when a rule
  (``rule``/``both``) and the model (``embedding``) each found part of it; otherwise the
  automatic method (a passage the machine found, partly coded by hand, stays the machine's);
  ``human`` only when every sentence was coded by hand.
* **Probability:** the highest of the sentences (``codings.score``: how likely a researcher
  accepts the code); **evidence:** every distinct part of the sentences' evidence, the rules'
  matched words first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.vocab import Method, Status

#: Columns of :func:`passage_codings`, in order.
COLUMNS = (
    "passage_id", "document_id", "turn_index", "segment_ids", "start", "end", "n_segments",
    "code_id", "codes", "status", "method", "probability", "evidence", "passage_status", "rows",
)
_EVIDENCE_SEP = " | "
_AUTOMATIC = (Method.RULE.value, Method.EMBEDDING.value, Method.BOTH.value)


def passage_id(segment_ids: Sequence[str], rejected: bool = False) -> str:
    """A stable id of a passage: a hash of its segment ids (and whether it is rejected)."""
    key = "\x1f".join(segment_ids) + ("\x1frejected" if rejected else "")
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def mix_status(statuses: Sequence[str]) -> str:
    """The status of one code on a passage from its sentences' statuses (see the module)."""
    values = set(statuses)
    if values == {Status.REJECTED.value}:
        return Status.REJECTED.value
    if values == {Status.ACCEPTED.value}:
        return Status.ACCEPTED.value
    return Status.AUTO.value


def mix_method(methods: Sequence[str]) -> str:
    """The method of one code on a passage from its sentences' methods (see the module)."""
    values = set(methods)
    if len(values) == 1:
        return next(iter(values))
    rule = bool(values & {Method.RULE.value, Method.BOTH.value})
    model = bool(values & {Method.EMBEDDING.value, Method.BOTH.value})
    if rule and model:
        return Method.BOTH.value
    if rule:
        return Method.RULE.value
    if model:
        return Method.EMBEDDING.value
    return Method.HUMAN.value


def mix_evidence(parts: Sequence[object]) -> str:
    """Every distinct evidence part of the sentences joined by `` | ``: the rules' matched
    words first (the most readable reason), then the rest, each in text order."""
    seen: dict[str, None] = {}
    for value in parts:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            continue
        for part in str(value).split(_EVIDENCE_SEP):
            if part.strip():
                seen.setdefault(part.strip(), None)
    return _EVIDENCE_SEP.join(sorted(seen, key=lambda p: not p.startswith("regel ")))


def _positions(segments: pd.DataFrame) -> pd.DataFrame:
    """Segments in text order with their position in the document (0, 1, 2, ...)."""
    cols = ["segment_id", "document_id", "segment_index", "turn_index", "start", "end"]
    segs = segments[cols].sort_values(["document_id", "segment_index"], kind="stable")
    segs = segs.assign(_pos=segs.groupby("document_id", sort=False).cumcount())
    return segs.reset_index(drop=True)


def passage_codings(codings: pd.DataFrame, segments: pd.DataFrame,
                    code_order: Sequence[str] = ()) -> pd.DataFrame:
    """One row per passage and code: the codings merged into passages (see the module).

    Args:
        codings: Codings (:data:`pipeline.schema.CODINGS` columns; rejected ones included).
            Rows whose segment is not in ``segments`` are left out (callers check them first).
            A (segment, code) pair given twice counts once (its first row).
        segments: The segments table (:data:`pipeline.schema.SEGMENTS`).
        code_order: Code ids in codebook order (orders ``codes`` and the rows); codes not in
            it come after, by id.

    Returns:
        A frame with the columns :data:`COLUMNS`, in document order (of ``segments``), then
        by the passage's first and last sentence, then by code: ``segment_ids`` lists the
        passage's sentences in order, ``start``/``end`` are the first sentence's start and the
        last one's end (offsets in the document text), ``codes`` every code of the passage
        (codebook order), ``status``/``method``/``probability``/``evidence`` this code's, and
        ``passage_status`` the passage's; ``rows`` holds the index labels of the ``codings``
        rows merged (sentence order), for callers that carry more columns along.
    """
    order = {c: i for i, c in enumerate(code_order)}
    if codings.empty or segments.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    segs = _positions(segments)
    doc_order = {d: i for i, d in enumerate(dict.fromkeys(segments["document_id"]))}
    df = codings[["segment_id", "code_id", "status", "method", "score", "evidence"]].copy()
    df["_row"] = codings.index
    df = df.drop_duplicates(["segment_id", "code_id"], keep="first")
    df = df.merge(segs, on="segment_id", how="inner")
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    df["_rejected"] = df["status"].astype(str) == Status.REJECTED.value
    df = df.sort_values(["code_id", "_rejected", "document_id", "_pos"], kind="stable")
    df = df.reset_index(drop=True)
    same = np.ones(len(df), dtype=bool)
    for col, step in (("code_id", 0), ("_rejected", 0), ("document_id", 0), ("turn_index", 0),
                      ("_pos", 1)):
        values = df[col].to_numpy(dtype=object)
        same[1:] &= values[1:] == values[:-1] + step if step else values[1:] == values[:-1]
    same[0] = False
    df["_run"] = np.cumsum(~same)

    runs = []
    for _, run in df.groupby("_run", sort=False):
        ids = tuple(run["segment_id"])
        runs.append({
            "_key": (ids, bool(run["_rejected"].iloc[0])),
            "document_id": run["document_id"].iloc[0],
            "turn_index": int(run["turn_index"].iloc[0]),
            "segment_ids": list(ids),
            "start": int(run["start"].iloc[0]),
            "end": int(run["end"].iloc[-1]),
            "n_segments": len(ids),
            "code_id": run["code_id"].iloc[0],
            "status": mix_status(run["status"].astype(str).tolist()),
            "method": mix_method(run["method"].astype(str).tolist()),
            "probability": float(pd.to_numeric(run["score"], errors="coerce").max()),
            "evidence": mix_evidence(run["evidence"].tolist()),
            "rows": list(run["_row"]),
            "_first": int(run["_pos"].iloc[0]),
            "_last": int(run["_pos"].iloc[-1]),
        })
    out = pd.DataFrame(runs)

    def code_key(code: str) -> tuple[int, str]:
        return (order.get(code, len(order)), str(code))

    codes_of: dict[tuple, list[str]] = {}
    statuses_of: dict[tuple, list[str]] = {}
    for key, code, status in zip(out["_key"], out["code_id"], out["status"], strict=True):
        codes_of.setdefault(key, []).append(code)
        statuses_of.setdefault(key, []).append(status)
    out["codes"] = [sorted(codes_of[k], key=code_key) for k in out["_key"]]
    out["passage_status"] = [mix_status(statuses_of[k]) for k in out["_key"]]
    out["passage_id"] = [passage_id(ids, rejected) for ids, rejected in out["_key"]]
    out["_doc"] = out["document_id"].map(doc_order)
    out["_code"] = [code_key(c) for c in out["code_id"]]
    out = out.sort_values(["_doc", "_first", "_last", "_code", "passage_status"],
                          kind="stable")
    return out[list(COLUMNS)].reset_index(drop=True)


def passages(codings: pd.DataFrame, segments: pd.DataFrame,
             code_order: Sequence[str] = ()) -> pd.DataFrame:
    """One row per passage (all its codes together), from :func:`passage_codings`.

    Returns:
        ``passage_id, document_id, turn_index, segment_ids, start, end, n_segments, codes,
        status, method, probability, evidence``: ``status`` is the passage's (rejected only
        when every code is), ``method`` mixes the codes' methods, ``probability`` is the
        highest, ``evidence`` names each code's evidence (``"L1: ... | L2: ..."`` when there
        are several codes).
    """
    long = passage_codings(codings, segments, code_order)
    cols = ["passage_id", "document_id", "turn_index", "segment_ids", "start", "end",
            "n_segments", "codes", "status", "method", "probability", "evidence"]
    if long.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    rows = []
    for pid, group in long.groupby("passage_id", sort=False):
        first = group.iloc[0]
        several = len(group) > 1
        evidence = [f"{c}: {e}" if several else e
                    for c, e in zip(group["code_id"], group["evidence"], strict=True) if e]
        rows.append({
            "passage_id": pid, "document_id": first["document_id"],
            "turn_index": first["turn_index"], "segment_ids": first["segment_ids"],
            "start": first["start"], "end": first["end"], "n_segments": first["n_segments"],
            "codes": first["codes"], "status": first["passage_status"],
            "method": mix_method(group["method"].tolist()),
            "probability": float(group["probability"].max()),
            "evidence": _EVIDENCE_SEP.join(evidence),
        })
    return pd.DataFrame(rows, columns=cols)


def counted(passage_rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`passage_codings` that count: not rejected."""
    return passage_rows[passage_rows["status"] != Status.REJECTED.value].reset_index(drop=True)
