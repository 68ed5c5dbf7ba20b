"""Speaker turns: find speaker labels at line starts and split a text into turns.

A label is accepted when the format marks it (bold run, voice tag, timestamp, ``**Name:**``),
when it is a role word ("Interviewer", "I", "R", "Respondent", "Spreker 2") or starts with a
title ("Mevrouw", "De heer", "Minister", "De voorzitter"), or when the same capitalised name
labels at least two lines of the document. That keeps headings such as "Les 1: zorg voor ..."
and one-off phrases such as "Omgekeerd geldt ook:" out of the speaker list.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pipeline.vocab import NAME_PARTICLES, NAME_TITLES, is_role_label

# Each pattern must have a ``name`` group; a ``ts`` group holds a timestamp. Patterns whose
# layout is itself evidence of a label (timestamps, bold) are "strong".
TS = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
NAME = r"[^\W\d_][^:\n*\[\]]{0,60}?"
DEFAULT_PATTERNS: tuple[tuple[str, bool], ...] = (
    # [00:01:23] Naam: tekst   /   00:01:23 Naam: tekst
    (rf"^[ \t]*\[?(?P<ts>{TS})\]?[ \t]+(?P<name>{NAME})[ \t]*:(?:[ \t]+|$)", True),
    # **Naam:** tekst   /   **Naam**: tekst
    (rf"^[ \t]*\*\*(?P<name>{NAME})[ \t]*(?::\*\*|\*\*[ \t]*:)(?:[ \t]+|$)", True),
    # Naam 0:05   (Teams copy-paste: name and time alone on a line, the text follows)
    (rf"^[ \t]*(?P<name>{NAME})[ \t]+(?P<ts>{TS})[ \t]*$", True),
    # Naam: tekst   /   Mevrouw Dijksma (PvdA): tekst
    (rf"^[ \t]*(?P<name>{NAME}(?:\([^()\n]{{1,40}}\))?)[ \t]*:(?:[ \t]+|$)", False),
)

TITLES = NAME_TITLES
PARTICLES = NAME_PARTICLES
_PAREN = re.compile(r"\s*\([^()]*\)\s*$")


@dataclass(frozen=True)
class Turn:
    """One speaker turn: the label at ``label_start`` and the spoken text in ``start:end``."""

    speaker: str
    label_start: int
    start: int
    end: int
    time: float | None = None


def name_strength(name: str) -> str | None:
    """Classify a label candidate: "strong", "weak" (needs to recur) or None (not a name)."""
    base = _PAREN.sub("", name).strip()
    lower = base.lower()
    if not base or len(base) > 50:
        return None
    if is_role_label(base):
        return "strong"
    # "Bakker, Yvonne": Teams and Outlook write the surname first, after one comma.
    if any(ch.isdigit() for ch in base) or not re.fullmatch(r"[\w .'’\-]+(?:, [\w .'’\-]+)?",
                                                            base):
        return None
    words = base.replace(",", " ").split()
    if len(words) > 6:
        return None
    if any(lower.startswith(t) for t in TITLES) and len(words) >= 2:
        return "strong"
    if not words[0][0].isupper():
        return None
    if all(w[0].isupper() or w.lower() in PARTICLES for w in words):
        return "weak"
    return None


def parse_turns(
    text: str,
    known_speakers: set[str] | frozenset[str] = frozenset(),
    patterns: tuple[tuple[str, bool], ...] = DEFAULT_PATTERNS,
    skip: tuple[int, int] | None = None,
) -> list[Turn]:
    """Split ``text`` into speaker turns.

    Unlabelled lines continue the previous speaker. Text before the first label becomes a turn
    with an empty speaker (a title). A text without any label is one turn with an empty
    speaker. The ``skip`` span (a header block) belongs to no turn.

    Args:
        text: Normalised document text.
        known_speakers: Names marked by the file format or the metadata sheet.
        patterns: ``(regex, strong)`` pairs tried in order on every line.
        skip: ``(start, end)`` of a header block (:mod:`pipeline.ingest.header`), or None.

    Returns:
        The turns in document order.
    """
    compiled = [(re.compile(p), strong) for p, strong in patterns]
    known = {k.lower() for k in known_speakers}
    candidates = []  # (line_start, content_start, name, ts, strength)
    pos = 0
    skip_start, skip_end = skip or (0, 0)
    for line in text.split("\n"):
        if skip_start <= pos < skip_end:
            pos += len(line) + 1
            continue
        for regex, strong in compiled:
            m = regex.match(line)
            if not m:
                continue
            name = " ".join(m.group("name").split())
            strength = name_strength(name)
            if strength is None and name.lower() not in known:
                continue
            if strong or name.lower() in known:
                strength = "strong"
            ts = m.groupdict().get("ts")
            candidates.append((pos, pos + m.end(), name, ts, strength))
            break
        pos += len(line) + 1
    counts = Counter(c[2] for c in candidates)
    accepted = [c for c in candidates if c[4] == "strong" or counts[c[2]] >= 2]

    turns: list[Turn] = []
    first = accepted[0][0] if accepted else len(text)
    # Text before the first label (a title), around the header block, has no speaker.
    for s, e in ((0, min(skip_start, first)), (skip_end, first)) if skip else ((0, first),):
        if e > s and text[s:e].strip():
            turns.append(Turn("", s, s, e))
    if not accepted:
        return turns
    for i, (line_start, content_start, name, ts, _) in enumerate(accepted):
        end = accepted[i + 1][0] if i + 1 < len(accepted) else len(text)
        time = parse_seconds(ts) if ts else None
        turns.append(Turn(name, line_start, content_start, max(end, content_start), time))
    return turns


def parse_seconds(stamp: str) -> float:
    """Turn "01:02:03,5", "1:02" or "00:00:04.500" into seconds."""
    seconds = 0.0
    for part in stamp.replace(",", ".").split(":"):
        seconds = seconds * 60 + float(part)
    return seconds
