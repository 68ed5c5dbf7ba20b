"""The header block of a transcript: ``Key: value`` lines before the first turn.

Transcripts often open with a few lines about the interview rather than the interview itself::

    Respondent: teamleider Wijkzaken
    Datum: 12 maart 2024
    Interviewer: S. de Wit
    Locatie: stadskantoor, kamer 4.12

Such a block is document metadata, not speech: :func:`find_header` finds it in the document
text, :func:`header_table` recognises the same block laid out as a two-column table in Word or
OpenDocument, and :func:`header_metadata` turns it into metadata columns (the columns of
``interviews.csv`` where a key means one of them: ``Datum`` is ``date``, ``Interviewer`` is
``interviewer``, ``Functie`` is ``respondent_function``).

A block counts as a header only when it is at least two lines long, every key is short and
used once, no value reads as a spoken sentence, and at least one key is a word that headers
use (``Datum``, ``Locatie``, ``Functie``, ``Duur`` ...). A first turn such as
``Interviewer: Goedemorgen.`` or a dialogue of ``I:``/``R:`` lines never qualifies.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from dateutil import parser as dateparser

from pipeline.vocab import role_word

#: Words of a key that mark a header line (lower case, accents removed).
HEADER_WORDS = frozenset(
    {"datum", "date", "dag", "tijd", "tijdstip", "time", "duur", "duration", "lengte", "locatie",
     "location", "plaats", "plek", "place", "functie", "function", "afdeling", "department",
     "directie", "dienst", "team", "cluster", "organisatie", "organization", "organisation",
     "gemeente", "project", "onderwerp", "thema", "topic", "interview", "interviewnummer",
     "nummer", "transcriptie", "transcript", "transcribent", "opname", "opnamedatum",
     "recording", "versie", "taal", "language", "naam", "name", "rol", "sector", "gesprek",
     "gespreksvorm", "medium", "setting"}
)
# Key words that mean a column of interviews.csv, checked in this order ("Functie respondent"
# is the function, "Naam respondent" the respondent).
_COLUMNS = (
    ("respondent_function", frozenset({"functie", "function", "rol", "positie", "position"})),
    ("department", frozenset({"afdeling", "department", "directie", "dienst"})),
    ("cluster", frozenset({"cluster"})),
    ("date", frozenset({"datum", "date", "opnamedatum", "interviewdatum"})),
    ("interviewer", frozenset({"interviewer", "interviewers", "interviewster", "onderzoeker",
                               "gespreksleider", "moderator"})),
    ("respondent", frozenset({"respondent", "respondente", "respondenten", "geinterviewde",
                              "deelnemer"})),
)
MAX_TITLE_LINES = 2  # lines without a colon (a title) that may precede the block
MAX_KEY_WORDS = 4
MAX_KEY_CHARS = 40
MAX_VALUE_WORDS = 15
MAX_VALUE_CHARS = 120

_KV = re.compile(r"[ \t]*(?P<key>[^\W\d_][\w .'’/()-]{0,60}?)[ \t]*:[ \t]+(?P<value>\S.*)")
MAX_LINE_CHARS = 200  # longer lines are speech; the regex never sees them
MAX_HEADER_LINES = 60  # where a header block must have ended (blank lines before it included)


@dataclass(frozen=True)
class Header:
    """A header block: ``text[start:end]``, and its ``(key, value, line)`` entries in order."""

    start: int
    end: int
    entries: tuple[tuple[str, str, int], ...]


def fold(word: str) -> str:
    """Lower case without accents ("Geïnterviewde" -> "geinterviewde")."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def key_words(key: str) -> list[str]:
    return re.findall(r"[a-z]+", fold(key))


def entry(key: str, value: str) -> tuple[str, str] | None:
    """``(key, value)`` cleaned when they can be a header line, else None.

    The key is one to four words (not a short role word such as "I" or "R", which opens a
    turn); the value is short and no spoken sentence (no question, no exclamation, no sentence
    of several words ending in a full stop).
    """
    key = " ".join(key.replace("*", " ").split()).rstrip(":").strip()
    value = " ".join(value.replace("**", " ").split())
    if not key or not value or len(key) > MAX_KEY_CHARS or len(key.split()) > MAX_KEY_WORDS:
        return None
    if role_word(key) and len(key.rstrip(".")) <= 4:
        return None
    words = value.split()
    if len(value) > MAX_VALUE_CHARS or len(words) > MAX_VALUE_WORDS or re.search(r"[?!]", value):
        return None
    if value.endswith((".", "…")) and len(words) > 3:
        return None
    return key, value


