"""Import from a CAQDAS: a REFI-QDA project (``.qdpx``) back into the review log and the memos.

A researcher opens codeer's ``project.qdpx`` in QualCoder, ATLAS.ti, MAXQDA or NVivo, keeps,
removes, moves and adds codings there, writes comments, and exports the project again.
``codeer import project.qdpx`` turns that work into review decisions in ``OUT/reviews.csv``
(through :func:`pipeline.review.decisions.record_many`, the batch form of the log's only
writer: one append of whole lines) and memos in
``OUT/memos.csv``:

* **Sources** are matched to codeer's documents by their text, not by GUID or name (a CAQDAS
  may give them new ones): equal text (after ``\\r\\n`` -> ``\\n`` and a dropped BOM, trailing
  whitespace ignored), or codeer's pseudonymised text of the document. Positions in a
  pseudonymised text are mapped back through the placeholders (:func:`pipeline.export.refiqda.
  align`, helped by the pseudonymisation key in ``OUT/private/`` when it is there).
  Positions are code points of the source text as stored; when the text has ``\\r\\n`` line
  ends and the selection's name shows the tool counted them as one character (some tools do),
  that reading is taken.
* **Codes** are matched by GUID (codeer's own), else by the code id at the start of the name
  ("L1 Heldere posities", also after an ATLAS.ti group prefix "Thema::L1 ..."), else by the
  exact name. A theme (codeer's non-codable parent code) is not a code.
* **Selections** cover the segments they overlap by at least half (or lie inside), the rule of
  :func:`pipeline.review.agreement.gold_labels`.
* **Decisions**: a coding codeer exported that is still there is *accepted*; one that is gone is
  *rejected* (only when the project came from codeer, and only for codes and interviews that
  are in the project: a deleted code or interview leaves its codings as they are, and says
  so); a coding on a (segment, code) pair codeer did not export is an *add*. A decision is
  attributed to the user who made the selection in the CAQDAS (User GUID -> name), or to the
  project's user for codeer's own selections and those no person made (``--reviewer``, else
  the project's modifying user, else its one human user). It is dated by the selection (its
  ``modifiedDateTime`` when later than its ``creationDateTime``); codeer's own selections,
  kept, moved or removed, have no date of the researcher's own and take the project's
  ``modifiedDateTime``, else its ``creationDateTime`` (a time the work cannot precede, so a
  decision made in codeer after it stays the latest), else the time of the import.
* **Memos**: notes on a selection, coding, source, code or the project (``NoteRef``; QualCoder's
  notes that carry their own ``PlainTextSelection``; NVivo's ``Link`` from a note to a
  selection) and a selection's ``Description`` that codeer did not write become memos about the
  passage, the interview, the code or the project. Review notes and memos codeer exported
  itself are recognised (also pseudonymised) and not imported twice.
* **Twice** the same project gives nothing new: a decision identical to the latest one of the
  same reviewer for that (segment, code) pair, or to a row the log holds already (same pair,
  reviewer, decision and time), and a memo the log already holds, are skipped.

What cannot be matched (a source whose text is no interview, a code that is no code, a
selection outside its text) is reported with the file, the element and why, and left out:
nothing is guessed.
"""

from __future__ import annotations

import bisect
import io
import logging
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pipeline import config
from pipeline.errors import CodeerError
from pipeline.i18n import _
from pipeline.vocab import Decision, MemoTarget

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.coding.codebook import Codebook
    from pipeline.export.refiqda import BackMap

log = logging.getLogger("codeer")

#: Largest member of a ``.qdpx`` that is read (bytes, uncompressed), and the largest ratio of
#: uncompressed to compressed size accepted for a member over 10 MB (a zip bomb has thousands).
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200

POSITIVE = (Decision.ACCEPT.value, Decision.ADD.value)


# --------------------------------------------------------------------------- model


def _element(tag: str, name: object, line: object) -> str:
    """An element of the project as the messages name it: ``TextSource 'int01' (line 12)``."""
    return _("{element} '{name}' (line {line})").format(element=tag, name=name, line=line)


@dataclass
class ImportIssue:
    """Something in the project that was not imported, and why."""

    file: str
    element: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}: {self.element}: {self.why}"


@dataclass
class QCoding:
    """A ``Coding``: a code applied to a selection."""

    guid: str
    code: str
    user: str
    created: datetime | None
    notes: list[str]
    line: int


@dataclass
class QSelection:
    """A ``PlainTextSelection`` with its codings and notes."""

    guid: str
    start: int
    end: int
    name: str
    user: str
    created: datetime | None
    modified: datetime | None
    description: str
    codings: list[QCoding]
    notes: list[str]
    line: int


@dataclass
class QSource:
    """A ``TextSource``: its text as stored (BOM removed) and its selections."""

    guid: str
    name: str
    text: str | None
    selections: list[QSelection]
    notes: list[str]
    line: int
    problem: str = ""


@dataclass
class QCode:
    """A ``Code`` of the project's codebook."""

    guid: str
    name: str
    codable: bool
    color: str
    description: str
    parent: str | None
    notes: list[str]
    line: int


@dataclass
class QNote:
    """A ``Note``: its text, author, date, and the passages it carries itself (QualCoder)."""

    guid: str
    name: str
    text: str
    user: str
    created: datetime | None
    selections: list[tuple[int, int]]
    line: int


@dataclass
class Project:
    """What ``codeer import`` reads from a ``project.qde``."""

    file: str
    name: str = ""
    origin: str = ""
    users: dict[str, str] = field(default_factory=dict)
    codes: list[QCode] = field(default_factory=list)
    sources: list[QSource] = field(default_factory=list)
    notes: dict[str, QNote] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)
    project_notes: list[str] = field(default_factory=list)
    creating_user: str = ""
    modifying_user: str = ""
    created: datetime | None = None
    modified: datetime | None = None


