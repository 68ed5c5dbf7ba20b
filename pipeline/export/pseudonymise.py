"""Pseudonymisation: names, places, institutions, dates and numbers become placeholders.

Detection uses ``deduce`` (LGPL, Dutch clinical de-identification), extended with the names the
project already knows from its metadata, the researcher's own lists (``pseudonimisering.yaml``,
:mod:`pipeline.export.pseudo_settings`) and a few rules for Dutch interview and policy talk.
Replacements are placeholders in deduce's Dutch style, numbered per category: ``[PERSOON-1]``,
``[LOCATIE-2]``, ``[INSTELLING-1]``, ``[DATUM-3]``, ``[TELEFOONNUMMER-1]``, ``[EMAIL-1]``,
``[URL-1]``, ``[LEEFTIJD-1]``, ``[BSN-1]``, ``[POSTCODE-1]``, ``[IBAN-1]``, ``[KENTEKEN-1]``,
``[ID-1]`` (other long numbers).

How it works (:class:`Pseudonymiser`):

1. Every document of the batch goes through deduce (curly quotes read as straight ones, so
   "’s-Hertogenbosch" is known too), extended through its own extension points
   (:func:`configure_deduce`): function words and the researcher's keep terms in its
   whitelist, and docdeid annotators for the extra names, the listed places (districts,
   neighbourhoods, venues, the researcher's places and institutions), the dates deduce misses,
   international phone numbers, e-mail and web addresses with any domain, IBANs and licence
   plates. The raw name spans are cleaned (see the policy below), split at a sentence end
   ("de Vries. De Vries"), merged where one name was cut in two ("Jan" + "de Vries"), and a
   surname that starts with an interfix takes the capitalised word before it as its first
   name when deduce did not know it ("was Raph de Rooij"). Every cleaned name, place and
   institution is remembered, and so is the surname of every full person name.
2. Every document is scanned again for every remembered name, place, institution or
   surname, written exactly as it was found anywhere in the batch ("propagation": if deduce
   tags "Careyn" or "Rik Grashoff" once, "Careyn" and "Grashoff" are replaced in every
   sentence of every document, also where deduce's context rules missed them).
3. Overlapping spans are merged into one replacement (an extra name or listed term, else the
   longest span, decides the placeholder), and placeholders are assigned in order of first
   appearance, documents taken in sorted id order, then in the order of later
   :meth:`Pseudonymiser.text` calls. Every replacement is logged with its document, offsets,
   sentence and the detector that found it (:meth:`Pseudonymiser.overview`).

One person, one placeholder. The same normalised original (case-folded, whitespace and hyphens
collapsed, leading titles removed) always gets the same placeholder, in every document and
every later ``text()`` call. Spellings of one person are linked when the batch shows they are
one person (:meth:`Pseudonymiser._link`): the full names of the batch (a capitalised first name
plus a surname, found by deduce or given as extra names) are indexed by first name and surname;
a surname alone ("Verbeek", also "meneer Verbeek"), a first name alone ("Hans") or initials
with a surname ("H. Verbeek") take the placeholder of the ONE full name with that surname or
first name ("Hans Verbeek"). When two full names share it ("Hans Verbeek" and "Hans de Groot"),
it stays a placeholder of its own: the batch does not tell who is meant, and a wrong link would
merge two people in the analysis. So does a first name when the batch has no full name with it.
A first name is linked over the whole batch: a "Hans" in another interview who is someone else
gets the placeholder of the only Hans with a full name. Typing errors make separate entries.
deduce's own numbering (which links spellings within one edit) is not used: it is per document.

Policy decisions:

* Speaker labels of respondents and interviewers are names; the caller passes them (and the
  interviewer names from the metadata sheet) as ``extra_names``. Titles, functions and a
  parenthesised party are dropped first ("Minister Ollongren" -> "Ollongren", "De heer
  Koerhuis (VVD)" -> "Koerhuis"); labels that are only roles or keep terms ("Interviewer",
  "Respondent 2", "De voorzitter", "Wethouder") and names with fewer than two letters ("I",
  "R") are ignored. Extra names are replaced wherever they occur as whole words, even where
  deduce misses them, also with "_" or "-" between the words as in file names and URL slugs
  ("Interview_Erik_Veerman.docx"). Names of two or more words match case-insensitively
  ("sanne de wit"); a one-word name or one that starts with an interfix ("Bakker", "De
  Jonge") needs its capital, because it could be an ordinary word ("de jonge mensen"). The
  researcher's ``verwijderen: personen`` follow the same rules.
* The surname of an extra name alone ("De Wit" for "Sanne de Wit", "Veerman" for "Erik
  Veerman") is matched too, when its first letter is a capital in the text and it either has
  at least 4 letters or carries an interfix (the interfix may be in any case: "de Wit", "De
  Wit"). A bare 3-letter surname ("Bos" for "Jan Bos") is not matched alone (too many ordinary
  words), nor is a surname that is a ``KEEP_TERMS`` word ("Groen" for "Peter Groen").
* Places inside a city are places. Districts, neighbourhoods and venues
  (:data:`pipeline.export.places.DISTRICTS`, plus ``extra_wijken``) are ``[LOCATIE-n]``,
  whatever deduce made of them ("Prins Alexander" was a person, "Kralingen" was kept, "Van
  Nelle Fabriek" became "Van [PERSOON-n]"); a name deduce tags inside one is not remembered as
  a person. They are all replaced (default, ``wijken: vervangen``) or all kept (``wijken:
  behouden``: then they are keep terms, and no detector may replace a part of them).
* Institution and department names: deduce tags the city in "gemeente Rotterdam" as a location,
  so the city is pseudonymised ("gemeente [LOCATIE-1]"). That hides which municipality a
  respondent works for; it is the safest default and acceptable for the analysis. Care
  organisations and hospitals ("Careyn", "Buurtzorg Nederland") become ``[INSTELLING-n]``.
* Dates, one rule: a month name is replaced when a day or a year goes with it ("12 maart
  2021", "3 april", "maart 2021", "april '21"), and so is every numeric date ("3-4-2021",
  "2021-04-03"); deduce finds some of these, :func:`date_candidates` the rest. A month name
  alone ("in april", "sinds maart") and a year alone ("sinds 2017") stay: they rarely identify
  anyone and often carry the analysis (the order of events). With ``losse_maanden: vervangen``
  every full month name alone is replaced too (:func:`month_candidates`; not "jan" or "mrt",
  which are first names or words alone).
* Numbers: international phone numbers ("+31 10 123 4567"), IBANs as one span (``[IBAN-1]``,
  not ``NL91ABNA[ID-1]``: a Dutch IBAN by its form, others by their check number), Dutch
  licence plates in all sidecodes written with hyphens ("12-ABC-3"), and e-mail and web
  addresses with any domain (deduce's own patterns know twelve top-level domains and missed
  "r.schouten@gemeente.example").
* A name deduce tags as a person in one place and as a place in another ("mevrouw Ellemeet",
  "de leden Ellemeet en Hijink") gets the category deduce gave it most often in the batch.
* Respondent FUNCTIONS and department names are the analytic unit and must stay. deduce tags
  some of them, and some ordinary words at the start of a sentence, as surnames ("Groen is
  goed", "Pas later", "het Rijk", "Esther van Sport"). ``KEEP_TERMS`` lists such words, and
  the researcher adds more with ``behouden`` (they also join deduce's whitelist). A span found
  by deduce (not an extra name) is dropped when it consists only of keep terms and interfixes,
  a keep term or title at its start is cut off ("Directeur Larissa Zegveld" -> "Directeur
  [PERSOON-1]", "mevrouw Agema" -> "mevrouw [PERSOON-2]"), and so is a keep phrase at its end
  ("Esther van Sport" -> "[PERSOON-3] van Sport"). A single keep word at the end of a name is
  only cut after an interfix, so a real "Jan Groen" stays one name. The price: a person
  mentioned only by a surname such as "Groen", "Punt" or "Pas" is not replaced. Keep terms
  apply to names, places and institutions; dates, numbers and addresses are always replaced,
  and an explicit ``verwijderen`` entry wins over a kept district.
* Titles and forms of address (mevrouw, de heer, collega, minister, ...) stay in the text in
  front of the placeholder: they carry no identity and keep the text readable.

The key table (:meth:`Pseudonymiser.key_table`) links placeholders to originals, the overview
(:meth:`Pseudonymiser.overview`) lists every replacement with its reason. Both belong in
``OUT/private/`` and never in an export.

Only one ``deduce.Deduce`` instance is created per process (:func:`get_deduce`); the first one
on a machine builds a lookup cache inside deduce's package folder (about two minutes, once).
What a batch adds to it (annotators, whitelist words) is removed after each call.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pandas as pd

from pipeline.errors import CodeerError
from pipeline.export.places import DISTRICTS
from pipeline.export.pseudo_settings import Settings
from pipeline.i18n import _

log = logging.getLogger("codeer")

# --------------------------------------------------------------------------- policy tables

#: Words and phrases that are never replaced when deduce tags them (case-insensitive, whole
#: words; commas in phrases are ignored). Functions, departments, public bodies, and ordinary
#: words that deduce tagged as surnames in real Dutch policy talk and interviews.
#: Functions and roles: the analytic unit, never a name. Besides being kept, they go into
#: deduce's own whitelist (:func:`configure_deduce`), so its name patterns never start there.
FUNCTION_TERMS: tuple[str, ...] = (
    "wethouder", "wethouders", "burgemeester", "gemeenteraad", "raad", "raadslid", "raadsleden",
    "gemeentesecretaris", "griffier", "griffie", "college", "directeur", "directie",
    "teamleider", "afdelingshoofd", "afdelingsmanager", "programmamanager", "projectleider",
    "procesregisseur", "beleidsadviseur", "beleidsmedewerker", "adviseur", "strategisch adviseur",
    "senior", "planoloog", "stedenbouwkundige", "controller", "concerncontroller", "manager",
    "coördinator", "ambtenaar", "informatiemanager", "leidinggevende", "collega", "minister",
    "staatssecretaris", "voorzitter", "Kamerlid", "Kamerleden",
)

KEEP_TERMS: tuple[str, ...] = (
    *FUNCTION_TERMS,
    # departments, clusters and policy domains
    "Duurzaamheid", "Stadsontwikkeling", "Stedelijke Ontwikkeling", "Ruimtelijke Ontwikkeling",
    "Maatschappelijke Ontwikkeling", "Ruimte Wonen en Milieu", "RWM", "Ruimte", "Wonen",
    "Milieu", "Omgevingsvisie", "Omgevingswet", "Omgevingsplan", "Sport Onderwijs en Cultuur",
    "Sport", "Onderwijs", "Cultuur", "Sociaal Domein", "Fysiek Domein", "Werk en Inkomen",
    "Werk", "Inkomen", "Zorg", "Jeugd", "Welzijn", "Veiligheid", "Handhaving", "Vergunningen",
    "Toezicht", "Openbare Ruimte", "Stadsbeheer", "Beheer", "Groen", "Water", "Natuur",
    "Mobiliteit", "Verkeer", "Vervoer", "Economie", "Energie", "Energietransitie", "Klimaat",
    "Bedrijfsvoering", "Financiën", "Concerncontrol", "Concernondersteuning",
    "Bestuursondersteuning", "Communicatie", "Dienstverlening", "Publiekszaken", "Grondzaken",
    "Vastgoed", "Participatie", "Gezondheid", "Kernteam", "Stad", "Wijk",
    # public bodies
    "Rijk", "Provincie", "Waterschap", "Kamer", "Tweede Kamer", "Eerste Kamer",
    "Partij van de Arbeid", "Bank Nederlandse Gemeenten", "Vereniging van Nederlandse Gemeenten",
    "VNG", "Inspectie", "Inspectie voor de Gezondheidszorg", "Inspectie Gezondheidszorg en Jeugd",
    # rivers deduce reads as "interfix + surname"
    "aan de Maas", "aan de Rijn", "aan de IJssel", "aan de Amstel", "aan de Waal",
    # ordinary words deduce tags as surnames, mostly at the start of a sentence (measured)
    "Boven", "Bron", "Burgers", "Haven", "Kern", "Koers", "Krap", "Maat", "Mooi", "Niks", "Pas",
    "Polder", "Punt", "Super", "Zee",
)

# Forms of address and titles: cut from the front of a name, left in the text.
_TITLES: tuple[str, ...] = (
    "de heer", "heer", "mevrouw", "mevr", "mw", "meneer", "mijnheer", "dhr", "mej", "juffrouw",
    "dr", "drs", "prof", "ir", "ing", "mr", "ds", "bc", "het lid", "lid", "leden",
)

# Ordinary words deduce glues to the front of a name ("Zowel Sjef", "Volgens Victor"). Never an
# interfix: "van Dijk" and "de Vries" are surnames as written.
_LEAD_WORDS: tuple[str, ...] = (
    "en", "maar", "want", "dus", "ook", "toen", "nu", "dan", "zowel", "volgens", "aldus",
    "namens", "contacteer", "bel", "mail", "vraag", "zegt", "zei", "dank", "bedankt", "beste",
    "hoi", "hallo", "dag", "groeten", "eerst", "daarna", "met", "via", "voor", "door",
    "als", "zoals", "ja", "nee", "nou", "oké", "goed", "prima", "klopt", "eerlijk",
    # legal forms: "Stichting Humanitas" -> "Stichting [INSTELLING-1]", so that the many bare
    # mentions of "Humanitas" are caught by propagation
    "stichting", "vereniging", "coöperatie",
)

# Lower-case name particles (deduce's interfix list, shortened) and list connectors.
_INTERFIXES = frozenset(
    "van de der den het te ter ten 't in op aan bij uit von vom zu zur la le du da di del dos "
    "d' l' v v. vd vd. v.d.".split()
)
_CONNECTORS = frozenset({"en", "&", "/", "-", "of"})

# Speaker labels that are roles, not names: ignored as extra names (with a number or letter).
_ROLE_LABELS = frozenset(
    "interviewer interviewers interviewster interviewee geïnterviewde respondent respondente "
    "spreker spreekster deelnemer onderzoeker moderator gespreksleider vraag antwoord".split()
)

# deduce tag -> placeholder category.
_CATEGORY_BY_TAG: dict[str, str] = {
    "persoon": "PERSOON",
    "patient": "PERSOON",
    "locatie": "LOCATIE",
    "zorginstelling": "INSTELLING",
    "ziekenhuis": "INSTELLING",
    "instelling": "INSTELLING",
    "datum": "DATUM",
    "leeftijd": "LEEFTIJD",
    "telefoonnummer": "TELEFOONNUMMER",
    "emailadres": "EMAIL",
    "url": "URL",
    "bsn": "BSN",
    "id": "ID",
    # codeer's own annotators (configure_deduce, Pseudonymiser._detect)
    "codeer_datum": "DATUM",
    "codeer_maand": "DATUM",
    "codeer_telefoonnummer": "TELEFOONNUMMER",
    "codeer_emailadres": "EMAIL",
    "codeer_url": "URL",
    "codeer_iban": "IBAN",
    "codeer_kenteken": "KENTEKEN",
}
# Why a span was replaced, for the overview (OUT/private/pseudonymisation_overview.csv):
# codeer's own detectors by tag; deduce's as "deduce: <tag>".
_SOURCE_BY_TAG: dict[str, str] = {
    "codeer_datum": "datumregel (dag of jaar bij een maand)",
    "codeer_maand": "datumregel (losse maand, losse_maanden: vervangen)",
    "codeer_telefoonnummer": "telefoonnummer (internationaal)",
    "codeer_emailadres": "e-mailadres",
    "codeer_url": "webadres",
    "codeer_iban": "IBAN",
    "codeer_kenteken": "kenteken",
}
SOURCE_EXTRA = "naam uit metadata of sprekerslabel"
SOURCE_EXTRA_SURNAME = "achternaam van een naam uit metadata of sprekerslabel"
SOURCE_USER = "lijst verwijderen (pseudonimisering.yaml)"
SOURCE_USER_SURNAME = "achternaam uit lijst verwijderen (pseudonimisering.yaml)"
SOURCE_DISTRICT = "wijk, buurt of locatie (wijkenlijst)"
SOURCE_PROPAGATED = "verspreiding: elders in de batch gevonden"
# Categories that are names (cleaned with the policy tables, propagated over the batch).
_NAME_CATEGORIES = frozenset({"PERSOON", "LOCATIE", "INSTELLING"})

# deduce processors we replace with our own logic: its overlap resolver drops the shorter of
# two overlapping names ("Paul" of "collega Paul Blokhuis" when "Blokhuis" is an extra name;
# :func:`resolve` replaces the union instead), its adjacent-span merge also glues names across
# a full stop ("mevrouw Agema. Mevrouw Hermans"), and placeholders are numbered per batch.
_DEDUCE_DISABLED = frozenset({"overlap_resolver", "merge_adjacent_annotations", "redactor"})

# Tags of the annotators codeer adds to deduce's pipeline (see configure_deduce and
# _extra_name_annotator): dates deduce misses, extra names and their surnames alone, and
# listed terms (districts, the researcher's places and institutions) as
# "codeer_term|CATEGORY|source".
_DATE_TAG = "codeer_datum"
_MONTH_TAG = "codeer_maand"
_EXTRA_TAG = "codeer_naam"
_ALIAS_TAG = "codeer_achternaam"
_TERM_TAG = "codeer_term"
_EXTRA_PROCESSOR = "codeer_extra_names"
_TERM_PROCESSOR = "codeer_terms"
_MONTH_PROCESSOR = "codeer_months"

_POSTCODE = re.compile(r"\d{4}\s?[A-Za-z]{2}")
_MONTHS = (
    r"(?i:januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|"
    r"december)|(?:jan|feb|mrt|apr|jun|jul|aug|sept|sep|okt|nov|dec)\.?"
)
_YEAR = r"(?:(?:19|20)\d\d|['’]\d\d)"  # 2021, '21
_DATE_PATTERNS = (
    # 3 april, 3 april 2021, 3e mei, 3 apr., 3 april '21
    re.compile(rf"(?<![\w-])\d{{1,2}}(?:e|ste|de)?\s+(?:{_MONTHS})(?:\s+{_YEAR})?(?!\w)"),
    # maart 2021, maart '21
    re.compile(rf"(?<![\w-])(?:{_MONTHS})\s+{_YEAR}(?!\w)"),
)
# A month name alone ("in april"): replaced only with ``losse_maanden: vervangen``. Full names
# only: the abbreviations ("jan", "mrt") are first names or ordinary words alone.
_MONTH_ALONE = re.compile(
    r"(?<![\w-])(?i:januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|"
    r"november|december)(?![\w-])"
)
# Phone numbers deduce misses: international notation with spaces ("+31 10 123 4567",
# "0031 (0)6 1234 5678", "+32 2 123 45 67"). Dutch numbers have 9 digits after +31.
_SEPCHAR = r"[ \u00a0.\-]"
_PHONE_INTL = re.compile(
    rf"(?<![\w+])(?:\+|00){_SEPCHAR}?(?:31{_SEPCHAR}*(?:\(0\){_SEPCHAR}*)?[1-9]"
    rf"(?:{_SEPCHAR}?\d){{8}}|(?!31)[1-9]\d{{0,2}}{_SEPCHAR}*(?:\(0\){_SEPCHAR}*)?\d"
    rf"(?:{_SEPCHAR}?\d){{5,12}})(?!\d)"
)
# E-mail addresses with any top-level domain: deduce knows only .com, .nl, .org and nine others
# (its regex missed "r.schouten@gemeente.example").
_EMAIL = re.compile(
    r"(?<![\w.%+\-])[\w.%+\-]+@[^\W_](?:[\w\-]*[^\W_])?(?:\.[^\W_](?:[\w\-]*[^\W_])?)*"
    r"\.[^\W\d_]{2,}(?![\w\-])"
)
_URL = re.compile(r"(?<![\w@/.])(?:https?://|www\.)[^\s<>\"'\[\]()]+")
# IBAN: two letters, two check digits, 11 to 30 letters or digits, in groups of four or not.
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?=[ ]?[A-Z0-9])")
_IBAN_NL = re.compile(r"NL\d{2}[ ]?[A-Z]{4}(?:[ ]?\d){10}(?![A-Za-z0-9])")
# Dutch licence plates (kentekens), sidecodes 1 to 14, written with hyphens, letters capital.
_PLATE = re.compile(
    r"(?<![\w-])(?:[A-Z]{2}-\d{2}-\d{2}|\d{2}-\d{2}-[A-Z]{2}|\d{2}-[A-Z]{2}-\d{2}"
    r"|[A-Z]{2}-\d{2}-[A-Z]{2}|[A-Z]{2}-[A-Z]{2}-\d{2}|\d{2}-[A-Z]{2}-[A-Z]{2}"
    r"|\d{2}-[A-Z]{3}-\d|\d-[A-Z]{3}-\d{2}|[A-Z]{2}-\d{3}-[A-Z]|[A-Z]-\d{3}-[A-Z]{2}"
    r"|[A-Z]{3}-\d{2}-[A-Z]|[A-Z]-\d{2}-[A-Z]{3}|\d-[A-Z]{2}-\d{3}|\d{3}-[A-Z]{2}-\d)(?![\w-])"
)
_EDGE_PUNCT = " \t\r\n,;:!?()[]{}\"“”‘’*_«»"
_LEAD_PUNCT = _EDGE_PUNCT.replace("’", "")  # keep the apostrophe of "’s-Hertogenbosch"
_TAIL_PUNCT = _EDGE_PUNCT.replace("‘", "")
_TOKEN = re.compile(r"\S+")
# Between the words of an extra name: spaces, or "_"/"-" as in file names and URL slugs
# ("Interview_Erik_Veerman.docx", "interview-with-erik-veerman").
_SEP = r"(?:\s+|[_\-])"
_LETTER = re.compile(r"[^\W\d_]")
_STRAIGHT_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})


def _words(phrase: str) -> tuple[str, ...]:
    """Normalised words of a phrase: case-folded, edge punctuation and inner commas dropped."""
    out = []
    for token in phrase.replace(",", " ").split():
        word = token.strip(_EDGE_PUNCT + ".").casefold()
        if word:
            out.append(word)
    return tuple(out)


_KEEP_PHRASES = frozenset(_words(t) for t in KEEP_TERMS)
_LEAD_PHRASES = frozenset(_words(t) for t in _TITLES + _LEAD_WORDS) | _KEEP_PHRASES
_MAX_PHRASE = max(len(p) for p in _LEAD_PHRASES)


@dataclass(frozen=True)
class KeepPolicy:
    """The words and phrases a name span may not consist of or start with (see the module
    docstring): :data:`KEEP_TERMS` plus the researcher's ``behouden`` terms (and the districts
    when they are kept).

    Attributes:
        keep: Normalised keep phrases (never replaced when a detector tags them).
        lead: Keep phrases plus titles and sentence-initial words (cut from a name's front).
        max_phrase: Words in the longest phrase.
    """

    keep: frozenset[tuple[str, ...]]
    lead: frozenset[tuple[str, ...]]
    max_phrase: int

    @classmethod
    def with_terms(cls, terms: Iterable[str] = ()) -> KeepPolicy:
        """The default policy plus ``terms``."""
        extra = frozenset(w for w in (_words(t) for t in terms) if w)
        keep, lead = _KEEP_PHRASES | extra, _LEAD_PHRASES | extra
        return cls(keep, lead, max(len(p) for p in lead))


DEFAULT_KEEP = KeepPolicy(_KEEP_PHRASES, _LEAD_PHRASES, _MAX_PHRASE)


def normalise(original: str) -> str:
    """Key under which an original is recognised again: case-folded, spacing and hyphens collapsed.

    Args:
        original: The replaced text as it occurs.

    Returns:
        The normalised key ("Dik-Faber", "dik  faber" and "Dik_Faber" all give "dik faber").
    """
    text = original.translate(_STRAIGHT_QUOTES).strip(_EDGE_PUNCT).casefold()
    return re.sub(r"[\s\-‐–_]+", " ", text).strip()


# --------------------------------------------------------------------------- deduce instance

_DEDUCE: Any = None


def get_deduce() -> Any:
    """The process-wide ``deduce.Deduce`` instance, created on first use.

    Importing deduce calls ``logging.basicConfig(level=DEBUG)`` on the root logger; that side
    effect is undone here so the pipeline's own logging is not flooded.

    The instance holds millions of small objects (its lookup tries). They are moved out of the
    garbage collector's reach (``gc.freeze`` plus a reference to itself), so later collections
    do not traverse them and the process does not spend ~25 s tearing them down at exit.

    Raises:
        CodeerError: deduce is not installed.
    """
    global _DEDUCE
    if _DEDUCE is None:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            from deduce import Deduce
        except ImportError:
            raise CodeerError(_(
                "Pseudonymisation needs the 'deduce' package (pip install deduce==3.0.6, or run "
                "`make setup`), or switch pseudonymisation off."
            )) from None
        finally:
            for handler in list(root.handlers):
                if handler not in handlers:
                    root.removeHandler(handler)
            root.setLevel(level)
        log.info(_("Loading deduce (the first time on this machine it builds a cache: ~2 min)"))
        instance = Deduce()
        configure_deduce(instance)
        instance._codeer_keepalive = instance  # a cycle: never freed by reference counting
        gc.freeze()
        _DEDUCE = instance
    return _DEDUCE


def configure_deduce(deduce: Any) -> None:
    """Extend a ``Deduce`` instance through its own extension points (once per instance).

    * the function words of :data:`FUNCTION_TERMS` join deduce's ``whitelist`` lookup set, which
      its name patterns consult ("prefix + name", "initial + name", the context rules);
    * a docdeid annotator in deduce's ``dates`` group adds the dates deduce misses
      (:func:`date_candidates`: "3 april", "maart 2021");
    * docdeid annotators in deduce's ``phone_numbers``, ``email_addresses``, ``urls`` and
      ``identifiers`` groups add what deduce's own regular expressions miss: international
      phone numbers, e-mail and web addresses with any domain, IBANs (one span, not a phone
      number inside a bank account) and Dutch licence plates.

    What depends on the batch is added for each call and removed after it
    (:meth:`Pseudonymiser._detect`): the extra names and the listed terms (districts, the
    researcher's places and institutions) as annotators in the ``names`` group, month names
    alone when configured, and the researcher's ``behouden`` words in the whitelist.
    Overlaps, the adjacent-name merge and the
    placeholders stay with codeer (:data:`_DEDUCE_DISABLED`): a docdeid redactor returns only
    the new text, while codeer needs the offset map (quotes and REFI-QDA selections are cut
    from the pseudonymised text) and one numbering for the batch and later ``text()`` calls.
    """
    if getattr(deduce, "_codeer_configured", False):
        return
    deduce.lookup_structs["whitelist"].add_items_from_iterable(
        [w for w in FUNCTION_TERMS if " " not in w])
    deduce.processors["dates"].add_processor(
        "codeer_dates", _annotator(date_candidates, lambda c: _DATE_TAG))
    for group, name, tag, find in _IDENTIFIER_ANNOTATORS:
        deduce.processors[group].add_processor(name, _annotator(find, lambda c, t=tag: t))
    deduce._codeer_configured = True


@contextlib.contextmanager
def _deduce_session(deduce: Any, annotators: Sequence[tuple[str, str, Any]],
                    whitelist: Iterable[str]) -> Iterator[None]:
    """Add per-batch annotators ``(group, name, annotator)`` and whitelist words for one call.

    deduce is one instance per process: what one batch adds is removed again, so the next
    batch (with other names or settings) starts from the same state.
    """
    words = deduce.lookup_structs["whitelist"]
    added = [w for w in dict.fromkeys(whitelist) if w not in words]
    words.add_items_from_iterable(added)
    for group, name, annotator in annotators:
        deduce.processors[group].add_processor(name, annotator)
    try:
        yield
    finally:
        for group, name, _annotator in annotators:
            deduce.processors[group].remove_processor(name)
        words.remove_items_from_iterable(added)


def _annotator(find: Callable[[str], list[Candidate]], tag: Callable[[Candidate], str]) -> Any:
    """A docdeid annotator that turns ``find(text)``'s candidates into annotations."""
    import docdeid as dd

    class CandidateAnnotator(dd.process.Annotator):
        def annotate(self, doc: Any) -> list[Any]:
            text = doc.text
            return [dd.Annotation(text=text[c.start:c.end], start_char=c.start, end_char=c.end,
                                  tag=tag(c), priority=c.priority) for c in find(text)]

    return CandidateAnnotator(tag="codeer")


def _extra_name_annotator(matcher: NameMatcher) -> Any:
    """The extra names of ``matcher`` as a docdeid annotator: full names get the tag
    :data:`_EXTRA_TAG`, a surname alone :data:`_ALIAS_TAG` (it takes the full name's
    placeholder); both win any overlap (priority 2, :func:`resolve`)."""
    surname = (SOURCE_EXTRA_SURNAME, SOURCE_USER_SURNAME)
    return _annotator(matcher.candidates,
                      lambda c: _ALIAS_TAG if c.source in surname else _EXTRA_TAG)


def _term_annotator(matcher: TermMatcher) -> Any:
    """The listed terms of ``matcher`` as a docdeid annotator; the tag carries the category
    and the source (``codeer_term|LOCATIE|...``), read back by :func:`deduce_candidates`."""
    return _annotator(matcher.candidates, lambda c: f"{_TERM_TAG}|{c.category}|{c.source}")


# --------------------------------------------------------------------------- pure helpers


class Candidate(NamedTuple):
    """A span that may be replaced.

    Attributes:
        start: First character (inclusive).
        end: Last character (exclusive).
        category: Placeholder category, e.g. ``"PERSOON"``.
        key: Normalised original of this span (one key-table row per category and key).
        link: Key whose placeholder this span takes (differs from ``key`` for a surname alias).
        priority: Higher wins an overlap (extra names and listed terms 2, everything else 1).
        source: Which detector found it, in words (for the overview of replacements).
    """

    start: int
    end: int
    category: str
    key: str
    link: str
    priority: int
    source: str = ""


def _tokens(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """Whitespace tokens of ``text[start:end]`` as (start, end, normalised word)."""
    out = []
    for m in _TOKEN.finditer(text, start, end):
        word = m.group().strip(_EDGE_PUNCT + ".").casefold()
        if word:
            out.append((m.start(), m.end(), word))
    return out


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """Move ``start``/``end`` inwards past spaces, brackets, quotes and markdown marks."""
    while start < end and text[start] in _LEAD_PUNCT:
        start += 1
    while end > start and text[end - 1] in _TAIL_PUNCT:
        end -= 1
    return start, end


def _covered(words: Sequence[str], policy: KeepPolicy = DEFAULT_KEEP) -> bool:
    """Whether ``words`` consist only of keep phrases, interfixes and connectors."""
    i = 0
    while i < len(words):
        for n in range(min(policy.max_phrase, len(words) - i), 0, -1):
            if tuple(words[i : i + n]) in policy.keep:
                i += n
                break
        else:
            if words[i] in _INTERFIXES or words[i] in _CONNECTORS:
                i += 1
            else:
                return False
    return True



def _strip_lead(tokens: list, words: list[str],
                policy: KeepPolicy = DEFAULT_KEEP) -> tuple[list, list[str]]:
    """Drop leading titles, functions and keep phrases (``policy.lead``) from a span."""
    changed = True
    while changed and tokens:
        changed = False
        for n in range(min(policy.max_phrase, len(tokens)), 0, -1):
            if tuple(words[:n]) in policy.lead:
                tokens, words, changed = tokens[n:], words[n:], True
                break
    return tokens, words

def clean_span(text: str, start: int, end: int,
               policy: KeepPolicy = DEFAULT_KEEP) -> tuple[int, int] | None:
    """Apply the keep policy to one name span found by deduce.

    Cuts titles, keep terms and common sentence-initial words from the front, keep phrases from
    the end, dangling interfixes and punctuation from both ends; drops the span when nothing
    name-like is left.

    Args:
        text: The whole text.
        start: Span start.
        end: Span end (exclusive).
        policy: The keep terms (default: :data:`KEEP_TERMS`).

    Returns:
        The cleaned ``(start, end)`` or ``None`` when the span must not be replaced.
    """
    tokens = _tokens(text, start, end)
    words = [t[2] for t in tokens]
    if not tokens or _covered(words, policy):
        return None
    # Front: titles, functions, keep terms, sentence-initial words.
    tokens, words = _strip_lead(tokens, words, policy)
    # End: a keep phrase of two or more words, or one keep word after an interfix.
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        for n in range(min(policy.max_phrase, len(tokens) - 1), 0, -1):
            tail = tuple(words[-n:])
            if tail in policy.keep and (n > 1 or words[-n - 1] in _INTERFIXES):
                tokens, words, changed = tokens[:-n], words[:-n], True
                break
        while len(tokens) > 1 and words[-1] in _INTERFIXES:
            tokens, words, changed = tokens[:-1], words[:-1], True
    if not tokens or _covered(words, policy):
        return None
    s, e = _strip(text, tokens[0][0], tokens[-1][1])
    # A trailing full stop belongs to the sentence unless it ends an initial ("J.").
    if e > s and text[e - 1] == "." and not re.search(r"(?:^|[\s.])\w\.$", text[s:e]):
        e -= 1
    if e <= s or not _LETTER.search(text, s, e):
        return None
    return s, e


def category_of(tag: str, original: str) -> str:
    """Placeholder category for a deduce tag (postal codes get their own category)."""
    category = _CATEGORY_BY_TAG.get(tag, re.sub(r"\W+", "_", tag).upper() or "OVERIG")
    if category == "LOCATIE" and _POSTCODE.fullmatch(original.strip()):
        return "POSTCODE"
    return category


def _tag_source(tag: str) -> str:
    """Readable detector name for a deduce or codeer annotation tag."""
    return _SOURCE_BY_TAG.get(tag) or f"deduce: {tag}"


def deduce_candidates(text: str, annotations: Iterable[Any],
                      alias_link: dict[str, str] | None = None,
                      policy: KeepPolicy = DEFAULT_KEEP,
                      sources: dict[str, str] | None = None) -> list[Candidate]:
    """Turn deduce annotations into cleaned candidates (names merged where adjacent).

    Args:
        text: The text deduce annotated.
        annotations: deduce/docdeid ``Annotation`` objects (``start_char``, ``end_char``,
            ``tag``), the extra names of :func:`_extra_name_annotator` and the listed terms of
            :func:`_term_annotator` among them.
        alias_link: Surname alone -> key of its full name (:attr:`NameMatcher.alias_link`).
        policy: The keep terms applied to deduce's name spans.
        sources: Extra name key -> why it is replaced (:attr:`NameMatcher.sources`).

    Returns:
        Candidates sorted by start: names non-overlapping among themselves; extra names and
        listed terms (priority 2) and other categories may overlap them (:func:`resolve`
        decides).
    """
    raw: list[tuple[int, int, str, str]] = []
    passed: list[Candidate] = []
    for ann in annotations:
        start, end = int(ann.start_char), int(ann.end_char)
        tag = str(ann.tag)
        if tag in (_EXTRA_TAG, _ALIAS_TAG):
            key = normalise(text[start:end])
            link = (alias_link or {}).get(key, key) if tag == _ALIAS_TAG else key
            source = (sources or {}).get(key, SOURCE_EXTRA if tag == _EXTRA_TAG
                                         else SOURCE_EXTRA_SURNAME)
            passed.append(Candidate(start, end, "PERSOON", key, link, 2, source))
            continue
        if tag.startswith(_TERM_TAG + "|"):
            _tag, category, source = tag.split("|", 2)
            key = normalise(text[start:end])
            passed.append(Candidate(start, end, category, key, key, 2, source))
            continue
        category = category_of(tag, text[start:end])
        if category in _NAME_CATEGORIES:
            # One span across a sentence end ("de Vries. De Vries") is split first.
            cuts = [m.end() for m in _SENTENCE_END.finditer(text, start, end)]
            bounds = [start, *cuts, end]
            for part_start, part_end in zip(bounds, bounds[1:], strict=False):
                cleaned = clean_span(text, part_start, part_end, policy)
                if cleaned is not None:
                    raw.append((*cleaned, category, tag))
            continue
        start, end = _strip(text, start, end)
        if end > start:
            key = normalise(text[start:end])
            passed.append(Candidate(start, end, category, key, key, 1, _tag_source(tag)))
    raw.sort()
    merged: list[tuple[int, int, str, str]] = []
    for start, end, category, tag in raw:
        if merged:
            p_start, p_end, p_cat, p_tag = merged[-1]
            gap = text[p_end:start]
            # Same-category names separated only by a space or hyphen are one name ("Jan"
            # "de Vries"); a full stop only joins after an initial ("J. Vries").
            if p_cat == category and category in _NAME_CATEGORIES and start >= p_end and (
                re.fullmatch(r"[ \-]?", gap)
                or (re.fullmatch(r"\. ?", gap) and re.search(r"(?:^|\W)\w$", text[p_start:p_end]))
            ):
                merged[-1] = (p_start, end, category, p_tag)
                continue
            if start < p_end:  # overlap after cleaning: keep the first
                continue
        merged.append((start, end, category, tag))
    out = []
    for s, e, c, tag in merged:
        if c == "PERSOON":
            s = _with_first_name(text, s, policy)
        key = normalise(text[s:e])
        out.append(Candidate(s, e, c, key, key, 1, _tag_source(tag)))
    return sorted(out + passed, key=lambda c: (c.start, -c.end))


_SENTENCE_END = re.compile(r"(?<=[^\W\d_]{2})[.!?]\s+")
_FIRST_NAME_BEFORE = re.compile(r"(?<![\w.\-/])([A-ZÀ-Þ][^\W\d_]+) $")


def _with_first_name(text: str, start: int, policy: KeepPolicy = DEFAULT_KEEP) -> int:
    """Extend a surname that starts with an interfix by the capitalised word before it.

    deduce does not know every first name: in "was Raph de Rooij" it tags "de Rooij" only. A
    capitalised word right before a lower-case interfix, not at the start of a sentence and
    not a title or keep term, is taken as the first name.
    """
    first = text[start : start + 4].split(" ", 1)[0]
    if first not in _INTERFIXES:  # case-sensitive: "De Vries" at a sentence start is no hint
        return start
    m = _FIRST_NAME_BEFORE.search(text, max(0, start - 40), start)
    if m is None or (m.group(1).casefold(),) in policy.lead:
        return start
    before = text[: m.start()].rstrip(" ")
    if not before or before[-1] in ".!?:;\n\"“‘(":
        return start
    return m.start()


def _matches(pattern: re.Pattern[str], text: str, category: str, tag: str) -> list[Candidate]:
    out = []
    for m in pattern.finditer(text):
        key = normalise(m.group())
        out.append(Candidate(m.start(), m.end(), category, key, key, 1, _tag_source(tag)))
    return out


def date_candidates(text: str) -> list[Candidate]:
    """Dates deduce misses: "3 april", "maart 2021", "april '21" (a day or a year is
    required)."""
    return [c for pattern in _DATE_PATTERNS for c in _matches(pattern, text, "DATUM", _DATE_TAG)]


def month_candidates(text: str) -> list[Candidate]:
    """Month names alone ("in april"), for ``losse_maanden: vervangen``."""
    return _matches(_MONTH_ALONE, text, "DATUM", _MONTH_TAG)


def phone_candidates(text: str) -> list[Candidate]:
    """Phone numbers in international notation deduce misses ("+31 10 123 4567")."""
    return _matches(_PHONE_INTL, text, "TELEFOONNUMMER", "codeer_telefoonnummer")


def email_candidates(text: str) -> list[Candidate]:
    """E-mail addresses with any top-level domain ("r.schouten@gemeente.example")."""
    return _matches(_EMAIL, text, "EMAIL", "codeer_emailadres")


def url_candidates(text: str) -> list[Candidate]:
    """Web addresses starting with ``http(s)://`` or ``www.``, whatever their domain."""
    out = []
    for m in _URL.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?'\"":
            end -= 1
        key = normalise(text[m.start():end])
        out.append(Candidate(m.start(), end, "URL", key, key, 1, _tag_source("codeer_url")))
    return out


_IBAN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _iban_valid(compact: str) -> bool:
    """The ISO 13616 check: the number, letters as 10-35, rotated, modulo 97 is 1."""
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rotated)) % 97 == 1


def iban_candidates(text: str) -> list[Candidate]:
    """Bank account numbers (IBAN), compact or in groups of four, as ONE span.

    A Dutch IBAN (NL, two digits, four letters, ten digits) is taken by its form alone; other
    countries' need a valid check number (so "AB12 CDEF GHIJ" in a text stays).
    """
    spans = [(m.start(), m.end()) for m in _IBAN_NL.finditer(text)]
    for m in _IBAN_START.finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        compact, ends = m.group(), []
        pos = m.end()
        while pos < len(text) and len(compact) < 34:
            if text[pos] == " " and pos + 1 < len(text) and text[pos + 1] in _IBAN_CHARS:
                pos += 1
            if pos < len(text) and text[pos] in _IBAN_CHARS:
                compact += text[pos]
                pos += 1
                if pos == len(text) or not text[pos].isalnum():
                    ends.append((len(compact), pos))
            else:
                break
        for n, end in reversed(ends):
            if n >= 15 and _iban_valid(compact[:n]):
                spans.append((m.start(), end))
                break
    tag = "codeer_iban"
    return [Candidate(s, e, "IBAN", normalise(text[s:e]), normalise(text[s:e]), 1,
                      _tag_source(tag)) for s, e in sorted(spans)]


def plate_candidates(text: str) -> list[Candidate]:
    """Dutch licence plates in all fourteen sidecodes ("12-ABC-3", "AB-12-CD")."""
    return _matches(_PLATE, text, "KENTEKEN", "codeer_kenteken")


#: codeer's detectors for identifiers deduce misses, by deduce processor group and tag.
_IDENTIFIER_ANNOTATORS: tuple[tuple[str, str, str, Callable[[str], list[Candidate]]], ...] = (
    ("phone_numbers", "codeer_phone", "codeer_telefoonnummer", phone_candidates),
    ("email_addresses", "codeer_email", "codeer_emailadres", email_candidates),
    ("urls", "codeer_url", "codeer_url", url_candidates),
    ("identifiers", "codeer_iban", "codeer_iban", iban_candidates),
    ("identifiers", "codeer_kenteken", "codeer_kenteken", plate_candidates),
)


def _is_role_label(name: str) -> bool:
    """Whether a speaker label is a role ("Interviewer", "Respondent 2", "Spreker B")."""
    words = _words(name)
    return bool(words) and words[0] in _ROLE_LABELS and all(
        w in _ROLE_LABELS or w.isdigit() or len(w) == 1 for w in words
    )


def surname_alias(name: str, policy: KeepPolicy = DEFAULT_KEEP) -> str | None:
    """The surname of a full name, if specific enough to find it alone.

    Everything after the first token, when its core (after interfixes) starts with a capital
    and has at least 4 letters or carries an interfix, and is not a keep term.

    Args:
        name: A full name ("Sanne de Wit", "Rik Grashoff").

    Returns:
        The surname as written ("de Wit", "Grashoff") or ``None``.
    """
    tokens = name.split()
    if len(tokens) < 2 or tokens[0].casefold() in _INTERFIXES:
        return None
    rest = tokens[1:]
    i = 0
    while i < len(rest) - 1 and rest[i].casefold() in _INTERFIXES:
        i += 1
    core = rest[i:]
    if len(_LETTER.findall(" ".join(core))) < 4 and i == 0:
        return None
    if not core[0][:1].isupper() or _covered(_words(" ".join(core)), policy):
        return None
    return " ".join(rest)


def _name_tokens(name: object, policy: KeepPolicy = DEFAULT_KEEP) -> list[str]:
    """Tokens of an extra name without titles, functions and "(party)"; [] if no name."""
    if not isinstance(name, str):
        return []
    name = re.sub(r"\([^)]*\)", " ", name).replace(",", " ")
    tokens = [t.strip(_EDGE_PUNCT) for t in name.split()]
    tokens = [t for t in tokens if t.strip(".-")]
    words = [t.strip(".").casefold() for t in tokens]
    tokens, words = _strip_lead(tokens, words, policy)
    if not tokens or _covered(words, policy) or _is_role_label(" ".join(tokens)):
        return []
    if len(_LETTER.findall(" ".join(tokens))) < 2:
        return []
    return tokens


def _capital(token: str) -> str:
    """``token`` with a capital first letter unless it is an interfix (for metadata names)."""
    return token if token.casefold() in _INTERFIXES else token[:1].upper() + token[1:]


def _surname_pattern(tokens: Sequence[str]) -> str:
    """Pattern for a surname: particles in any case, the core's first letter a capital."""
    i = 0
    while i < len(tokens) - 1 and tokens[i].casefold() in _INTERFIXES:
        i += 1
    particles, core = tokens[:i], tokens[i:]
    head = core[0]
    return (
        "".join(rf"(?i:{re.escape(p)}){_SEP}" for p in particles)
        + f"[{re.escape(head[0].upper())}]"
        + rf"(?i:{re.escape(head[1:])})"
        + "".join(rf"{_SEP}(?i:{re.escape(t)})" for t in core[1:])
    )


@dataclass(frozen=True)
class NameMatcher:
    """Finds extra names (case-insensitive, whole words) and their surnames alone.

    Build it with :meth:`from_names`.

    Attributes:
        full: Pattern of the full names.
        alias: Pattern of the surnames alone.
        alias_link: Surname key -> key of its full name; a surname shared by two full names
            links to itself (two people: no shared placeholder).
        full_names: Full name key -> the name as given (for linking first names, see
            :meth:`Pseudonymiser._link`).
        sources: Key -> why it is replaced (metadata or the researcher's list).
    """

    full: re.Pattern[str] | None
    alias: re.Pattern[str] | None
    alias_link: dict[str, str]
    full_names: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_names(cls, names: Iterable[str], user_names: Iterable[str] = (),
                   policy: KeepPolicy = DEFAULT_KEEP) -> NameMatcher:
        """Compile the patterns for a list of names (see the module docstring for the rules).

        Args:
            names: Full names or speaker labels ("Sanne de Wit", "Minister Ollongren",
                "De heer Koerhuis (VVD)"); titles, functions and a parenthesised party or
                department are dropped first.
            user_names: The researcher's ``verwijderen`` persons (same rules, other source).
            policy: The keep terms (a surname that is a keep term is not matched alone).
        """
        full_parts: dict[str, str] = {}
        alias_parts: dict[str, str] = {}
        alias_links: dict[str, set[str]] = {}
        full_names: dict[str, str] = {}
        sources: dict[str, str] = {}
        given = [(n, SOURCE_EXTRA, SOURCE_EXTRA_SURNAME) for n in names]
        given += [(n, SOURCE_USER, SOURCE_USER_SURNAME) for n in user_names]
        for name, source, alias_source in given:
            tokens = _name_tokens(name, policy)
            if not tokens:
                continue
            key = normalise(" ".join(tokens))
            sources.setdefault(key, source)
            if len(tokens) == 1 or tokens[0].casefold() in _INTERFIXES:
                # "Bakker", "De Jonge": could be ordinary words, so the capital is required.
                full_parts[key] = _surname_pattern(tokens)
                continue
            full_parts[key] = "(?i:" + _SEP.join(re.escape(t) for t in tokens) + ")"
            full_names.setdefault(key, " ".join(tokens))
            # Surname alone: everything after the first token (leading interfixes included).
            surname = surname_alias(" ".join(tokens[:1] + [_capital(t) for t in tokens[1:]]),
                                    policy)
            if surname is None:
                continue
            rest = tokens[1:]
            alias_key = normalise(" ".join(rest))
            alias_parts.setdefault(alias_key, _surname_pattern(rest))
            alias_links.setdefault(alias_key, set()).add(key)
            sources.setdefault(alias_key, alias_source)
        alias_link = {
            a: next(iter(keys)) if len(keys) == 1 else a for a, keys in alias_links.items()
            if a not in full_parts
        }
        alias_parts = {a: v for a, v in alias_parts.items() if a not in full_parts}

        def compile_(parts: dict[str, str]) -> re.Pattern[str] | None:
            if not parts:
                return None
            body = "|".join(sorted(parts.values(), key=len, reverse=True))
            return re.compile(rf"(?<![^\W_])(?:{body})(?![^\W_])")

        return cls(compile_(full_parts), compile_(alias_parts), alias_link, full_names, sources)

    def candidates(self, text: str) -> list[Candidate]:
        """All matches in ``text`` (priority 2: they win any overlap with deduce)."""
        out = []
        if self.full is not None:
            for m in self.full.finditer(text):
                key = normalise(m.group())
                out.append(Candidate(m.start(), m.end(), "PERSOON", key, key, 2,
                                     self.sources.get(key, SOURCE_EXTRA)))
        if self.alias is not None:
            for m in self.alias.finditer(text):
                key = normalise(m.group())
                link = self.alias_link.get(key, key)
                out.append(Candidate(m.start(), m.end(), "PERSOON", key, link, 2,
                                     self.sources.get(key, SOURCE_EXTRA_SURNAME)))
        return out


def _term_pattern(term: str) -> str | None:
    """Pattern for a listed place or institution: capitals as written, except an interfix or
    article ("van", "De"), which may be in any case; words joined by space, "-" or "_"."""
    tokens = [t for t in re.split(r"[\s_\-]+", term.strip()) if t]
    if not tokens:
        return None
    parts = []
    for token in tokens:
        if token.casefold() in _INTERFIXES:
            parts.append(f"(?i:{re.escape(token)})")
        else:
            parts.append(re.escape(token[0]) + f"(?i:{re.escape(token[1:])})")
    return _SEP.join(parts)


@dataclass(frozen=True)
class TermMatcher:
    """Finds listed terms of one category: the districts, the researcher's places and
    institutions. Whole words; see :func:`_term_pattern` for the spelling rules.

    Attributes:
        groups: ``(category, source, pattern)`` per list.
    """

    groups: tuple[tuple[str, str, re.Pattern[str]], ...] = ()

    @classmethod
    def from_lists(cls, lists: Iterable[tuple[str, str, Iterable[str]]],
                   policy: KeepPolicy = DEFAULT_KEEP) -> TermMatcher:
        """Compile ``(category, source, terms)`` lists; terms that are keep terms are left out.
        """
        groups = []
        for category, source, terms in lists:
            parts = {
                pat for t in terms
                if not _covered(_words(t), policy) and (pat := _term_pattern(t)) is not None
            }
            if parts:
                body = "|".join(sorted(parts, key=len, reverse=True))
                groups.append((category, source,
                               re.compile(rf"(?<![^\W_])(?:{body})(?![^\W_])")))
        return cls(tuple(groups))

    def candidates(self, text: str) -> list[Candidate]:
        """All matches in ``text`` (priority 2, like the extra names)."""
        out = []
        for category, source, pattern in self.groups:
            for m in pattern.finditer(text):
                key = normalise(m.group())
                out.append(Candidate(m.start(), m.end(), category, key, key, 2, source))
        return out


SurfaceIndex = dict[str, list[tuple[int, str, str, str]]]


def index_surfaces(surfaces: dict[str, str]) -> SurfaceIndex:
    """Index known originals by their first word, for :func:`surface_candidates`.

    Args:
        surfaces: Known original strings (exact spelling) -> category.

    Returns:
        First word -> ``(offset of that word, surface, category, key)``, longest first.
    """
    index: SurfaceIndex = {}
    for surface, category in surfaces.items():
        m = re.search(r"\w+", surface)
        if m:
            entry = (m.start(), surface, category, normalise(surface))
            index.setdefault(m.group(), []).append(entry)
    for entries in index.values():
        entries.sort(key=lambda x: -len(x[1]))
    return index


def surface_candidates(text: str, index: SurfaceIndex) -> list[Candidate]:
    """Every exact (case-sensitive, whole-word) occurrence of already known names.

    Args:
        text: Text to scan.
        index: Known originals, from :func:`index_surfaces`.

    Returns:
        Candidates (priority 1).
    """
    out = []
    for m in re.finditer(r"\w+", text):
        for offset, surface, category, key in index.get(m.group(), ()):
            s = m.start() - offset
            e = s + len(surface)
            if s < 0 or not text.startswith(surface, s):
                continue
            if (s > 0 and text[s - 1].isalnum()) or (e < len(text) and text[e].isalnum()):
                continue
            out.append(Candidate(s, e, category, key, key, 1, SOURCE_PROPAGATED))
            break
    return out


def resolve(text: str, candidates: Iterable[Candidate]) -> list[Candidate]:
    """Merge overlapping candidates into one replacement each.

    Overlapping candidates form one cluster that is replaced as a whole (so "collega Paul
    Blokhuis" with the extra name "Blokhuis" leaves no "Paul" behind). The cluster takes the
    category and placeholder of its best member: higher priority, then longer, then earlier.

    Args:
        text: The text the candidates point into.
        candidates: Possibly overlapping candidates.

    Returns:
        Non-overlapping candidates sorted by start.
    """
    ordered = sorted((c for c in candidates if c.end > c.start), key=lambda c: (c.start, -c.end))
    clusters: list[list[Candidate]] = []
    end = -1
    for cand in ordered:
        if clusters and cand.start < end:
            clusters[-1].append(cand)
            end = max(end, cand.end)
        else:
            clusters.append([cand])
            end = cand.end
    out = []
    for cluster in clusters:
        best = min(cluster, key=lambda c: (-c.priority, c.start - c.end, c.start))
        start, stop = cluster[0].start, max(c.end for c in cluster)
        if (start, stop) != (best.start, best.end):
            best = best._replace(start=start, end=stop, key=normalise(text[start:stop]))
        out.append(best)
    return out


# --------------------------------------------------------------------------- public API


@dataclass
class PseudoDoc:
    """A pseudonymised text with the offset map back to the original.

    Attributes:
        text: The pseudonymised text.
        spans: ``(old_start, old_end, new_start, new_end)`` per replacement, sorted.
    """

    text: str
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._old_starts = [s[0] for s in self.spans]

    def _before(self, pos: int, inclusive_start: bool) -> int:
        """Index of the last span starting before ``pos`` (at ``pos`` if inclusive), or -1."""
        if inclusive_start:
            return bisect.bisect_right(self._old_starts, pos) - 1
        return bisect.bisect_left(self._old_starts, pos) - 1

    def map_start(self, pos: int) -> int:
        """New offset for a selection START at old offset ``pos``.

        A start inside a replaced span moves to the placeholder's start.
        """
        i = self._before(pos, inclusive_start=True)
        if i < 0:
            return pos
        old_start, old_end, new_start, new_end = self.spans[i]
        if pos < old_end:
            return new_start
        return new_end + (pos - old_end)

    def map_end(self, pos: int) -> int:
        """New offset for a selection END (exclusive) at old offset ``pos``.

        An end inside a replaced span (or at its end) moves to the placeholder's end.
        """
        i = self._before(pos, inclusive_start=False)
        if i < 0:
            return pos
        old_start, old_end, new_start, new_end = self.spans[i]
        if pos <= old_end:
            return new_end
        return new_end + (pos - old_end)


def apply(text: str, replacements: Sequence[tuple[int, int, str]]) -> PseudoDoc:
    """Replace non-overlapping ``(start, end, placeholder)`` spans and record the offset map.

    Args:
        text: Original text.
        replacements: Sorted, non-overlapping replacements.

    Returns:
        The :class:`PseudoDoc`.
    """
    parts: list[str] = []
    spans: list[tuple[int, int, int, int]] = []
    pos = new = 0
    for start, end, placeholder in replacements:
        parts.append(text[pos:start])
        new += start - pos
        parts.append(placeholder)
        spans.append((start, end, new, new + len(placeholder)))
        new += len(placeholder)
        pos = end
    parts.append(text[pos:])
    return PseudoDoc("".join(parts), spans)


def _inside(cand: Candidate, spans: Sequence[tuple[int, int]]) -> bool:
    return any(s <= cand.start and cand.end <= e for s, e in spans)


def _outside(cands: list[Candidate], kept: Sequence[tuple[int, int]]) -> list[Candidate]:
    """The name candidates found by deduce or propagation that are not part of a kept term
    (names from the metadata and the researcher's lists stay: they are explicit)."""
    if not kept:
        return cands
    return [c for c in cands
            if c.priority != 1 or c.category not in _NAME_CATEGORIES or not _inside(c, kept)]


@dataclass
class _Row:
    placeholder: str
    original: str
    category: str
    link: str
    occurrences: int = 0


#: Columns of :meth:`Pseudonymiser.overview` (``OUT/private/pseudonymisation_overview.csv``).
OVERVIEW_COLUMNS = ("document_id", "start", "end", "original", "placeholder", "category",
                    "reason", "linked_to", "sentence")
_SENTENCE_LIMIT = 300
_BOUNDARY = re.compile(r"[.!?](?=\s)|\n")
_FULL_FIRST = re.compile(r"[A-ZÀ-Þ][^\W\d_]+(?:-[A-ZÀ-Þ]?[^\W\d_]+)*")
_INITIALS = re.compile(r"((?:[^\W\d_]\.\s?)+)\s*(\S.*)")


def sentence_around(text: str, start: int, end: int) -> str:
    """The sentence (or line) holding ``text[start:end]``, whitespace collapsed, clipped."""
    lo = max(0, start - _SENTENCE_LIMIT)
    hi = min(len(text), end + _SENTENCE_LIMIT)
    left = max((m.end() for m in _BOUNDARY.finditer(text, lo, start)), default=lo)
    right = next((m.end() for m in _BOUNDARY.finditer(text, end, hi)), hi)
    return " ".join(text[left:right].split())


def _full_name_parts(surface: str) -> tuple[str, set[str]] | None:
    """First name key and surname keys of a full person name ("Hans Verbeek" -> "hans",
    {"verbeek"}; "Jan Peter de Vries" -> "jan", {"peter de vries", "de vries"}), or ``None``
    when it is not a first name plus surname ("J. de Vries", "de Vries", "Verbeek")."""
    tokens = surface.split()
    if len(tokens) < 2 or not _FULL_FIRST.fullmatch(tokens[0]):
        return None
    if tokens[0].casefold() in _INTERFIXES or not tokens[-1][:1].isupper():
        return None
    rest = tokens[1:]
    surnames = {normalise(" ".join(rest))}
    tail = next((i for i, t in enumerate(rest) if t.casefold() in _INTERFIXES), len(rest) - 1)
    surnames.add(normalise(" ".join(rest[tail:])))
    return normalise(tokens[0]), surnames


@dataclass
class Pseudonymiser:
    """Batch pseudonymiser with one placeholder numbering for a whole run.

    Attributes:
        enabled: ``False`` makes every method an identity (no deduce is loaded).
        extra_names: Names known from metadata (interviewers, speaker labels); always replaced.
        settings: The researcher's settings (:mod:`pipeline.export.pseudo_settings`): terms to
            keep, extra names and terms to remove, the district and month policy.
    """

    enabled: bool = True
    extra_names: Sequence[str] = ()
    settings: Settings = field(default_factory=Settings)
    _placeholders: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)
    _counters: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _rows: dict[tuple[str, str], _Row] = field(default_factory=dict, init=False, repr=False)
    _votes: dict[str, dict[str, int]] = field(default_factory=dict, init=False, repr=False)
    _surfaces: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _index: SurfaceIndex | None = field(default=None, init=False, repr=False)
    _originals: set[str] = field(default_factory=set, init=False, repr=False)
    _matcher: NameMatcher | None = field(default=None, init=False, repr=False)
    _terms: TermMatcher | None = field(default=None, init=False, repr=False)
    _policy: KeepPolicy | None = field(default=None, init=False, repr=False)
    _keeper: TermMatcher = field(default_factory=TermMatcher, init=False, repr=False)
    _full: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _name_index: tuple[dict, dict, dict] | None = field(default=None, init=False, repr=False)
    _log: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)

    # ---- configuration

    def _kept_terms(self) -> list[str]:
        """The researcher's keep terms, plus the districts when they are kept (except those
        the researcher lists to remove: an explicit ``verwijderen`` wins)."""
        terms = list(self.settings.keep)
        if not self.settings.replace_districts:
            removed = {normalise(t) for _c, t in self.settings.remove}
            terms += [t for t in (*DISTRICTS, *self.settings.extra_districts)
                      if normalise(t) not in removed]
        return terms

    def _keep(self) -> KeepPolicy:
        if self._policy is None:
            self._policy = KeepPolicy.with_terms(self._kept_terms())
            # Where a kept term stands, no detector may replace a part of it ("Oud" of
            # "Oud-Crooswijk", "Nelle Fabriek" of "Van Nelle Fabriek").
            self._keeper = TermMatcher.from_lists([("", "", self._kept_terms())])
        return self._policy

    def _kept_spans(self, text: str) -> list[tuple[int, int]]:
        self._keep()
        return [(c.start, c.end) for c in self._keeper.candidates(text)]

    def _names(self) -> NameMatcher:
        if self._matcher is None:
            users = [t for c, t in self.settings.remove if c == "PERSOON"]
            self._matcher = NameMatcher.from_names(self.extra_names, users, self._keep())
        return self._matcher

    def _term_matcher(self) -> TermMatcher:
        if self._terms is None:
            lists: list[tuple[str, str, Iterable[str]]] = []
            if self.settings.replace_districts:
                lists.append(("LOCATIE", SOURCE_DISTRICT,
                              [*DISTRICTS, *self.settings.extra_districts]))
            for category in ("LOCATIE", "INSTELLING"):
                lists.append((category, SOURCE_USER,
                              [t for c, t in self.settings.remove if c == category]))
            self._terms = TermMatcher.from_lists(lists, self._keep())
        return self._terms

    def _whitelist(self) -> list[str]:
        """The researcher's one-word keep terms (and kept districts) for deduce's whitelist."""
        return [t.casefold() for t in self._kept_terms() if " " not in t.strip()]

    # ---- detection

    def _detect(self, text: str) -> list[Candidate]:
        """deduce candidates for one text; names are remembered for propagation."""
        if not text.strip():
            return []
        # Curly quotes as straight ones (same length, so offsets hold): deduce's lists know
        # "'s-Hertogenbosch" but not "’s-Hertogenbosch".
        plain = text.translate(_STRAIGHT_QUOTES)
        deduce = get_deduce()
        matcher, policy = self._names(), self._keep()
        annotators = [("names", _EXTRA_PROCESSOR, _extra_name_annotator(matcher)),
                      ("names", _TERM_PROCESSOR, _term_annotator(self._term_matcher()))]
        if self.settings.standalone_months:
            annotators.append(("dates", _MONTH_PROCESSOR,
                               _annotator(month_candidates, lambda c: _MONTH_TAG)))
        with _deduce_session(deduce, annotators, self._whitelist()):
            doc = deduce.deidentify(plain, disabled=set(_DEDUCE_DISABLED))
        found = deduce_candidates(text, doc.annotations, matcher.alias_link, policy,
                                  matcher.sources)
        found = _outside(found, self._kept_spans(text))
        # Listed places and institutions: a name deduce tags inside one ("Prins Alexander",
        # "Nelle Fabriek" in "Van Nelle Fabriek") is not a person of its own.
        listed = [(c.start, c.end) for c in found if c.priority == 2 and c.category != "PERSOON"]
        for cand in found:
            if cand.category not in _NAME_CATEGORIES or cand.priority != 1:
                continue
            if _inside(cand, listed):
                continue
            self._vote(cand.key, cand.category, 1)
            surface = text[cand.start : cand.end]
            if len(_LETTER.findall(surface)) >= 3:
                self._remember(surface, cand.key)
            if cand.category != "PERSOON":
                continue
            if _full_name_parts(surface) is not None and cand.key not in self._full:
                self._full[cand.key] = surface
                self._name_index = None
            alias = surname_alias(surface, policy)
            if alias is not None:
                self._vote(normalise(alias), "PERSOON", 0)
                self._remember(alias, normalise(alias))
        return found

    def _vote(self, key: str, category: str, weight: int) -> None:
        votes = self._votes.setdefault(key, {})
        before = self._category_of_key(key) if votes else None
        votes[category] = votes.get(category, 0) + weight
        if self._category_of_key(key) != before:
            self._index = None
            self._name_index = None

    def _remember(self, surface: str, key: str) -> None:
        if surface not in self._surfaces:
            self._surfaces[surface] = key
            self._index = None

    def _category(self, cand: Candidate) -> str:
        """One category per name over the batch: the one deduce gave it most often.

        deduce tags "Ellemeet" as a person after "mevrouw" and as a place elsewhere.
        """
        if cand.category not in _NAME_CATEGORIES or cand.key not in self._votes:
            return cand.category
        return self._category_of_key(cand.key)

    def _category_of_key(self, key: str) -> str:
        votes = self._votes[key]
        return max(votes, key=lambda c: votes[c])  # ties: the first category seen

    # ---- one person, one placeholder

    def _full_names(self) -> dict[str, str]:
        """Full person names of the batch (first name plus surname): key -> first spelling."""
        full = dict(self._names().full_names)
        for key, surface in self._full.items():
            if key not in full and self._category_of_key(key) == "PERSOON":
                full[key] = surface
        return full

    def _index_names(self) -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, str]]:
        """First name -> full name keys, surname -> full name keys, full name key -> spelling.
        """
        if self._name_index is None:
            firsts: dict[str, set[str]] = {}
            surnames: dict[str, set[str]] = {}
            full = self._full_names()
            for key, surface in full.items():
                parts = _full_name_parts(surface)
                if parts is None:
                    continue
                firsts.setdefault(parts[0], set()).add(key)
                for surname in parts[1]:
                    surnames.setdefault(surname, set()).add(key)
            self._name_index = (firsts, surnames, full)
        return self._name_index

    def _link(self, key: str) -> str | None:
        """The full name a person key belongs to, per the batch; ``None`` if nothing is known.

        A full name links to itself. A surname alone ("verbeek", also after a title: "meneer
        Verbeek" is cleaned to "Verbeek"), a first name alone ("hans") or initials with a
        surname ("h. verbeek") link to the one full name in the batch with that surname or
        first name. When two full names share it ("Hans Verbeek" and "Hans de Groot"), the
        key keeps a placeholder of its own: the batch does not tell which person is meant.
        """
        firsts, surnames, full = self._index_names()
        if key in full:
            return key
        options = surnames.get(key, set()) | firsts.get(key, set())
        if options:
            return next(iter(options)) if len(options) == 1 else key
        m = _INITIALS.fullmatch(key)
        if m and m.group(2) in surnames:
            first = m.group(1)[0]
            options = {f for f in surnames[m.group(2)] if f.startswith(first)}
            return options.pop() if len(options) == 1 else key
        return None

    def _person_link(self, cand: Candidate) -> str:
        link = self._link(cand.key)
        if link is None and cand.link != cand.key:
            link = self._link(cand.link)
        return link or cand.link

    # ---- replacement

    def _placeholder(self, category: str, link: str) -> str:
        ph = self._placeholders.get((category, link))
        if ph is None:
            n = self._counters.get(category, 0) + 1
            self._counters[category] = n
            ph = f"[{category}-{n}]"
            self._placeholders[(category, link)] = ph
        return ph

    def _finish(self, text: str, detected: list[Candidate],
                doc_id: str | None = None) -> PseudoDoc:
        """Add extra names, dates and known names; resolve; assign placeholders."""
        if self._index is None:
            self._index = index_surfaces(
                {surface: self._category_of_key(key) for surface, key in self._surfaces.items()}
            )
        candidates = (
            [c._replace(category=self._category(c)) if c.priority == 1 else c for c in detected]
            + _outside(surface_candidates(text, self._index), self._kept_spans(text))
        )
        replacements = []
        for cand in resolve(text, candidates):
            original = text[cand.start : cand.end]
            row = self._rows.get((cand.category, cand.key))
            if row is None:  # a known original keeps its first placeholder for good
                link = self._person_link(cand) if cand.category == "PERSOON" else cand.link
                ph = self._placeholder(cand.category, link)
                row = self._rows[(cand.category, cand.key)] = _Row(ph, original, cand.category,
                                                                   link)
            row.occurrences += 1
            self._originals.add(original)
            replacements.append((cand.start, cand.end, row.placeholder))
            linked = ""
            if row.category == "PERSOON" and row.link != normalise(original):
                linked = self._index_names()[2].get(row.link, row.link)
            self._log.append({
                "document_id": doc_id or "", "start": cand.start, "end": cand.end,
                "original": original, "placeholder": row.placeholder, "category": row.category,
                "reason": cand.source or SOURCE_PROPAGATED, "linked_to": linked,
                "sentence": sentence_around(text, cand.start, cand.end),
            })
        return apply(text, replacements)

    # ---- public

    def documents(self, texts: dict[str, str]) -> dict[str, PseudoDoc]:
        """Pseudonymise a whole batch with one consistent numbering.

        Every document is read first (names, full names, categories), then replaced; so
        "Hans" in the first document already knows "Hans Verbeek" of the last.

        Args:
            texts: Document id -> text.

        Returns:
            Document id -> :class:`PseudoDoc`, in sorted id order.
        """
        ids = sorted(texts)
        if not self.enabled:
            return {i: PseudoDoc(texts[i], []) for i in ids}
        detected = {i: self._detect(texts[i]) for i in ids}
        return {i: self._finish(texts[i], detected[i], i) for i in ids}

    def text(self, text: str) -> str:
        """Pseudonymise one more string (metadata value, label, quote) with the same numbering.

        Non-string values (``None``, NaN) are returned unchanged.
        """
        if not self.enabled or not isinstance(text, str) or not text.strip():
            return text
        return self._finish(text, self._detect(text)).text

    def key_table(self) -> pd.DataFrame:
        """Placeholder -> original, one row per category and normalised original.

        Several originals can share a placeholder: an extra name and its surname alone, and
        the spellings of one person in the batch ("Hans Verbeek", "Verbeek", "Hans").

        Returns:
            Columns ``placeholder``, ``original`` (first spelling seen), ``category``,
            ``occurrences`` (replacements made so far, by :meth:`documents` and
            :meth:`text`); in order of placeholder creation. Private: never export it.
        """
        order = {ph: i for i, ph in enumerate(self._placeholders.values())}
        rows = sorted(self._rows.values(), key=lambda r: (order[r.placeholder], r.original))
        return pd.DataFrame(
            {
                "placeholder": pd.Series([r.placeholder for r in rows], dtype="string"),
                "original": pd.Series([r.original for r in rows], dtype="string"),
                "category": pd.Series([r.category for r in rows], dtype="string"),
                "occurrences": pd.Series([r.occurrences for r in rows], dtype="int64"),
            }
        )

    def overview(self) -> pd.DataFrame:
        """Every replacement made so far, to check before sharing (private, like the key).

        Returns:
            One row per replacement (:data:`OVERVIEW_COLUMNS`): the document (empty for
            metadata values, evidence and theme labels), the character offsets in the original
            text, the original, its placeholder and category, why it was replaced (the
            detector: a deduce tag, a name from the metadata, the researcher's list, the
            district list, a date rule, propagation), the full name it was linked to, and the
            sentence it stands in.
        """
        return pd.DataFrame(self._log, columns=list(OVERVIEW_COLUMNS)).astype(
            {"start": "int64", "end": "int64"})

    def originals(self) -> set[str]:
        """Every original string replaced so far (exact spellings), plus the extra names and
        the researcher's terms to remove.

        Extra names are given without the titles and roles that are not replaced
        ("Minister Ollongren" -> "Ollongren").
        """
        if not self.enabled:
            return set()
        extra = {" ".join(_name_tokens(n)) for n in self.extra_names}
        extra |= {t for _c, t in self.settings.remove}
        return self._originals | (extra - {""})
