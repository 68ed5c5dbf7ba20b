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


class MemoTarget(Choice):
    """What a memo is about."""

    PASSAGE = "passage"  # one segment
    DOCUMENT = "document"  # one interview
    CODE = "code"  # one code of the codebook
    PROJECT = "project"  # the analysis as a whole


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
MEMO_TARGETS = MemoTarget.values()
BACKENDS = Backend.values()

#: The note that marks a review decision given in answer to the review queue
#: (``codeer review --next``, the review notebook): such a decision does not mean its whole
#: document was read (see :func:`pipeline.coding.coder.decision_rows`).
QUEUE_NOTE = "wachtrij"

#: Dutch labels, for everything a researcher reads.
ROLE_NAMES = {"interviewer": "interviewer", "respondent": "respondent", "other": "overig"}
METHOD_NAMES = {"rule": "regel", "embedding": "model", "both": "regel én model",
                "human": "handmatig"}
STATUS_NAMES = {"auto": "automatisch", "accepted": "geaccepteerd", "rejected": "afgewezen"}
DECISION_NAMES = {"accept": "geaccepteerd", "reject": "afgewezen", "add": "toegevoegd"}
MEMO_TARGET_NAMES = {"passage": "passage", "document": "interview", "code": "code",
                     "project": "project"}

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


#: Lower-case words that belong to a Dutch (or Arabic, German, French) surname: "de", "van der".
NAME_PARTICLES = frozenset(
    {"de", "van", "der", "den", "het", "ten", "ter", "te", "'t", "in", "la", "le", "von", "el",
     "al", "bin", "da", "di", "du", "op", "'s"}
)
#: Forms of address and titles that may precede a name in a label ("De heer", "Mevr.", "Dr.").
NAME_TITLES = (
    "de heer ", "mevrouw ", "mevr. ", "mevr ", "dhr. ", "dhr ", "minister ", "staatssecretaris ",
    "wethouder ", "burgemeester ", "dr. ", "prof. ", "ir. ", "mr. ", "drs. ",
)


def name_parts(name: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a person's name into given names (or initials) and surname words, case-folded.

    Both orders are read: ``"Jan de Vries"`` and ``"Vries, Jan de"`` (the order of Teams and
    Outlook address books) both give ``(("jan",), ("de", "vries"))``. A party or department in
    brackets and a title ("De heer", "Dr.") are left out. A single word gives no given names.

    Args:
        name: A speaker label or one name from the ``interviewer`` column (one person: split
            a cell of several names with :func:`split_names` first).

    Returns:
        ``(given, surname)``; both empty for an empty name.
    """
    base = re.sub(r"\s*\([^()]*\)", " ", str(name or "")).strip()
    low = base.casefold()
    stripped = True
    while stripped:
        stripped = False
        for title in NAME_TITLES:
            if low.startswith(title) and len(low) > len(title):
                base, low, stripped = base[len(title):].strip(), low[len(title):].strip(), True
    words = low.replace(",", " , ").split()
    if words.count(",") == 1 and 0 < words.index(",") < len(words) - 1:
        i = words.index(",")
        surname, given = words[:i], words[i + 1:]
        while given and given[-1] in NAME_PARTICLES:  # "Vries, Jan de": "de" goes with "Vries"
            surname.insert(0, given.pop())
        return tuple(given), tuple(surname)
    words = [w for w in words if w != ","]
    if not words:
        return (), ()
    if len(words) == 1 or words[0] in NAME_PARTICLES:
        return (), tuple(words)
    cut = next((i for i in range(1, len(words) - 1) if words[i] in NAME_PARTICLES),
               len(words) - 1)
    return tuple(words[:cut]), tuple(words[cut:])


def _initial(word: str) -> bool:
    return len(word.replace(".", "")) <= 1 or (word.endswith(".") and len(word) <= 3)


def same_person(a: object, b: object) -> bool:
    """Whether two spellings of a name can be the same person.

    ``"Bakker, Yvonne"`` is ``"Yvonne Bakker"``, ``"Vries, Jan de"`` is ``"Jan de Vries"``,
    ``"S. de Wit"`` is ``"Sanne de Wit"`` and ``"Mevrouw Bakker"`` is ``"Yvonne Bakker"``:
    the surnames (particles aside) must be equal and the first given names agree (an initial
    agrees with a name of that letter). A single word matches a first name or a surname.
    """
    (ga, sa), (gb, sb) = name_parts(a), name_parts(b)
    if not sa or not sb:
        return False
    core_a = tuple(w for w in sa if w not in NAME_PARTICLES) or sa
    core_b = tuple(w for w in sb if w not in NAME_PARTICLES) or sb
    if not ga and len(core_a) == 1 and len(sa) == 1:  # one word: "Lotte" or "Bakker"
        return sa[0] in (core_b[-1], *gb[:1])
    if not gb and len(core_b) == 1 and len(sb) == 1:
        return sb[0] in (core_a[-1], *ga[:1])
    if core_a != core_b:
        return False
    if not ga or not gb:
        return True
    x, y = ga[0], gb[0]
    if _initial(x) or _initial(y):
        return x[0] == y[0]
    return x == y
