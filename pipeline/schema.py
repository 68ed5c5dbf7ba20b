"""Data contracts between stages: columns and dtypes, checked on write and on read.

Every stage output has one :class:`Contract`. Parquet files carry the contract name and version
in their metadata, so a file written by an older version of codeer is recognised and the user is
told which stage to re-run instead of meeting a KeyError three stages later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipeline.errors import CodeerError

# Logical dtypes: "str" (nullable string), "int" (int64), "float" (float64), "bool".
_CHECKS = {
    "str": lambda s: pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s),
    "int": pd.api.types.is_integer_dtype,
    "float": pd.api.types.is_float_dtype,
    "bool": pd.api.types.is_bool_dtype,
}


@dataclass(frozen=True)
class Contract:
    """Columns and dtypes of one stage output.

    Attributes:
        name: Contract name, stored in the Parquet metadata.
        version: Bumped whenever a column is added, removed or changes meaning.
        columns: Required columns in their fixed order, mapped to a logical dtype.
        nullable: Required columns that may hold missing values.
        extra: Whether further columns (interview metadata) may follow the required ones.
        produced_by: The command that writes this output, named in error messages.
    """

    name: str
    version: int
    columns: dict[str, str]
    nullable: frozenset[str] = field(default_factory=frozenset)
    extra: bool = False
    produced_by: str = ""

    def conform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Return ``df`` with required columns first, cast to the contract's dtypes.

        Raises:
            CodeerError: A column is missing, has the wrong type or holds forbidden nulls.
        """
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise CodeerError(
                f"{self.name} must have the columns {list(self.columns)}. "
                f"Missing {missing}. Run `{self.produced_by}` again to rebuild it."
            )
        extra_cols = [c for c in df.columns if c not in self.columns]
        if extra_cols and not self.extra:
            raise CodeerError(f"{self.name} has unexpected columns {extra_cols}.")
        out = df[list(self.columns) + extra_cols].copy()
        for col, kind in self.columns.items():
            if col not in self.nullable and out[col].isna().any():
                raise CodeerError(f"{self.name} column '{col}' must not hold missing values.")
            out[col] = _cast(out[col], kind, self.name, col)
        for col in extra_cols:
            out[col] = out[col].astype("string")
        return out.reset_index(drop=True)


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
    except (TypeError, ValueError) as exc:
        raise CodeerError(
            f"{name} column '{col}' must be {kind}. Got {series.dtype}: {exc}."
        ) from None
    raise ValueError(f"unknown logical dtype {kind!r}")


def check(df: pd.DataFrame, contract: Contract) -> None:
    """Raise :class:`CodeerError` when ``df`` does not satisfy ``contract`` exactly."""
    for col, kind in contract.columns.items():
        if col not in df.columns:
            raise CodeerError(
                f"{contract.name} lacks column '{col}'. Run `{contract.produced_by}` again."
            )
        if not _CHECKS[kind](df[col]):
            raise CodeerError(
                f"{contract.name} column '{col}' must be {kind}. Got {df[col].dtype} instead. "
                f"Run `{contract.produced_by}` again."
            )


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
    extra=True,
    produced_by="codeer ingest",
)

CODINGS = Contract(
    name="codings",
    version=1,
    columns={
        "segment_id": "str",
        "code_id": "str",
        "method": "str",
        "score": "float",
        "evidence": "str",
        "status": "str",
        "codebook_sha256": "str",
        "model_id": "str",
    },
    # Rule-only and human codings have no embedding score.
    nullable=frozenset({"score"}),
    produced_by="codeer code",
)

THEMES = Contract(
    name="themes",
    version=1,
    columns={"segment_id": "str", "topic": "int", "probability": "float"},
    produced_by="codeer themes",
)

ROLES = ("interviewer", "respondent", "other")
METHODS = ("rule", "embedding", "both", "human")
STATUSES = ("auto", "accepted", "rejected")
