"""REFI-QDA export: the coded project as ``.qdpx`` and the codebook as ``.qdc``.

The two files open in QualCoder, ATLAS.ti, MAXQDA, NVivo and other CAQDAS tools that implement
the REFI-QDA standard 1.5 (``Project.xsd`` and ``Codebook.xsd``, version 1.0).

``project.qdpx`` is a zip holding ``project.qde`` (the XML) and ``sources/<guid>.txt``, one
UTF-8 text (no BOM, ``\\n`` line endings) per document: the pseudonymised text when one is given,
else the ingested text. Inside ``project.qde``:

* ``Users``: ``codeer (automatisch)`` (creator of the project and of every automatic coding) and
  one user per reviewer. The user with the most codings comes first, because QualCoder takes the
  first user as its coder name and hides other coders' codings by default.
* ``CodeBook``: one non-codable parent code per theme (``isCodable="false"``), its codes as
  codable children, with colours and the definition as ``Description``.
* ``Variables`` and ``Cases``: one case per document with a ``SourceRef`` and the chosen
  metadata columns as text variables.
* ``Sources``: one ``TextSource`` per document with one ``PlainTextSelection`` per exported
  coding (0-based code-point ``startPosition``, exclusive ``endPosition``), each holding one
  ``Coding``. Rejected codings are left out. The selection's ``Description`` records how an
  automatic coding was made: ``method=embedding score=0.412 status=auto evidence=...``.

The output is deterministic: every GUID is a UUID-5 of a fixed namespace and the object's ids,
elements come in a fixed order and the zip entries carry a fixed timestamp, so the same input
gives byte-identical files. The only date in the XML is the creation date: ``created`` when given,
else the latest date in a coding date column (:data:`CODING_DATE_COLUMNS`) when the codings carry
one, else :data:`DEFAULT_CREATED`.

Everything here is pure (frames in, bytes out) except :func:`write_exports`.
"""

from __future__ import annotations

import functools
import io
import os
import re
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pandas as pd
from lxml import etree

from pipeline import __version__, storage
from pipeline.coding.codebook import Code, Codebook
from pipeline.errors import CodeerError

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

#: Creation date when neither ``created`` nor a coding date is available.
DEFAULT_CREATED = datetime(2000, 1, 1, tzinfo=UTC)
#: Optional columns of the codings frame that hold when a coding was made or reviewed.
CODING_DATE_COLUMNS = ("reviewed_at", "coded_at", "date")
#: Optional column of the codings frame naming the reviewer of a coding.
REVIEWER_COLUMN = "reviewer"
#: Fixed timestamp of every zip entry.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

AUTOMATIC_METHODS = ("rule", "embedding", "both")
EXPORTED_STATUSES = ("auto", "accepted", "human")

_SELECTION_NAME_CHARS = 60
# Characters XML 1.0 cannot carry (C0 controls other than tab, LF, CR; surrogates; U+FFFE/F).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

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
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(stamp):
        return None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    return stamp.to_pydatetime()


