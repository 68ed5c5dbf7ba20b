"""Readers for transcript files: bytes on disk to one normalised text.

Every reader returns a :class:`ReadResult`: the document text (NFC, ``\\n`` line endings) in the
``Speaker: text`` layout the turn parser understands, the speaker names that the format itself
marks (bold runs in Word, ``<v Name>`` voice tags in WebVTT), and, for subtitle formats, the
time span of every cue as character ranges, so that timestamps stay out of the text.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import hooks
from pipeline.errors import CodeerError
from pipeline.ingest.turns import parse_seconds


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


def normalise(text: str) -> str:
    """NFC-normalise, strip a BOM, and turn every line ending into ``\\n``."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u00a0", " ")
    return unicodedata.normalize("NFC", text)


def decode(data: bytes, path: Path) -> tuple[str, str, list[str]]:
    """Decode bytes as UTF-8 (with or without BOM), else cp1252 with a warning.

    Raises:
        ReadError: The bytes are binary or fit neither encoding.
    """
    if b"\x00" in data[:4096]:
        raise ReadError(
            f"{path.name}: looks like a binary file, not text (NUL bytes). "
            "Export the transcript as .txt, .docx or .vtt and put that file in the raw folder."
        )
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig", []
        except UnicodeDecodeError as exc:
            raise _undecodable(path, data, exc) from None
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise _undecodable(path, data, utf8_error) from None
    line = data[: utf8_error.start].count(b"\n") + 1
    warning = (
        f"{path.name}: not UTF-8 (byte 0x{data[utf8_error.start]:02x} at line "
        f"{line}); read as Windows-1252 (cp1252). "
        "Check the accents in the output, or re-save the file as UTF-8."
    )
    return text, "cp1252", [warning]


def _undecodable(path: Path, data: bytes, exc: UnicodeDecodeError) -> ReadError:
    line = data[: exc.start].count(b"\n") + 1
    return ReadError(
        f"{path.name} line {line}: byte 0x{data[exc.start]:02x} is neither UTF-8 nor "
        "Windows-1252. Re-save the file as UTF-8 (e.g. in a text editor: Save as, encoding UTF-8)."
    )


def read_plain(path: Path) -> ReadResult:
    """Read ``.txt`` and ``.md``: the text as it is, labels are parsed later."""
    text, encoding, warnings = decode(path.read_bytes(), path)
    return ReadResult(normalise(text), encoding, warnings=warnings)


def read_docx(path: Path) -> ReadResult:
    """Read ``.docx``: one line per paragraph; a bold leading run is a speaker name."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ReadError(
            f"{path.name}: not a valid Word .docx file ({type(exc).__name__}). "
            "Open it in Word or LibreOffice and save it again as .docx."
        ) from None
    lines: list[str] = []
    speakers: set[str] = set()
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = [c.text.strip() for c in row.cells]
                if len(cells) >= 2 and cells[0] and len(cells[0]) <= 60:
                    name = cells[0].rstrip(":").strip()
                    speakers.add(name)
                    lines.append(f"{name}: {' '.join(cells[1:]).strip()}")
                else:
                    lines.append(" ".join(c for c in cells if c))
            continue
        lines.append(_docx_paragraph(block, speakers))
    return ReadResult(normalise("\n".join(lines)), "docx", speakers=speakers)


def _docx_paragraph(paragraph, speakers: set[str]) -> str:
    runs = paragraph.runs
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
    return paragraph.text


def read_odt(path: Path) -> ReadResult:
    """Read ``.odt`` (OpenDocument text): one line per paragraph or heading."""
    from odf import teletype, text
    from odf.namespaces import TEXTNS
    from odf.opendocument import load

    try:
        document = load(str(path))
    except Exception as exc:  # odfpy raises bare zip/XML errors of many kinds
        raise ReadError(
            f"{path.name}: not a valid OpenDocument .odt file ({type(exc).__name__}). "
            "Open it in LibreOffice and save it again as .odt."
        ) from None
    lines = []
    for element in document.text.childNodes:
        if element.qname in ((TEXTNS, "p"), (TEXTNS, "h")):
            lines.append(teletype.extractText(element))
        elif element.qname == (TEXTNS, "list"):
            for p in element.getElementsByType(text.P):
                lines.append(teletype.extractText(p))
    return ReadResult(normalise("\n".join(lines)), "odt")


def read_vtt(path: Path) -> ReadResult:
    """Read WebVTT (Teams, Zoom): consecutive cues of one ``<v Name>`` voice become one turn."""
    import webvtt

    raw, encoding, warnings = decode(path.read_bytes(), path)
    try:
        captions = list(webvtt.from_string(normalise(raw)))
    except Exception as exc:  # webvtt raises MalformedFileError and friends
        raise ReadError(
            f"{path.name}: not a valid WebVTT file ({exc}). "
            "It must start with WEBVTT and hold cues 'hh:mm:ss.mmm --> hh:mm:ss.mmm'."
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
            f"{path.name}: no SubRip cues found. Each cue needs a number, a line "
            "'hh:mm:ss,mmm --> hh:mm:ss,mmm' and text."
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


@hooks.timed("read_files")
def read_file(path: Path) -> ReadResult:
    """Read one transcript with the reader for its extension.

    Raises:
        ReadError: Unsupported extension, unreadable, empty or undecodable file.
    """
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ReadError(
            f"{path.name}: unsupported file type '{path.suffix}'. codeer reads "
            f"{', '.join(sorted(READERS))}; convert the file or move it out of the raw folder."
        )
    try:
        result = reader(path)
    except OSError as exc:
        raise ReadError(f"{path.name}: cannot be read ({exc.strerror}).") from None
    if not result.text.strip():
        raise ReadError(f"{path.name}: the file holds no text. Remove it or fill it in.")
    return result
