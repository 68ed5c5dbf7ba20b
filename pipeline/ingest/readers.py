"""Readers for transcript files: bytes on disk to one normalised text.

Every reader returns a :class:`ReadResult`: the document text (NFC, ``\\n`` line endings) in the
``Speaker: text`` layout the turn parser understands, the speaker names that the format itself
marks (bold runs in Word, ``<v Name>`` voice tags in WebVTT), and, for subtitle formats, the
time span of every cue as character ranges, so that timestamps stay out of the text. A table
of ``Key | value`` rows at the top of a Word or OpenDocument file is laid out as a header block
of ``Key: value`` lines (:mod:`pipeline.ingest.header`), its keys no speakers.

Nothing is dropped without a word: Word's tracked insertions, content controls and hyperlinks
are read, so are OpenDocument sections and tables; a damaged file, a file that unpacks to far
more than a transcript holds (a "zip bomb"), or characters that XML cannot carry are reported
with the file's name.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import hooks
from pipeline.errors import CodeerError
from pipeline.i18n import _, thousands
from pipeline.ingest.header import header_table
from pipeline.ingest.turns import parse_seconds

# Limits that no real transcript comes near: a day-long interview is some 60,000 words
# (400,000 characters). Past them a file is refused before it can exhaust memory or time.
MAX_CHARS = 4_000_000  # characters of text per file (about 600,000 words)
MAX_TEXT_BYTES = 4 * MAX_CHARS  # size on disk of a plain-text or subtitle file
MAX_PART_BYTES = 32 * 2**20  # unpacked size of one part of a .docx/.odt (document.xml ...)
MAX_PACKAGE_BYTES = 256 * 2**20  # unpacked size of all parts together (images included)
MAX_RATIO = 100  # unpacked/packed size of a part of at least RATIO_FROM bytes
RATIO_FROM = 2**20


class ReadError(CodeerError):
    """A single file cannot be read; the batch goes on with the other files."""


@dataclass
class ReadResult:
    """What a reader got out of one file.

    Attributes:
        text: The normalised document text.
        encoding: The encoding the bytes were decoded with (or the container format).
        speakers: Speaker names marked by the format itself (always accepted as labels).
        times: ``(start_char, end_char, time_start_s, time_end_s)`` per subtitle cue.
        warnings: Problems worth telling the user that did not stop the read.
    """

    text: str
    encoding: str
    speakers: set[str] = field(default_factory=set)
    times: list[tuple[int, int, float, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# C0 controls and DEL (tab and newline excepted), lone surrogates and Unicode noncharacters:
# XML cannot hold them (the workbook, the REFI-QDA project and the report would fail on them)
# and no transcript means them.
_BAD_CHARS = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0, 0x110000, 0x10000))
    + "]"
)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (escape sequences, bidi
    overrides) written as ``\\x1b``-style escapes."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def clean_characters(text: str, where: str) -> tuple[str, list[str]]:
    """Replace characters that XML cannot hold, keeping every offset.

    A vertical tab or form feed (page breaks in text exported from PDFs) becomes a newline
    silently; any other control character becomes a space and a noncharacter such as U+FFFE
    becomes U+FFFD, with a warning naming the lines.

    Args:
        text: Decoded text.
        where: The file name for the warning (``"interviews.csv"``, ``"a.txt"``).

    Returns:
        The text, of the same length, and at most one warning.
    """
    text = text.replace("\x0b", "\n").replace("\x0c", "\n")
    found = list(_BAD_CHARS.finditer(text))
    if not found:
        return text, []
    lines = sorted({text.count("\n", 0, m.start()) + 1 for m in found})
    kinds = sorted({f"U+{ord(m.group()):04X}" for m in found})
    text = _BAD_CHARS.sub(lambda m: " " if m.group() < "\x80" else "\ufffd", text)
    at = ", ".join(map(str, lines[:5])) + (" ..." if len(lines) > 5 else "")
    return text, [
        _("{where} line {lines}: {n} character(s) that text cannot hold ({kinds}) replaced by a "
          "space or U+FFFD. Check the source of the file.")
        .format(where=where, lines=at, n=len(found), kinds=", ".join(kinds[:5]))
    ]


def normalise(text: str) -> str:
    """NFC-normalise, strip a BOM, and turn every line ending into ``\\n``."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u00a0", " ")
    return unicodedata.normalize("NFC", text)


