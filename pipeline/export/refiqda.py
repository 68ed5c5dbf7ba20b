"""REFI-QDA export: the coded project as ``.qdpx`` and the codebook as ``.qdc``.

The two files open in QualCoder, ATLAS.ti, MAXQDA, NVivo and other CAQDAS tools that implement
the REFI-QDA standard 1.5 (``Project.xsd`` and ``Codebook.xsd``, version 1.0); ``codeer import``
(:mod:`pipeline.review.caqdas_import`) reads what a researcher did there back into the review
log and the memos.

``project.qdpx`` is a zip holding ``project.qde`` (the XML) and ``sources/<guid>.txt``, one
UTF-8 text (no BOM, ``\\n`` line endings) per document: the pseudonymised text when one is given,
else the ingested text. Inside ``project.qde``:

* ``Users``: ``codeer (automatisch)`` (creator of the project and of every automatic coding), one
  user per reviewer and one per author of a memo or review note. The user with the most codings
  comes first, because QualCoder takes the first user as its coder name and hides other coders'
  codings by default.
* ``CodeBook``: one non-codable parent code per theme (``isCodable="false"``), its codes as
  codable children named with their id ("L1 Heldere posities"), so the id survives a CAQDAS that
  makes new GUIDs; colours; the definition as ``Description``; memos about a code as ``NoteRef``.
* ``Variables`` and ``Cases``: one case per document with a ``SourceRef`` and the chosen
  metadata columns as text variables; then one case per speaker of each document ("int01:
  [PERSOON-1]", a pseudonymised label when the export is pseudonymised) with the variable
  ``spreker_rol`` (respondent, interviewer, overig) and a ``SelectionRef`` to every exported
  selection of that speaker. The standard's cases group sources and selections by person (its
  section 13), which is what a speaker is.
* ``Sources``: one ``TextSource`` per document with one ``PlainTextSelection`` per exported
  passage (:mod:`pipeline.export.passages`: adjacent sentences of one turn with the same code,
  from the start of the first to the end of the last sentence; 0-based code-point
  ``startPosition``, exclusive ``endPosition``), holding one ``Coding`` per code of the passage,
  and one uncoded ``PlainTextSelection`` per segment that has memos. Rejected codings are left
  out (and split a passage). The selection's GUID comes from its first segment and first code,
  as a one-sentence coding's always did. Its ``Description`` records how an automatic coding
  was made: ``method=embedding score=0.412 status=auto evidence=...`` (for a passage: the
  highest probability of its sentences; with several codes the evidence per code,
  ``L1: ... | L2: ...``); segments from a VTT/SRT file add their cue times
  (``time=00:01:02.500-00:01:05.000``, the first sentence's start to the last one's end).
  The standard has no time for a text selection (timed ``SyncPoint``\\ s belong to an
  ``AudioSource``/``VideoSource`` transcript, which needs the media file), so the description
  is where the cue times can go.
* ``Notes``: review notes (``NoteRef`` on the selection of the coding they are about) and memos
  (on a passage's selection, a source, a code or the project), each with its author and date.
  Review notes of rejected codings are not exported: their selection is not there.

Dates are real and deterministic: a reviewed coding carries the time of its review decision
(``reviewed_at``); an automatic coding the run's recorded time (``coded_at``, given by the
caller; codeer never uses the wall clock here, so two runs give the same bytes); a source the
interview date from the metadata column ``date`` when the documents frame holds a parseable date
there (the export hands in the pseudonymised metadata, so with pseudonymisation on, a date that
became ``[DATUM-1]`` is not leaked through the source date either); notes their memo's or
decision's time. The project's creation date is ``created`` when given, else the latest of those
dates, else :data:`DEFAULT_CREATED`; whatever has no date of its own takes the project's.

The output is deterministic: every GUID is a UUID-5 of a fixed namespace and the object's ids,
elements come in a fixed order and the zip entries carry a fixed timestamp, so the same input
gives byte-identical files.

Everything here is pure (frames in, bytes out) except :func:`write_exports`.
"""

from __future__ import annotations

import bisect
import functools
import io
import os
import re
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pandas as pd
from lxml import etree

from pipeline import __version__, storage
from pipeline.coding.codebook import Code, Codebook
from pipeline.errors import CodeerError
from pipeline.i18n import N_, SOURCE_LANGUAGE, decimal, gettext, language, translations
from pipeline.vocab import METHOD_NAMES, ROLE_NAMES, STATUS_NAMES

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"

PROJECT_FILE = "project.qdpx"
CODEBOOK_FILE = "codebook.qdc"

#: Folder with ``Project.xsd`` and ``Codebook.xsd`` (package data, MIT; see its README.md); the
#: environment variable :data:`XSD_ENV` overrides it.
XSD_DIR = Path(__file__).resolve().parent / "xsd"
XSD_ENV = "CODEER_REFI_XSD"
_XSD_FILES = {"project": "Project.xsd", "codebook": "Codebook.xsd"}

#: Namespace of every GUID in the export (itself a UUID-5 of the codeer URL name).
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://codeer.invalid/refi-qda")

AUTOMATIC_USER = "codeer (automatisch)"
DEFAULT_REVIEWER = "reviewer"

#: Creation date when neither ``created`` nor any other date is available.
DEFAULT_CREATED = datetime(2000, 1, 1, tzinfo=UTC)
#: Optional columns of the codings frame that hold when a coding was made or reviewed.
CODING_DATE_COLUMNS = ("reviewed_at", "coded_at", "date")
#: Optional column of the codings frame naming the reviewer of a coding.
REVIEWER_COLUMN = "reviewer"
#: Metadata columns of the documents frame that may hold the interview date (first one wins).
SOURCE_DATE_COLUMNS = ("date", "interview_date", "datum")
#: Name of the speaker cases' role variable.
SPEAKER_ROLE_VARIABLE = "spreker_rol"
#: Fixed timestamp of every zip entry.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

AUTOMATIC_METHODS = ("rule", "embedding", "both")
EXPORTED_STATUSES = ("auto", "accepted", "human")
#: What a note can be about: a coding (review note) or what a memo can be about.
NOTE_TARGETS = ("coding", "passage", "document", "code", "project")

