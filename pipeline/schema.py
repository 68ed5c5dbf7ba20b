"""Data contracts between stages: columns, dtypes, allowed values, ranges, keys and nulls.

Every stage output has one :class:`Contract`, checked when it is written (:meth:`Contract.conform`)
and when it is read (:func:`check`). Parquet files carry the contract name and version in their
metadata, so a file written by an older version of codeer is recognised and the user is told
which stage to re-run instead of meeting a KeyError three stages later. The allowed values come
from :mod:`pipeline.vocab`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline import vocab
from pipeline.errors import CodeerError
from pipeline.i18n import _


def _is_list(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series) and all(
        isinstance(v, list | tuple | np.ndarray) for v in series)


# Logical dtypes: "str" (nullable string), "int" (int64), "float" (float64), "bool", and
# "list" (a list of strings per row; Parquet list<string>).
_CHECKS = {
    "str": lambda s: pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s),
    "int": pd.api.types.is_integer_dtype,
    "float": pd.api.types.is_float_dtype,
    "bool": pd.api.types.is_bool_dtype,
    "list": _is_list,
}


@dataclass(frozen=True)
class Contract:
    """Columns, dtypes and invariants of one stage output.

    Attributes:
        name: Contract name, stored in the Parquet metadata.
        version: Bumped whenever a column is added, removed or changes meaning.
        columns: Required columns in their fixed order, mapped to a logical dtype.
        nullable: Required columns that may hold missing values.
        allowed: Columns whose values must come from a closed set.
        ranges: Numeric columns whose values must lie in ``[low, high]`` (NaN allowed only
            where the column is nullable).
        unique: Columns whose combination identifies a row.
        extra: Whether further columns (interview metadata) may follow the required ones.
        produced_by: The command that writes this output, named in error messages.
    """

    name: str
    version: int
    columns: dict[str, str]
    nullable: frozenset[str] = field(default_factory=frozenset)
    allowed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    unique: tuple[str, ...] = ()
    extra: bool = False
    produced_by: str = ""

    def conform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Return ``df`` with required columns first, cast to the contract's dtypes.

        Missing nullable columns are added empty.

        Raises:
            CodeerError: A column is missing, has the wrong type, holds forbidden nulls or a
                value outside the contract.
        """
        missing = [c for c in self.columns if c not in df.columns]
        if any(c in self.nullable for c in missing):  # optional columns start out empty
            df = df.assign(**{c: pd.NA for c in missing if c in self.nullable})
            missing = [c for c in missing if c not in self.nullable]
        if missing:
            raise CodeerError(
                _("{name} must have the columns {columns}. Missing {missing}. Run `{command}` "
                  "again to rebuild it.").format(name=self.name, columns=list(self.columns),
                                                 missing=missing, command=self.produced_by)
            )
        extra_cols = [c for c in df.columns if c not in self.columns]
        if extra_cols and not self.extra:
            raise CodeerError(_("{name} must have only the columns {columns}. Got also {extra} "
                                "instead.").format(name=self.name, columns=list(self.columns),
                                                   extra=extra_cols))
        out = df[list(self.columns) + extra_cols].copy()
        for col, kind in self.columns.items():
            out[col] = _cast(out[col], kind, self.name, col)
        for col in extra_cols:
            out[col] = out[col].astype("string")
        out = out.reset_index(drop=True)
        self.validate(out)
        return out

    def validate(self, df: pd.DataFrame) -> None:
        """Check nulls, allowed values, ranges and keys of a frame with this contract's columns.

        Raises:
            CodeerError: Naming the column, what it must hold and what it holds instead.
        """
        rerun = (" " + _("Run `{command}` again.").format(command=self.produced_by)
                 if self.produced_by else "")
        for col in self.columns:
            if col not in self.nullable and df[col].isna().any():
                row = int(np.flatnonzero(df[col].isna().to_numpy())[0])
                raise CodeerError(_("{name} column '{column}' must not hold missing values. Got "
                                    "one in row {row} instead.")
                                  .format(name=self.name, column=col, row=row) + rerun)
        for col, values in self.allowed.items():
            present = df[col].dropna().astype(str)
            bad = sorted(set(present) - set(values))
            if bad:
                raise CodeerError(_("{name} column '{column}' must be one of {allowed}. Got "
                                    "{got} instead.")
                                  .format(name=self.name, column=col, allowed=list(values),
                                          got=bad[:5]) + rerun)
        for col, (low, high) in self.ranges.items():
            values = pd.to_numeric(df[col], errors="coerce").dropna()
            outside = values[(values < low) | (values > high)]
            if len(outside):
                raise CodeerError(_("{name} column '{column}' must lie between {low} and "
                                    "{high}. Got {got} instead.")
                                  .format(name=self.name, column=col, low=low, high=high,
                                          got=outside.iloc[0]) + rerun)
        if self.unique and len(df):
            dup = df.duplicated(list(self.unique), keep=False)
            if dup.any():
                first = df.loc[dup, list(self.unique)].iloc[0].tolist()
                raise CodeerError(_("{name} must have one row per {key}. Got {n} rows sharing a "
                                    "key, e.g. {first}, instead.")
                                  .format(name=self.name, key=list(self.unique),
                                          n=int(dup.sum()), first=first) + rerun)


