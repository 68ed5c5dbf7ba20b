"""Stage 1, ingest (the pure core): read transcripts and the sheet into documents and segments.

:func:`build_tables` takes files already read from disk (:class:`LoadedFile`) and the metadata
sheet and first plans every file (:func:`plan_files`, what ``--preview`` shows): its header
block becomes metadata, speaker turns are found, every speaker gets a role and the reason for
it, and hard-wrapped lines are joined into paragraphs. It then splits the paragraphs into
sentences with their character offsets and lemmas, and returns the two tables with the
problems found on the way. The command around it is :mod:`pipeline.ingest.command`.
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
from pipeline.i18n import _, thousands
from pipeline.ingest.header import Header, find_header, fold, header_metadata, iso_date
from pipeline.ingest.readers import ReadResult, shown
from pipeline.ingest.turns import DEFAULT_PATTERNS, Turn, parse_turns
from pipeline.vocab import role_word, same_person, split_names

#: Words of text before the first speaker label up to which it is a title or a header (role
#: "other", not coded); longer, it is content.
MAX_PREAMBLE_WORDS = 60

#: Turns with a question an unnamed speaker needs before the question count makes them the
#: interviewer (a real interviewer asks in many turns).
MIN_ASKING_TURNS = 3

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
# Hard-wrapped text (lines cut at a fixed width by an editor or an e-mail program) is told
# apart from text with a line per paragraph by its line breaks: in wrapped text the next word
# would not have fitted on the line before at nearly every break.
_LIST_ITEM = re.compile(r"[ \t]*(?:[•\-–*·]|\d{1,2}[.)]|[a-zA-Z][.)])[ \t]")
_NEXT_WORD = re.compile(r"[ \t]*(\S*)")
MIN_WRAP_BREAKS = 3
WRAP_SHARE = 0.8
MAX_WRAP_WIDTH = 200


@dataclass
class Issue:
    """A problem with one input file; the run goes on (``--strict`` makes it fatal)."""

    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        name = shown(self.file)
        where = _("{file} line {line}").format(file=name, line=self.line) if self.line else name
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
class Plan:
    """What ingest makes of one transcript before cutting it into segments: its header, turns,
    paragraphs and the role of every speaker with the reason (what ``--preview`` shows).

    Attributes:
        name: The file, relative to the raw folder.
        doc_id: The document id.
        text: The document text with hard-wrapped lines joined: each line break inside a
            paragraph became a space, so every offset is that of the text as read.
        header: The header block, or None.
        turns: The speaker turns (the header block belongs to none).
        blocks: Per turn, its paragraphs as ``(start, end)`` offsets into ``text``.
        roles: Role per speaker label ("" is the text before the first label).
        reasons: Per speaker label, why it got its role (in the language of the run).
        metadata: Metadata columns: interviews.csv, completed from the header block.
        wrap: The width of hard-wrapped lines, or None.
    """

    name: str
    doc_id: str
    text: str
    header: Header | None
    turns: list[Turn]
    blocks: list[list[tuple[int, int]]]
    roles: dict[str, str]
    reasons: dict[str, str]
    metadata: dict[str, object]
    wrap: int | None = None


@dataclass
class IngestResult:
    """Output of :func:`build_tables`."""

    documents: pd.DataFrame
    segments: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)


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
            issues.append(Issue(meta_name, _("empty 'file' cell; the row is ignored."), line))
            continue
        target = by_name.get(fname.lower()) or by_stem.get(Path(fname).name.lower())
        if target is None:
            issues.append(
                Issue(meta_name, _("names '{file}', which is not in the raw folder. Fix the name "
                                   "or add the transcript; the row is ignored.").format(file=fname),
                      line)
            )
            continue
        if target in row_lines:
            issues.append(
                Issue(meta_name, _("names '{file}' like line {other}; one row per transcript. "
                                   "This row is ignored; merge the two rows.")
                      .format(file=fname, other=row_lines[target]), line)
            )
            continue
        iid = row.get("interview_id")
        if isinstance(iid, str) and iid:
            if iid in seen_ids:
                issues.append(
                    Issue(meta_name, _("interview_id '{id}' is also used on line {other}; ids "
                                       "must be unique. The row is ignored.")
                          .format(id=iid, other=seen_ids[iid]), line)
                )
                continue
            seen_ids[iid] = line
        rows[target] = row
        row_lines[target] = line
    for f in files:
        if f not in rows:
            issues.append(
                Issue(f, _("{file}: not listed in {sheet}; its metadata is empty and its roles "
                           "are inferred. Add a row for it.").format(file=f, sheet=meta_name))
            )
    return rows, issues


# --------------------------------------------------------------------------- roles


def assign_roles(
    turns: list[Turn], text: str, interviewers: list[str], name: str,
    source: str | None = None,
    respondents: list[str] | tuple[str, ...] = (), respondent_source: str | None = None,
) -> tuple[dict[str, str], dict[str, str], list[Issue]]:
    """Give every speaker a role: ``interviewer``, ``respondent`` or ``other`` (a preamble),
    and say why.

    Role words ("I", "Interviewer", "R") decide first, then the interviewer names (from the
    metadata sheet, or else from the header block) and the respondent named in the header
    block; names match in either order and with initials (:func:`pipeline.vocab.same_person`:
    "Bakker, Yvonne" is "Yvonne Bakker"). Without any of these, the speaker who asks the most
    questions is taken for the interviewer, with a warning.

    Args:
        turns: The turns of the document.
        text: The document text.
        interviewers: Interviewer names, one per person.
        name: The file name, for messages.
        source: Where ``interviewers`` come from, for the reasons (translated; default: the
            interviewer column of interviews.csv).
        respondents: Respondent names from the header block.
        respondent_source: Where ``respondents`` come from (translated; default: the header
            block).

    Returns:
        Role per speaker, the reason per speaker (translated, for the preview) and the
        warnings.
    """
    if source is None:
        source = _("interviewer column in {sheet}").format(sheet="interviews.csv")
    if respondent_source is None:
        respondent_source = _("header block")
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    labelled = [s for s in speakers if s]
    roles: dict[str, str] = {}
    reasons: dict[str, str] = {}
    issues: list[Issue] = []
    if not labelled:
        issues.append(
            Issue(name, _("{file}: no speaker labels found; the whole text is taken as one "
                          "respondent. Add labels such as 'Interviewer:' and 'R:' to separate "
                          "turns.").format(file=name))
        )
        return {"": "respondent"}, \
            {"": _("no speaker labels: the whole text is one respondent")}, issues
    preamble = sum(len(text[t.start:t.end].split()) for t in turns if not t.speaker)
    if preamble > MAX_PREAMBLE_WORDS:
        # Not a title or a header: a report or a written interview that only later uses
        # "Label:" lines. Its text is spoken (written) content and gets coded.
        roles[""] = "respondent"
        reasons[""] = _("text before the first speaker ({n} words: no title)").format(
            n=preamble)
    else:
        roles[""] = "other"
        reasons[""] = _("text before the first speaker (a title)")
    wanted = [i for i in interviewers if i]
    for s in labelled:
        rw = role_word(s)
        if rw:
            roles[s] = rw
            reasons[s] = _("role word '{label}'").format(label=s)
        elif match := next((w for w in wanted if same_person(s, w)), None):
            roles[s] = "interviewer"
            reasons[s] = source + (f" ({match})" if match != s and match not in source else "")
        elif match := next((r for r in respondents if same_person(s, r)), None):
            roles[s] = "respondent"
            reasons[s] = respondent_source + (
                f" ({match})" if match != s and match not in respondent_source else "")
    rest = [s for s in labelled if s not in roles]
    if wanted and "interviewer" not in roles.values():
        issues.append(
            Issue(name, _("{file}: {source} names {names} as the interviewer, but no speaker "
                          "has that name (speakers: {speakers}). The roles are inferred; check "
                          "the name in the interviewer column.")
                  .format(file=name, source=source, names=", ".join(repr(w) for w in wanted),
                          speakers=", ".join(repr(s) for s in labelled[:6])))
        )
    if rest and "interviewer" not in roles.values():
        if len(labelled) == 1:
            roles[rest[0]] = "respondent"
            reasons[rest[0]] = _("only speaker")
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
            # An interviewer asks in most turns, and in more than a couple: a debate's chair or
            # minister does not, nor a report's "Conclusie X:" box with one question mark.
            if asking_turns[asker] >= MIN_ASKING_TURNS and \
                    asking_turns[asker] >= 0.5 * n_turns[asker]:
                roles[asker] = "interviewer"
                reasons[asker] = _("asks the most questions (in {asking} of {turns} turns)"
                                   ).format(asking=asking_turns[asker], turns=n_turns[asker])
                issues.append(
                    Issue(name, _("{file}: no interviewer given; took '{speaker}' as the "
                                  "interviewer (asks questions in {asking} of {turns} turns), the "
                                  "others as respondents. Name the interviewer in the "
                                  "'interviewer' column of interviews.csv to be sure.")
                          .format(file=name, speaker=asker, asking=asking_turns[asker],
                                  turns=n_turns[asker]))
                )
            else:
                for s in rest:
                    reasons[s] = _("nobody asks questions in most turns: everyone a respondent")
                issues.append(
                    Issue(name, _("{file}: no interviewer given and no speaker asks questions in "
                                  "most of their turns; every speaker is taken as a respondent. "
                                  "Name the interviewer in the 'interviewer' column of "
                                  "interviews.csv.").format(file=name))
                )
    for s in labelled:
        roles.setdefault(s, "respondent")
        reasons.setdefault(s, _("a speaker other than the interviewer"))
    return roles, reasons, issues


# --------------------------------------------------------------------------- segments


def _line_breaks(text: str, turns: list[Turn]):
    """``(length of the line, length of the next line's first word)`` for every line break
    inside a turn between two lines with text."""
    for turn in turns:
        lines = text[turn.label_start : turn.end].split("\n")
        for line, after in zip(lines, lines[1:], strict=False):
            if line.strip() and after.strip():
                yield len(line.rstrip()), len(after.split(None, 1)[0])


def wrap_width(text: str, turns: list[Turn]) -> int | None:
    """The width at which the lines of ``text`` are hard-wrapped, or None when they are not.

    Every line break inside a turn between two lines with text is looked at: in hard-wrapped
    text the first word of the next line would not have fitted on the line before (the line
    is "full"). When at least ``WRAP_SHARE`` of at least ``MIN_WRAP_BREAKS`` breaks are full,
    the text is hard-wrapped at the length of its longest line.
    """
    count, width = 0, 0
    for length, _word in _line_breaks(text, turns):
        count, width = count + 1, max(width, length)
    if count < MIN_WRAP_BREAKS or width > MAX_WRAP_WIDTH:
        return None
    full = sum(length + 1 + word > width for length, word in _line_breaks(text, turns))
    return width if full >= WRAP_SHARE * count else None


def split_blocks(text: str, start: int, end: int, width: int | None = None
                 ) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into blocks (paragraphs).

    A blank line always ends a block. In text with a line per paragraph (``width`` None) so
    does a line that ends a sentence or a line before one that starts like a new one (capital,
    bullet, digit). In hard-wrapped text (``width`` the wrap width) only a break that was made
    on purpose ends a block: the next word would have fitted on the line, or a list item
    follows; every other line break is a wrap inside a sentence.

    Each line is looked at once (no copy of the rest of the turn per line break), so a turn of
    a million short lines takes linear time.
    """
    blocks = []
    block_start = line_start = start
    content_end = start + len(text[start:end].rstrip())  # after the turn's last visible char
    last = ""  # the last visible character of the block so far
    pos = text.find("\n", start, end)
    while pos != -1:
        line = text[line_start:pos].rstrip()
        if line.strip():
            last = line[-1]
        following = text[pos + 1 : pos + 2]
        blank = not last or following == "\n" or pos + 1 >= content_end
        if width is not None:
            physical = text[text.rfind("\n", 0, pos) + 1 : pos].rstrip()  # with its label
            word = _NEXT_WORD.match(text, pos + 1, end).group(1)  # type: ignore[union-attr]
            ends = blank or bool(_LIST_ITEM.match(text, pos + 1, end)) \
                or len(physical) + 1 + len(word) <= width
        else:
            ends = blank or last in _TERMINAL or bool(_LIST_ITEM.match(text, pos + 1, end)) \
                or bool(_BLOCK_START.match(text, pos + 1, end)) and following not in " \t"
        if ends:
            blocks.append((block_start, pos))
            block_start = pos + 1
            last = ""
        line_start = pos + 1
        pos = text.find("\n", pos + 1, end)
    blocks.append((block_start, end))
    return [(s, e) for s, e in (_trim(text, s, e) for s, e in blocks) if e > s]


def join_lines(text: str, blocks: list[tuple[int, int]]) -> str:
    """``text`` with every line break inside a block replaced by a space.

    The text keeps its length, so offsets into it are offsets into the text as read, and a
    segment's id (which ignores white space) is the same as before the join.
    """
    parts, pos = [], 0
    for s, e in sorted(blocks):
        parts += [text[pos:s], text[s:e].replace("\n", " ")]
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


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
    plan: Plan, result: ReadResult, unit: str,
) -> tuple[list[dict] | None, list[Issue]]:
    """The segment rows of one document and its problems; None when it has too many."""
    from pipeline.nlp import get_nlp, lemma_string

    nlp = get_nlp(sentences=True)
    doc_id, name, text, turns, roles = plan.doc_id, plan.name, plan.text, plan.turns, plan.roles
    issues: list[Issue] = []
    seen: dict[str, int] = {}
    pieces: list[tuple[int, int, int]] = []  # (turn_index, start, end): turns or blocks
    for ti, turn in enumerate(turns):
        if unit == "turn":
            s, e = _trim(text, turn.start, turn.end)
            blocks = [(s, e)] if e > s else []
        else:
            blocks = plan.blocks[ti]
        for s, e in blocks:
            if e - s > MAX_BLOCK_CHARS:
                issues.append(Issue(name, _("a passage of {n} characters without a line break "
                                            "or sentence end; cut into pieces of at most {max} "
                                            "characters. Check this part of the file.")
                                    .format(n=thousands(e - s), max=thousands(MAX_BLOCK_CHARS)),
                                    result.text.count("\n", 0, s) + 1))
            pieces += [(ti, *_trim(text, a, b)) for a, b in cut_long(text, s, e)]
        if len(pieces) > MAX_SEGMENTS:
            break
    spans: list[tuple[int, int, int]] = []
    if unit == "turn":
        spans = [p for p in pieces if p[2] > p[1]]
    elif len(pieces) <= MAX_SEGMENTS:
        for (ti, bs, _be), doc in zip(pieces, nlp.pipe(text[s:e] for _ti, s, e in pieces),
                                      strict=True):
            for sent in doc.sents:
                s, e = _trim(text, bs + sent.start_char, bs + sent.end_char)
                if e > s and _WORD.search(text, s, e):
                    spans.append((ti, s, e))
    if len(pieces) > MAX_SEGMENTS or len(spans) > MAX_SEGMENTS:
        issues.append(Issue(name, _("{file}: gives more than {max} segments, far more than an "
                                    "interview holds; the file is not read. Check that it is a "
                                    "transcript, or split it.")
                            .format(file=shown(name), max=thousands(MAX_SEGMENTS))))
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