def decode(data: bytes, path: Path) -> tuple[str, str, list[str]]:
    """Decode bytes as UTF-16 (with BOM) or UTF-8 (with or without BOM), line by line.

    A line that is not UTF-8 is read as Windows-1252 (cp1252) with a warning naming it, so one
    stray byte does not turn every accent of the file into "Ã¶".

    Raises:
        ReadError: The bytes are binary or a line fits neither encoding.
    """
    name = shown(path.name)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError as exc:
            raise ReadError(
                _("{name}: starts as UTF-16 text (Word's 'Unicode text') but byte {byte} "
                  "cannot be decoded. Re-save the file as UTF-8 text.")
                .format(name=name, byte=exc.start)
            ) from None
    if b"\x00" in data[:4096]:
        raise ReadError(
            _("{name}: looks like a binary file, not text (NUL bytes). Export the transcript as "
              ".txt, .docx or .vtt and put that file in the raw folder.").format(name=name)
        )
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[3:] if bom else data
    try:
        return body.decode("utf-8"), "utf-8-sig" if bom else "utf-8", []
    except UnicodeDecodeError:
        pass
    lines, bad, utf8_accents = [], [], False
    for number, line in enumerate(body.split(b"\n"), start=1):
        try:
            lines.append(line.decode("utf-8"))
            utf8_accents = utf8_accents or not line.isascii()
        except UnicodeDecodeError as exc:
            try:
                lines.append(line.decode("cp1252"))
            except UnicodeDecodeError as exc1252:
                raise ReadError(
                    _("{name} line {line}: byte {byte} is neither UTF-8 nor Windows-1252. "
                      "Re-save the file as UTF-8 (e.g. in a text editor: Save as, encoding "
                      "UTF-8).").format(name=name, line=number,
                                        byte=f"0x{line[exc1252.start]:02x}")
                ) from None
            bad.append((number, line[exc.start]))
    first, byte = bad[0]
    if not utf8_accents:
        warning = _("{name}: not UTF-8 (byte {byte} at line {line}); read as Windows-1252 "
                    "(cp1252). Check the accents in the output, or re-save the file as UTF-8."
                    ).format(name=name, byte=f"0x{byte:02x}", line=first)
        return "\n".join(lines), "cp1252", [warning]
    at = ", ".join(str(n) for n, _byte in bad[:5]) + (" ..." if len(bad) > 5 else "")
    warning = _("{name} line {lines}: not UTF-8 (byte {byte} at line {line}) in a UTF-8 file; "
                "only these lines were read as Windows-1252 (cp1252). Check their accents, or "
                "re-save the file as UTF-8.").format(name=name, lines=at, byte=f"0x{byte:02x}",
                                                     line=first)
    return "\n".join(lines), "utf-8+cp1252", [warning]


def read_plain(path: Path) -> ReadResult:
    """Read ``.txt`` and ``.md``: the text as it is, labels are parsed later."""
    text, encoding, warnings = decode(path.read_bytes(), path)
    return ReadResult(normalise(text), encoding, warnings=warnings)


# --------------------------------------------------------------------------- zip packages