def _cast(series: pd.Series, kind: str, name: str, col: str) -> pd.Series:
    try:
        if kind == "str":
            return series.astype("string")
        if kind == "int":
            return series.astype("int64")
        if kind == "float":
            return series.astype("float64")
        if kind == "bool":
            return series.astype("bool")
        if kind == "list":
            return pd.Series([_as_list(v) for v in series], index=series.index, dtype=object)
    except (TypeError, ValueError) as exc:
        raise CodeerError(
            _("{name} column '{column}' must be {kind}. Got {dtype} instead ({detail}).")
            .format(name=name, column=col, kind=kind, dtype=series.dtype, detail=exc)
        ) from None
    raise ValueError(f"unknown logical dtype {kind!r}")


def _as_list(value: object) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return []
    raise TypeError(_("expected a list of strings, got {type}").format(type=type(value).__name__))


def check(df: pd.DataFrame, contract: Contract) -> None:
    """Raise :class:`CodeerError` when ``df`` (as read) does not satisfy ``contract``."""
    for col, kind in contract.columns.items():
        if col not in df.columns:
            raise CodeerError(
                _("{name} lacks column '{column}'. Run `{command}` again.")
                .format(name=contract.name, column=col, command=contract.produced_by)
            )
        if not _CHECKS[kind](df[col]):
            raise CodeerError(
                _("{name} column '{column}' must be {kind}. Got {dtype} instead. Run `{command}` "
                  "again.").format(name=contract.name, column=col, kind=kind,
                                   dtype=df[col].dtype, command=contract.produced_by)
            )
    contract.validate(df)


DOCUMENTS = Contract(
    name="documents",
    version=1,
    columns={
        "document_id": "str",
        "source_path": "str",
        "sha256": "str",
        "format": "str",
        "encoding": "str",
        "text": "str",
        "n_words": "int",
    },
    ranges={"n_words": (0, np.inf)},
    unique=("document_id",),
    extra=True,
    produced_by="codeer ingest",
)

SEGMENTS = Contract(
    name="segments",
    version=1,
    columns={
        "document_id": "str",
        "segment_id": "str",
        "segment_index": "int",
        "turn_index": "int",
        "speaker": "str",
        "role": "str",
        "start": "int",
        "end": "int",
        "text": "str",
        "lemmas": "str",
        "time_start": "float",
        "time_end": "float",
    },
    nullable=frozenset({"time_start", "time_end"}),
    allowed={"role": vocab.ROLES},
    ranges={"start": (0, np.inf), "end": (1, np.inf), "segment_index": (0, np.inf),
            "turn_index": (0, np.inf), "time_start": (0, np.inf), "time_end": (0, np.inf)},
    unique=("segment_id",),
    extra=True,
    produced_by="codeer ingest",
)

CODINGS = Contract(
    name="codings",
    version=3,
    columns={
        "segment_id": "str",
        "code_id": "str",
        "method": "str",
        "score": "float",
        "evidence": "str",
        "status": "str",
        "reviewer": "str",
        "reviewed_at": "str",
        "codebook_sha256": "str",
        "model_id": "str",
        # When `codeer code` first made this automatic coding (ISO 8601, UTC, seconds): kept
        # while a re-run gives the same coding, so exports date it by when it was made.
        "coded_at": "str",
    },
    # Rule-only and human codings have no score; unreviewed codings no reviewer; human codings
    # (added by a researcher) no coded_at: their date is reviewed_at.
    nullable=frozenset({"score", "reviewer", "reviewed_at", "coded_at"}),
    allowed={"method": vocab.METHODS, "status": vocab.STATUSES},
    ranges={"score": (-1.0, 1.0)},
    unique=("segment_id", "code_id"),
    produced_by="codeer code",
)

THEMES = Contract(
    name="themes",
    version=1,
    columns={"segment_id": "str", "topic": "int", "probability": "float"},
    ranges={"topic": (-1, np.inf), "probability": (0.0, 1.0)},
    unique=("segment_id",),
    produced_by="codeer themes",
)

THEME_INFO = Contract(
    name="theme_info",
    version=2,
    columns={
        "topic": "int",
        "label": "str",
        "keywords": "list",
        "mmr_keywords": "list",
        "size": "int",
        "share": "float",
        "best_code": "str",
        "best_code_similarity": "float",
        "emerging": "bool",
        "small_talk": "str",
        "coded_share": "float",
        "coded_by_code": "list",
        "quote_segment_ids": "list",
        "interviews": "list",
        "n_interviews": "int",
    },
    # No codebook, or a lone theme: no best code and no similarity. small_talk: why a theme
    # is no theme of substance (greetings, contact details, ...), empty for the others.
    nullable=frozenset({"best_code", "best_code_similarity", "small_talk"}),
    ranges={"topic": (-1, np.inf), "size": (1, np.inf), "share": (0.0, 1.0),
            "coded_share": (0.0, 1.0), "n_interviews": (0, np.inf)},
    unique=("topic",),
    produced_by="codeer themes",
)

THEME_SPREAD = Contract(
    name="theme_spread",
    version=1,
    columns={
        "dimension": "str",
        "value": "str",
        "topic": "int",
        "label": "str",
        "n_segments": "int",
        "share_of_topic": "float",
        "share_of_value": "float",
    },
    ranges={"topic": (-1, np.inf), "n_segments": (1, np.inf), "share_of_topic": (0.0, 1.0),
            "share_of_value": (0.0, 1.0)},
    unique=("dimension", "value", "topic"),
    produced_by="codeer themes",
)
