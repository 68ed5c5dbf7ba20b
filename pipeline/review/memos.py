"""Memos: what a researcher notes about a passage, an interview, a code or the whole project.

``OUT/memos.csv`` is append-only, like the review log (:mod:`pipeline.review.decisions`): one
row per memo, ``timestamp, author, about, target, text``. ``about`` is one of
:data:`pipeline.vocab.MEMO_TARGETS`; ``target`` is a segment id (``passage``), a document id
(``document``), a code id (``code``) or empty (``project``). Only :func:`append` writes the file:
whole lines in one append, flushed to disk, never rewritten; a memo is corrected by writing a
new one. Memos are shown in the report's appendix and the workbook, exported as REFI-QDA notes
and read back by ``codeer import``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import config
from pipeline.errors import CodeerError
from pipeline.i18n import _, located
from pipeline.vocab import MEMO_TARGETS, MemoTarget

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("codeer")

COLUMNS = ("timestamp", "author", "about", "target", "text")


@dataclass
class MemoIssue:
    """A row of the memo log that could not be used."""

    line: int
    message: str

    def __str__(self) -> str:
        return located(config.MEMOS_FILE, self.line, self.message)


def _parse_time(value: str) -> datetime:
    stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _squash(text: str) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------- writing


def append_rows(path: Path, columns: Sequence[str], rows: Iterable[dict]) -> int:
    """Append ``rows`` to the CSV log ``path`` in one write (the only way the log grows).

    The header is written when the file is new or empty, under an exclusive lock so that two
    processes starting the log at once do not both write it. A last line without its newline
    (an editor saved the file so) gets one first, so the new rows are never glued onto it.
    The write is flushed and fsynced; earlier lines are never rewritten.

    Returns:
        The number of rows appended.

    Raises:
        CodeerError: The folder or file is not writable.
    """
    rows = list(rows)
    if not rows:
        return 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([[str(r.get(c, "")) for c in columns] for r in rows])
    body = buffer.getvalue()
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as fh:
            _lock(fh)
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            prefix = ""
            if size == 0:
                head = io.StringIO()
                csv.writer(head, lineterminator="\n").writerow(columns)
                prefix = head.getvalue()
            else:
                fh.seek(size - 1)
                if fh.read(1) not in (b"\n", b"\r"):
                    prefix = "\n"
                fh.seek(0, os.SEEK_END)
            fh.write((prefix + body).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise CodeerError(_("Cannot append to {path}: {reason}. Check the folder's "
                            "permissions; nothing was written.")
                          .format(path=path, reason=exc.strerror)) from None
    return len(rows)


def _lock(fh) -> None:
    """An exclusive lock for the rest of the ``with`` block (POSIX; no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)


# --------------------------------------------------------------------------- reading


def parse_memos(text: str) -> tuple[pd.DataFrame, list[MemoIssue]]:
    """Parse the memo log (pure): usable rows, and one issue per unusable row.

    Returns:
        A frame with :data:`COLUMNS` plus ``line`` and a parsed ``time`` column, in file
        order, and the issues.
    """
    import pandas as pd

    issues: list[MemoIssue] = []
    empty = pd.DataFrame(columns=[*COLUMNS, "line", "time"])
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return empty, issues
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        issues.append(MemoIssue(1, _("the header lacks {missing}; expected {expected}. No "
                                     "memo can be read until the header is repaired.")
                                .format(missing=missing, expected=list(COLUMNS))))
        return empty, issues
    index = {c: header.index(c) for c in COLUMNS}
    rows = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            issues.append(MemoIssue(line, _("has {cells} cells, the header has {header}; the "
                                            "row is skipped.").format(cells=len(cells),
                                                                      header=len(header))))
            continue
        row = {c: cells[i].strip() for c, i in index.items()}
        if row["about"] not in MEMO_TARGETS:
            issues.append(MemoIssue(line, _("about must be one of {targets}. Got '{got}' "
                                            "instead; skipped.").format(
                                                targets=list(MEMO_TARGETS), got=row["about"])))
            continue
        if not row["text"]:
            issues.append(MemoIssue(line, _("text is empty; skipped.")))
            continue
        try:
            row["time"] = _parse_time(row["timestamp"])
        except ValueError:
            issues.append(MemoIssue(line, _("timestamp must be ISO 8601, like "
                                            "2026-11-27T14:05:00. Got '{got}' instead; "
                                            "skipped.").format(got=row["timestamp"])))
            continue
        row["line"] = line
        rows.append(row)
    return pd.DataFrame(rows, columns=[*COLUMNS, "line", "time"]), issues


def read_memos(out: Path) -> pd.DataFrame:
    """Read ``OUT/memos.csv`` (an empty frame when absent), logging every unusable row."""
    path = Path(out) / config.MEMOS_FILE
    if not path.exists():
        return parse_memos("")[0]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CodeerError(_("{path} must be UTF-8 text. Got a byte it cannot decode at "
                            "position {position} instead; save it as UTF-8.")
                          .format(path=path, position=exc.start)) from None
    memos, issues = parse_memos(text)
    for issue in issues:
        log.warning("%s", issue)
    return memos


# --------------------------------------------------------------------------- targets