def check_package(path: Path, kind: str) -> None:
    """Refuse a ``.docx``/``.odt`` whose parts unpack to far more than a transcript holds.

    The sizes come from the zip's directory; :mod:`zipfile` stops at the size it states, so a
    package cannot unpack to more than it declares.

    Raises:
        ReadError: Not a zip file, or a part (or the whole) beyond the limits.
    """
    name = shown(path.name)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise ReadError(_("{name}: not a valid {kind} file ({error}). Open it in Word or "
                          "LibreOffice and save it again as {suffix}.")
                        .format(name=name, kind=kind, error=type(exc).__name__,
                                suffix=path.suffix)) from None
    total = sum(i.file_size for i in infos)
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        big = info.file_size > MAX_PART_BYTES
        if big or (info.file_size >= RATIO_FROM and ratio > MAX_RATIO):
            raise ReadError(
                _("{name}: part '{part}' unpacks to {mb} MB from {kb} KB (ratio {ratio}:1); "
                  "codeer reads parts of at most {max_mb} MB and ratios of at most "
                  "{max_ratio}:1. This is no ordinary transcript: open it in Word or "
                  "LibreOffice, check it, and save it again (split it if it is really this "
                  "long).").format(name=name, part=shown(info.filename),
                                   mb=f"{info.file_size / 2**20:.0f}",
                                   kb=f"{info.compress_size / 2**10:.0f}",
                                   ratio=f"{ratio:.0f}", max_mb=MAX_PART_BYTES // 2**20,
                                   max_ratio=MAX_RATIO)
            )
    if total > MAX_PACKAGE_BYTES:
        raise ReadError(
            _("{name}: unpacks to {mb} MB, more than the {max_mb} MB codeer reads from one "
              "file. Remove large images or save the text as .txt.")
            .format(name=name, mb=f"{total / 2**20:.0f}", max_mb=MAX_PACKAGE_BYTES // 2**20)
        )


# --------------------------------------------------------------------------- Word


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Elements that hold runs or paragraphs of the visible text (tracked insertions, moves to,
# hyperlinks, content controls, smart tags, simple fields, bidi spans).
_W_WRAPPERS = frozenset(_W + t for t in ("ins", "moveTo", "hyperlink", "smartTag", "customXml",
                                         "fldSimple", "dir", "bdo"))


def read_docx(path: Path) -> ReadResult:
    """Read ``.docx``: one line per paragraph; a bold leading run is a speaker name.

    Text inside tracked insertions, content controls, hyperlinks and table cells is read;
    tracked deletions are not.
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from lxml import etree

    check_package(path, "Word .docx")
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, zlib.error) as exc:
        raise ReadError(
            _("{name}: not a valid {kind} file ({error}). Open it in Word or LibreOffice and "
              "save it again as {suffix}.").format(name=shown(path.name), kind="Word .docx",
                                                    error=type(exc).__name__, suffix=".docx")
        ) from None
    except etree.XMLSyntaxError as exc:
        raise ReadError(
            _("{name}: the Word file is damaged (its XML breaks off at line {line}: {error}). "
              "Open it in Word or LibreOffice, check the end of the text, and save it again as "
              ".docx.").format(name=shown(path.name), line=exc.lineno, error=exc.msg)
        ) from None
    lines: list[str] = []
    speakers: set[str] = set()
    _docx_blocks(document.element.body, document, lines, speakers)
    return ReadResult(normalise("\n".join(lines)), "docx", speakers=speakers)


def _docx_blocks(element, parent, lines: list[str], speakers: set[str]) -> None:
    """Paragraphs and tables of ``element`` in reading order, content controls opened."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in element.iterchildren():
        tag = child.tag
        if tag == _W + "p":
            lines.append(_docx_paragraph(Paragraph(child, parent), speakers))
        elif tag == _W + "tbl":
            rows = []
            for row in Table(child, parent).rows:
                cells, seen = [], set()
                for cell in row.cells:
                    if id(cell._tc) in seen:  # a merged cell is listed once per grid column
                        continue
                    seen.add(id(cell._tc))
                    inner: list[str] = []
                    _docx_blocks(cell._tc, cell, inner, set())
                    cells.append(" ".join(x.strip() for x in inner if x.strip()))
                rows.append(cells)
            lines.extend(_table_lines(rows, speakers, _at_top(lines)))
        elif tag == _W + "sdt":
            content = child.find(_W + "sdtContent")
            if content is not None:
                _docx_blocks(content, parent, lines, speakers)
        elif tag in _W_WRAPPERS:
            _docx_blocks(child, parent, lines, speakers)
        # w:del and w:moveFrom (deleted text), w:sectPr, bookmarks: no text to read


def _docx_runs(element, paragraph) -> list:
    """The runs of a paragraph in reading order, through insertions, links and controls."""
    from docx.text.run import Run

    runs = []
    for child in element.iterchildren():
        tag = child.tag
        if tag == _W + "r":
            runs.append(Run(child, paragraph))
        elif tag == _W + "sdt":
            content = child.find(_W + "sdtContent")
            if content is not None:
                runs.extend(_docx_runs(content, paragraph))
        elif tag in _W_WRAPPERS:
            runs.extend(_docx_runs(child, paragraph))
    return runs


def _docx_paragraph(paragraph, speakers: set[str]) -> str:
    runs = _docx_runs(paragraph._p, paragraph)
    bold = ""
    i = 0
    while i < len(runs) and (runs[i].bold or not runs[i].text.strip()):
        bold += runs[i].text
        i += 1
    name = bold.strip().rstrip(":").strip()
    rest = "".join(r.text for r in runs[i:])
    bare = re.sub(r"\([^()]*\)", "", name)  # party or department in brackets may hold digits
    if name and len(name) <= 60 and not any(ch.isdigit() for ch in bare) and (rest or ":" in bold):
        speakers.add(name)
        return f"{name}: {rest.lstrip(': ').strip()}".rstrip()
    return "".join(r.text for r in runs)


def _at_top(lines: list[str]) -> bool:
    """Whether nothing but a title (at most two lines without a colon) precedes."""
    filled = [line for line in lines if line.strip()]
    return len(filled) <= 2 and not any(":" in line for line in filled)


def _table_lines(rows: list[list[str]], speakers: set[str], top: bool = False) -> list[str]:
    """Table rows as lines: a short first cell followed by text is a speaker and a turn.

    A table at the top of the document whose rows are ``Key | value`` pairs such as ``Datum |
    12 maart 2024`` is a header block (:func:`pipeline.ingest.header.header_table`): its rows
    become ``Key: value`` lines followed by a blank line, and its keys are no speakers.
    """
    if top and (pairs := header_table(rows)):
        return [f"{key}: {value}" for key, value in pairs] + [""]
    lines = []
    for cells in rows:
        if len(cells) >= 2 and cells[0] and len(cells[0]) <= 60:
            name = cells[0].rstrip(":").strip()
            speakers.add(name)
            lines.append(f"{name}: {' '.join(cells[1:]).strip()}")
        else:
            lines.append(" ".join(c for c in cells if c))
    return lines


# --------------------------------------------------------------------------- OpenDocument

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
# Not part of the running text: tracked deletions, comments, notes, generated indexes.
_ODT_SKIP = frozenset(
    [_TEXT + t for t in ("tracked-changes", "note", "table-of-content", "illustration-index",
                         "alphabetical-index", "object-index", "user-index", "table-index",
                         "bibliography", "sequence-decls", "variable-decls", "user-field-decls",
                         "dde-connection-decls")]
    + [_OFFICE + t for t in ("annotation", "forms")]
)
_MAX_SPACES = 100  # text:s c="..." beyond this is no layout, only a way to inflate the text


def read_odt(path: Path) -> ReadResult:
    """Read ``.odt`` (OpenDocument text): one line per paragraph or heading, sections, lists
    and tables included; a damaged ``content.xml`` is refused, not read up to the break."""
    from lxml import etree

    check_package(path, "OpenDocument .odt")
    name = shown(path.name)
    try:
        with zipfile.ZipFile(path) as zf:
            data = zf.read("content.xml")
    except KeyError:
        raise ReadError(_("{name}: not a valid OpenDocument .odt file (no content.xml). Open "
                          "it in LibreOffice and save it again as .odt.").format(name=name)
                        ) from None
    except (zipfile.BadZipFile, ValueError, EOFError, zlib.error) as exc:  # a damaged part
        raise ReadError(_("{name}: not a valid OpenDocument .odt file ({error}). Open it in "
                          "LibreOffice and save it again as .odt.")
                        .format(name=name, error=type(exc).__name__)) from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ReadError(
            _("{name}: the OpenDocument file is damaged (content.xml breaks at line {line}: "
              "{error}). Open it in LibreOffice, check the text, and save it again as .odt.")
            .format(name=name, line=exc.lineno, error=exc.msg)
        ) from None
    body = root.find(f"{_OFFICE}body/{_OFFICE}text")
    if body is None:
        raise ReadError(_("{name}: holds no text document (is it a spreadsheet or a "
                          "presentation saved as .odt?). Save the transcript as a text "
                          "document.").format(name=name))
    lines: list[str] = []
    speakers: set[str] = set()
    _odt_blocks(body, lines, speakers)
    return ReadResult(normalise("\n".join(lines)), "odt", speakers=speakers)


def _odt_blocks(element, lines: list[str], speakers: set[str]) -> None:
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in _ODT_SKIP:
            continue
        if tag in (_TEXT + "p", _TEXT + "h"):
            lines.append(_odt_text(child))
        elif tag == _TABLE + "table":
            rows = []
            for row in child.iter(_TABLE + "table-row"):
                if row.getparent() is not None and _owning_table(row) is not child:
                    continue  # a row of a nested table is read with its cell
                cells = []
                for cell in row.iterchildren(_TABLE + "table-cell"):
                    inner: list[str] = []
                    _odt_blocks(cell, inner, set())
                    cells.append(" ".join(x.strip() for x in inner if x.strip()))
                rows.append(cells)
            lines.extend(_table_lines(rows, speakers, _at_top(lines)))
        else:  # sections, lists, list items, frames: containers of paragraphs
            _odt_blocks(child, lines, speakers)


def _owning_table(row):
    parent = row.getparent()
    while parent is not None and parent.tag != _TABLE + "table":
        parent = parent.getparent()
    return parent


def _odt_text(element) -> str:
    """The text of a paragraph: spans and links opened, ``text:s``/tab/line-break rendered."""
    parts = [re.sub(r"\s+", " ", element.text or "")]
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and tag not in _ODT_SKIP:
            if tag == _TEXT + "s":
                count = child.get(_TEXT + "c", "1")
                parts.append(" " * min(int(count) if count.isdigit() else 1, _MAX_SPACES))
            elif tag == _TEXT + "tab":
                parts.append("\t")
            elif tag == _TEXT + "line-break":
                parts.append("\n")
            elif tag not in (_TEXT + "p", _TEXT + "h"):  # no text boxes inside a sentence
                parts.append(_odt_text(child))
        parts.append(re.sub(r"\s+", " ", child.tail or ""))
    return "".join(parts)


# --------------------------------------------------------------------------- subtitles


def read_vtt(path: Path) -> ReadResult:
    """Read WebVTT (Teams, Zoom): consecutive cues of one ``<v Name>`` voice become one turn."""
    import webvtt

    raw, encoding, warnings = decode(path.read_bytes(), path)
    try:
        captions = list(webvtt.from_string(normalise(raw)))
    except Exception as exc:  # webvtt raises MalformedFileError and friends
        raise ReadError(
            _("{name}: not a valid WebVTT file ({error}). It must start with WEBVTT and hold "
              "cues 'hh:mm:ss.mmm --> hh:mm:ss.mmm'.").format(name=shown(path.name), error=exc)
        ) from None
    cues = [(c.voice, c.text, parse_seconds(c.start), parse_seconds(c.end)) for c in captions]
    return _join_cues(cues, encoding, warnings)


def read_srt(path: Path) -> ReadResult:
    """Read SubRip ``.srt`` (e.g. Whisper): cues joined into lines; ``Name:`` starts a turn."""
    import pysrt

    raw, encoding, warnings = decode(path.read_bytes(), path)
    items = pysrt.from_string(normalise(raw))
    if not items and raw.strip():
        raise ReadError(
            _("{name}: no SubRip cues found. Each cue needs a number, a line "
              "'hh:mm:ss,mmm --> hh:mm:ss,mmm' and text.").format(name=shown(path.name))
        )
    cues = [
        (None, item.text, item.start.ordinal / 1000, item.end.ordinal / 1000) for item in items
    ]
    return _join_cues(cues, encoding, warnings)


_LABEL_START = re.compile(r"^\s*(\[[^\]]{1,40}\]\s*)?[^\W\d][^:\n]{0,60}:\s")


def _join_cues(
    cues: list[tuple[str | None, str, float, float]], encoding: str, warnings: list[str]
) -> ReadResult:
    """Lay subtitle cues out as ``Speaker: text`` lines, one line per turn."""
    text = ""
    speakers: set[str] = set()
    times: list[tuple[int, int, float, float]] = []
    current_voice: str | None = None
    for voice, cue_text, t0, t1 in cues:
        cue_text = " ".join(cue_text.split())
        if not cue_text:
            continue
        voice = voice.strip() if voice else None
        if voice and voice != current_voice:
            speakers.add(voice)
            text += ("\n\n" if text else "") + f"{voice}: "
            current_voice = voice
        elif not voice and _LABEL_START.match(cue_text):
            text += "\n\n" if text else ""
            current_voice = None
        elif text:
            text += " "
        start = len(text)
        text += cue_text
        times.append((start, len(text), t0, t1))
    return ReadResult(text, encoding, speakers=speakers, times=times, warnings=warnings)


READERS = {
    ".txt": read_plain,
    ".md": read_plain,
    ".docx": read_docx,
    ".odt": read_odt,
    ".vtt": read_vtt,
    ".srt": read_srt,
}
_PLAIN = (".txt", ".md", ".vtt", ".srt")


@hooks.timed("read_files")
def read_file(path: Path) -> ReadResult:
    """Read one transcript with the reader for its extension.

    Raises:
        ReadError: Unsupported extension, unreadable, damaged, empty, undecodable or
            oversized file.
    """
    name = shown(path.name)
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise ReadError(
            _("{name}: unsupported file type '{suffix}'. codeer reads {types}; convert the file "
              "or move it out of the raw folder.")
            .format(name=name, suffix=shown(path.suffix), types=", ".join(sorted(READERS)))
        )
    try:
        size = path.stat().st_size
        if suffix in _PLAIN and size > MAX_TEXT_BYTES:
            raise ReadError(_("{name}: {mb} MB of text, more than the {max_mb} MB codeer "
                              "reads from one transcript. Split the file.")
                            .format(name=name, mb=f"{size / 2**20:.0f}",
                                    max_mb=MAX_TEXT_BYTES // 2**20))
        result = reader(path)
    except OSError as exc:
        raise ReadError(_("{name}: cannot be read ({error}).")
                        .format(name=name, error=exc.strerror)) from None
    if len(result.text) > MAX_CHARS:
        raise ReadError(
            _("{name}: holds {n} characters, more than the {max} codeer reads from one "
              "transcript (about 600,000 words). Split the file, or check that it is a "
              "transcript.").format(name=name, n=thousands(len(result.text)),
                                      max=thousands(MAX_CHARS))
        )
    result.text, warnings = clean_characters(result.text, name)
    result.warnings.extend(warnings)
    if not result.text.strip():
        raise ReadError(_("{name}: the file holds no text. Remove it or fill it in.")
                        .format(name=name))
    return result
