"""Atomic writes and contract-checked Parquet I/O.

Outputs are written to a temporary file beside the target and renamed into place, so an
interrupted run never leaves a half-written table and an earlier output survives a failure.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import hooks
from pipeline.errors import CodeerError
from pipeline.i18n import _
from pipeline.schema import Contract, check

_META_KEY = b"codeer.contract"


#: Permissions of private outputs (``OUT/private/``): readable by their owner only.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(folder: Path) -> Path:
    """Create ``folder`` (and its parents) and make it owner-only (0700), whatever the umask.

    An existing folder with wider permissions is tightened; its parents keep theirs.

    Raises:
        CodeerError: The folder cannot be created or its permissions cannot be set.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise CodeerError(
            _("Cannot make {folder} private: {reason}. Choose an output folder you own with "
              "--out.").format(folder=folder, reason=exc.strerror)
        ) from None
    return folder


@contextlib.contextmanager
def atomic_path(target: Path, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Args:
        target: The file to write.
        private: Owner-only output (the pseudonymisation key and overview): the folder becomes
            0700 and the file 0600, whatever the umask. Otherwise the file gets the usual
            permissions (0666 minus the umask), like any file a program writes.

    Raises:
        CodeerError: The folder is not writable or the target cannot be replaced (e.g. a
            spreadsheet that is open in Excel).
    """
    target = Path(target)
    if private:
        private_dir(target.parent)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise CodeerError(
            _("Cannot write to {folder}: {reason}. Choose a writable output folder with --out.")
            .format(folder=target.parent, reason=exc.strerror)
        ) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if private:
            os.chmod(tmp_path, PRIVATE_FILE_MODE)
        else:
            # mkstemp creates 0600 files; outputs are meant to be shared like any other file.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except OSError as exc:
        raise CodeerError(
            _("Cannot write {file}: {reason}. Close the file if another program has it open, or "
              "check the folder's permissions; the earlier version was left intact.")
            .format(file=target, reason=exc.strerror)
        ) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(target: Path, text: str, private: bool = False) -> None:
    """Write UTF-8 text (no BOM, ``\\n`` line endings) atomically (owner-only if ``private``)."""
    with atomic_path(target, private) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def write_bytes(target: Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


@hooks.timed("parquet_write")
def write_table(df: pd.DataFrame, target: Path, contract: Contract) -> pd.DataFrame:
    """Conform ``df`` to ``contract`` and write it as Parquet atomically.

    Returns:
        The conformed frame, exactly as written.
    """
    df = contract.conform(df)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = f"{contract.name}:{contract.version}".encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)
    return df


@hooks.timed("parquet_read")
def read_table(path: Path, contract: Contract) -> pd.DataFrame:
    """Read a stage output and check it against ``contract``.

    Raises:
        CodeerError: The file is missing, unreadable or from another schema version; the
            message names the command that rebuilds it.
    """
    path = Path(path)
    command = contract.produced_by
    if not path.exists():
        raise CodeerError((_("{path} does not exist. Run `{command}` first.") if command else
                           _("{path} does not exist. Rebuild it.")).format(path=path,
                                                                            command=command))
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise CodeerError((_("{path} is not a readable Parquet file ({detail}). Run `{command}` "
                             "first.") if command else
                           _("{path} is not a readable Parquet file ({detail}). Rebuild it."))
                          .format(path=path, detail=exc, command=command)) from None
    stamp = (table.schema.metadata or {}).get(_META_KEY, b"").decode()
    expected = f"{contract.name}:{contract.version}"
    if stamp != expected:
        found = stamp or _("no codeer schema stamp")
        raise CodeerError(
            (_("{path} was written for schema '{found}', this codeer expects '{expected}'. Run "
               "`{command}` first to rebuild it.") if command else
             _("{path} was written for schema '{found}', this codeer expects '{expected}'. "
               "Rebuild it."))
            .format(path=path, found=found, expected=expected, command=command)
        )
    df = table.to_pandas()
    check(df, contract)
    return df
