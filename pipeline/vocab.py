"""One vocabulary: the values of roles, methods, statuses and decisions, their Dutch labels, the
words that mark a speaker's role, and how a cell with several interviewer names is split.

Every module that checks, writes or shows one of these values takes it from here, so that the
data contracts (:mod:`pipeline.schema`), the command line (as ``Enum`` options), the review log
and the exports cannot drift apart.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Choice(StrEnum):
    """A closed set of string values (typer shows them as the choices of an option)."""

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The allowed values, in their defined order."""
        return tuple(m.value for m in cls)


class Role(Choice):
    """Who speaks a segment."""

    INTERVIEWER = "interviewer"
    RESPONDENT = "respondent"
    OTHER = "other"  # text before the first speaker label (a title, a header)


class Method(Choice):
    """How a coding was made."""

    RULE = "rule"
    EMBEDDING = "embedding"
    BOTH = "both"
    HUMAN = "human"


class Status(Choice):
    """Where a coding stands after review."""

    AUTO = "auto"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Decision(Choice):
    """What a reviewer decided about a (segment, code) pair."""

    ACCEPT = "accept"
    REJECT = "reject"
    ADD = "add"


class Backend(Choice):
    """How the embedding model runs."""

    TORCH = "torch"
    ONNX = "onnx"


class CodeScope(Choice):
    """The segments the coder codes."""

    RESPONDENT = "respondent"  # respondent segments only
    ALL = "all"  # every spoken segment: respondents and interviewers


class ThemeScope(Choice):
    """The segments the themes stage clusters (always respondent segments)."""

    RESPONDENT = "respondent"  # every respondent segment
    UNCODED = "uncoded"  # respondent segments without a (non-rejected) code


class Unit(Choice):
    """The unit ingest cuts a turn into."""

    SENTENCE = "sentence"
    TURN = "turn"


class Stage(Choice):
    """The stages of ``codeer run``, in order."""

    INGEST = "ingest"
    CODE = "code"
    THEMES = "themes"
    EXPORT = "export"


ROLES = Role.values()
METHODS = Method.values()
STATUSES = Status.values()
DECISIONS = Decision.values()
BACKENDS = Backend.values()

#: Dutch labels, for everything a researcher reads.
ROLE_NAMES = {"interviewer": "interviewer", "respondent": "respondent", "other": "overig"}
METHOD_NAMES = {"rule": "regel", "embedding": "embedding", "both": "regel én embedding",
                "human": "handmatig"}
STATUS_NAMES = {"auto": "automatisch", "accepted": "geaccepteerd", "rejected": "afgewezen"}
DECISION_NAMES = {"accept": "geaccepteerd", "reject": "afgewezen", "add": "toegevoegd"}

#: Speaker labels that name a role rather than a person ("I:", "Respondent 2:").
INTERVIEWER_WORDS = frozenset(
    {"interviewer", "interviewster", "i", "int", "v", "vraag", "onderzoeker", "moderator",
     "gespreksleider", "interviewers"}
)
RESPONDENT_WORDS = frozenset(
    {"respondent", "r", "resp", "a", "antwoord", "geïnterviewde", "deelnemer", "respondente"}
)
NEUTRAL_WORDS = frozenset({"spreker", "speaker", "deelnemer"})
CHAIR = frozenset({"de voorzitter", "voorzitter"})

_ROLE_NUMBER = re.compile(r"^(?P<word>[^\W\d_]+\.?)(?:\s+\d{1,2})?$")
_NAME_SEPARATORS = re.compile(r"\s*(?:[;,/&+]|\s(?:en|and)\s)\s*")


def role_word(name: str) -> str | None:
    """Return "interviewer"/"respondent" for role labels ("I", "Respondent 2"), else None."""
    m = _ROLE_NUMBER.match(name.strip().lower())
    if not m:
        return None
    word = m.group("word").rstrip(".")
    if word in INTERVIEWER_WORDS:
        return Role.INTERVIEWER.value
    if word in RESPONDENT_WORDS:
        return Role.RESPONDENT.value
    return None


def is_role_label(label: str) -> bool:
    """True for labels that name no person: role words, the chair, "Spreker 2"."""
    base = re.sub(r"\s*\([^()]*\)\s*$", "", str(label)).strip()
    low = base.lower()
    if not base or role_word(base) or low in CHAIR:
        return True
    m = _ROLE_NUMBER.match(low)
    return bool(m and m.group("word").rstrip(".") in NEUTRAL_WORDS)


def split_names(value: object) -> list[str]:
    """The names in one cell of the ``interviewer`` column, in order.

    ``"Sanne de Wit & Pieter Jansen"``, ``"Sanne de Wit en Pieter Jansen"``, ``"A; B"``,
    ``"A, B"`` and ``"A / B"`` all give two names. Used by ingest (to find the interviewer
    among the speakers) and by the export (to pseudonymise every interviewer), so that a name
    can never be split one way there and another way here.
    """
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [n.strip() for n in _NAME_SEPARATORS.split(str(value)) if n.strip()]