_SELECTION_NAME_CHARS = 60
# Characters XML 1.0 cannot carry (C0 controls other than tab, LF, CR; surrogates; U+FFFE/F).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: A placeholder of the pseudonymiser ("[PERSOON-1]", "[LOCATIE-12]").
PLACEHOLDER = re.compile(r"\[[A-ZÀ-Þ][A-ZÀ-Þ_]*-\d+\]")
#: What starts a selection description codeer writes (:func:`_description`).
DESCRIPTION_MARK = "codeer |"
#: A selection description codeer wrote (not a researcher's comment): this version's, or the
#: ``method=... status=...`` / ``time=...`` of earlier versions.
CODEER_DESCRIPTION = re.compile(
    r"^(?:codeer \||(?:method=\S+ (?:score=\S+ )?status=\S+|time=\S+)(?: |$))"
)
#: The paragraph labels of a code's description (:func:`_code_description`): English source.
INCLUDE_LABEL = N_("Include")
EXCLUDE_LABEL = N_("Exclude")


def description_labels(label: str) -> set[str]:
    """``label`` (:data:`INCLUDE_LABEL` or :data:`EXCLUDE_LABEL`) in every language codeer
    writes, so that an export in either language reads back."""
    from pipeline.i18n import LANGUAGES

    return {translations(lang).gettext(label) for lang in LANGUAGES}

Offsets = Callable[[str, int, int], tuple[int, int]]


# --------------------------------------------------------------------------- helpers


def guid(kind: str, *ids: object) -> str:
    """A stable GUID for one object of the export.

    Args:
        kind: The object kind (``"code"``, ``"source"``, ...), so equal ids of different kinds
            get different GUIDs.
        *ids: The ids that identify the object within its kind.

    Returns:
        A lowercase UUID string, e.g. ``"1b4e28ba-2fa1-5d2c-883f-0016d3cca427"``.
    """
    key = "\x1f".join([kind, *(str(i) for i in ids)])
    return str(uuid.uuid5(GUID_NAMESPACE, key))


def code_name(code: Code) -> str:
    """The exported name of a code: its id, then its name ("L1 Heldere posities")."""
    name = code.name.strip()
    return name if name.split(" ", 1)[0] == code.id else f"{code.id} {name}"


def _clean(text: object) -> str:
    """``text`` as a string XML can hold (illegal control characters removed)."""
    return _XML_ILLEGAL.sub("", str(text))


