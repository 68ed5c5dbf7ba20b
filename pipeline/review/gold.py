"""Gold files of every kind, and agreement counted per passage (paragraph) as well as per segment.

Three gold formats are read (CSV or JSONL, one row per coded passage):

* ``document,start,end,codes``: character offsets into ``documents.text``;
* ``document,text,codes``: the passage's exact text (``tests/data/demo_gold.csv``);
* ``file,para,codes`` (+ optional ``sha1``): the ``para``-th paragraph of a transcript file,
  counting its non-empty lines that do not start with ``#`` (the format of the development sets
  coded by two blind coders). ``sha1`` (first 12 hex digits of the SHA-1 of the line, as is
  or stripped) detects a transcript that changed since it was coded.

Researchers read codes per passage, and a gold coded per paragraph says nothing about which
sentence carries the lesson, so agreement is also reported per gold passage: a passage gets a
code when any segment inside it has that code (:func:`passage_agreement`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import CodeerError
from pipeline.i18n import _
from pipeline.review.agreement import agreement, read_gold


def paragraphs(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every non-empty line of ``text`` that does not start with ``#``."""
    out, pos = [], 0
    for line in text.split("\n"):
        if line.strip() and not line.startswith("#"):
            out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _read_rows(path: Path) -> list[dict]:
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CodeerError(_("{file} must be UTF-8. Got byte 0x{byte:02x} instead; re-save it "
                            "as UTF-8.").format(file=path.name, byte=exc.object[exc.start])
                          ) from None
    rows = []
    for i, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append({**json.loads(line), "_line": i})
        except json.JSONDecodeError as exc:
            raise CodeerError(_("{file} line {line} must be one JSON object. Got an error "
                                "instead: {error}.").format(file=path.name, line=i,
                                                            error=exc.msg)) from None
    return rows


def read_any_gold(path: Path, documents: pd.DataFrame) -> pd.DataFrame:
    """Read a gold file in any of the three formats into ``document_id, start, end, codes``.

    Raises:
        CodeerError: Unreadable file, unknown document, paragraph out of range, or a
            paragraph whose text changed (``sha1``); the message names the line.
    """
    path = Path(path)
    if not path.exists():
        raise CodeerError(_("Gold file {path} does not exist.").format(path=path))
    if path.suffix.lower() not in (".jsonl", ".json"):
        return read_gold(path, documents)
    rows = _read_rows(path)
    if not rows or "para" not in rows[0]:
        return read_gold(path, documents)
    by_file = {Path(p).name: (d, t) for p, d, t in zip(
        documents["source_path"], documents["document_id"], documents["text"], strict=True)}
    cache: dict[str, list[tuple[int, int]]] = {}
    out = []
    for row in rows:
        line = row["_line"]
        name = Path(str(row.get("file", ""))).name
        if name not in by_file:
            continue  # a file of the gold that is not in this batch (e.g. a held-out part)
        doc_id, text = by_file[name]
        paras = cache.setdefault(doc_id, paragraphs(text))
        try:
            index = int(row["para"])
            start, end = paras[index]
        except (ValueError, TypeError, IndexError, KeyError):
            raise CodeerError(_("{file} line {line}: para must be a paragraph of {name} "
                                "(0-{last}). Got {got!r} instead.").format(
                                    file=path.name, line=line, name=name, last=len(paras) - 1,
                                    got=row.get("para"))) from None
        sha = str(row.get("sha1") or "")
        line_text = text[start:end]
        # The coders hashed the line as is, stripped, or without its "Speaker:" label.
        variants = (line_text, line_text.strip(), line_text.split(": ", 1)[-1].strip())
        if sha and all(hashlib.sha1(v.encode()).hexdigest()[:len(sha)] != sha
                       for v in variants):
            raise CodeerError(_("{file} line {line}: paragraph {index} of {name} changed since "
                                "it was coded (sha1 differs). Use the transcript the gold was "
                                "made for.").format(file=path.name, line=line, index=index,
                                                    name=name))
        codes = row.get("codes") or []
        out.append({"document_id": doc_id, "start": start, "end": end,
                    "codes": [str(c) for c in codes]})
    if not out:
        raise CodeerError(_("{file}: none of its files is in this batch. Ingest the "
                            "transcripts the gold was made for.").format(file=path.name))
    return pd.DataFrame(out, columns=["document_id", "start", "end", "codes"])


def passage_members(segments: pd.DataFrame, gold: pd.DataFrame) -> list[list[str]]:
    """The segment ids inside each gold passage (a segment counts when at least half of it
    lies inside the passage), in gold order."""
    by_doc = {d: g for d, g in segments.groupby("document_id", sort=False)}
    members = []
    for row in gold.itertuples():
        segs = by_doc.get(row.document_id)
        if segs is None:
            members.append([])
            continue
        start, end = segs["start"].to_numpy(), segs["end"].to_numpy()
        overlap = np.minimum(end, row.end) - np.maximum(start, row.start)
        inside = overlap >= 0.5 * np.maximum(end - start, 1)
        members.append(segs["segment_id"].to_numpy()[inside].tolist())
    return members


def passage_agreement(segments: pd.DataFrame, gold: pd.DataFrame,
                      predicted: dict[str, set[str]], codes: list[str]
                      ) -> tuple[pd.DataFrame, dict]:
    """Agreement per gold passage: a passage has a code when any of its segments has it.

    Passages without any segment in ``segments`` (out of scope) are left out. Besides the
    figures of :func:`pipeline.review.agreement.agreement`, ``pooled`` holds the
    false-positive rate (share of passages without a gold code that got any code) and the
    number of passages.
    """
    members = passage_members(segments, gold)
    reference, pred = {}, {}
    for i, (row, segs) in enumerate(zip(gold.itertuples(), members, strict=True)):
        if not segs:
            continue
        key = f"p{i}"
        reference[key] = set(row.codes) & set(codes)
        pred[key] = set().union(*(predicted.get(s, set()) for s in segs)) & set(codes)
    table, pooled = agreement(reference, pred, codes)
    negatives = [k for k, v in reference.items() if not v]
    pooled["passages"] = len(reference)
    pooled["false_positive_rate"] = (float(np.mean([bool(pred[k]) for k in negatives]))
                                     if negatives else float("nan"))
    return table, pooled