def _same_value(column: str, a: object, b: object) -> bool:
    """Whether a sheet value and a header value say the same (dates and names read loosely)."""
    if column == "interviewer":
        return all(any(same_person(x, y) for y in split_names(a)) for x in split_names(b))
    if column == "date" and iso_date(a) and iso_date(a) == iso_date(b):
        return True
    return fold(" ".join(str(a).split())) == fold(" ".join(str(b).split()))


def _filled(value: object) -> bool:
    return value is not None and bool(pd.notna(value)) and bool(str(value).strip())


def plan_files(
    files: list[LoadedFile],
    metadata: pd.DataFrame | None = None,
    metadata_name: str = "interviews.csv",
    patterns: tuple[tuple[str, bool], ...] = DEFAULT_PATTERNS,
) -> tuple[list[Plan], list[str], list[Issue]]:
    """Everything ingest decides before segmenting: per file its document id, header block,
    metadata, turns, paragraphs and roles with their reasons. Fast: no sentences, no lemmas
    (``codeer ingest --preview`` shows this).

    A header block completes the file's metadata: its values fill the columns that
    interviews.csv leaves empty or lacks (``Datum`` fills ``date``); where both give a value
    and they differ, interviews.csv wins and a note says so.

    Returns:
        The plans in file order, the metadata columns (the sheet's private ``file`` cell, the
        sheet's other columns, then those of header blocks) and the problems found.
    """
    rows_meta, issues = _match_metadata([f.name for f in files], metadata, metadata_name)
    sheet_cols = [
        c for c in (metadata.columns if metadata is not None else [])
        if c not in ("file", "interview_id", "_line")
    ]
    reserved = set(schema.DOCUMENTS.columns) | set(schema.SEGMENTS.columns) | {
        "file", "interview_id"}
    rename = {c: (f"meta_{c}" if c in reserved else c) for c in sheet_cols}
    # The sheet's "file" cell: private (never exported); it tells the export which documents
    # have a row and so an id of the researcher's own (pipeline.export.privacy).
    columns = ["file", *(rename[c] for c in sheet_cols)]
    plans: list[Plan] = []
    used_ids: set[str] = set()
    for f in files:
        meta = rows_meta.get(f.name, {})
        doc_id = meta.get("interview_id") or snake(Path(f.name).stem) or "document"
        if doc_id in used_ids:
            issues.append(Issue(f.name, _("{file}: document id '{id}' is taken by another file; "
                                          "using a suffixed id. Give it its own interview_id.")
                                .format(file=f.name, id=doc_id)))
            n = 2
            while f"{doc_id}_{n}" in used_ids:
                n += 1
            doc_id = f"{doc_id}_{n}"
        used_ids.add(doc_id)
        text = f.result.text
        values: dict[str, object] = {"file": meta.get("file"),
                                     **{rename[c]: meta.get(c) for c in sheet_cols}}
        header = find_header(text)
        from_header = header_metadata(header) if header else {}
        for column, (value, written, line) in from_header.items():
            target = rename.get(column) or (f"meta_{column}" if column in reserved else column)
            if target not in columns:
                columns.append(target)
            if _filled(values.get(target)):
                if not _same_value(column, values[target], value):
                    issues.append(Issue(f.name, _("header line '{line}' differs from {sheet} "
                                                  "({column} = '{value}'); the value from "
                                                  "{sheet} applies.")
                                        .format(line=written, sheet=metadata_name,
                                                column=target, value=values[target]), line))
            else:
                values[target] = value
        interviewers = split_names(meta.get("interviewer"))
        source = _("interviewer column in {sheet}").format(sheet=metadata_name)
        if not interviewers and "interviewer" in from_header:
            interviewers = split_names(from_header["interviewer"][0])
            source = _("header block '{line}'").format(line=from_header["interviewer"][1])
        respondents: list[str] = []
        respondent_source = ""
        if "respondent" in from_header:
            respondents = split_names(from_header["respondent"][0])
            respondent_source = _("header block '{line}'").format(
                line=from_header["respondent"][1])
        known = set(f.result.speakers) | set(interviewers) | set(respondents)
        skip = (header.start, header.end) if header else None
        turns = parse_turns(text, known, patterns, skip)
        roles, reasons, role_issues = assign_roles(turns, text, interviewers, f.name, source,
                                                   respondents, respondent_source)
        issues.extend(role_issues)
        issues.extend(Issue(f.name, w) for w in f.result.warnings)
        width = wrap_width(text, turns)
        blocks = [split_blocks(text, t.start, t.end, width) for t in turns]
        # Only hard-wrapped text is joined: a text with a line per paragraph keeps its lines
        # (gold files and CAQDAS projects count paragraphs by line), whatever the blocks.
        joined = join_lines(text, [b for bs in blocks for b in bs]) if width else text
        plans.append(Plan(f.name, doc_id, joined, header, turns, blocks, roles, reasons, values,
                          width))
    return plans, columns, issues


