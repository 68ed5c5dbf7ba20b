"""What may leave codeer: the pseudonymiser's interface, names to replace, private columns, ids.

The export calls a pseudonymiser through :class:`PseudonymiserLike`; :class:`Identity` stands in
when pseudonymisation is off. Interviewer names and speaker labels that are names are handed to
the pseudonymiser as extra names, and the private metadata columns never leave.

Document ids leave codeer in every export (tables, workbook, report, REFI-QDA, figures). An id
comes from ``interview_id`` in ``interviews.csv`` or, for a file without a row there, from the
file name, which often holds the respondent's name ("Interview Pieter Bakker.txt" ->
``interview_pieter_bakker``). When pseudonymising, :func:`exported_ids` gives every document
without a metadata row, and every id that holds a word of a replaced name, a neutral id
(``interview-01``, ``interview-02``, ...); the researcher's own ids ("int02") stay. The neutral
ids are recorded in the key (category ``DOCUMENT``) and read back on the next export, so an
interview keeps its neutral id between runs, also when files are added or removed; new files
get the next free number. A first export numbers them in sorted order of their original ids,
so two fresh runs give the same ids.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from pipeline import hooks, schema
from pipeline.errors import CodeerError
from pipeline.export.pseudo_settings import Settings
from pipeline.i18n import _
from pipeline.vocab import is_role_label, split_names

log = logging.getLogger("codeer")

#: Metadata columns that never leave codeer (interviewer names; file names may hold names).
PRIVATE_COLUMNS = frozenset({"interviewer", "interviewers", "interviewer_name", "file"})
KEY_COLUMNS = ("placeholder", "original", "category", "occurrences")
#: Columns of ``OUT/private/pseudonymisation_overview.csv``: every replacement, to check.
OVERVIEW_COLUMNS = ("document_id", "exported_id", "start", "end", "original", "placeholder",
                    "category", "reason", "linked_to", "sentence")
#: Key-table category of a document id replaced by a neutral one.
DOCUMENT_CATEGORY = "DOCUMENT"
NEUTRAL_ID = "interview-{:02d}"
_NEUTRAL_NUMBER = re.compile(r"interview-(\d+)")
_LETTERS = re.compile(r"[^\W\d_]+")


# --------------------------------------------------------------------------- pseudonymiser


class PseudoDocLike(Protocol):
    """What the export needs of :class:`pipeline.export.pseudonymise.PseudoDoc`."""

    text: str

    def map_start(self, pos: int) -> int: ...

    def map_end(self, pos: int) -> int: ...


class PseudonymiserLike(Protocol):
    """What the export needs of :class:`pipeline.export.pseudonymise.Pseudonymiser`."""

    enabled: bool

    def documents(self, texts: dict[str, str]) -> dict[str, PseudoDocLike]: ...

    def text(self, text: str) -> str: ...

    def key_table(self) -> pd.DataFrame: ...

    def originals(self) -> set[str]: ...

    # Optional: ``overview() -> pd.DataFrame`` (every replacement, see
    # :meth:`pipeline.export.pseudonymise.Pseudonymiser.overview`).


@dataclass
class _IdentityDoc:
    text: str

    def map_start(self, pos: int) -> int:
        return pos

    def map_end(self, pos: int) -> int:
        return pos


@dataclass
class Identity:
    """Stands in for the pseudonymiser when pseudonymisation is off: every text unchanged."""

    enabled: bool = False

    def documents(self, texts: dict[str, str]) -> dict[str, _IdentityDoc]:
        """Unchanged texts with identity offset maps."""
        return {k: _IdentityDoc(v) for k, v in texts.items()}

    def text(self, text: str) -> str:
        """``text`` unchanged."""
        return text

    def key_table(self) -> pd.DataFrame:
        """An empty key table."""
        return pd.DataFrame(columns=list(KEY_COLUMNS))

    def originals(self) -> set[str]:
        """No originals."""
        return set()

    def overview(self) -> pd.DataFrame:
        """No replacements."""
        return pd.DataFrame(columns=[c for c in OVERVIEW_COLUMNS if c != "exported_id"])


@hooks.timed("pseudonymiser_init")
def make_pseudonymiser(enabled: bool, extra_names: Sequence[str],
                       settings: Settings | None = None) -> PseudonymiserLike:
    """The real pseudonymiser, or :class:`Identity` when ``enabled`` is false.

    Args:
        enabled: Pseudonymise at all.
        extra_names: Names from the metadata and speaker labels, always replaced.
        settings: The researcher's ``pseudonimisering.yaml`` (default: none).

    Raises:
        CodeerError: Pseudonymisation is asked for but :mod:`pipeline.export.pseudonymise`
            is missing.
    """
    if not enabled:
        return Identity()
    try:
        from pipeline.export.pseudonymise import Pseudonymiser
    except ModuleNotFoundError as exc:
        if exc.name not in ("pipeline.export.pseudonymise", "deduce"):
            raise
        raise CodeerError(_(
            "Pseudonymisation is not available ({module} is missing), so nothing was "
            "exported. Reinstall codeer with `make install`, or export with --no-pseudonymise "
            "if the transcripts may leave as they are."
        ).format(module=exc.name)) from None
    return Pseudonymiser(enabled=True, extra_names=tuple(extra_names),
                         settings=settings or Settings())


def metadata_columns(documents: pd.DataFrame) -> list[str]:
    """Metadata columns of ``documents`` that may be exported (not the interviewer names)."""
    return [c for c in documents.columns
            if c not in schema.DOCUMENTS.columns and c.lower() not in PRIVATE_COLUMNS]


def interviewer_names(documents: pd.DataFrame) -> list[str]:
    """Interviewer names from the metadata, split as ingest splits them
    (:func:`pipeline.vocab.split_names`), in order of appearance."""
    names: list[str] = []
    for col in documents.columns:
        if col.lower() not in PRIVATE_COLUMNS - {"file"}:
            continue
        for value in documents[col].dropna():
            names += split_names(value)
    return list(dict.fromkeys(names))


def speaker_names(segments: pd.DataFrame) -> list[str]:
    """Speaker labels that are names, not role words ("Sanne de Wit", not "R" or "Spreker 2")."""
    names = []
    for label in dict.fromkeys(segments["speaker"].dropna()):
        label = str(label).strip()
        base = re.sub(r"\s*\([^()]*\)\s*$", "", label).strip()
        if is_role_label(base):
            continue
        names += [label, base] if base != label else [label]
    return list(dict.fromkeys(names))


def extra_names(documents: pd.DataFrame, segments: pd.DataFrame) -> list[str]:
    """Names the pseudonymiser must replace even if it would not find them itself."""
    return list(dict.fromkeys(interviewer_names(documents) + speaker_names(segments)))



# --------------------------------------------------------------------------- document ids


def has_metadata_row(documents: pd.DataFrame) -> pd.Series:
    """Per document: whether ``interviews.csv`` had a row for it.

    ingest records the sheet's ``file`` cell in the private ``file`` column; a file without a
    row has none there, and its id comes from the file name. (A header block in the transcript
    fills metadata columns too, so they prove no row.) For documents of an ingest without the
    ``file`` column, any metadata value set counts.
    """
    if "file" in documents.columns:
        cells = documents["file"].astype("string").str.strip()
        return (cells.notna() & (cells != "")).fillna(False).astype(bool)
    cols = [c for c in documents.columns if c not in schema.DOCUMENTS.columns]
    if not cols:
        return pd.Series(False, index=documents.index)
    values = documents[cols].astype("string").apply(lambda col: col.str.strip())
    return (values.notna() & (values != "")).any(axis=1)


def name_words(originals: Iterable[object]) -> set[str]:
    """Case-folded words (letters only, three or more) of replaced originals and names."""
    return {w.casefold() for o in originals if isinstance(o, str)
            for w in _LETTERS.findall(o) if len(w) >= 3}


def previous_ids(key: pd.DataFrame | None) -> dict[str, str]:
    """Original id -> neutral id recorded in an earlier key table (category ``DOCUMENT``)."""
    if key is None or not {"placeholder", "original", "category"} <= set(key.columns):
        return {}
    rows = key[key["category"] == DOCUMENT_CATEGORY]
    return {str(o): str(p) for o, p in zip(rows["original"], rows["placeholder"], strict=True)
            if isinstance(o, str) and isinstance(p, str)}


def exported_ids(documents: pd.DataFrame, words: set[str],
                 previous: dict[str, str] | None = None) -> dict[str, str]:
    """The id each document gets in a pseudonymised export (see the module docstring).

    Args:
        documents: The documents table (ids, metadata columns).
        words: Words of the names the pseudonymiser replaced (:func:`name_words`); an id with
            one of them gets a neutral id too ("rotterdam_bakker").
        previous: Neutral ids of an earlier export (:func:`previous_ids`), kept where possible.

    Returns:
        Original id -> exported id, for every document.
    """
    previous = previous or {}
    has_row = dict(zip(documents["document_id"], has_metadata_row(documents), strict=True))
    out: dict[str, str] = {}
    neutral: list[str] = []
    for doc_id in documents["document_id"]:
        own = {w.casefold() for w in _LETTERS.findall(str(doc_id))}
        if has_row[doc_id] and not own & words:
            out[doc_id] = doc_id
        else:
            neutral.append(doc_id)
    taken = set(out.values())
    numbers = [int(m.group(1)) for v in [*previous.values(), *taken]
               if (m := _NEUTRAL_NUMBER.fullmatch(v))]
    for doc_id in sorted(neutral):
        if previous.get(doc_id) and previous[doc_id] not in taken:
            out[doc_id] = previous[doc_id]
            taken.add(out[doc_id])
    n = max(numbers, default=0)
    for doc_id in sorted(d for d in neutral if d not in out):
        n += 1
        while NEUTRAL_ID.format(n) in taken:
            n += 1
        out[doc_id] = NEUTRAL_ID.format(n)
        taken.add(out[doc_id])
    return {d: out[d] for d in documents["document_id"]}


def id_key_rows(ids: dict[str, str], previous: dict[str, str] | None = None) -> pd.DataFrame:
    """Key-table rows for the neutral ids (and for earlier ones whose file is gone, with 0
    occurrences, so their number is not given to another interview)."""
    rows = [(new, old, DOCUMENT_CATEGORY, 1) for old, new in ids.items() if new != old]
    rows += [(new, old, DOCUMENT_CATEGORY, 0) for old, new in (previous or {}).items()
             if ids.get(old) != new]
    rows.sort(key=lambda r: (_neutral_order(r[0]), r[0]))
    return pd.DataFrame(rows, columns=list(KEY_COLUMNS)).astype(
        {"placeholder": "string", "original": "string", "category": "string",
         "occurrences": "int64"})


def _neutral_order(exported: str) -> int:
    m = _NEUTRAL_NUMBER.fullmatch(exported)
    return int(m.group(1)) if m else 0
