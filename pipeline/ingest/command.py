"""The ``codeer ingest`` command: find and read the files in RAW, call the core, write.

Reads ``interviews.csv`` (or ``.xlsx``) and every transcript, hands them to
:func:`pipeline.ingest.core.build_tables`, reports per-file problems, and writes
``documents.parquet`` and ``segments.parquet`` atomically.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from pathlib import Path

import pandas as pd

from pipeline import config, schema, storage
from pipeline.errors import CodeerError
from pipeline.ingest.core import IngestResult, Issue, LoadedFile, build_tables, snake
from pipeline.ingest.readers import ReadError, decode, read_file
from pipeline.ingest.turns import DEFAULT_PATTERNS

log = logging.getLogger("codeer")


def read_metadata(raw: Path) -> tuple[pd.DataFrame | None, Path | None]:
    """Read ``interviews.csv`` (or ``.xlsx``) from ``raw``; columns become snake_case strings.

    Raises:
        CodeerError: The sheet exists but cannot be read or has no ``file`` column.
    """
    for name in config.METADATA_FILES:
        path = raw / name
        if not path.exists():
            continue
        try:
            if path.suffix == ".xlsx":
                df = pd.read_excel(path, dtype=str)
            else:
                text, _, _ = decode(path.read_bytes(), path)
                df = pd.read_csv(io.StringIO(text), dtype=str, sep=None, engine="python")
        except ReadError:
            raise
        except Exception as exc:  # pandas raises many parser errors
            raise CodeerError(
                f"{path}: cannot be read as a table ({exc}). Save it as UTF-8 CSV with a header "
                "row: interview_id,file,interviewer,respondent_function,department,date."
            ) from None
        df.columns = [snake(c) for c in df.columns]
        if "file" not in df.columns:
            raise CodeerError(
                f"{path} line 1: the header must have a 'file' column naming each transcript. "
                f"Got {list(df.columns)} instead."
            )
        df = df.map(lambda v: v.strip() if isinstance(v, str) else v)
        df["_line"] = range(2, len(df) + 2)
        return df, path
    return None, None



def find_files(raw: Path) -> list[Path]:
    """All candidate transcripts under ``raw``, sorted; hidden files and docs left out."""
    skip = {n.lower() for n in (*config.IGNORED_RAW_FILES, *config.METADATA_FILES)}
    return sorted(
        p for p in raw.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(raw).parts)
        and p.name.lower() not in skip
    )


def load_files(paths: list[Path], raw: Path, progress: bool = True):
    """Read every file; yield :class:`LoadedFile` or :class:`Issue` per path."""
    from rich.progress import track

    iterator = track(paths, description="ingest", transient=True) if progress else paths
    for path in iterator:
        name = path.relative_to(raw).as_posix()
        try:
            data = path.read_bytes()
            result = read_file(path)
        except ReadError as exc:
            yield Issue(name, exc.message)
            continue
        except OSError as exc:
            yield Issue(name, f"{name}: cannot be read ({exc.strerror}).")
            continue
        yield LoadedFile(name, hashlib.sha256(data).hexdigest(), result)


def run(
    raw: Path = config.RAW_DIR,
    out: Path = config.OUT_DIR,
    unit: str = config.DEFAULT_UNIT,
    extra_patterns: tuple[str, ...] = (),
    strict: bool = False,
    progress: bool = True,
) -> IngestResult:
    """Ingest every transcript in ``raw`` and write documents and segments into ``out``.

    Raises:
        CodeerError: The raw folder is missing or nothing in it is readable (exit 2), or
            ``strict`` is set and a file had a problem (exit 1).
    """
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise CodeerError(f"Raw folder {raw} does not exist. Point --raw at your transcripts.")
    patterns = tuple((p, True) for p in extra_patterns) + DEFAULT_PATTERNS
    for p in extra_patterns:
        try:
            if "name" not in re.compile(p).groupindex:
                raise re.error("no (?P<name>...) group")
        except re.error as exc:
            raise CodeerError(
                f"--speaker-pattern '{p}' must be a regular expression with a (?P<name>...) "
                f"group. Got an error instead: {exc}."
            ) from None
    metadata, meta_path = read_metadata(raw)
    loaded, issues = [], []
    for item in load_files(find_files(raw), raw, progress):
        (issues if isinstance(item, Issue) else loaded).append(item)
    if not loaded:
        detail = "; ".join(str(i) for i in issues[:3]) or "no transcript files"
        raise CodeerError(f"Nothing readable in {raw} ({detail}). Add .txt, .md, .docx, .odt, "
                          ".vtt or .srt transcripts.")
    result = build_tables(loaded, metadata, meta_path.name if meta_path else "", unit, patterns)
    result.issues[:0] = issues
    for issue in result.issues:
        log.warning("%s", issue)
    if strict and result.issues:
        raise CodeerError(f"{len(result.issues)} problem(s) in the input and --strict is set.",
                          exit_code=1)
    storage.write_table(result.documents, out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    storage.write_table(result.segments, out / config.SEGMENTS_FILE, schema.SEGMENTS)
    segs = result.segments
    log.info(
        "ingest: %d documents, %d segments (%d respondent), %d words, %d warnings -> %s",
        len(result.documents), len(segs), int((segs["role"] == "respondent").sum()),
        int(result.documents["n_words"].sum()), len(result.issues), out,
    )
    return result
