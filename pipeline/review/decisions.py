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

import contextlib
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
from pipeline.i18n import _, located
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
        return located(config.REVIEWS_FILE, self.line, self.message)


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
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    rows = []
    header = next(reader, None)
    if header is None:
        return pd.DataFrame(columns=[*COLUMNS, "line", "time"]), issues
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        issues.append(ReviewIssue(1, _("the header lacks {missing}; expected {expected}. No "
                                       "decision can be read until the header is repaired.")
                                  .format(missing=missing, expected=list(COLUMNS))))
        return pd.DataFrame(columns=[*COLUMNS, "line", "time"]), issues
    index = {c: header.index(c) for c in COLUMNS}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < len(header) or any(c.strip() for c in cells[len(header):]):
            issues.append(ReviewIssue(line, _("has {cells} cells, the header has {header}; the "
                                              "row is skipped.").format(cells=len(cells),
                                                                        header=len(header))))
            continue
        row = {c: cells[i].strip() for c, i in index.items()}
        if row["decision"] not in DECISIONS:
            issues.append(ReviewIssue(line, _("decision must be one of {decisions}. Got "
                                              "'{got}' instead; skipped.").format(
                                                  decisions=list(DECISIONS), got=row["decision"])))
            continue
        if known_codes is not None and row["code_id"] not in known_codes:
            issues.append(ReviewIssue(line, _("code '{code}' is not in the codebook; skipped.")
                                      .format(code=row["code_id"])))
            continue
        if not row["segment_id"]:
            issues.append(ReviewIssue(line, _("segment_id is empty; skipped.")))
            continue
        try:
            row["time"] = _parse_time(row["timestamp"])
        except ValueError:
            issues.append(ReviewIssue(line, _("timestamp must be ISO 8601, like "
                                              "2026-11-27T14:05:00. Got '{got}' instead; "
                                              "skipped.").format(got=row["timestamp"])))
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
        notes.append(_(
            "{n} review decision(s) point at segments that no longer exist (first: line "
            "{line}, segment {segment}); they stay in the log and apply again if the text "
            "comes back.").format(n=len(gone), line=int(gone["line"].iloc[0]),
                                  segment=gone["segment_id"].iloc[0]))
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
        if k in existing:
            continue
        # A rejection of a pair the coder (no longer) codes stays visible as a rejected
        # human row: the decision is part of the record, and it counts nowhere.
        rejected = d.decision == "reject"
        note = f": {d.note}" if d.note else ""
        who = d.reviewer or HUMAN_USER
        added.append({
            "segment_id": d.segment_id, "code_id": d.code_id, "method": "human",
            "score": math.nan, "evidence": f"{'afgewezen' if rejected else 'handmatig'} door "
                                          f"{who}{note}",
            "status": "rejected" if rejected else "accepted", "reviewer": who,
            "reviewed_at": d.time.isoformat(timespec="seconds"),
            "codebook_sha256": out["codebook_sha256"].iloc[0] if len(out) else "",
            "model_id": "",
        })
    if added:
        out = pd.concat([out, pd.DataFrame(added)], ignore_index=True)
        out = out.sort_values(["segment_id", "code_id"], kind="stable")
    return schema.CODINGS.conform(out), notes


def _delimiter(text: str) -> str:
    """The separator of the log, from its header: a comma, or the semicolon of Dutch Excel."""
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _decode(data: bytes) -> str:
    """The log as text: UTF-8 (with or without BOM), a line saved as Windows-1252 by an older
    Excel read as such, so that one line never hides the others."""
    from pipeline.ingest.readers import decode

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text, _encoding, warnings = decode(data, Path(config.REVIEWS_FILE))
        for warning in warnings:
            log.warning("%s", warning)
        return text


def read_reviews(out: Path, known_codes: set[str] | None = None) -> pd.DataFrame:
    """Read ``OUT/reviews.csv`` (empty frame when absent), logging every unusable row.

    The log may have been saved by Excel: a BOM, CRLF line ends and a semicolon separator are
    read as they are.

    Raises:
        CodeerError: A line of the log is neither UTF-8 nor Windows-1252.
    """
    path = Path(out) / config.REVIEWS_FILE
    if not path.exists():
        return parse_reviews("")[0]
    reviews, issues = parse_reviews(_decode(path.read_bytes()), known_codes)
    for issue in issues:
        log.warning("%s", issue)
    return reviews