def is_header(entries: list[tuple[str, str]]) -> bool:
    """Whether key/value pairs make a header block (see the module docstring)."""
    keys = [fold(k) for k, _ in entries]
    if len(entries) < 2 or len(set(keys)) < len(keys):
        return False
    return any(set(key_words(k)) & HEADER_WORDS for k, _ in entries)


def _entry_of(line: str) -> tuple[str, str] | None:
    if len(line) > MAX_LINE_CHARS:
        return None
    match = _KV.match(line.replace("**", ""))
    return entry(match["key"], match["value"]) if match else None


def find_header(text: str) -> Header | None:
    """The header block at the top of ``text`` (after at most two title lines), or None.

    Args:
        text: The normalised document text.

    Returns:
        The block, ending after its last line (and that line's newline), or None when the text
        does not open with one or nothing follows it.
    """
    pos, titles = 0, 0
    found: list[tuple[str, str, int]] = []
    start = end = None
    for number in range(1, MAX_HEADER_LINES + 1):
        if pos > len(text):
            break
        line_end = text.find("\n", pos)
        line_end = len(text) if line_end == -1 else line_end
        line = text[pos:line_end]
        stripped = line.strip()
        if start is None:
            pair = _entry_of(line)
            if pair:
                start = pos
                found.append((*pair, number))
                end = line_end
            elif stripped:
                titles += 1
                if ":" in stripped or titles > MAX_TITLE_LINES or len(stripped) > 120:
                    return None
        else:
            if not stripped:
                break
            pair = _entry_of(line)
            if not pair or fold(pair[0]) in {fold(k) for k, _, _ in found}:
                break
            found.append((*pair, number))
            end = line_end
        pos = line_end + 1
    else:  # still in the block, or still before it, after MAX_HEADER_LINES lines
        return None
    if start is None or not is_header([(k, v) for k, v, _ in found]):
        return None
    assert end is not None
    end = min(end + 1, len(text))
    if not text[end:].strip():
        return None
    return Header(start, end, tuple(found))


def header_table(rows: list[list[str]]) -> list[tuple[str, str]] | None:
    """The rows of a two-column table as header entries when the table is a header block."""
    if not rows or any(len(row) != 2 for row in rows):
        return None
    entries = [entry(k, v) for k, v in rows]
    if any(e is None for e in entries):
        return None
    pairs = [e for e in entries if e is not None]
    return pairs if is_header(pairs) else None


def column_of(key: str) -> str:
    """The metadata column of a header key: a column of interviews.csv where the key means
    one (``Datum`` -> ``date``), else the key in snake_case without accents."""
    words = set(key_words(key))
    for column, names in _COLUMNS:
        if words & names:
            return column
    return re.sub(r"[^0-9a-z]+", "_", fold(key)).strip("_") or "kop"


class _DutchDates(dateparser.parserinfo):
    """Dutch month and day names for :mod:`dateutil`'s parser (its extension point)."""

    MONTHS = [("jan", "januari"), ("feb", "februari"), ("mrt", "maart", "mar"), ("apr", "april"),
              ("mei", "may"), ("jun", "juni"), ("jul", "juli"), ("aug", "augustus"),
              ("sep", "sept", "september"), ("okt", "oktober", "oct"), ("nov", "november"),
              ("dec", "december")]
    WEEKDAYS = [("ma", "maandag"), ("di", "dinsdag"), ("wo", "woensdag"), ("do", "donderdag"),
                ("vr", "vrijdag"), ("za", "zaterdag"), ("zo", "zondag")]


def iso_date(value: object) -> str | None:
    """``value`` as an ISO date ("12 maart 2024", "12-03-2024", "2024-03-12" give
    "2024-03-12") when it is a full date (day, month, year), else None."""
    text = str(value or "").strip()
    if not re.search(r"(?<!\d)\d{4}(?!\d)", text) or not re.search(r"(?<!\d)\d{1,2}(?!\d)",
                                                                     text):
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        parsed = dateparser.parse(text, parserinfo=_DutchDates(dayfirst=True),
                                  default=dt.datetime(1, 1, 1))
    except (ValueError, OverflowError):
        return None
    return parsed.date().isoformat() if parsed.year > 1 else None


def header_metadata(header: Header) -> dict[str, tuple[str, str, int]]:
    """Metadata columns of a header: column -> ``(value, "Key: value" as written, line)``.

    A date becomes ISO (as in interviews.csv); the first line wins when two keys mean one
    column.
    """
    out: dict[str, tuple[str, str, int]] = {}
    for key, value, line in header.entries:
        column = column_of(key)
        if column in out:
            continue
        stored = (iso_date(value) or value) if column == "date" else value
        out[column] = (stored, f"{key}: {value}", line)
    return out