def _missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _timestamp(value: datetime) -> str:
    """``value`` as an ``xsd:dateTime`` in UTC (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_date(value: object) -> datetime | None:
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(stamp):
        return None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    return stamp.to_pydatetime()


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")
_DMY_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")


def interview_date(value: object) -> datetime | None:
    """An interview date from the metadata sheet: ``2021-06-21`` or ``21-06-2021`` (day first,
    the Dutch way; ``/`` and ``.`` too). Anything else (a placeholder, "voorjaar") is no date."""
    if _missing(value):
        return None
    text = str(value).strip()
    if _ISO_DATE.match(text):
        return _parse_date(text)
    m = _DMY_DATE.match(text)
    if m:
        try:
            return datetime(int(m.group(3)), int(m.group(2)), int(m.group(1)), tzinfo=UTC)
        except ValueError:
            return None
    return None


def _clock(seconds: float) -> str:
    """Seconds as ``hh:mm:ss.mmm`` (a VTT cue time)."""
    ms = round(float(seconds) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _serialise(root: etree._Element) -> bytes:
    """UTF-8 bytes with a double-quoted XML declaration and no BOM."""
    body = etree.tostring(root, encoding="utf-8", xml_declaration=False, pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def normalise_text(text: str) -> tuple[str, Callable[[int], int]]:
    """Drop a leading BOM and turn ``\\r\\n``/``\\r`` into ``\\n``, with the position map.

    Returns:
        The normalised text and a function from old code-point positions to new ones.
    """
    if "\r" not in text and not text.startswith("\ufeff"):
        return text, lambda pos: pos
    out: list[str] = []
    new_pos: list[int] = []
    for i, ch in enumerate(text):
        new_pos.append(len(out))
        if (i == 0 and ch == "\ufeff") or (ch == "\r" and text[i + 1 : i + 2] == "\n"):
            continue
        out.append("\n" if ch == "\r" else ch)
    new_pos.append(len(out))
    return "".join(out), new_pos.__getitem__


_normalise_text = normalise_text  # the name earlier code used


def _unique_names(names: list[str], ids: list[str]) -> list[str]:
    """Names made unique by appending ``[id]`` to those that are used more than once.

    QualCoder keeps one code per name, so codes sharing a name would be merged on import.
    """
    counts = Counter(names)
    return [f"{n} [{i}]" if counts[n] > 1 else n for n, i in zip(names, ids, strict=True)]


def _code_description(code: Code) -> str:
    """The definition, then "Include:" and "Exclude:" (in Dutch "Wel coderen:" and "Niet
    coderen:") with one criterion per line ("- ..."); :mod:`pipeline.coding.codebook_import`
    reads this layout back in either language."""
    parts = [code.definition.strip()] if code.definition.strip() else []
    for label, items in ((gettext(INCLUDE_LABEL), code.include),
                         (gettext(EXCLUDE_LABEL), code.exclude)):
        if items:
            parts.append(f"{label}:\n" + "\n".join(f"- {' '.join(i.split())}" for i in items))
    return "\n\n".join(parts)


def _codes_element(ns: str, book: Codebook,
                   code_notes: Mapping[str, Sequence[str]] | None = None) -> etree._Element:
    """The ``Codes`` element: one non-codable code per theme with its codes as children.

    Args:
        ns: The namespace (project or codebook).
        book: The codebook.
        code_notes: Note GUIDs per code id, written as ``NoteRef`` (project only).
    """
    code_notes = code_notes or {}
    codes_el = etree.Element(f"{{{ns}}}Codes")
    theme_names = _unique_names([t.name for t in book.themes], [t.id for t in book.themes])
    code_names = dict(
        zip(
            [c.id for c in book.codes],
            _unique_names([code_name(c) for c in book.codes], [c.id for c in book.codes]),
            strict=True,
        )
    )
    for theme, theme_name in zip(book.themes, theme_names, strict=True):
        theme_el = etree.SubElement(
            codes_el,
            f"{{{ns}}}Code",
            guid=guid("theme", theme.id),
            name=_clean(theme_name),
            isCodable="false",
            color=theme.color,
        )
        if theme.description.strip():
            etree.SubElement(theme_el, f"{{{ns}}}Description").text = _clean(theme.description)
        for code in book.codes:
            if code.theme != theme.id:
                continue
            code_el = etree.SubElement(
                theme_el,
                f"{{{ns}}}Code",
                guid=guid("code", code.id),
                name=_clean(code_names[code.id]),
                isCodable="true",
                color=book.color_of(code),
            )
            description = _code_description(code)
            if description:
                etree.SubElement(code_el, f"{{{ns}}}Description").text = _clean(description)
            for note_guid in code_notes.get(code.id, ()):
                etree.SubElement(code_el, f"{{{ns}}}NoteRef", targetGUID=note_guid)
    return codes_el


# --------------------------------------------------------------------------- pseudonymised text


def align(pseudo: str, original: str, hints: Mapping[str, Sequence[str]] | None = None
          ) -> list[tuple[int, int, int, int]] | None:
    """How a pseudonymised text lines up with its original: the replaced spans.

    ``pseudo`` must be ``original`` with some spans replaced by placeholders (:data:`PLACEHOLDER`)
    and nothing else changed. The text between placeholders is found back in the original in
    order, leftmost first; ``hints`` (placeholder -> the originals it stands for, from the
    pseudonymisation key) decide where a replaced span ends when the text after it could match
    earlier ("[LOCATIE-1] [PERSOON-2]" for "Prins Alexander Hans").

    Returns:
        ``(new_start, new_end, old_start, old_end)`` per placeholder, in order; ``[]`` when the
        texts are equal; ``None`` when ``pseudo`` is not a pseudonymised ``original``.
    """
    if pseudo == original:
        return []
    marks = list(PLACEHOLDER.finditer(pseudo))
    if not marks:
        return None
    chunks = [pseudo[: marks[0].start()]]
    chunks += [pseudo[m.end() : (marks[i + 1].start() if i + 1 < len(marks) else len(pseudo))]
               for i, m in enumerate(marks)]
    if not original.startswith(chunks[0]) or not original.endswith(chunks[-1]):
        return None
    if len(original) < sum(map(len, chunks)) + len(marks):
        return None
    for use_hints in ((True, False) if hints else (False,)):
        spans = _align(marks, chunks, original, hints if use_hints else None)
        if spans is not None:
            return spans
    return None


def _align(marks: list[re.Match], chunks: list[str], original: str,
           hints: Mapping[str, Sequence[str]] | None) -> list[tuple[int, int, int, int]] | None:
    pos = len(chunks[0])
    spans = []
    for i, mark in enumerate(marks):
        after = chunks[i + 1]
        last = i + 1 == len(marks)
        end = None
        for candidate in (hints or {}).get(mark.group(), ()):
            stop = pos + len(candidate)
            if (candidate and original.startswith(candidate, pos)
                    and original.startswith(after, stop)
                    and (not last or stop + len(after) == len(original))):
                end = stop
                break
        if end is None:
            if last:
                end = len(original) - len(after)
            else:
                end = original.find(after, pos + 1) if after else pos + 1
            if end <= pos:
                return None
        spans.append((mark.start(), mark.end(), pos, end))
        pos = end + len(after)
    return spans if pos == len(original) else None


@dataclass(frozen=True)
class BackMap:
    """Positions in a pseudonymised text mapped back to the original (see :func:`align`)."""

    spans: tuple[tuple[int, int, int, int], ...] = ()

    def _before(self, pos: int, inclusive: bool) -> int:
        starts = [s[0] for s in self.spans]
        return (bisect.bisect_right if inclusive else bisect.bisect_left)(starts, pos) - 1

    def start(self, pos: int) -> int:
        """Original offset of a selection start; one inside a placeholder moves to its start."""
        i = self._before(pos, inclusive=True)
        if i < 0:
            return pos
        new_start, new_end, old_start, old_end = self.spans[i]
        return old_start if pos < new_end else old_end + (pos - new_end)

    def end(self, pos: int) -> int:
        """Original offset of a selection end (exclusive); inside a placeholder: its end."""
        i = self._before(pos, inclusive=False)
        if i < 0:
            return pos
        new_start, new_end, old_start, old_end = self.spans[i]
        return old_end if pos <= new_end else old_end + (pos - new_end)


# --------------------------------------------------------------------------- codebook


def build_codebook(book: Codebook) -> bytes:
    """The codebook as a REFI-QDA ``.qdc`` file (``Codebook.xsd``).

    Args:
        book: The validated codebook.

    Returns:
        UTF-8 XML bytes: one non-codable code per theme holding its codes.
    """
    root = etree.Element(
        f"{{{CODEBOOK_NS}}}CodeBook", nsmap={None: CODEBOOK_NS}, origin=f"codeer {__version__}"
    )
    root.append(_codes_element(CODEBOOK_NS, book))
    return _serialise(root)


# --------------------------------------------------------------------------- notes


@dataclass(frozen=True)
class Note:
    """A review note or memo, as exported in ``Notes``.

    Attributes:
        text: The note (already pseudonymised when the export is).
        author: Who wrote it (a user of the project).
        about: One of :data:`NOTE_TARGETS`.
        target: Segment id (``coding``, ``passage``), document id, code id, or ``""``.
        code_id: The code of a ``coding`` note.
        created: When it was written.
        name: Its title in the CAQDAS.
    """

    text: str
    author: str
    about: str
    target: str = ""
    code_id: str = ""
    created: datetime | None = None
    name: str = ""

    @property
    def guid(self) -> str:
        """A GUID from the note's content: the same note always gets the same GUID."""
        when = _timestamp(self.created) if self.created else ""
        return guid("note", self.about, self.target, self.code_id, self.author, when, self.text)


def review_notes(reviews: pd.DataFrame, scrub: Callable[[str], str] = str) -> list[Note]:
    """One :class:`Note` per review decision with a note (``reviews.csv`` as parsed).

    Args:
        reviews: Parsed review rows (:func:`pipeline.review.decisions.parse_reviews`).
        scrub: Pseudonymises the note text.
    """
    from pipeline.vocab import DECISION_NAMES

    notes = []
    for row in reviews.to_dict("records"):
        text = str(row.get("note") or "").strip()
        if not text:
            continue
        decision = _shown(DECISION_NAMES, row["decision"])
        notes.append(Note(text=scrub(text), author=str(row["reviewer"]), about="coding",
                          target=str(row["segment_id"]), code_id=str(row["code_id"]),
                          created=_parse_date(row.get("time") or row.get("timestamp")),
                          name=gettext("Review {code}: {decision}").format(
                              code=row["code_id"], decision=decision)))
    return notes


def memo_notes(memos: pd.DataFrame, scrub: Callable[[str], str] = str) -> list[Note]:
    """One :class:`Note` per memo (``memos.csv`` as parsed by :mod:`pipeline.review.memos`)."""
    from pipeline.vocab import MEMO_TARGET_NAMES

    notes = []
    for row in memos.to_dict("records"):
        about = str(row["about"])
        target = str(row.get("target") or "")
        label = _shown(MEMO_TARGET_NAMES, about)
        notes.append(Note(text=scrub(str(row["text"]).strip()), author=str(row["author"]),
                          about=about, target=target,
                          created=_parse_date(row.get("time") or row.get("timestamp")),
                          name=f"Memo ({label}{': ' + target if target else ''})"))
    return notes


# --------------------------------------------------------------------------- project


def _selections(
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    book: Codebook,
    reviewers: Sequence[str],
    coded_at: datetime | None,
) -> list[dict]:
    """The exported passages (:mod:`pipeline.export.passages`) with their codings and users,
    in output order: one selection per passage, one coding per code of the passage."""
    from pipeline.export.passages import mix_method, mix_status, passage_codings

    missing = [c for c in ("segment_id", "code_id", "method", "status") if c not in codings]
    if missing:
        raise CodeerError(gettext("codings lacks the columns {columns}. Run `codeer code` again.")
                          .format(columns=missing))
    seg_cols = ["document_id", "segment_id", "start", "end", "text"]
    if missing := [c for c in seg_cols if c not in segments]:
        raise CodeerError(gettext("segments lacks the columns {columns}. Run `codeer ingest` "
                                  "again.").format(columns=missing))
    codings = codings.reset_index(drop=True)
    code_order = {c.id: i for i, c in enumerate(book.codes)}
    doc_order = {d: i for i, d in enumerate(documents["document_id"])}
    extra = [c for c in ("speaker", "role", "time_start", "time_end") if c in segments]
    segs = {row["segment_id"]: row for row in segments[seg_cols + extra].to_dict("records")}
    default_reviewer = reviewers[0] if reviewers else DEFAULT_REVIEWER
    has_reviewer = REVIEWER_COLUMN in codings.columns
    date_cols = [c for c in CODING_DATE_COLUMNS if c in codings.columns]

    users, dates, keep = {}, {}, []
    unknown_codes, unknown_segments, bad_status = set(), set(), set()
    for label, row in zip(codings.index, codings.to_dict("records"), strict=True):
        status, method = str(row["status"]), str(row["method"])
        if status == "rejected":
            continue
        if status not in EXPORTED_STATUSES or method not in (*AUTOMATIC_METHODS, "human"):
            bad_status.add(f"{method}/{status}")
            continue
        if row["code_id"] not in code_order:
            unknown_codes.add(str(row["code_id"]))
            continue
        seg = segs.get(row["segment_id"])
        if seg is None or seg["document_id"] not in doc_order:
            unknown_segments.add(str(row["segment_id"]))
            continue
        automatic = status == "auto" and method in AUTOMATIC_METHODS
        if automatic:
            user = AUTOMATIC_USER
        else:
            named = row.get(REVIEWER_COLUMN) if has_reviewer else None
            user = str(named).strip() if not _missing(named) and str(named).strip() else None
            user = user or default_reviewer
        found = [d for d in (_parse_date(row.get(c)) for c in date_cols) if d is not None]
        users[label] = user
        dates[label] = max(found) if found else (coded_at if automatic else None)
        keep.append(label)
    if unknown_codes:
        raise CodeerError(gettext(
            "codings use codes that are not in the codebook: {codes}. Run `codeer code` again "
            "with this codebook, or export with the codebook they were made with."
        ).format(codes=sorted(unknown_codes)))
    if unknown_segments:
        shown = sorted(unknown_segments)[:5]
        raise CodeerError(gettext(
            "{n} coding(s) refer to segments that are not in segments (e.g. {ids}). Run "
            "`codeer code` again after `codeer ingest`."
        ).format(n=len(unknown_segments), ids=shown))
    if bad_status:
        raise CodeerError(gettext(
            "codings hold unknown method/status pairs {pairs}. Methods are {methods}, statuses "
            "{statuses}."
        ).format(pairs=sorted(bad_status), methods=[*AUTOMATIC_METHODS, "human"],
                 statuses=["rejected", *EXPORTED_STATUSES]))
    # "human" is no review status of codeer's own; as a status it reads as "not reviewed".
    kept = codings.loc[keep].assign(status=lambda d: d["status"].replace({"human": "auto"}))
    rows = passage_codings(kept, segments[segments["document_id"].isin(doc_order)],
                           list(code_order))
    selections = []
    for _passage, group in rows.groupby("passage_id", sort=False):
        first = group.iloc[0]
        seg_ids = list(first["segment_ids"])
        codings_of = []
        for code in group.to_dict("records"):
            labels = list(code["rows"])
            when = [dates[x] for x in labels if dates[x] is not None]
            # The user of the coding: the machine while any sentence is unreviewed machine
            # work, else the reviewer of its latest decision.
            automatic = [x for x in labels if users[x] == AUTOMATIC_USER]
            people = sorted((x for x in labels if users[x] != AUTOMATIC_USER),
                            key=lambda x: (dates[x] or DEFAULT_CREATED, labels.index(x)))
            user = AUTOMATIC_USER if automatic else users[people[-1]]
            codings_of.append({
                "code_id": code["code_id"], "method": code["method"],
                "status": code["status"], "score": code["probability"],
                "evidence": code["evidence"], "user": user,
                "date": max(when) if when else None,
                "key": (seg_ids[0], code["code_id"]),
                "pairs": [(s, code["code_id"]) for s in seg_ids],
            })
        last = segs[seg_ids[-1]]
        head = segs[seg_ids[0]]
        status = mix_status([c["status"] for c in codings_of])
        machine = [c for c in codings_of if c["user"] == AUTOMATIC_USER]
        selections.append({
            "document_id": first["document_id"],
            "segment_id": seg_ids[0],
            "segment_ids": seg_ids,
            "segments": [(s, int(segs[s]["start"]), int(segs[s]["end"]), segs[s]["text"])
                         for s in seg_ids],
            "start": int(first["start"]),
            "end": int(first["end"]),
            "speaker": head.get("speaker"),
            "time_start": head.get("time_start"),
            "time_end": last.get("time_end"),
            "codings": codings_of,
            "method": mix_method([c["method"] for c in codings_of]),
            "status": status,
            "score": max((c["score"] for c in codings_of if not _missing(c["score"])),
                         default=float("nan")),
            "evidence": " | ".join(
                (f"{c['code_id']}: {c['evidence']}" if len(codings_of) > 1 else c["evidence"])
                for c in codings_of if not _missing(c["evidence"]) and str(c["evidence"])),
            "user": (machine or codings_of)[0]["user"],
            "date": max((c["date"] for c in codings_of if c["date"] is not None),
                        default=None),
            "key": codings_of[0]["key"],
        })
    selections.sort(key=lambda r: (doc_order[r["document_id"]], r["start"], r["end"],
                                   code_order[r["codings"][0]["code_id"]]))
    return selections


def _users(selections: list[dict], reviewers: Sequence[str], authors: Iterable[str]) -> list[str]:
    """User names: every reviewer, anyone else with codings or notes, and the automatic user.

    The user with the most codings comes first (ties keep that order), because QualCoder
    takes the first user as its coder name.
    """
    counts = Counter(c["user"] for s in selections for c in s["codings"])
    names = list(dict.fromkeys(str(r) for r in reviewers))
    others = (set(counts) | set(authors)) - set(names) - {AUTOMATIC_USER}
    names += sorted(others)
    names.append(AUTOMATIC_USER)
    return sorted(names, key=lambda n: -counts[n])


def _shown(names: Mapping[str, str], value: object) -> str:
    """A vocabulary value by its Dutch name (:mod:`pipeline.vocab`); English keeps the value."""
    value = str(value)
    return value if language() == SOURCE_LANGUAGE else names.get(value, value)


def _times(sel: dict) -> str | None:
    start, end = sel.get("time_start"), sel.get("time_end")
    if _missing(start):
        return None
    end = start if _missing(end) else end
    return gettext("time {start}-{end}").format(start=_clock(start), end=_clock(end))


def _description(sel: dict) -> str | None:
    """What a researcher reads about an automatic coding in their CAQDAS, in plain words:
    ``codeer | model, chance 0.412, automatic | time ... | why: ...`` (translated).

    It starts with :data:`DESCRIPTION_MARK`, so that :mod:`pipeline.review.caqdas_import`
    tells it from a researcher's comment (:data:`CODEER_DESCRIPTION`).
    """
    times = _times(sel)
    parts = []
    if sel["method"] != "human":
        how = [_shown(METHOD_NAMES, sel["method"])]
        score = sel.get("score")
        if not _missing(score):
            how.append(gettext("chance accepted {number}").format(
                number=decimal(float(score), 3)))
        how.append(_shown(STATUS_NAMES, sel["status"]))
        parts.append(", ".join(how))
    if times:
        parts.append(times)
    evidence = sel.get("evidence")
    if sel["method"] != "human" and not _missing(evidence) and str(evidence).strip():
        parts.append(gettext("why: {evidence}").format(evidence=str(evidence).strip()))
    return " | ".join([DESCRIPTION_MARK.removesuffix(" |"), *parts]) if parts else None


def _selection_name(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _SELECTION_NAME_CHARS:
        return text
    return text[: _SELECTION_NAME_CHARS - 1].rstrip() + "…"


def _source_texts(documents: pd.DataFrame, texts: dict[str, str] | None) -> dict[str, str]:
    if texts is None:
        return dict(zip(documents["document_id"], documents["text"], strict=True))
    missing = [d for d in documents["document_id"] if d not in texts]
    if missing:
        raise CodeerError(gettext(
            "No pseudonymised text for {ids}; the export would otherwise hold their original "
            "text. Pseudonymise every document, or export without texts."
        ).format(ids=missing[:5]))
    return {d: texts[d] for d in documents["document_id"]}


def _source_dates(documents: pd.DataFrame) -> dict[str, datetime]:
    col = next((c for c in SOURCE_DATE_COLUMNS if c in documents.columns), None)
    if col is None:
        return {}
    out = {}
    for doc_id, value in zip(documents["document_id"], documents[col], strict=True):
        date = interview_date(value)
        if date is not None:
            out[doc_id] = date
    return out


def _speaker_label(label: object, role: object, speakers: Mapping[str, str] | None,
                   pseudonymised: bool) -> str:
    label = "" if _missing(label) else str(label).strip()
    if speakers is not None and label in speakers:
        return str(speakers[label])
    if not pseudonymised and label:
        return label
    return ROLE_NAMES.get(str(role), str(role))  # no mapping: never a name from the transcript


class _Placed:
    """Notes sorted onto what they are about; the rest go to the project."""

    def __init__(self, notes: Sequence[Note], segments: dict[str, dict], doc_ids: set[str],
                 code_ids: set[str], coding_keys: set[tuple[str, str]]):
        self.coding: dict[tuple[str, str], list[Note]] = {}
        self.passage: dict[str, list[Note]] = {}
        self.document: dict[str, list[Note]] = {}
        self.code: dict[str, list[Note]] = {}
        self.project: list[Note] = []
        for note in notes:
            if note.about not in NOTE_TARGETS:
                raise CodeerError(gettext("A note's 'about' must be one of {targets}. Got "
                                          "'{about}' instead.")
                                  .format(targets=list(NOTE_TARGETS), about=note.about))
            if note.about == "coding":
                key = (note.target, note.code_id)
                if key in coding_keys:  # a rejected coding has no selection to carry it
                    self.coding.setdefault(key, []).append(note)
            elif note.about == "passage" and note.target in segments:
                self.passage.setdefault(note.target, []).append(note)
            elif note.about == "document" and note.target in doc_ids:
                self.document.setdefault(note.target, []).append(note)
            elif note.about == "code" and note.target in code_ids:
                self.code.setdefault(note.target, []).append(note)
            else:  # the project, or a target that no longer exists: kept at project level
                self.project.append(note)

    def all(self) -> list[Note]:
        groups = [*self.coding.values(), *self.passage.values(), *self.document.values(),
                  *self.code.values(), self.project]
        return [n for group in groups for n in group]


def build_project(
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    book: Codebook,
    texts: dict[str, str] | None = None,
    offsets: Offsets | None = None,
    reviewers: Sequence[str] = (),
    project_name: str = "codeer",
    metadata_columns: Sequence[str] = (),
    *,
    created: datetime | None = None,
    coded_at: datetime | None = None,
    notes: Sequence[Note] = (),
    speakers: Mapping[str, str] | None = None,
) -> bytes:
    """The coded project as a REFI-QDA ``.qdpx`` file (a zip with ``project.qde``).

    Args:
        documents: The documents table (:data:`pipeline.schema.DOCUMENTS`); a parseable
            ``date`` column (:data:`SOURCE_DATE_COLUMNS`) dates the sources.
        segments: The segments table (:data:`pipeline.schema.SEGMENTS`).
        codings: The codings table (:data:`pipeline.schema.CODINGS`); rows with status
            ``rejected`` are left out. Optional columns: ``reviewer`` (who accepted or made
            the coding) and a date column from :data:`CODING_DATE_COLUMNS`.
        book: The codebook the codings were made with.
        texts: Text per ``document_id`` to export instead of ``documents.text`` (the
            pseudonymised text); must cover every document.
        offsets: Maps ``(document_id, start, end)`` in the original text to positions in
            ``texts``; needed when a coded document's text differs from the original.
        reviewers: Names of the reviewers; human and accepted codings are attributed to the
            ``reviewer`` column's name, else the first reviewer, else ``"reviewer"``.
        project_name: The ``name`` of the project.
        metadata_columns: Columns of ``documents`` exported as case variables (text).
        created: The creation date in the XML; default: the latest date of a coding or
            note, else :data:`DEFAULT_CREATED`.
        coded_at: When the automatic codings were made (a recorded, deterministic time);
            default: the creation date.
        notes: Review notes and memos (:func:`review_notes`, :func:`memo_notes`), their text
            already pseudonymised when the export is.
        speakers: Exported label per speaker label (pseudonymised names); without it, speaker
            labels are exported as they are when ``texts`` is None, else as role names.

    Returns:
        The ``.qdpx`` zip bytes; byte-identical for identical input.

    Raises:
        CodeerError: A coding refers to an unknown code or segment, a segment's offsets do not
            match its document, a metadata column is missing, ``texts`` lacks a document, or
            ``texts`` differs from the original text where ``offsets`` are not given.
    """
    if missing := [c for c in metadata_columns if c not in documents.columns]:
        raise CodeerError(
            gettext("documents has no metadata columns {missing}. Available: {available}.")
            .format(missing=missing, available=list(documents.columns))
        )
    originals = dict(zip(documents["document_id"], documents["text"], strict=True))
    source_texts = _source_texts(documents, texts)
    selections = _selections(documents, segments, codings, book, reviewers, coded_at)
    doc_ids = list(documents["document_id"])
    seg_cols = [c for c in ("document_id", "segment_id", "start", "end", "text", "speaker",
                            "role", "time_start", "time_end") if c in segments]
    seg_rows = {r["segment_id"]: r for r in segments[seg_cols].to_dict("records")
                if r["document_id"] in originals}
    placed = _Placed(notes, seg_rows, set(doc_ids), {c.id for c in book.codes},
                     {p for s in selections for c in s["codings"] for p in c["pairs"]})
    all_notes = placed.all()
    dates = [s["date"] for s in selections if s["date"] is not None]
    dates += [n.created for n in all_notes if n.created is not None]
    if coded_at is not None:
        dates.append(coded_at)
    created = created or (max(dates) if dates else DEFAULT_CREATED)
    stamp = _timestamp(created)
    source_dates = _source_dates(documents)

    users = _users(selections, reviewers, (n.author for n in all_notes))
    user_guid = {u: guid("user", u) for u in users}
    auto_guid = user_guid[AUTOMATIC_USER]
    ns = PROJECT_NS
    q = functools.partial("{{{}}}{}".format, ns)
    root = etree.Element(
        q("Project"),
        nsmap={None: ns},
        name=_clean(project_name),
        origin=f"codeer {__version__}",
        creatingUserGUID=auto_guid,
        creationDateTime=stamp,
    )
    users_el = etree.SubElement(root, q("Users"))
    for u in users:
        etree.SubElement(users_el, q("User"), guid=user_guid[u], name=_clean(u))
    book_el = etree.SubElement(root, q("CodeBook"))
    book_el.append(_codes_element(ns, book, {c: [n.guid for n in ns_]
                                             for c, ns_ in placed.code.items()}))

    # Selections per document: codings and passages with memos, in text order.
    by_doc: dict[str, list[dict]] = {d: [] for d in doc_ids}
    for sel in selections:
        by_doc[sel["document_id"]].append(sel)
    for seg_id in sorted(placed.passage):
        seg = seg_rows[seg_id]
        by_doc[seg["document_id"]].append(
            {"memo": True, "segment_id": seg_id, "segment_ids": [seg_id],
             "start": int(seg["start"]), "end": int(seg["end"]),
             "segments": [(seg_id, int(seg["start"]), int(seg["end"]), seg["text"])],
             "speaker": seg.get("speaker"), "notes": placed.passage[seg_id]})
    exported: dict[str, tuple[str, list[tuple[dict, int, int]]]] = {}
    for doc_id in doc_ids:
        exported[doc_id] = _place(doc_id, by_doc[doc_id], originals[doc_id],
                                  source_texts[doc_id], offsets)

    # Speakers: one case per (document, speaker) with the selections they spoke.
    pseudonymised = texts is not None
    speaker_cases: list[tuple[str, str, str, list[str]]] = []
    if "speaker" in segments.columns:
        sel_of_segment: dict[str, list[str]] = {}
        for doc_id in doc_ids:
            for sel, _s, _e in exported[doc_id][1]:
                for seg_id in sel["segment_ids"]:
                    sel_of_segment.setdefault(seg_id, []).append(_selection_guid(doc_id, sel))
        seen_cases: dict[tuple[str, str], int] = {}
        for row in segments.to_dict("records"):
            if row["document_id"] not in originals:
                continue
            label = _speaker_label(row.get("speaker"), row.get("role"), speakers, pseudonymised)
            key = (row["document_id"], label)
            if key not in seen_cases:
                seen_cases[key] = len(speaker_cases)
                role = ROLE_NAMES.get(str(row.get("role")), str(row.get("role")))
                speaker_cases.append((row["document_id"], label, role, []))
            speaker_cases[seen_cases[key]][3].extend(sel_of_segment.get(row["segment_id"], []))
        order = {d: i for i, d in enumerate(doc_ids)}
        speaker_cases.sort(key=lambda c: order[c[0]])  # stable: first appearance per document

    variables = list(metadata_columns) + ([SPEAKER_ROLE_VARIABLE] if speaker_cases else [])
    if variables:
        vars_el = etree.SubElement(root, q("Variables"))
        for col in variables:
            etree.SubElement(vars_el, q("Variable"), guid=guid("variable", col),
                             name=_clean(col), typeOfVariable="Text")
    if doc_ids:
        cases_el = etree.SubElement(root, q("Cases"))
        records = documents.to_dict("records")
        for doc_id, record in zip(doc_ids, records, strict=True):
            case_el = etree.SubElement(cases_el, q("Case"), guid=guid("case", doc_id),
                                       name=_clean(doc_id))
            for col in metadata_columns:
                value = record[col]
                if _missing(value):
                    continue
                _variable_value(case_el, q, col, value)
            etree.SubElement(case_el, q("SourceRef"), targetGUID=guid("source", doc_id))
        for doc_id, label, role, sel_guids in speaker_cases:
            case_el = etree.SubElement(cases_el, q("Case"),
                                       guid=guid("speaker-case", doc_id, label),
                                       name=_clean(f"{doc_id}: {label}"))
            _variable_value(case_el, q, SPEAKER_ROLE_VARIABLE, role)
            for sel_guid in dict.fromkeys(sel_guids):
                etree.SubElement(case_el, q("SelectionRef"), targetGUID=sel_guid)

    files: list[tuple[str, bytes]] = []
    if doc_ids:
        sources_el = etree.SubElement(root, q("Sources"))
    for doc_id in doc_ids:
        source_guid = guid("source", doc_id)
        text, placed_sels = exported[doc_id]
        file_name = f"{source_guid}.txt"
        files.append((f"sources/{file_name}", text.encode("utf-8")))
        src_date = source_dates.get(doc_id)
        src_el = etree.SubElement(
            sources_el,
            q("TextSource"),
            guid=source_guid,
            name=_clean(doc_id),
            plainTextPath=f"internal://{file_name}",
            creatingUser=auto_guid,
            creationDateTime=_timestamp(src_date) if src_date else stamp,
        )
        for sel, start, end in placed_sels:
            _selection_element(src_el, q, doc_id, sel, start, end, text, stamp, user_guid,
                               placed.coding)
        for note in placed.document.get(doc_id, ()):
            etree.SubElement(src_el, q("NoteRef"), targetGUID=note.guid)
    if all_notes:
        notes_el = etree.SubElement(root, q("Notes"))
        for note in sorted(dict.fromkeys(all_notes), key=lambda n: n.guid):
            note_el = etree.SubElement(
                notes_el, q("Note"), guid=note.guid, name=_clean(note.name or gettext("Note")),
                creatingUser=user_guid[note.author],
                creationDateTime=_timestamp(note.created) if note.created else stamp)
            etree.SubElement(note_el, q("PlainTextContent")).text = _clean(note.text)
    etree.SubElement(root, q("Description")).text = _clean(
        gettext("Exported by codeer {version} with codebook '{name}'.").format(
            version=__version__, name=book.name)
    )
    for note in placed.project:
        etree.SubElement(root, q("NoteRef"), targetGUID=note.guid)
    return _zip([("project.qde", _serialise(root)), *files])


def _variable_value(case_el: etree._Element, q: Callable[[str], str], variable: str,
                    value: object) -> None:
    vv = etree.SubElement(case_el, q("VariableValue"))
    etree.SubElement(vv, q("VariableRef"), targetGUID=guid("variable", variable))
    etree.SubElement(vv, q("TextValue")).text = _clean(value)


def _selection_guid(doc_id: str, sel: dict) -> str:
    if sel.get("memo"):
        return guid("memo-selection", doc_id, sel["segment_id"])
    return guid("selection", doc_id, *sel["key"])


def _place(doc_id: str, sels: list[dict], original: str, source_text: str,
           offsets: Offsets | None) -> tuple[str, list[tuple[dict, int, int]]]:
    """The exported text of one document and each selection's positions in it, in order."""
    exported, renumber = normalise_text(source_text)
    differs = source_text != original
    placed = []
    for sel in sels:
        start, end = sel["start"], sel["end"]
        for seg_id, seg_start, seg_end, seg_text in sel["segments"]:
            if original[seg_start:seg_end] != seg_text:
                raise CodeerError(gettext(
                    "Segment {segment} ({start}-{end}) does not match the text of {document}. "
                    "Run `codeer ingest` and `codeer code` again."
                ).format(segment=seg_id, start=seg_start, end=seg_end, document=doc_id))
        if offsets is not None:
            start, end = offsets(doc_id, start, end)
        elif differs:
            raise CodeerError(gettext(
                "The exported text of {document} differs from the original but no offsets "
                "map was given; the codings would point at the wrong text."
            ).format(document=doc_id))
        start, end = int(start), int(end)
        if not 0 <= start <= end <= len(source_text):
            raise CodeerError(gettext(
                "Coding of segment {segment} maps to {start}-{end}, outside the exported text "
                "of {document} ({length} characters)."
            ).format(segment=sel["segment_id"], start=start, end=end, document=doc_id,
                     length=len(source_text)))
        placed.append((sel, renumber(start), renumber(end)))
    placed.sort(key=lambda p: (p[1], p[2], 1 if p[0].get("memo") else 0))
    return exported, placed


def _selection_element(src_el: etree._Element, q: Callable[[str], str], doc_id: str, sel: dict,
                       start: int, end: int, text: str, stamp: str, user_guid: dict[str, str],
                       coding_notes: dict[tuple[str, str], list[Note]]) -> None:
    if sel.get("memo"):
        notes = sel["notes"]
        first = min(notes, key=lambda n: (n.created or DEFAULT_CREATED, n.guid))
        sel_el = etree.SubElement(
            src_el, q("PlainTextSelection"), guid=_selection_guid(doc_id, sel),
            name=_clean(_selection_name(text[start:end])), startPosition=str(start),
            endPosition=str(end), creatingUser=user_guid[first.author],
            creationDateTime=_timestamp(first.created) if first.created else stamp)
        for note in sorted(notes, key=lambda n: n.guid):
            etree.SubElement(sel_el, q("NoteRef"), targetGUID=note.guid)
        return
    sel_stamp = _timestamp(sel["date"]) if sel["date"] is not None else stamp
    sel_el = etree.SubElement(
        src_el,
        q("PlainTextSelection"),
        guid=_selection_guid(doc_id, sel),
        name=_clean(_selection_name(text[start:end])),
        startPosition=str(start),
        endPosition=str(end),
        creatingUser=user_guid[sel["user"]],
        creationDateTime=sel_stamp,
    )
    description = _description(sel)
    if description:
        etree.SubElement(sel_el, q("Description")).text = _clean(description)
    notes: dict[Note, None] = {}
    for coding in sel["codings"]:  # one per code of the passage
        coding_stamp = _timestamp(coding["date"]) if coding["date"] is not None else stamp
        coding_el = etree.SubElement(
            sel_el,
            q("Coding"),
            guid=guid("coding", doc_id, *coding["key"]),
            creatingUser=user_guid[coding["user"]],
            creationDateTime=coding_stamp,
        )
        etree.SubElement(coding_el, q("CodeRef"), targetGUID=guid("code", coding["code_id"]))
        for pair in coding["pairs"]:  # review notes on any sentence of the passage
            notes.update(dict.fromkeys(coding_notes.get(pair, ())))
    for note in sorted(notes, key=lambda n: n.guid):
        etree.SubElement(sel_el, q("NoteRef"), targetGUID=note.guid)


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    """A deflated zip with fixed timestamps and permissions, entries in the given order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


# --------------------------------------------------------------------------- reading back


def read_project(data: bytes) -> list[dict]:
    """Read the codings back out of a ``.qdpx`` (for round-trip checks).

    Args:
        data: The ``.qdpx`` zip bytes.

    Returns:
        One dict per ``Coding`` of a ``PlainTextSelection``, in document order, with
        ``source_name``, ``document_guid``, ``code_guid``, ``code_name``, ``start``, ``end``,
        ``text`` (the selected text from the source file), ``user`` (name) and
        ``description`` (the selection's, or ``""``).

    Raises:
        CodeerError: The bytes are not a zip with a readable ``project.qde``.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CodeerError(gettext("Not a .qdpx file: {error}.").format(error=exc)) from None
    with zf:
        names = {n.lower(): n for n in zf.namelist()}
        qde = next((n for n in zf.namelist() if n.lower().endswith(".qde")), None)
        if qde is None:
            raise CodeerError(gettext("The .qdpx file holds no project.qde."))
        try:
            root = etree.fromstring(zf.read(qde))
        except etree.XMLSyntaxError as exc:
            raise CodeerError(gettext("project.qde is not well-formed XML: {error}.")
                              .format(error=exc)) from None
        ns = etree.QName(root).namespace or PROJECT_NS
        q = functools.partial("{{{}}}{}".format, ns)
        users = {u.get("guid"): u.get("name") or "" for u in root.iter(q("User"))}
        codes = {c.get("guid"): c.get("name") for c in root.iter(q("Code"))}
        out: list[dict] = []
        for src in root.iter(q("TextSource")):
            content = src.find(q("PlainTextContent"))
            if content is not None:
                text = content.text or ""
            else:
                path = (src.get("plainTextPath") or "").removeprefix("internal://")
                member = names.get(str(PurePosixPath("sources", path)).lower())
                if member is None:
                    raise CodeerError(gettext("Source file {path} is missing from the .qdpx "
                                              "file.").format(path=path))
                text = zf.read(member).decode("utf-8")
            for sel in src.iter(q("PlainTextSelection")):
                start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
                desc = sel.find(q("Description"))
                for coding in sel.findall(q("Coding")):
                    ref = coding.find(q("CodeRef")).get("targetGUID")
                    creator = coding.get("creatingUser") or sel.get("creatingUser")
                    out.append(
                        {
                            "source_name": src.get("name"),
                            "document_guid": src.get("guid"),
                            "code_guid": ref,
                            "code_name": codes.get(ref),
                            "start": start,
                            "end": end,
                            "text": text[start:end],
                            "user": users.get(creator, ""),
                            "description": (desc.text or "") if desc is not None else "",
                        }
                    )
    return out


# --------------------------------------------------------------------------- validation


def xsd_dir() -> Path:
    """The folder with the REFI-QDA schemas: ``$CODEER_REFI_XSD``, else :data:`XSD_DIR`."""
    env = os.environ.get(XSD_ENV)
    return Path(env) if env else XSD_DIR


@functools.lru_cache(maxsize=4)
def _schema(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path))


def validate(xml: bytes, schema: str) -> list[str]:
    """Validate REFI-QDA XML against ``Project.xsd`` or ``Codebook.xsd``.

    Args:
        xml: The ``project.qde`` or ``.qdc`` bytes.
        schema: ``"project"`` or ``"codebook"``.

    Returns:
        The schema errors as ``"line N: message"``; empty when the XML is valid.

    Raises:
        CodeerError: Unknown schema name, or the schema file is missing (set
            ``CODEER_REFI_XSD`` to the folder holding it).
    """
    if schema not in _XSD_FILES:
        raise CodeerError(gettext("schema must be one of {schemas}. Got '{schema}' instead.")
                          .format(schemas=list(_XSD_FILES), schema=schema))
    path = xsd_dir() / _XSD_FILES[schema]
    if not path.is_file():
        raise CodeerError(
            gettext("REFI-QDA schema {path} not found. Set {env} to the folder with {file}.")
            .format(path=path, env=XSD_ENV, file=_XSD_FILES[schema])
        )
    xsd = _schema(str(path))
    try:
        doc = etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    if xsd.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in xsd.error_log]


# --------------------------------------------------------------------------- writer


def write_exports(out: Path, project: bytes, codebook: bytes) -> None:
    """Write ``OUT/project.qdpx`` and ``OUT/codebook.qdc`` atomically.

    Raises:
        CodeerError: The folder is not writable or a target is locked.
    """
    out = Path(out)
    storage.write_bytes(out / PROJECT_FILE, project)
    storage.write_bytes(out / CODEBOOK_FILE, codebook)


__all__ = [
    "BackMap",
    "Note",
    "align",
    "build_codebook",
    "build_project",
    "code_name",
    "guid",
    "interview_date",
    "memo_notes",
    "normalise_text",
    "read_project",
    "review_notes",
    "validate",
    "write_exports",
    "xsd_dir",
]