def _serialise(root: etree._Element) -> bytes:
    """UTF-8 bytes with a double-quoted XML declaration and no BOM."""
    body = etree.tostring(root, encoding="utf-8", xml_declaration=False, pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _normalise_text(text: str) -> tuple[str, Callable[[int], int]]:
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


def _unique_names(names: list[str], ids: list[str]) -> list[str]:
    """Names made unique by appending ``[id]`` to those that are used more than once.

    QualCoder keeps one code per name, so codes sharing a name would be merged on import.
    """
    counts = Counter(names)
    return [f"{n} [{i}]" if counts[n] > 1 else n for n, i in zip(names, ids, strict=True)]


def _code_description(code: Code) -> str:
    parts = [code.definition.strip()] if code.definition.strip() else []
    if code.include:
        parts.append("Include: " + "; ".join(code.include))
    if code.exclude:
        parts.append("Exclude: " + "; ".join(code.exclude))
    return "\n\n".join(parts)


def _codes_element(ns: str, book: Codebook) -> etree._Element:
    """The ``Codes`` element: one non-codable code per theme with its codes as children."""
    codes_el = etree.Element(f"{{{ns}}}Codes")
    theme_names = _unique_names([t.name for t in book.themes], [t.id for t in book.themes])
    code_names = dict(
        zip(
            [c.id for c in book.codes],
            _unique_names([c.name for c in book.codes], [c.id for c in book.codes]),
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
    return codes_el


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


# --------------------------------------------------------------------------- project


def _selections(
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    book: Codebook,
    reviewers: Sequence[str],
) -> list[dict]:
    """The exported codings joined to their segments, in output order, with their user."""
    missing = [c for c in ("segment_id", "code_id", "method", "status") if c not in codings]
    if missing:
        raise CodeerError(f"codings lacks the columns {missing}. Run `codeer code` again.")
    seg_cols = ["document_id", "segment_id", "start", "end", "text"]
    if missing := [c for c in seg_cols if c not in segments]:
        raise CodeerError(f"segments lacks the columns {missing}. Run `codeer ingest` again.")
    code_order = {c.id: i for i, c in enumerate(book.codes)}
    doc_order = {d: i for i, d in enumerate(documents["document_id"])}
    segs = {row["segment_id"]: row for row in segments[seg_cols].to_dict("records")}
    default_reviewer = reviewers[0] if reviewers else DEFAULT_REVIEWER
    has_reviewer = REVIEWER_COLUMN in codings.columns
    date_cols = [c for c in CODING_DATE_COLUMNS if c in codings.columns]

    rows, unknown_codes, unknown_segments, bad_status = [], set(), set(), set()
    for i, row in enumerate(codings.to_dict("records")):
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
        if status == "auto" and method in AUTOMATIC_METHODS:
            user = AUTOMATIC_USER
        else:
            named = row.get(REVIEWER_COLUMN) if has_reviewer else None
            user = str(named).strip() if not _missing(named) and str(named).strip() else None
            user = user or default_reviewer
        dates = [d for d in (_parse_date(row.get(c)) for c in date_cols) if d is not None]
        rows.append(
            {
                **row,
                "_row": i,
                "document_id": seg["document_id"],
                "start": int(seg["start"]),
                "end": int(seg["end"]),
                "segment_text": seg["text"],
                "user": user,
                "date": max(dates) if dates else None,
            }
        )
    if unknown_codes:
        raise CodeerError(
            f"codings use codes that are not in the codebook: {sorted(unknown_codes)}. Run "
            "`codeer code` again with this codebook, or export with the codebook they were "
            "made with."
        )
    if unknown_segments:
        shown = sorted(unknown_segments)[:5]
        raise CodeerError(
            f"{len(unknown_segments)} coding(s) refer to segments that are not in segments "
            f"(e.g. {shown}). Run `codeer code` again after `codeer ingest`."
        )
    if bad_status:
        raise CodeerError(
            f"codings hold unknown method/status pairs {sorted(bad_status)}. Methods are "
            f"{[*AUTOMATIC_METHODS, 'human']}, statuses {['rejected', *EXPORTED_STATUSES]}."
        )
    rows.sort(
        key=lambda r: (
            doc_order[r["document_id"]],
            r["start"],
            r["end"],
            code_order[r["code_id"]],
            r["_row"],
        )
    )
    seen: Counter = Counter()
    for r in rows:
        key = (r["segment_id"], r["code_id"])
        r["key"] = (*key, seen[key]) if seen[key] else key
        seen[key] += 1
    return rows


def _users(selections: list[dict], reviewers: Sequence[str]) -> list[str]:
    """User names: every reviewer, anyone else with codings, and the automatic user.

    The user with the most codings comes first (ties keep that order), because QualCoder
    takes the first user as its coder name.
    """
    counts = Counter(s["user"] for s in selections)
    names = list(dict.fromkeys(str(r) for r in reviewers))
    names += sorted(set(counts) - set(names) - {AUTOMATIC_USER})
    names.append(AUTOMATIC_USER)
    return sorted(names, key=lambda n: -counts[n])


def _description(sel: dict) -> str | None:
    if sel["method"] == "human":
        return None
    parts = [f"method={sel['method']}"]
    score = sel.get("score")
    if not _missing(score):
        parts.append(f"score={float(score):.3f}")
    parts.append(f"status={sel['status']}")
    evidence = sel.get("evidence")
    if not _missing(evidence) and str(evidence).strip():
        parts.append(f"evidence={str(evidence).strip()}")
    return " ".join(parts)


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
        raise CodeerError(
            f"No pseudonymised text for {missing[:5]}; the export would otherwise hold their "
            "original text. Pseudonymise every document, or export without texts."
        )
    return {d: texts[d] for d in documents["document_id"]}


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
) -> bytes:
    """The coded project as a REFI-QDA ``.qdpx`` file (a zip with ``project.qde``).

    Args:
        documents: The documents table (:data:`pipeline.schema.DOCUMENTS`).
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
        created: The creation date in the XML; default: the latest coding date, else
            :data:`DEFAULT_CREATED`.

    Returns:
        The ``.qdpx`` zip bytes; byte-identical for identical input.

    Raises:
        CodeerError: A coding refers to an unknown code or segment, a segment's offsets do not
            match its document, a metadata column is missing, ``texts`` lacks a document, or
            ``texts`` differs from the original text where ``offsets`` are not given.
    """
    if missing := [c for c in metadata_columns if c not in documents.columns]:
        raise CodeerError(
            f"documents has no metadata columns {missing}. Available: {list(documents.columns)}."
        )
    originals = dict(zip(documents["document_id"], documents["text"], strict=True))
    source_texts = _source_texts(documents, texts)
    selections = _selections(documents, segments, codings, book, reviewers)
    dates = [s["date"] for s in selections if s["date"] is not None]
    created = created or (max(dates) if dates else DEFAULT_CREATED)
    stamp = _timestamp(created)

    users = _users(selections, reviewers)
    user_guid = {u: guid("user", u) for u in users}
    auto_guid = user_guid[AUTOMATIC_USER]
    ns = PROJECT_NS
    root = etree.Element(
        f"{{{ns}}}Project",
        nsmap={None: ns},
        name=_clean(project_name),
        origin=f"codeer {__version__}",
        creatingUserGUID=auto_guid,
        creationDateTime=stamp,
    )
    users_el = etree.SubElement(root, f"{{{ns}}}Users")
    for u in users:
        etree.SubElement(users_el, f"{{{ns}}}User", guid=user_guid[u], name=_clean(u))
    book_el = etree.SubElement(root, f"{{{ns}}}CodeBook")
    book_el.append(_codes_element(ns, book))

    doc_ids = list(documents["document_id"])
    if metadata_columns:
        vars_el = etree.SubElement(root, f"{{{ns}}}Variables")
        for col in metadata_columns:
            etree.SubElement(
                vars_el,
                f"{{{ns}}}Variable",
                guid=guid("variable", col),
                name=_clean(col),
                typeOfVariable="Text",
            )
    if doc_ids:
        cases_el = etree.SubElement(root, f"{{{ns}}}Cases")
        records = documents.to_dict("records")
        for doc_id, record in zip(doc_ids, records, strict=True):
            case_el = etree.SubElement(
                cases_el, f"{{{ns}}}Case", guid=guid("case", doc_id), name=_clean(doc_id)
            )
            for col in metadata_columns:
                value = record[col]
                if _missing(value):
                    continue
                vv = etree.SubElement(case_el, f"{{{ns}}}VariableValue")
                etree.SubElement(vv, f"{{{ns}}}VariableRef", targetGUID=guid("variable", col))
                etree.SubElement(vv, f"{{{ns}}}TextValue").text = _clean(value)
            etree.SubElement(case_el, f"{{{ns}}}SourceRef", targetGUID=guid("source", doc_id))

    by_doc: dict[str, list[dict]] = {d: [] for d in doc_ids}
    for sel in selections:
        by_doc[sel["document_id"]].append(sel)

    files: list[tuple[str, bytes]] = []
    if doc_ids:
        sources_el = etree.SubElement(root, f"{{{ns}}}Sources")
    for doc_id in doc_ids:
        source_guid = guid("source", doc_id)
        original = originals[doc_id]
        exported, renumber = _normalise_text(source_texts[doc_id])
        file_name = f"{source_guid}.txt"
        files.append((f"sources/{file_name}", exported.encode("utf-8")))
        src_el = etree.SubElement(
            sources_el,
            f"{{{ns}}}TextSource",
            guid=source_guid,
            name=_clean(doc_id),
            plainTextPath=f"internal://{file_name}",
            creatingUser=auto_guid,
            creationDateTime=stamp,
        )
        differs = source_texts[doc_id] != original
        for sel in by_doc[doc_id]:
            start, end = sel["start"], sel["end"]
            if original[start:end] != sel["segment_text"]:
                raise CodeerError(
                    f"Segment {sel['segment_id']} ({start}-{end}) does not match the text of "
                    f"{doc_id}. Run `codeer ingest` and `codeer code` again."
                )
            if offsets is not None:
                start, end = offsets(doc_id, start, end)
            elif differs:
                raise CodeerError(
                    f"The exported text of {doc_id} differs from the original but no offsets "
                    "map was given; the codings would point at the wrong text."
                )
            start, end = int(start), int(end)
            if not 0 <= start <= end <= len(source_texts[doc_id]):
                raise CodeerError(
                    f"Coding of segment {sel['segment_id']} maps to {start}-{end}, outside the "
                    f"exported text of {doc_id} ({len(source_texts[doc_id])} characters)."
                )
            start, end = renumber(start), renumber(end)
            sel_stamp = _timestamp(sel["date"]) if sel["date"] is not None else stamp
            creator = user_guid[sel["user"]]
            sel_el = etree.SubElement(
                src_el,
                f"{{{ns}}}PlainTextSelection",
                guid=guid("selection", doc_id, *sel["key"]),
                name=_clean(_selection_name(exported[start:end])),
                startPosition=str(start),
                endPosition=str(end),
                creatingUser=creator,
                creationDateTime=sel_stamp,
            )
            description = _description(sel)
            if description:
                etree.SubElement(sel_el, f"{{{ns}}}Description").text = _clean(description)
            coding_el = etree.SubElement(
                sel_el,
                f"{{{ns}}}Coding",
                guid=guid("coding", doc_id, *sel["key"]),
                creatingUser=creator,
                creationDateTime=sel_stamp,
            )
            etree.SubElement(coding_el, f"{{{ns}}}CodeRef", targetGUID=guid("code", sel["code_id"]))
    etree.SubElement(root, f"{{{ns}}}Description").text = _clean(
        f"Exported by codeer {__version__} with codebook '{book.name}'."
    )
    return _zip([("project.qde", _serialise(root)), *files])


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
        raise CodeerError(f"Not a .qdpx file: {exc}.") from None
    with zf:
        names = {n.lower(): n for n in zf.namelist()}
        qde = next((n for n in zf.namelist() if n.lower().endswith(".qde")), None)
        if qde is None:
            raise CodeerError("The .qdpx file holds no project.qde.")
        try:
            root = etree.fromstring(zf.read(qde))
        except etree.XMLSyntaxError as exc:
            raise CodeerError(f"project.qde is not well-formed XML: {exc}.") from None
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
                    raise CodeerError(f"Source file {path} is missing from the .qdpx file.")
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
        raise CodeerError(f"schema must be one of {list(_XSD_FILES)}. Got '{schema}' instead.")
    path = xsd_dir() / _XSD_FILES[schema]
    if not path.is_file():
        raise CodeerError(
            f"REFI-QDA schema {path} not found. Set {XSD_ENV} to the folder with "
            f"{_XSD_FILES[schema]}."
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
    "build_codebook",
    "build_project",
    "guid",
    "read_project",
    "validate",
    "write_exports",
    "xsd_dir",
]
