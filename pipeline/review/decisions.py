"""Review decisions: an append-only log that every run applies and nothing else writes.

``OUT/reviews.csv`` holds one row per decision: ``segment_id, code_id, decision (accept |
reject | add), reviewer, timestamp (ISO 8601), note``. Only :func:`record` writes it, by
appending one line. ``codeer code`` and ``codeer run`` read it and set ``status`` in
``codings.parquet``; the latest decision per (segment, code) wins. Rows that cannot be used
(unknown code or decision, malformed timestamp, missing cells) are reported with their line
number and skipped; decisions about segments that no longer exist are reported and kept in
the log, so they apply again if the segment comes back.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipeline import config, schema
from pipeline.errors import CodeerError
from pipeline.vocab import DECISIONS

log = logging.getLogger("codeer")

COLUMNS = ("segment_id", "code_id", "decision", "reviewer", "timestamp", "note")
HUMAN_USER = "reviewer"


@dataclass
class ReviewIssue:
    """A row of the review log that could not be used."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"{config.REVIEWS_FILE} line {self.line}: {self.message}"


def _parse_time(value: str) -> datetime:
    stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def parse_reviews(
    text: str, known_codes: set[str] | None = None
) -> tuple[pd.DataFrame, list[ReviewIssue]]:
    """Parse the review log (pure): usable rows, and one issue per unusable row.

    Args:
        text: The CSV text of ``reviews.csv``.
        known_codes: Code ids of the codebook; rows naming another code are reported.

    Returns:
        A frame with :data:`COLUMNS` plus ``line`` and a parsed ``time`` column, in file
        order, and the issues.
    """
    issues: list[ReviewIssue] = []
    reader = csv.reader(io.StringIO(text))
    rows = []
    header = next(reader, None)
    if header is None:
        return pd.DataFrame(columns=[*COLUMNS, "line", "time"]), issues
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        issues.append(ReviewIssue(1, f"the header lacks {missing}; expected {list(COLUMNS)}. "
                                     "No decision can be read until the header is repaired."))
        return pd.DataFrame(columns=[*COLUMNS, "line", "time"]), issues
    index = {c: header.index(c) for c in COLUMNS}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            issues.append(ReviewIssue(line, f"has {len(cells)} cells, the header has "
                                            f"{len(header)}; the row is skipped."))
            continue
        row = {c: cells[i].strip() for c, i in index.items()}
        if row["decision"] not in DECISIONS:
            issues.append(ReviewIssue(line, f"decision must be one of {list(DECISIONS)}. "
                                            f"Got '{row['decision']}' instead; skipped."))
            continue
        if known_codes is not None and row["code_id"] not in known_codes:
            issues.append(ReviewIssue(line, f"code '{row['code_id']}' is not in the codebook; "
                                            "skipped."))
            continue
        if not row["segment_id"]:
            issues.append(ReviewIssue(line, "segment_id is empty; skipped."))
            continue
        try:
            row["time"] = _parse_time(row["timestamp"])
        except ValueError:
            issues.append(ReviewIssue(line, "timestamp must be ISO 8601, like "
                                            f"2026-11-27T14:05:00. Got '{row['timestamp']}' "
                                            "instead; skipped."))
            continue
        row["line"] = line
        rows.append(row)
    return pd.DataFrame(rows, columns=[*COLUMNS, "line", "time"]), issues


def latest_decisions(reviews: pd.DataFrame, reviewer: str | None = None) -> pd.DataFrame:
    """The latest decision per (segment, code), optionally of one reviewer only."""
    if reviewer is not None:
        reviews = reviews[reviews["reviewer"] == reviewer]
    if reviews.empty:
        return reviews
    ordered = reviews.sort_values(["time", "line"], kind="stable")
    return ordered.groupby(["segment_id", "code_id"], as_index=False).tail(1)