def speaker_table(plan: Plan) -> list[tuple[str, str, int, int, str]]:
    """``(speaker, role, turns, words, reason)`` per speaker of a plan, in order of appearance
    (for the preview). The text before the first speaker ("") is a row when there is any."""
    turns: dict[str, int] = {}
    words: dict[str, int] = {}
    for turn in plan.turns:
        turns[turn.speaker] = turns.get(turn.speaker, 0) + 1
        words[turn.speaker] = words.get(turn.speaker, 0) + len(
            plan.text[turn.start : turn.end].split())
    return [(s, plan.roles.get(s, "respondent"), turns[s], words[s], plan.reasons.get(s, ""))
            for s in turns]


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
        :data:`pipeline.schema.SEGMENTS`, with the metadata columns after them), the issues
        found on the way and the plan of every file (see :func:`plan_files`).
    """
    if unit not in ("sentence", "turn"):
        raise CodeerError(_("--unit must be 'sentence' or 'turn'. Got '{unit}' instead.")
                          .format(unit=unit))
    plans, columns, issues = plan_files(files, metadata, metadata_name, patterns)
    doc_rows, seg_rows, kept = [], [], []
    for f, plan in zip(files, plans, strict=True):
        extra = {c: plan.metadata.get(c) for c in columns}
        rows, seg_issues = _segments_for(plan, f.result, unit)
        issues.extend(seg_issues)
        if rows is None:  # refused: too many segments
            continue
        kept.append(plan)
        doc_rows.append(
            {
                "document_id": plan.doc_id,
                "source_path": f.name,
                "sha256": f.sha256,
                "format": Path(f.name).suffix.lower().lstrip("."),
                "encoding": f.result.encoding,
                "text": plan.text,
                "n_words": len(plan.text.split()),
                **extra,
            }
        )
        for row in rows:
            row.update(extra)
            seg_rows.append(row)
    documents = pd.DataFrame(doc_rows, columns=[*schema.DOCUMENTS.columns, *columns])
    segments = pd.DataFrame(seg_rows, columns=[*schema.SEGMENTS.columns, *columns])
    return IngestResult(
        schema.DOCUMENTS.conform(documents), schema.SEGMENTS.conform(segments), issues, kept
    )