# --------------------------------------------------------------------------- reading


def _g(value: object) -> str:
    """A GUID in one spelling: lowercase, without braces (ATLAS.ti writes both)."""
    return str(value or "").strip().strip("{}").lower()


def _date(value: object) -> datetime | None:
    if not value or not str(value).strip():
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _decode(data: bytes) -> str | None:
    """Text of a source file: UTF-8 (a BOM dropped), or UTF-16 with a BOM; None otherwise."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


class _Zip:
    """The members of a ``.qdpx``, found case-insensitively and read with size guards."""

    def __init__(self, data: bytes, file: str):
        self.file = file
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise CodeerError(_("{file} must be a REFI-QDA project (.qdpx, a zip file). Got a "
                                "file that is no zip instead ({error}). Export the project from "
                                "the CAQDAS as REFI-QDA project.").format(file=file, error=exc)
                              ) from None
        self.infos = {i.filename: i for i in self.zf.infolist() if not i.is_dir()}
        self.lower = {n.lower(): n for n in self.infos}
        self.base = {}
        for n in self.infos:
            self.base.setdefault(PurePosixPath(n).name.lower(), n)

    def qde(self) -> str:
        names = [n for n in self.infos if n.lower().endswith(".qde")]
        if not names:
            raise CodeerError(_("{file} must hold a project.qde. Got only {members} instead; "
                                "is it a codebook (.qdc)?").format(
                                    file=self.file, members=sorted(self.infos)[:5]))
        return min(names, key=lambda n: (PurePosixPath(n).name.lower() != "project.qde",
                                         n.count("/"), n))

    def find(self, path: str) -> str | None:
        """The member for an ``internal://`` file name, in ``sources/`` whatever its case."""
        name = path.removeprefix("internal://").lstrip("/")
        for candidate in (f"sources/{name}", name):
            if candidate.lower() in self.lower:
                return self.lower[candidate.lower()]
        return self.base.get(PurePosixPath(name).name.lower())

    def read(self, member: str) -> bytes:
        info = self.infos[member]
        big = info.file_size > 10 * 1024 * 1024
        if info.file_size > MAX_MEMBER_BYTES or (
                big and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
            raise CodeerError(_("{file}: {member} must be at most {limit:,} bytes and "
                                "compressed at most {ratio}:1. Got {size:,} bytes from "
                                "{compressed:,} instead; this is no project a CAQDAS writes.")
                              .format(file=self.file, member=member, limit=MAX_MEMBER_BYTES,
                                      ratio=MAX_RATIO, size=info.file_size,
                                      compressed=info.compress_size))
        with self.zf.open(info) as fh:
            data = fh.read(MAX_MEMBER_BYTES + 1)
        if len(data) > MAX_MEMBER_BYTES:
            raise CodeerError(_("{file}: {member} is larger than it says; not read.")
                              .format(file=self.file, member=member))
        return data


def _text_of(el, zf: _Zip) -> tuple[str | None, str]:
    """The plain text of a ``TextSource`` or ``Note`` element, or a problem."""
    content = el.find("PlainTextContent")
    if content is not None:
        return content.text or "", ""
    path = (el.get("plainTextPath") or "").strip()
    if not path:
        rich = el.get("richTextPath") or ""
        if rich:
            return None, _("has only a rich text file ({file}) and no plain text; export the "
                           "project with plain text sources").format(file=rich)
        return None, _("has no text (no PlainTextContent and no plainTextPath)")
    if not path.lower().startswith("internal://"):
        return None, _("points outside the project file ({path}); export the project with its "
                       "sources inside").format(path=path)
    member = zf.find(path)
    if member is None:
        return None, _("names {path}, which is not in the project file").format(path=path)
    text = _decode(zf.read(member))
    if text is None:
        return None, _("{member} must be UTF-8 text. Got bytes that are not instead").format(
            member=member)
    return text, ""


_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def refuse_dtd(xml: bytes, where: str) -> None:
    """Refuse XML with a document type or entity declarations: REFI-QDA files have none, and
    entities are how a small file expands into gigabytes ("billion laughs").

    Raises:
        CodeerError: The XML declares a DTD or an entity.
    """
    m = _DTD.search(xml)
    if m:
        line = xml.count(b"\n", 0, m.start()) + 1
        raise CodeerError(_("{where} line {line} must not declare a DTD or entities (REFI-QDA "
                            "files have none). Got a declaration instead; not read.")
                          .format(where=where, line=line))


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def read_qdpx(data: bytes, file: str = "project.qdpx") -> tuple[Project, list[ImportIssue]]:
    """Read a REFI-QDA project: users, codebook, text sources, selections, codings and notes.

    Namespaces are ignored (QualCoder reads projects with ``urn:QDA-XML:project:0.4`` too),
    GUIDs are compared lowercase without braces, the sources folder may be ``sources/`` or
    ``Sources/``, and text files may carry a BOM (QualCoder writes one).

    Args:
        data: The ``.qdpx`` bytes.
        file: Its name, for messages.

    Returns:
        The project and what could not be read (a missing source file, a selection without
        valid positions, a non-text source).

    Raises:
        CodeerError: Not a zip, no ``.qde``, XML that is not well-formed, or a member too large.
    """
    from lxml import etree

    zf = _Zip(data, file)
    qde = zf.qde()
    xml = zf.read(qde)
    refuse_dtd(xml, f"{file}: {qde}")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise CodeerError(_("{file}: {member} line {line} must be well-formed XML. Got "
                            "{error} instead.").format(file=file, member=qde, line=exc.lineno,
                                                       error=exc.msg)) from None
    for el in root.iter():
        if isinstance(el.tag, str):
            el.tag = etree.QName(el).localname
    if root.tag != "Project":
        raise CodeerError(_("{file}: {member} must have Project as its root element. Got "
                            "{root} instead.").format(file=file, member=qde, root=root.tag))
    issues: list[ImportIssue] = []
    project = Project(file=file, name=root.get("name") or "", origin=root.get("origin") or "",
                      creating_user=_g(root.get("creatingUserGUID")),
                      modifying_user=_g(root.get("modifyingUserGUID")),
                      created=_date(root.get("creationDateTime")),
                      modified=_date(root.get("modifiedDateTime")))
    users = root.find("Users")
    for u in (users if users is not None else []):
        if u.tag == "User":
            project.users[_g(u.get("guid"))] = (u.get("name") or "").strip()

    def codes(parent, parent_guid: str | None) -> None:
        for c in parent:
            if c.tag != "Code":
                continue
            desc = c.find("Description")
            code = QCode(guid=_g(c.get("guid")), name=(c.get("name") or "").strip(),
                         codable=(c.get("isCodable") or "true").strip().lower() != "false",
                         color=(c.get("color") or "").strip(),
                         description=(desc.text or "") if desc is not None else "",
                         parent=parent_guid,
                         notes=[_g(n.get("targetGUID")) for n in c if n.tag == "NoteRef"],
                         line=c.sourceline or 0)
            project.codes.append(code)
            codes(c, code.guid)

    book = root.find("CodeBook")
    if book is not None and book.find("Codes") is not None:
        codes(book.find("Codes"), None)

    sources = root.find("Sources")
    for src in (sources if sources is not None else []):
        if not isinstance(src.tag, str):
            continue
        name = src.get("name") or src.get("guid") or "?"
        where = _element(src.tag, name, src.sourceline)
        if src.tag != "TextSource":
            if src.find(".//Coding") is not None:
                issues.append(ImportIssue(file, where, _(
                    "is no text source; only text sources can hold codeer's interviews, so its "
                    "codings are not imported")))
            continue
        text, problem = _text_of(src, zf)
        source = QSource(guid=_g(src.get("guid")), name=name, text=text, selections=[],
                         notes=[_g(n.get("targetGUID")) for n in src if n.tag == "NoteRef"],
                         line=src.sourceline or 0, problem=problem)
        for child in src:
            if child.tag == "Coding":
                issues.append(ImportIssue(file, where, _(
                    "codes the whole source; codeer codes passages, so this coding is not "
                    "imported")))
            if child.tag != "PlainTextSelection":
                continue
            start, end = _int(child.get("startPosition")), _int(child.get("endPosition"))
            sel_where = _element("PlainTextSelection", child.get("guid"), child.sourceline)
            if start is None or end is None:
                issues.append(ImportIssue(file, sel_where, _(
                    "must have whole-number startPosition and endPosition; not imported")))
                continue
            desc = child.find("Description")
            codings = []
            for c in child:
                if c.tag != "Coding":
                    continue
                ref = c.find("CodeRef")
                codings.append(QCoding(
                    guid=_g(c.get("guid")), code=_g(ref.get("targetGUID") if ref is not None
                                                    else ""),
                    user=_g(c.get("creatingUser")), created=_date(c.get("creationDateTime")),
                    notes=[_g(n.get("targetGUID")) for n in c if n.tag == "NoteRef"],
                    line=c.sourceline or 0))
            source.selections.append(QSelection(
                guid=_g(child.get("guid")), start=start, end=end,
                name=child.get("name") or "", user=_g(child.get("creatingUser")),
                created=_date(child.get("creationDateTime")),
                modified=_date(child.get("modifiedDateTime")),
                description=((desc.text or "").strip() if desc is not None else ""),
                codings=codings,
                notes=[_g(n.get("targetGUID")) for n in child if n.tag == "NoteRef"],
                line=child.sourceline or 0))
        project.sources.append(source)

    notes = root.find("Notes")
    for n in (notes if notes is not None else []):
        if n.tag != "Note":
            continue
        text, problem = _text_of(n, zf)
        if text is None:
            issues.append(ImportIssue(file, _element("Note", n.get("name") or n.get("guid"),
                                                     n.sourceline),
                                      _("{problem}; not imported").format(problem=problem)))
            continue
        spans = []
        for s in n.iter("PlainTextSelection"):
            a, b = _int(s.get("startPosition")), _int(s.get("endPosition"))
            if a is not None and b is not None:
                spans.append((a, b))
        project.notes[_g(n.get("guid"))] = QNote(
            guid=_g(n.get("guid")), name=n.get("name") or "", text=text.strip(),
            user=_g(n.get("creatingUser")), created=_date(n.get("creationDateTime")),
            selections=spans, line=n.sourceline or 0)
    links = root.find("Links")
    for link in (links if links is not None else []):
        if link.tag == "Link":
            project.links.append((_g(link.get("originGUID")), _g(link.get("targetGUID"))))
    project.project_notes = [_g(n.get("targetGUID")) for n in root if n.tag == "NoteRef"]
    return project, issues


# --------------------------------------------------------------------------- matching


@dataclass
class _Doc:
    """One codeer document: its normalised text and the way back to the original offsets."""

    doc_id: str
    text: str
    to_original: Callable[[int], int]
    source_path: str


def _docs(documents: pd.DataFrame) -> dict[str, _Doc]:
    from pipeline.export.refiqda import normalise_text

    out = {}
    for doc_id, text, path in zip(documents["document_id"], documents["text"],
                                  documents["source_path"], strict=True):
        norm, renumber = normalise_text(str(text))
        if norm == text:
            back: Callable[[int], int] = lambda pos: pos  # noqa: E731
        else:  # inverse of renumber: the first original offset of each normalised one
            inverse = [0] * (len(norm) + 1)
            for old in range(len(text), -1, -1):
                inverse[renumber(old)] = old
            back = inverse.__getitem__
        out[str(doc_id)] = _Doc(str(doc_id), norm, back, str(path))
    return out


def _key_rows(out: Path) -> list[dict]:
    import csv

    path = Path(out) / config.PRIVATE_DIR / config.KEY_FILE
    try:
        return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def read_key_hints(out: Path) -> dict[str, list[str]]:
    """Placeholder -> originals from ``OUT/private/`` (longest first), or {} without a key."""
    hints: dict[str, list[str]] = {}
    for row in _key_rows(out):
        if row.get("placeholder") and row.get("original") and row.get("category") != "DOCUMENT":
            hints.setdefault(row["placeholder"], []).append(row["original"])
    return {k: sorted(set(v), key=len, reverse=True) for k, v in hints.items()}


def read_exported_ids(out: Path) -> dict[str, str]:
    """Document id -> the neutral id a pseudonymised export gave it (``interview-01``), from
    the key in ``OUT/private/``; {} without a key."""
    return {row["original"]: row["placeholder"] for row in _key_rows(out)
            if row.get("category") == "DOCUMENT" and row.get("original")
            and row.get("placeholder") and row.get("occurrences") != "0"}


def _first_difference(a: str, b: str) -> int:
    """Line (1-based) of ``a`` where it first differs from ``b``."""
    i = 0
    for i, (x, y) in enumerate(zip(a, b, strict=False)):  # noqa: B007
        if x != y:
            break
    else:
        i = min(len(a), len(b))
    return a.count("\n", 0, i) + 1


def match_source(text: str, name: str, docs: Mapping[str, _Doc],
                 hints: Mapping[str, Sequence[str]] | None = None
                 ) -> tuple[str | None, BackMap | None, str]:
    """The document a source's text is, with the map from its positions to the document's.

    Args:
        text: The source text, normalised (``\\n`` line ends, no BOM).
        name: The source's name (decides between documents with the same text).
        docs: codeer's documents (:func:`_docs`).
        hints: Placeholder -> originals, from the pseudonymisation key.

    Returns:
        ``(document_id, back_map, "")``, or ``(None, None, why)``.
    """
    from pipeline.export.refiqda import PLACEHOLDER, BackMap, align

    hits: list[tuple[str, BackMap]] = []
    for doc in docs.values():
        if doc.text == text or doc.text.rstrip() == text.rstrip():
            hits.append((doc.doc_id, BackMap()))
    if not hits and PLACEHOLDER.search(text):
        for doc in docs.values():
            spans = align(text, doc.text, hints)
            if spans is None and doc.text.rstrip() != doc.text:
                spans = align(text.rstrip(), doc.text.rstrip(), hints)
            if spans is not None:
                hits.append((doc.doc_id, BackMap(tuple(spans))))
    if len(hits) > 1:
        named = [h for h in hits if h[0] == name or Path(docs[h[0]].source_path).stem == name
                 or docs[h[0]].source_path == name]
        if len(named) == 1:
            hits = named
        else:
            return None, None, _("its text is the text of several interviews ({ids}); name "
                                 "the source after one of them").format(
                                     ids=sorted(h[0] for h in hits))
    if hits:
        return hits[0][0], hits[0][1], ""
    same = docs.get(name) or next((d for d in docs.values()
                                   if Path(d.source_path).stem == name or d.source_path == name),
                                  None)
    if same is not None:
        line = _first_difference(text, same.text)
        return None, None, _("its text differs from interview '{document}' from line {line} "
                             "on; import a project whose source texts were not edited").format(
                                 document=same.doc_id, line=line)
    return None, None, _("its text matches no interview in documents.parquet; was it added in "
                         "the CAQDAS, or ingested from another version?")


def match_codes(project: Project, book: Codebook) -> tuple[dict[str, str], list[ImportIssue]]:
    """codeer code id per project code GUID, and an issue per code that matches none.

    Matching: codeer's GUID, else the code id at the start of the name (after the last
    ``::``), else ``[id]`` at its end (codeer's name for codes sharing a name), else the
    exact name (case and spacing ignored) when one code has it.
    """
    from pipeline.export.refiqda import code_name, guid

    by_guid = {guid("code", c.id): c.id for c in book.codes}
    themes = {guid("theme", t.id) for t in book.themes}
    ids = {c.id for c in book.codes}
    folded = {c.id.casefold(): c.id for c in book.codes}
    names: dict[str, list[str]] = {}
    for c in book.codes:
        for n in {c.name, code_name(c)}:
            names.setdefault(" ".join(n.split()).casefold(), []).append(c.id)
    mapping: dict[str, str] = {}
    issues: list[ImportIssue] = []
    for code in project.codes:
        where = _element("Code", code.name, code.line)
        if code.guid in by_guid:
            mapping[code.guid] = by_guid[code.guid]
            continue
        if code.guid in themes:
            continue  # a theme: reported only when something is coded with it
        tail = code.name.rsplit("::", 1)[-1].strip()
        first = tail.split(maxsplit=1)[0] if tail else ""
        bracket = re.search(r"\[([^\[\]]+)\]\s*$", tail)
        hit = None
        if first in ids:
            hit = first
        elif first.casefold() in folded and len(tail.split()) > 1:
            hit = folded[first.casefold()]
        elif bracket and bracket.group(1) in ids:
            hit = bracket.group(1)
        else:
            same = sorted(set(names.get(" ".join(tail.split()).casefold(), [])))
            if len(same) == 1:
                hit = same[0]
            elif len(same) > 1:
                issues.append(ImportIssue(project.file, where, _(
                    "has the name of several codes ({codes}); put the code id in front of the "
                    "name").format(codes=same)))
                continue
        if hit is not None:
            mapping[code.guid] = hit
    return mapping, issues


# --------------------------------------------------------------------------- segments


class _Segments:
    """The segments of one document, for coverage queries."""

    def __init__(self, rows: list[tuple[int, int, str]]):
        self.rows = sorted(rows)
        self.starts = [r[0] for r in self.rows]

    def covered(self, start: int, end: int) -> list[str]:
        """Segments a selection covers: overlapping at least half of the segment, or holding
        the whole selection (the rule of :func:`pipeline.review.agreement.gold_labels`)."""
        out = []
        hi = bisect.bisect_left(self.starts, end)
        for s, e, seg_id in self.rows[:hi]:
            length = max(e - s, 1)
            overlap = min(e, end) - max(s, start)
            if overlap >= 0.5 * length or (start >= s and end <= e):
                out.append(seg_id)
        return out


def covered_segments(segments: pd.DataFrame, document_id: str, start: int, end: int
                     ) -> list[str]:
    """The segments of ``document_id`` that the passage ``start``-``end`` covers."""
    mine = segments[segments["document_id"] == document_id]
    return _Segments(list(zip(mine["start"].astype(int), mine["end"].astype(int),
                              mine["segment_id"], strict=True))).covered(start, end)


# --------------------------------------------------------------------------- planning


@dataclass
class ImportPlan:
    """What an import records, and what it left out.

    Attributes:
        decisions: Rows for the review log (``segment_id, code_id, decision, reviewer,
            timestamp, note``), timestamps as datetimes.
        memos: Rows for the memo log (:data:`pipeline.review.memos.COLUMNS`).
        skipped: Decisions left out because the reviewer's latest decision is the same.
        issues: What could not be matched.
        notes: What was deliberately not judged (a code or interview not in the project).
        sources: Source name -> matched document id.
    """

    decisions: list[dict] = field(default_factory=list)
    memos: list[dict] = field(default_factory=list)
    skipped: int = 0
    issues: list[ImportIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)


class _Reading:
    """How one source's positions are counted: code points of the text as stored (the
    standard), or of the text with one character per line end (what QualCoder writes next to
    a ``\r\n`` file, and what some tools count).

    Where a selection's name is the selected text, it says which reading is meant; the
    readings the names confirm decide for the selections and notes without a name.
    """

    def __init__(self, raw: str, norm: str, renumber: Callable[[int], int],
                 selections: Sequence[QSelection]):
        self.raw, self.norm, self.renumber = raw, norm, renumber
        votes = {True: 0, False: 0}
        for sel in selections:
            verdict = self._named(sel)
            if verdict is not None:
                votes[verdict] += 1
        self.stored = votes[True] >= votes[False]

    def _candidates(self, start: int, end: int) -> dict[bool, tuple[int, int]]:
        out = {}
        if 0 <= start <= end <= len(self.raw):
            out[True] = (self.renumber(start), self.renumber(end))
        if self.raw != self.norm and 0 <= start <= end <= len(self.norm):
            out[False] = (start, end)
        return out

    def _named(self, sel: QSelection) -> bool | None:
        """True/False when the name fits only the stored/normalised reading, else None."""
        if self.raw == self.norm:
            return None
        label = " ".join(sel.name.replace("…", " ").split())
        if not label:
            return None
        scores = {}
        for stored, (a, b) in self._candidates(sel.start, sel.end).items():
            got = " ".join(self.norm[a:b].split())
            scores[stored] = 2 if got == label else (
                1 if got.startswith(label) or (got and label.startswith(got)) else 0)
        if len(scores) == 2 and scores[True] != scores[False]:
            return scores[True] > scores[False]
        return None

    def positions(self, start: int, end: int, sel: QSelection | None = None
                  ) -> tuple[int, int] | None:
        """Positions in the normalised text, or None when outside the text."""
        candidates = self._candidates(start, end)
        verdict = self._named(sel) if sel is not None else None
        for stored in (verdict, self.stored, not self.stored):
            if stored in candidates:
                return candidates[stored]
        return None


def _from_codeer(project: Project) -> bool:
    """Whether the project is codeer's export (so a missing coding was removed)."""
    from pipeline.export.refiqda import AUTOMATIC_USER, CODEER_DESCRIPTION

    if project.origin.lower().startswith("codeer"):
        return True
    if AUTOMATIC_USER in project.users.values():
        return True
    return any(CODEER_DESCRIPTION.match(sel.description)
               for src in project.sources for sel in src.selections)


class _Who:
    """Names of users, and the project's user for what codeer made itself."""

    def __init__(self, project: Project, reviewer: str | None):
        from pipeline.export.refiqda import AUTOMATIC_USER

        self.project, self.auto = project, AUTOMATIC_USER
        self.reviewer = (reviewer or "").strip() or None
        self._user: str | None = None

    def name(self, user_guid: str) -> str | None:
        name = self.project.users.get(user_guid, "").strip()
        return name if name and name != self.auto else None

    def project_user(self) -> str:
        if self.reviewer:
            return self.reviewer
        if self._user:
            return self._user
        p = self.project
        humans = sorted({n for n in p.users.values() if n.strip() and n != self.auto})
        user = self.name(p.modifying_user) or (humans[0] if len(humans) == 1 else None) \
            or self.name(p.creating_user)
        if user is None:
            raise CodeerError(_("{file} must say who reviewed in the CAQDAS. Got the users "
                                "{users} instead, none of them the project's user; pass "
                                "--reviewer NAME.").format(
                                    file=p.file, users=humans or sorted(p.users.values())))
        self._user = user
        return user

    def of(self, *user_guids: str) -> str:
        for g in user_guids:
            name = self.name(g)
            if name:
                return name
        return self.project_user()


def plan_import(
    project: Project,
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    book: Codebook,
    reviews: pd.DataFrame,
    memos: pd.DataFrame,
    hints: Mapping[str, Sequence[str]] | None = None,
    reviewer: str | None = None,
    now: datetime | None = None,
    exported_ids: Mapping[str, str] | None = None,
) -> ImportPlan:
    """Turn a read project into review decisions and memos (pure).

    Args:
        project: The project (:func:`read_qdpx`).
        documents: ``documents.parquet``.
        segments: ``segments.parquet``.
        codings: ``codings.parquet`` (what codeer exported: every coding not rejected).
        book: The codebook.
        reviews: The review log as parsed (:func:`pipeline.review.decisions.parse_reviews`).
        memos: The memo log as parsed (:func:`pipeline.review.memos.parse_memos`).
        hints: Placeholder -> originals (:func:`read_key_hints`).
        reviewer: Who reviewed in the CAQDAS, when the project does not say.
        now: The time of the import (default: now), for decisions with no date of their own.
        exported_ids: Document id -> id in a pseudonymised export (:func:`read_exported_ids`),
            to recognise codeer's own selections there.

    Returns:
        The plan; nothing is written.

    Raises:
        CodeerError: A decision needs the project's user and the project does not name one.
    """
    from pipeline.export.refiqda import CODEER_DESCRIPTION, guid, normalise_text
    from pipeline.review.memos import same_memo

    now = now or datetime.now(UTC)
    plan = ImportPlan()
    who = _Who(project, reviewer)
    docs = _docs(documents)
    code_map, code_issues = match_codes(project, book)
    plan.issues += code_issues
    codes_by_guid = {c.guid: c for c in project.codes}
    seg_index: dict[str, _Segments] = {}
    for doc_id, group in segments.groupby("document_id", sort=False):
        seg_index[str(doc_id)] = _Segments(list(zip(group["start"].astype(int),
                                                    group["end"].astype(int),
                                                    group["segment_id"], strict=True)))
    # No date of the researcher's own: the project's last change, else its creation (a time
    # the work cannot precede, so a later decision in codeer stays the latest), else now.
    fallback_time = project.modified or project.created or now
    file = project.file
    seg_doc = dict(zip(segments["segment_id"], segments["document_id"], strict=True))
    renamed = exported_ids or {}
    own_guids = {guid("selection", d, s, c)
                 for s, c in zip(codings["segment_id"], codings["code_id"], strict=True)
                 for d in {seg_doc.get(s), renamed.get(seg_doc.get(s))} if d}

    present: dict[tuple[str, str], dict] = {}  # (segment, code) -> reviewer and time
    passage_memos: list[tuple[str, str, str, datetime, str]] = []  # seg, text, author, time
    selection_pairs: dict[str, list[tuple[str, str]]] = {}
    selection_segments: dict[str, list[str]] = {}
    source_maps: dict[str, tuple[BackMap, _Reading]] = {}
    matched_docs: set[str] = set()
    for src in project.sources:
        where = _element("TextSource", src.name, src.line)
        if src.text is None:
            plan.issues.append(ImportIssue(file, where, _("{problem}; not imported")
                                           .format(problem=src.problem)))
            continue
        norm, renumber = normalise_text(src.text)
        reading = _Reading(src.text, norm, renumber, src.selections)
        doc_id, back, why = match_source(norm, src.name, docs, hints)
        if doc_id is None:
            if src.selections or src.notes:
                plan.issues.append(ImportIssue(file, where, _(
                    "{why}; its codings and notes are not imported").format(why=why)))
            continue
        plan.sources[src.name] = doc_id
        source_maps[src.guid] = (back, reading)
        matched_docs.add(doc_id)
        doc = docs[doc_id]
        for sel in src.selections:
            sel_where = _element("PlainTextSelection", sel.name[:40] or sel.guid, sel.line)
            pos = reading.positions(sel.start, sel.end, sel)
            if pos is None or pos[0] >= pos[1]:
                plan.issues.append(ImportIssue(file, sel_where, _(
                    "positions {start}-{end} lie outside the text of '{source}' ({length} "
                    "characters) or select nothing; not imported").format(
                        start=sel.start, end=sel.end, source=src.name, length=len(src.text))))
                continue
            start = doc.to_original(back.start(pos[0]))
            end = doc.to_original(back.end(pos[1]))
            segs = seg_index.get(doc_id, _Segments([])).covered(start, end)
            if not segs:
                plan.issues.append(ImportIssue(file, sel_where, _(
                    "covers no segment of '{document}' (a segment counts when at least half of "
                    "it is selected); not imported").format(document=doc_id)))
                continue
            selection_segments[sel.guid] = segs
            when = max(d for d in (sel.created, sel.modified) if d) \
                if (sel.created or sel.modified) else None
            for coding in sel.codings:
                code_id = code_map.get(coding.code)
                if code_id is None:
                    qcode = codes_by_guid.get(coding.code)
                    why = (_("code '{code}' is a theme (a group of codes) in codeer, not a code; "
                             "not imported") if qcode is not None and not qcode.codable else
                           _("code '{code}' matches no code of the codebook by GUID, id or name; "
                             "not imported"))
                    plan.issues.append(ImportIssue(
                        file, _("{selection} Coding (line {line})").format(selection=sel_where,
                                                                           line=coding.line),
                        why.format(code=qcode.name if qcode else coding.code)))
                    continue
                # codeer's own selection, or one no person made: the project's user kept it
                own = sel.guid in own_guids
                machine = own or (who.name(sel.user) is None and who.name(coding.user) is None)
                reviewer_name = who.project_user() if own else who.of(sel.user, coding.user)
                time = fallback_time if machine else (when or coding.created or fallback_time)
                for seg in segs:
                    selection_pairs.setdefault(sel.guid, []).append((seg, code_id))
                    entry = present.get((seg, code_id))
                    if entry is None or (entry["machine"] and not machine):
                        present[(seg, code_id)] = {"reviewer": reviewer_name, "time": time,
                                                   "machine": machine}
            if sel.description and not CODEER_DESCRIPTION.match(sel.description):
                author = who.of(sel.user)
                passage_memos.append((segs[0], sel.description, author, when or fallback_time,
                                      sel.guid))

    # What codeer exported, for the documents and codes the project holds.
    in_project = set(code_map.values())
    exported = codings[codings["status"] != "rejected"]
    exported_pairs = {(s, c) for s, c in zip(exported["segment_id"], exported["code_id"],
                                             strict=True) if seg_doc.get(s) in matched_docs}
    from_codeer = _from_codeer(project)
    left_codes = sorted({c for _s, c in exported_pairs} - in_project)
    for c in left_codes:
        n = sum(1 for _s, k in exported_pairs if k == c)
        plan.notes.append(_("code {code} is not in the project's codebook; its {n} coding(s) "
                            "were left as they are").format(code=c, n=n))
    left_docs = sorted(set(docs) - matched_docs)
    if left_docs and project.sources:
        plan.notes.append(_("{n} interview(s) are not in the project ({ids}); their codings "
                            "were left as they are").format(n=len(left_docs), ids=left_docs[:5]))

    latest = _latest(reviews)
    held = {(s, c, r, d, t.astimezone(UTC).isoformat(timespec="seconds"))
            for s, c, r, d, t in zip(reviews["segment_id"], reviews["code_id"],
                                     reviews["reviewer"], reviews["decision"], reviews["time"],
                                     strict=True)}
    rows: list[dict] = []
    for pair, entry in sorted(present.items()):
        decision = Decision.ACCEPT.value if pair in exported_pairs else Decision.ADD.value
        rows.append(_decision(pair, decision, entry["reviewer"], entry["time"]))
    if from_codeer:
        for pair in sorted(exported_pairs - set(present)):
            if pair[1] in in_project:
                rows.append(_decision(pair, Decision.REJECT.value, who.project_user(),
                                      fallback_time))
    for row in rows:
        previous = latest.get((row["segment_id"], row["code_id"], row["reviewer"]))
        stamp = row["timestamp"].astimezone(UTC).isoformat(timespec="seconds")
        if (previous is not None and (previous in POSITIVE) == (row["decision"] in POSITIVE)) \
                or (row["segment_id"], row["code_id"], row["reviewer"], row["decision"],
                    stamp) in held:
            plan.skipped += 1
            continue
        plan.decisions.append(row)

    plan.memos = _memos(project, plan, who, code_map, selection_pairs, selection_segments,
                        passage_memos, seg_index, docs, source_maps, reviews, fallback_time,
                        same_memo)
    return plan


def _decision(pair: tuple[str, str], decision: str, reviewer: str, time: datetime) -> dict:
    return {"segment_id": pair[0], "code_id": pair[1], "decision": decision,
            "reviewer": reviewer, "timestamp": time, "note": ""}


def _latest(reviews: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    """The latest decision per (segment, code, reviewer)."""
    if reviews.empty:
        return {}
    ordered = reviews.sort_values(["time", "line"], kind="stable")
    return {(s, c, r): d for s, c, r, d in zip(ordered["segment_id"], ordered["code_id"],
                                                ordered["reviewer"], ordered["decision"],
                                                strict=True)}


def _memos(project: Project, plan: ImportPlan, who: _Who, code_map: dict[str, str],
           selection_pairs: dict[str, list[tuple[str, str]]],
           selection_segments: dict[str, list[str]],
           passage_memos: list[tuple[str, str, str, datetime, str]],
           seg_index: dict[str, _Segments], docs: dict[str, _Doc],
           source_maps: dict[str, tuple[BackMap, _Reading]], reviews: pd.DataFrame,
           fallback_time: datetime,
           same_memo: Callable[[str, str], bool]) -> list[dict]:
    """Memo rows from the project's notes and selection comments (not yet deduplicated
    against the memo log; :func:`pipeline.review.memos.add_many` does that)."""

    review_notes: dict[tuple[str, str], list[str]] = {}
    for s, c, note in zip(reviews["segment_id"], reviews["code_id"], reviews["note"],
                          strict=True):
        if str(note).strip():
            review_notes.setdefault((s, c), []).append(str(note))
    file = project.file
    used: set[str] = set()
    out: list[dict] = []

    def add(about: str, target: str, text: str, author: str, time: datetime) -> None:
        if text.strip():
            out.append({"timestamp": time.isoformat(timespec="seconds"), "author": author,
                        "about": str(about), "target": target, "text": text.strip()})

    def note_row(guid: str, about: str, target: str, pairs: Sequence[tuple[str, str]] = ()
                 ) -> None:
        note = project.notes.get(guid)
        if note is None:
            return
        used.add(guid)
        if any(same_memo(note.text, t) for p in pairs for t in review_notes.get(p, [])):
            return  # a review note codeer exported: it is in the review log already
        add(about, target, note.text, who.of(note.user), note.created or fallback_time)

    for seg, text, author, time, sel_guid in passage_memos:
        pairs = selection_pairs.get(sel_guid, [])
        if not any(same_memo(text, t) for p in pairs for t in review_notes.get(p, [])):
            add(MemoTarget.PASSAGE, seg, text, author, time)
    for src in project.sources:
        doc_id = plan.sources.get(src.name)
        for sel in src.selections:
            segs = selection_segments.get(sel.guid)
            refs = sel.notes + [n for c in sel.codings for n in c.notes]
            refs += [o for o, t in project.links if t == sel.guid]
            refs += [t for o, t in project.links if o == sel.guid and t in project.notes]
            for guid in dict.fromkeys(refs):
                if segs:
                    note_row(guid, MemoTarget.PASSAGE, segs[0], selection_pairs.get(sel.guid,
                                                                                   []))
                elif guid in project.notes:
                    used.add(guid)
                    plan.issues.append(ImportIssue(
                        file, _element("Note", project.notes[guid].name,
                                       project.notes[guid].line),
                        _("is about a selection that was not imported; not imported")))
        for guid in src.notes:
            note = project.notes.get(guid)
            if note is None:
                continue
            if doc_id is None:
                used.add(guid)
                plan.issues.append(ImportIssue(
                    file, _element("Note", note.name, note.line),
                    _("is about source '{source}', which is no interview; not imported")
                    .format(source=src.name)))
                continue
            if note.selections and src.text is not None:  # QualCoder: a note on a passage
                used.add(guid)
                back, reading = source_maps[src.guid]
                for a, b in note.selections:
                    pos = reading.positions(a, b)
                    if pos is None or pos[0] >= pos[1]:
                        continue
                    doc = docs[doc_id]
                    segs = seg_index.get(doc_id, _Segments([])).covered(
                        doc.to_original(back.start(pos[0])), doc.to_original(back.end(pos[1])))
                    if segs:
                        add(MemoTarget.PASSAGE, segs[0], note.text, who.of(note.user),
                            note.created or fallback_time)
                continue
            note_row(guid, MemoTarget.DOCUMENT, doc_id)
    for code in project.codes:
        for guid in code.notes:
            note = project.notes.get(guid)
            if note is None:
                continue
            if code.guid in code_map:
                note_row(guid, MemoTarget.CODE, code_map[code.guid])
            else:
                used.add(guid)
                plan.issues.append(ImportIssue(
                    file, _element("Note", note.name, note.line),
                    _("is about code '{code}', which matches no code of the codebook; not "
                      "imported").format(code=code.name)))
    for guid in project.project_notes:
        note_row(guid, MemoTarget.PROJECT, "")
    for guid in project.notes:  # journals and other notes nothing refers to
        if guid not in used:
            note_row(guid, MemoTarget.PROJECT, "")
    return out


# --------------------------------------------------------------------------- command


@dataclass
class ImportResult:
    """What ``codeer import`` did."""

    plan: ImportPlan
    recorded: list[dict]
    memos_added: list[dict]
    memos_skipped: int


def run(path: Path, out: Path = config.OUT_DIR, codebook: Path = config.CODEBOOK_FILE,
        reviewer: str | None = None, dry_run: bool = False, now: datetime | None = None
        ) -> ImportResult:
    """Import a REFI-QDA project into ``OUT/reviews.csv`` and ``OUT/memos.csv``.

    Args:
        path: The ``.qdpx`` file.
        out: The output folder the project was exported from.
        codebook: The codebook.
        reviewer: Who reviewed in the CAQDAS, when the project does not say (or to override
            the project's user for the codings codeer made itself).
        dry_run: Only plan and report; write nothing.
        now: The time of the import (tests).

    Returns:
        The plan and what was written.

    Raises:
        CodeerError: An unreadable project, missing stage outputs, or no reviewer name.
    """
    from pipeline import schema, storage
    from pipeline.coding.codebook import load_codebook
    from pipeline.review import decisions, memos

    path, out = Path(path), Path(out)
    if not path.is_file():
        raise CodeerError(_("{path} does not exist. Export the project from the CAQDAS as a "
                            "REFI-QDA project (.qdpx) and pass its path.").format(path=path))
    book, _sha = load_codebook(codebook)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    reviews = decisions.read_reviews(out, {c.id for c in book.codes})
    memo_log = memos.read_memos(out)
    project, issues = read_qdpx(path.read_bytes(), path.name)
    plan = plan_import(project, documents, segments, codings, book, reviews, memo_log,
                       read_key_hints(out), reviewer, now, read_exported_ids(out))
    plan.issues[:0] = issues
    if dry_run:
        return ImportResult(plan, [], [], 0)
    recorded = decisions.record_many(out, plan.decisions)
    added, skipped = memos.add_many(out, plan.memos, memo_log)
    return ImportResult(plan, recorded, added, skipped)


__all__ = ["ImportIssue", "ImportPlan", "Project", "covered_segments", "match_codes",
           "match_source", "plan_import", "read_exported_ids", "read_key_hints", "read_qdpx",
           "refuse_dtd", "run"]
