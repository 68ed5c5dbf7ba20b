"""Stage 1, ingest (the pure core): read transcripts and the sheet into documents and segments.

:func:`build_tables` takes files already read from disk (:class:`LoadedFile`) and the metadata
sheet, finds speaker turns, gives every speaker a role, splits turns into sentences with their
character offsets and lemmas, and returns the two tables with the problems found on the way.
The command around it is :mod:`pipeline.ingest.command`.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline import config, hooks, schema
from pipeline.errors import CodeerError
from pipeline.ingest.readers import ReadResult, shown
from pipeline.ingest.turns import DEFAULT_PATTERNS, Turn, parse_turns
from pipeline.vocab import role_word, split_names

# A newline ends a block when the line before it ends a sentence or the next line starts one
# (capital, bullet, digit, quote). Lines of text extracted from PDFs wrap mid-sentence and
# continue in lower case, so they stay together.
_TERMINAL = ".?!;…"
_BLOCK_START = re.compile(r"[A-ZÀ-Þ0-9•\-–*·]")
_STRIP_LEAD = "•-–*·\t \"'“‘"
_WORD = re.compile(r"\w", re.UNICODE)
# A block of text without a sentence end or line break longer than this is cut (spaCy refuses
# texts over 1,000,000 characters, and no sentence is this long).
MAX_BLOCK_CHARS = 100_000
# More segments than this from one file is no interview (a day of talk gives some 5,000): the
# file is refused before its segments are lemmatised.
MAX_SEGMENTS = 50_000


@dataclass
class Issue:
    """A problem with one input file; the run goes on (``--strict`` makes it fatal)."""

    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        name = shown(self.file)
        where = f"{name} line {self.line}" if self.line else name
        if self.message.startswith((self.file, name)):
            return self.message
        return f"{where}: {self.message}"


@dataclass
class LoadedFile:
    """One transcript as read from disk (the input of the pure core)."""

    name: str  # path relative to the raw folder, with forward slashes
    sha256: str
    result: ReadResult


@dataclass
class IngestResult:
    """Output of :func:`build_tables`."""

    documents: pd.DataFrame
    segments: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)


# --------------------------------------------------------------------------- metadata


def snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")



def _match_metadata(
    files: list[str], meta: pd.DataFrame | None, meta_name: str
) -> tuple[dict[str, dict], list[Issue]]:
    """Map each file to its metadata row; report duplicates, missing files, unlisted files."""
    issues: list[Issue] = []
    rows: dict[str, dict] = {}
    if meta is None:
        return rows, issues
    by_name = {f.lower(): f for f in files}
    by_stem = {Path(f).name.lower(): f for f in files}
    seen_ids: dict[str, int] = {}
    row_lines: dict[str, int] = {}
    for row in meta.to_dict("records"):
        line = row.pop("_line")
        fname = row.get("file")
        if not isinstance(fname, str) or not fname:
            issues.append(Issue(meta_name, "empty 'file' cell; the row is ignored.", line))
            continue
        target = by_name.get(fname.lower()) or by_stem.get(Path(fname).name.lower())
        if target is None:
            issues.append(
                Issue(meta_name, f"names '{fname}', which is not in the raw folder. Fix the "
                      "name or add the transcript; the row is ignored.", line)
            )
            continue
        if target in row_lines:
            issues.append(
                Issue(meta_name, f"names '{fname}' like line {row_lines[target]}; one row per "
                      "transcript. This row is ignored; merge the two rows.", line)
            )
            continue
        iid = row.get("interview_id")
        if isinstance(iid, str) and iid:
            if iid in seen_ids:
                issues.append(
                    Issue(meta_name, f"interview_id '{iid}' is also used on line "
                          f"{seen_ids[iid]}; ids must be unique. The row is ignored.", line)
                )
                continue
            seen_ids[iid] = line
        rows[target] = row
        row_lines[target] = line
    for f in files:
        if f not in rows:
            issues.append(
                Issue(f, f"{f}: not listed in {meta_name}; its metadata is empty and its "
                      "roles are inferred. Add a row for it.")
            )
    return rows, issues


# --------------------------------------------------------------------------- roles


def assign_roles(
    turns: list[Turn], text: str, interviewers: list[str], name: str
) -> tuple[dict[str, str], list[Issue]]:
    """Give every speaker a role: ``interviewer``, ``respondent`` or ``other`` (a preamble).

    Role words ("I", "Interviewer", "R") decide first, then the interviewer names from the
    metadata sheet; without either, the speaker who asks the most questions is taken for the
    interviewer, with a warning.
    """
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    labelled = [s for s in speakers if s]
    roles: dict[str, str] = {}
    issues: list[Issue] = []
    if not labelled:
        issues.append(
            Issue(name, f"{name}: no speaker labels found; the whole text is taken as one "
                  "respondent. Add labels such as 'Interviewer:' and 'R:' to separate turns.")
        )
        return {"": "respondent"}, issues
    roles[""] = "other"
    wanted = [i.lower() for i in interviewers if i]
    for s in labelled:
        rw = role_word(s)
        low = s.lower()
        if rw:
            roles[s] = rw
        elif wanted and any(w == low or w in low or low in w for w in wanted):
            roles[s] = "interviewer"
    rest = [s for s in labelled if s not in roles]
    if rest and "interviewer" not in roles.values():
        if len(labelled) == 1:
            roles[rest[0]] = "respondent"
            rest = []
        else:
            questions = {s: 0 for s in rest}
            asking_turns = {s: 0 for s in rest}
            n_turns = {s: 0 for s in rest}
            for t in turns:
                if t.speaker in questions:
                    q = text[t.start : t.end].count("?")
                    questions[t.speaker] += q
                    asking_turns[t.speaker] += q > 0
                    n_turns[t.speaker] += 1
            asker = max(rest, key=lambda s: (questions[s], -rest.index(s)))
            # An interviewer asks in most turns; a debate's chair or minister does not.
            if questions[asker] > 0 and asking_turns[asker] >= 0.5 * n_turns[asker]:
                roles[asker] = "interviewer"
                issues.append(
                    Issue(name, f"{name}: no interviewer given; took '{asker}' as the "
                          f"interviewer (asks questions in {asking_turns[asker]} of "
                          f"{n_turns[asker]} turns), the others as respondents. Name the "
                          "interviewer in the 'interviewer' column of interviews.csv to be sure.")
                )
            else:
                issues.append(
                    Issue(name, f"{name}: no interviewer given and no speaker asks questions in "
                          "most of their turns; every speaker is taken as a respondent. Name "
                          "the interviewer in the 'interviewer' column of interviews.csv.")
                )
    for s in labelled:
        roles.setdefault(s, "respondent")
    return roles, issues


# --------------------------------------------------------------------------- segments


def split_blocks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into blocks at blank lines and at sentence-ending newlines."""
    blocks = []
    block_start = start
    pos = text.find("\n", start, end)
    while pos != -1:
        before = text[block_start:pos].rstrip()
        after = text[pos + 1 : end]
        blank = not before or after.startswith("\n") or not after.strip()
        if blank or before.endswith(tuple(_TERMINAL)) or _BLOCK_START.match(after.lstrip("\n")) \
                and after[:1] not in " \t":
            blocks.append((block_start, pos))
            block_start = pos + 1
        pos = text.find("\n", pos + 1, end)
    blocks.append((block_start, end))
    return [(s, e) for s, e in (_trim(text, s, e) for s, e in blocks) if e > s]


