"""What may leave codeer: the pseudonymiser's interface, names to replace, private columns.

The export calls a pseudonymiser through :class:`PseudonymiserLike`; :class:`Identity` stands in
when pseudonymisation is off. Interviewer names and speaker labels that are names are handed to
the pseudonymiser as extra names, and the private metadata columns never leave.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from pipeline import hooks, schema
from pipeline.errors import CodeerError
from pipeline.vocab import is_role_label, split_names

log = logging.getLogger("codeer")

#: Metadata columns that never leave codeer (interviewer names; file names may hold names).
PRIVATE_COLUMNS = frozenset({"interviewer", "interviewers", "interviewer_name", "file"})
KEY_COLUMNS = ("placeholder", "original", "category", "occurrences")


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


@hooks.timed("pseudonymiser_init")
def make_pseudonymiser(enabled: bool, extra_names: Sequence[str]) -> PseudonymiserLike:
    """The real pseudonymiser, or :class:`Identity` when ``enabled`` is false.

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
        raise CodeerError(
            f"Pseudonymisation is not available ({exc.name} is missing), so nothing was "
            "exported. Reinstall codeer with `make install`, or export with --no-pseudonymise "
            "if the transcripts may leave as they are."
        ) from None
    return Pseudonymiser(enabled=True, extra_names=tuple(extra_names))


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