def resolve_passage(segments: pd.DataFrame, passage: str) -> str:
    """The segment id of ``passage``: a segment id, or text that occurs in exactly one segment.

    Text is compared with runs of whitespace squashed; the first segment that contains it wins
    only when no other segment does.

    Raises:
        CodeerError: No segment, or several, hold the text.
    """
    passage = passage.strip()
    if not passage:
        raise CodeerError(_("--passage must be a segment id or a piece of its text. Got '' "
                            "instead."))
    ids = set(segments["segment_id"])
    if passage in ids:
        return passage
    needle = _squash(passage).casefold()
    hits = [s for s, t in zip(segments["segment_id"], segments["text"], strict=True)
            if needle in _squash(t).casefold()]
    if not hits:
        raise CodeerError(_("--passage must be a segment id or text from one segment. Got "
                            "'{got}', which no segment holds; copy it exactly from the "
                            "transcript or use the segment id.").format(got=passage[:60]))
    if len(hits) > 1:
        raise CodeerError(_("--passage must name one segment. Got text that {n} segments hold "
                            "(e.g. {examples}); use a longer piece or the segment id.")
                          .format(n=len(hits), examples=hits[:3]))
    return hits[0]


def check_target(about: str, target: str, out: Path, known_codes: set[str] | None = None
                 ) -> str:
    """Validate a memo's target and return it in canonical form (a segment id for passages).

    Raises:
        CodeerError: Unknown kind, or a segment, document or code that does not exist.
    """
    from pipeline import schema, storage

    if about not in MEMO_TARGETS:
        raise CodeerError(_("about must be one of {targets}. Got '{got}' instead.")
                          .format(targets=list(MEMO_TARGETS), got=about))
    target = target.strip()
    out = Path(out)
    if about == MemoTarget.PROJECT:
        return ""
    if about == MemoTarget.PASSAGE:
        segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
        return resolve_passage(segments, target)
    if about == MemoTarget.DOCUMENT:
        documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
        ids = list(documents["document_id"])
        if target not in ids:
            raise CodeerError(_("--document must be one of {ids}. Got '{got}' instead.")
                              .format(ids=ids[:10], got=target))
        return target
    if known_codes is not None and target not in known_codes:
        raise CodeerError(_("--code must be one of {codes}. Got '{got}' instead.")
                          .format(codes=sorted(known_codes), got=target))
    if not target:
        raise CodeerError(_("--code must be a code id, e.g. L3. Got '' instead."))
    return target


# --------------------------------------------------------------------------- adding


def add(out: Path, text: str, author: str, about: str = MemoTarget.PROJECT, target: str = "",
        known_codes: set[str] | None = None, timestamp: datetime | None = None) -> dict:
    """Append one memo to ``OUT/memos.csv``.

    Args:
        out: The output folder.
        text: The memo.
        author: Name or initials of the writer.
        about: ``passage``, ``document``, ``code`` or ``project``.
        target: Segment id or text (passage), document id, code id; empty for the project.
        known_codes: Code ids of the codebook, to check a code memo's target.
        timestamp: When it was written (default: now).

    Returns:
        The row as written.

    Raises:
        CodeerError: Empty text or author, or an unknown target.
    """
    if not text.strip():
        raise CodeerError(_("A memo must have text. Got an empty memo instead."))
    if not author.strip():
        raise CodeerError(_("--author must be a name or initials. Got '' instead."))
    target = check_target(str(about), target, out, known_codes)
    row = {"timestamp": (timestamp or datetime.now(UTC)).isoformat(timespec="seconds"),
           "author": author.strip(), "about": str(about), "target": target,
           "text": text.strip()}
    append_rows(Path(out) / config.MEMOS_FILE, COLUMNS, [row])
    return row


def same_memo(a: str, b: str) -> bool:
    """Whether two memo texts are the same memo: equal up to whitespace, or one is the other
    with names replaced by placeholders (a memo exported pseudonymised and read back)."""
    from pipeline.export.refiqda import align

    a, b = _squash(a), _squash(b)
    return a == b or align(a, b) is not None or align(b, a) is not None


def add_many(out: Path, rows: Sequence[dict], existing: pd.DataFrame | None = None
             ) -> tuple[list[dict], int]:
    """Append several memos at once, leaving out those the log already holds.

    A memo is already held when a memo about the same target has the same text (see
    :func:`same_memo`). Targets are not checked here; the caller resolved them.

    Returns:
        The rows appended, and how many were left out as already held.
    """
    if existing is None:
        existing = read_memos(out)
    held: dict[tuple[str, str], list[str]] = {}
    for about, target, text in zip(existing["about"], existing["target"], existing["text"],
                                   strict=True):
        held.setdefault((about, target), []).append(text)
    new, skipped = [], 0
    for row in rows:
        key = (str(row["about"]), str(row.get("target", "")))
        if any(same_memo(row["text"], t) for t in held.get(key, [])):
            skipped += 1
            continue
        held.setdefault(key, []).append(row["text"])
        new.append({c: row.get(c, "") for c in COLUMNS})
    append_rows(Path(out) / config.MEMOS_FILE, COLUMNS, new)
    return new, skipped


__all__ = ["COLUMNS", "add", "add_many", "append_rows", "check_target", "parse_memos",
           "read_memos", "resolve_passage", "same_memo"]