def apply_reviews(
    codings: pd.DataFrame, reviews: pd.DataFrame, segment_ids: set[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Set ``status`` from the latest decisions and add human codings (pure).

    Args:
        codings: Automatic codings (status ``auto``).
        reviews: Parsed review rows (see :func:`parse_reviews`).
        segment_ids: Ids of the segments that exist now.

    Returns:
        The codings with statuses applied and ``human`` rows added, and messages about
        decisions whose segment no longer exists.
    """
    notes: list[str] = []
    latest = latest_decisions(reviews)
    out = codings.copy()
    if latest.empty:
        return out, notes
    gone = latest[~latest["segment_id"].isin(segment_ids)]
    if len(gone):
        notes.append(
            f"{len(gone)} review decision(s) point at segments that no longer exist (first: "
            f"line {int(gone['line'].iloc[0])}, segment {gone['segment_id'].iloc[0]}); they "
            "stay in the log and apply again if the text comes back."
        )
    latest = latest[latest["segment_id"].isin(segment_ids)]
    key = list(zip(out["segment_id"], out["code_id"], strict=True))
    decision = {(r.segment_id, r.code_id): r for r in latest.itertuples()}
    status, reviewer, reviewed_at = [], [], []
    for k, current in zip(key, out["status"], strict=True):
        d = decision.get(k)
        if d is None:
            status.append(current)
            reviewer.append(pd.NA)
            reviewed_at.append(pd.NA)
        else:
            status.append("rejected" if d.decision == "reject" else "accepted")
            reviewer.append(d.reviewer or HUMAN_USER)
            reviewed_at.append(d.time.isoformat(timespec="seconds"))
    out["status"] = status
    out["reviewer"] = pd.array(reviewer, dtype="string")
    out["reviewed_at"] = pd.array(reviewed_at, dtype="string")
    existing = set(key)
    added = []
    for k, d in decision.items():
        if k in existing or d.decision == "reject":
            continue
        note = f": {d.note}" if d.note else ""
        added.append({
            "segment_id": d.segment_id, "code_id": d.code_id, "method": "human",
            "score": math.nan, "evidence": f"handmatig door {d.reviewer or HUMAN_USER}{note}",
            "status": "accepted", "reviewer": d.reviewer or HUMAN_USER,
            "reviewed_at": d.time.isoformat(timespec="seconds"),
            "codebook_sha256": out["codebook_sha256"].iloc[0] if len(out) else "",
            "model_id": "",
        })
    if added:
        out = pd.concat([out, pd.DataFrame(added)], ignore_index=True)
        out = out.sort_values(["segment_id", "code_id"], kind="stable")
    return schema.CODINGS.conform(out), notes


def read_reviews(out: Path, known_codes: set[str] | None = None) -> pd.DataFrame:
    """Read ``OUT/reviews.csv`` (empty frame when absent), logging every unusable row."""
    path = Path(out) / config.REVIEWS_FILE
    if not path.exists():
        return parse_reviews("")[0]
    reviews, issues = parse_reviews(path.read_text(encoding="utf-8-sig"), known_codes)
    for issue in issues:
        log.warning("%s", issue)
    return reviews


def record(
    out: Path,
    segment_id: str,
    code_id: str,
    decision: str,
    reviewer: str,
    note: str = "",
    timestamp: datetime | None = None,
) -> dict:
    """Append one decision to ``OUT/reviews.csv`` (the only writer of that file).

    Raises:
        CodeerError: Unknown decision, empty reviewer, or a segment id that does not exist.
    """
    from pipeline import storage

    if decision not in DECISIONS:
        raise CodeerError(f"decision must be one of {list(DECISIONS)}. Got '{decision}' instead.")
    if not reviewer.strip():
        raise CodeerError("reviewer must be a name or initials, so agreement can be computed.")
    out = Path(out)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    if segment_id not in set(segments["segment_id"]):
        raise CodeerError(f"segment '{segment_id}' is not in {out / config.SEGMENTS_FILE}.")
    stamp = (timestamp or datetime.now(UTC)).isoformat(timespec="seconds")
    row = {"segment_id": segment_id, "code_id": code_id, "decision": decision,
           "reviewer": reviewer.strip(), "timestamp": stamp, "note": note}
    path = out / config.REVIEWS_FILE
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    new = not path.exists() or path.stat().st_size == 0
    if new:
        writer.writerow(COLUMNS)
    writer.writerow([row[c] for c in COLUMNS])
    # One append of whole lines, flushed to disk: earlier decisions are never rewritten.
    with open(path, "a", encoding="utf-8", newline="") as fh:
        fh.write(buffer.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
    return row