def cut_long(text: str, start: int, end: int, limit: int = MAX_BLOCK_CHARS
             ) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into pieces of at most ``limit`` characters, at a space where
    there is one, so that spaCy (1,000,000 characters at most) never sees a longer text."""
    pieces = []
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        cut = cut if cut > start else start + limit
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _STRIP_LEAD + "\n\r":
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def segment_id(document_id: str, text: str, occurrence: int = 0) -> str:
    """Stable id of a segment: its document, its own text and how many earlier segments of the
    document have the same text.

    An edit elsewhere in the transcript leaves the id (and every review decision on it) alone;
    an edit of the segment itself gives a new id. Identical transcripts under two document ids
    get different ids.
    """
    key = "\x00".join((document_id, " ".join(text.split()), str(occurrence)))
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _segments_for(
    doc_id: str, name: str, text: str, turns: list[Turn], roles: dict[str, str],
    result: ReadResult, unit: str,
) -> tuple[list[dict] | None, list[Issue]]:
    """The segment rows of one document and its problems; None when it has too many."""
    from pipeline.nlp import get_nlp, lemma_string

    nlp = get_nlp(sentences=True)
    issues: list[Issue] = []
    seen: dict[str, int] = {}
    pieces: list[tuple[int, int, int]] = []  # (turn_index, start, end): turns or blocks
    for ti, turn in enumerate(turns):
        if unit == "turn":
            s, e = _trim(text, turn.start, turn.end)
            blocks = [(s, e)] if e > s else []
        else:
            blocks = split_blocks(text, turn.start, turn.end)
        for s, e in blocks:
            if e - s > MAX_BLOCK_CHARS:
                issues.append(Issue(name, f"a passage of {e - s:,} characters without a line "
                                    "break or sentence end; cut into pieces of at most "
                                    f"{MAX_BLOCK_CHARS:,} characters. Check this part of the file.",
                                    text.count("\n", 0, s) + 1))
            pieces += [(ti, *_trim(text, a, b)) for a, b in cut_long(text, s, e)]
        if len(pieces) > MAX_SEGMENTS:
            break
    spans: list[tuple[int, int, int]] = []
    if unit == "turn":
        spans = [p for p in pieces if p[2] > p[1]]
    elif len(pieces) <= MAX_SEGMENTS:
        for (ti, bs, _be), doc in zip(pieces, nlp.pipe(text[s:e] for _, s, e in pieces),
                                      strict=True):
            for sent in doc.sents:
                s, e = _trim(text, bs + sent.start_char, bs + sent.end_char)
                if e > s and _WORD.search(text, s, e):
                    spans.append((ti, s, e))
    if len(pieces) > MAX_SEGMENTS or len(spans) > MAX_SEGMENTS:
        issues.append(Issue(name, f"{shown(name)}: gives more than {MAX_SEGMENTS:,} segments, "
                            "far more than an interview holds; the file is not read. Check that "
                            "it is a transcript, or split it."))
        return None, issues
    cue_starts = [c[0] for c in result.times]
    rows = []
    for ti, s, e in spans:
        seg_text = text[s:e]
        key = " ".join(seg_text.split())
        occurrence = seen[key] = seen.get(key, -1) + 1
        t0 = t1 = None
        if result.times:
            i = max(bisect.bisect_right(cue_starts, s) - 1, 0)
            j = max(bisect.bisect_right(cue_starts, e - 1) - 1, 0)
            t0, t1 = result.times[i][2], result.times[j][3]
        elif turns[ti].time is not None:
            t0 = turns[ti].time
        rows.append(
            {
                "document_id": doc_id,
                "segment_id": segment_id(doc_id, seg_text, occurrence),
                "turn_index": ti,
                "speaker": turns[ti].speaker,
                "role": roles.get(turns[ti].speaker, "respondent"),
                "start": s,
                "end": e,
                "text": seg_text,
                "time_start": t0,
                "time_end": t1,
            }
        )
    # Lemmas in one batch over the document: the tokenizer is the hot path here.
    for row, doc in zip(rows, nlp.pipe(r["text"] for r in rows), strict=True):
        row["lemmas"] = lemma_string(doc)
    for i, row in enumerate(rows):
        row["segment_index"] = i
    return rows, issues


@hooks.timed("segment_lemmatise")
def build_tables(
    files: list[LoadedFile],
    metadata: pd.DataFrame | None = None,
    metadata_name: str = "interviews.csv",
    unit: str = config.DEFAULT_UNIT,
    patterns: tuple[tuple[str, bool], ...] = DEFAULT_PATTERNS,
) -> IngestResult:
    """Turn read transcripts (and the metadata sheet) into the documents and segments tables.

    Args:
        files: Transcripts as read from disk, in a stable order.
        metadata: The metadata sheet with a ``file`` column (and ``_line`` numbers), or None.
        metadata_name: File name of the sheet, for messages.
        unit: ``"sentence"`` (default) or ``"turn"``.
        patterns: Speaker-label patterns, ``(regex, strong)`` pairs.

    Returns:
        Documents, segments (conforming to :data:`pipeline.schema.DOCUMENTS` and
        :data:`pipeline.schema.SEGMENTS`) and the issues found on the way.
    """
    if unit not in ("sentence", "turn"):
        raise CodeerError(f"--unit must be 'sentence' or 'turn'. Got '{unit}' instead.")
    rows_meta, issues = _match_metadata([f.name for f in files], metadata, metadata_name)
    meta_cols = [
        c for c in (metadata.columns if metadata is not None else [])
        if c not in ("file", "interview_id", "_line")
    ]
    reserved = set(schema.DOCUMENTS.columns) | set(schema.SEGMENTS.columns)
    rename = {c: (f"meta_{c}" if c in reserved else c) for c in meta_cols}
    doc_rows, seg_rows = [], []
    used_ids: set[str] = set()
    for f in files:
        meta = rows_meta.get(f.name, {})
        doc_id = meta.get("interview_id") or snake(Path(f.name).stem) or "document"
        if doc_id in used_ids:
            issues.append(Issue(f.name, f"{f.name}: document id '{doc_id}' is taken by another "
                                "file; using a suffixed id. Give it its own interview_id."))
            n = 2
            while f"{doc_id}_{n}" in used_ids:
                n += 1
            doc_id = f"{doc_id}_{n}"
        used_ids.add(doc_id)
        text = f.result.text
        interviewers = split_names(meta.get("interviewer"))
        known = set(f.result.speakers) | set(interviewers)
        turns = parse_turns(text, known, patterns)
        roles, role_issues = assign_roles(turns, text, interviewers, f.name)
        issues.extend(role_issues)
        issues.extend(Issue(f.name, w) for w in f.result.warnings)
        extra = {rename[c]: meta.get(c) for c in meta_cols}
        rows, seg_issues = _segments_for(doc_id, f.name, text, turns, roles, f.result, unit)
        issues.extend(seg_issues)
        if rows is None:  # refused: too many segments
            continue
        doc_rows.append(
            {
                "document_id": doc_id,
                "source_path": f.name,
                "sha256": f.sha256,
                "format": Path(f.name).suffix.lower().lstrip("."),
                "encoding": f.result.encoding,
                "text": text,
                "n_words": len(text.split()),
                **extra,
            }
        )
        for row in rows:
            row.update(extra)
            seg_rows.append(row)
    extra_cols = [rename[c] for c in meta_cols]
    documents = pd.DataFrame(doc_rows, columns=[*schema.DOCUMENTS.columns, *extra_cols])
    segments = pd.DataFrame(seg_rows, columns=[*schema.SEGMENTS.columns, *extra_cols])
    return IngestResult(
        schema.DOCUMENTS.conform(documents), schema.SEGMENTS.conform(segments), issues
    )