@contextlib.contextmanager
def _locked(path: Path):
    """The log opened for reading and appending, locked against every other writer.

    The lock covers the check for a header and the append, so two ``codeer review`` that start
    a new log at once write one header between them.
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _dialect(fd: int) -> tuple[str, str, bool]:
    """Separator, line end, and whether a line end is missing at the end of an open log."""
    def read_at(offset: int, n: int) -> bytes:  # os.pread does not exist on Windows
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, n)

    size = os.fstat(fd).st_size
    head = read_at(0, min(size, 4096))
    first = head.split(b"\n", 1)[0] + (b"\n" if b"\n" in head else b"")
    delimiter = _delimiter(first.decode("utf-8-sig", errors="replace"))
    newline = "\r\n" if first.endswith(b"\r\n") else "\n"
    unterminated = size > 0 and read_at(size - 1, 1) not in (b"\n", b"\r")
    return delimiter, newline, unterminated


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

    The row is written in the log's own dialect (a log saved by Dutch Excel keeps its
    semicolons and CRLF), on a line of its own even when an editor dropped the final line end.

    Raises:
        CodeerError: Unknown decision, empty reviewer, or a segment id that does not exist.
    """
    from pipeline import storage

    if decision not in DECISIONS:
        raise CodeerError(_("decision must be one of {decisions}. Got '{got}' instead.")
                          .format(decisions=list(DECISIONS), got=decision))
    if not reviewer.strip():
        raise CodeerError(_("reviewer must be a name or initials, so agreement can be "
                            "computed."))
    out = Path(out)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    if segment_id not in set(segments["segment_id"]):
        raise CodeerError(_("segment '{segment}' is not in {path}.")
                          .format(segment=segment_id, path=out / config.SEGMENTS_FILE))
    stamp = (timestamp or datetime.now(UTC)).isoformat(timespec="seconds")
    row = {"segment_id": segment_id, "code_id": code_id, "decision": decision,
           "reviewer": reviewer.strip(), "timestamp": stamp, "note": note}
    path = out / config.REVIEWS_FILE
    try:
        with _locked(path) as fd:
            delimiter, newline, unterminated = _dialect(fd)
            buffer = io.StringIO()
            if unterminated:
                buffer.write(newline)
            writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
            if os.fstat(fd).st_size == 0:
                writer.writerow(COLUMNS)
            writer.writerow([row[c] for c in COLUMNS])
            # One append of whole lines, flushed to disk: earlier decisions are never rewritten.
            os.write(fd, buffer.getvalue().encode("utf-8"))
            os.fsync(fd)
    except OSError as exc:
        raise CodeerError(_("Cannot append to {path}: {reason}. Close it if another program "
                            "has it open, or check the folder's permissions.")
                          .format(path=path, reason=exc.strerror)) from None
    return row


def record_many(out: Path, rows: list[dict]) -> list[dict]:
    """Append several decisions to ``OUT/reviews.csv`` in one write (``codeer import``).

    Each row (``segment_id, code_id, decision, reviewer``, optional ``note`` and
    ``timestamp``) is checked as :func:`record` checks one, all before anything is written, so
    the log gets all of them or none; then they are appended like :func:`record` appends one.

    Returns:
        The rows as written.

    Raises:
        CodeerError: An unknown decision, an empty reviewer or a segment that does not exist.
    """
    from pipeline import storage

    if not rows:
        return []
    out = Path(out)
    segments = set(storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)["segment_id"])
    written = []
    for r in rows:
        if r["decision"] not in DECISIONS:
            raise CodeerError(_("decision must be one of {decisions}. Got '{got}' instead.")
                              .format(decisions=list(DECISIONS), got=r["decision"]))
        if not str(r["reviewer"]).strip():
            raise CodeerError(_("reviewer must be a name or initials, so agreement can be "
                                "computed."))
        if r["segment_id"] not in segments:
            raise CodeerError(_("segment '{segment}' is not in {path}.")
                              .format(segment=r["segment_id"], path=out / config.SEGMENTS_FILE))
        stamp = (r.get("timestamp") or datetime.now(UTC)).isoformat(timespec="seconds")
        written.append({"segment_id": r["segment_id"], "code_id": r["code_id"],
                        "decision": r["decision"], "reviewer": str(r["reviewer"]).strip(),
                        "timestamp": stamp, "note": r.get("note") or ""})
    path = out / config.REVIEWS_FILE
    try:
        with _locked(path) as fd:
            delimiter, newline, unterminated = _dialect(fd)
            buffer = io.StringIO()
            if unterminated:
                buffer.write(newline)
            writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
            if os.fstat(fd).st_size == 0:
                writer.writerow(COLUMNS)
            writer.writerows([row[c] for c in COLUMNS] for row in written)
            os.write(fd, buffer.getvalue().encode("utf-8"))
            os.fsync(fd)
    except OSError as exc:
        raise CodeerError(_("Cannot append to {path}: {reason}. Close it if another program "
                            "has it open, or check the folder's permissions.")
                          .format(path=path, reason=exc.strerror)) from None
    return written
