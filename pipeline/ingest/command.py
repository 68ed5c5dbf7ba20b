"""The ``codeer ingest`` command: find and read the files in RAW, call the core, write.

Reads ``interviews.csv`` (or ``.xlsx``) and every transcript, hands them to
:func:`pipeline.ingest.core.build_tables`, reports per-file problems, and writes
``documents.parquet`` and ``segments.parquet`` atomically.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
import stat
from pathlib import Path

import pandas as pd

from pipeline import config, schema, storage
from pipeline.errors import CodeerError
from pipeline.i18n import N_, _
from pipeline.ingest.core import (
    IngestResult,
    Issue,
    LoadedFile,
    Plan,
    build_tables,
    plan_files,
    snake,
    speaker_table,
)
from pipeline.ingest.readers import (
    ReadError,
    clean_characters,
    decode,
    normalise,
    read_file,
    shown,
)
from pipeline.ingest.turns import DEFAULT_PATTERNS
from pipeline.vocab import ROLE_NAMES

log = logging.getLogger("codeer")

#: The columns of the preview table: heading (translated where shown), justification, no wrap.
OVERVIEW_COLUMNS = (
    (N_("file"), "left", False),
    (N_("speaker"), "left", False),
    (N_("role"), "left", True),
    (N_("turns"), "right", True),
    (N_("words"), "right", True),
    (N_("why"), "left", False),
)


def read_metadata(raw: Path) -> tuple[pd.DataFrame | None, Path | None, list[Issue]]:
    """Read ``interviews.csv`` (or ``.xlsx``) from ``raw``; columns become snake_case strings.

    The CSV separator is taken from the header line (comma, semicolon as Dutch Excel writes,
    tab or bar); a sheet of one column has none.

    Returns:
        The sheet (with a ``_line`` column), its path, and warnings about its characters.

    Raises:
        CodeerError: The sheet exists but cannot be read or has no ``file`` column.
    """
    for name in config.METADATA_FILES:
        path = raw / name
        if not path.exists():
            continue
        issues: list[Issue] = []
        try:
            if path.suffix == ".xlsx":
                df = pd.read_excel(path, dtype=str)
            else:
                text, _encoding, warnings = decode(path.read_bytes(), path)
                issues += [Issue(name, w) for w in warnings]
                text, warnings = clean_characters(normalise(text), name)
                issues += [Issue(name, w) for w in warnings]
                df = pd.read_csv(io.StringIO(text), dtype=str, sep=_separator(text),
                                 engine="python")
        except ReadError:
            raise
        except Exception as exc:  # pandas raises many parser errors
            raise CodeerError(
                _("{path}: cannot be read as a table ({error}). Save it as UTF-8 CSV with a "
                  "header row: interview_id,file,interviewer,respondent_function,department,date."
                  ).format(path=path, error=exc)
            ) from None
        df.columns = [snake(c) for c in df.columns]
        if "file" not in df.columns:
            raise CodeerError(
                _("{path} line 1: the header must have a 'file' column naming each transcript. "
                  "Got {columns} instead.").format(path=path, columns=list(df.columns))
            )
        df, warnings = _clean_cells(df, name)
        issues += warnings
        df["_line"] = range(2, len(df) + 2)
        return df, path, issues
    return None, None, []


def _separator(text: str) -> str:
    """The separator of a CSV sheet, from its header line (a comma when it has one column)."""
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _clean_cells(df: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[Issue]]:
    """Strip the cells and replace characters that XML cannot hold (with a warning)."""
    issues: list[Issue] = []

    def clean(value, line: int):
        if not isinstance(value, str):
            return value
        value, warnings = clean_characters(value.strip(), name)
        if warnings:
            issues.append(Issue(name, _("characters that text cannot hold (such as U+FFFE) "
                                        "replaced by U+FFFD. Check the sheet."), line))
        return value

    df = df.copy()
    for i, index in enumerate(df.index):
        for col in df.columns:
            df.at[index, col] = clean(df.at[index, col], i + 2)
    return df, issues


def scan_raw(raw: Path) -> tuple[list[Path], list[Issue]]:
    """All candidate transcripts under ``raw``, sorted, and the entries that are not read.

    Hidden files and documentation are left out silently. Links are not followed out of the
    raw folder: a link to a file inside it is read, a link to a file elsewhere, a link to a
    folder and a broken link are reported; so is anything that is not a regular file.
    """
    skip = {n.lower() for n in (*config.IGNORED_RAW_FILES, *config.METADATA_FILES)}
    root = raw.resolve()
    paths: list[Path] = []
    issues: list[Issue] = []
    for folder, dirs, files in os.walk(raw):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in dirs:
            if (here / d).is_symlink():
                rel = (here / d).relative_to(raw).as_posix()
                issues.append(Issue(rel, _("{name}: is a link to a folder; codeer does not "
                                           "follow folder links. Move or copy the folder into "
                                           "the raw folder to read it.").format(name=shown(rel))))
        for f in sorted(files):
            path = here / f
            rel = path.relative_to(raw).as_posix()
            if f.startswith(".") or f.lower() in skip:
                continue
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    issues.append(Issue(rel, _("{name}: is a broken link; not read.")
                                        .format(name=shown(rel))))
                    continue
                if not target.is_relative_to(root):
                    issues.append(Issue(rel, _("{name}: is a link to a file outside the raw "
                                               "folder; not read. Copy the file into the raw "
                                               "folder.").format(name=shown(rel))))
                    continue
            try:
                regular = stat.S_ISREG(path.stat().st_mode)
            except OSError as exc:
                issues.append(Issue(rel, _("{name}: cannot be read ({error}).")
                                    .format(name=shown(rel), error=exc.strerror)))
                continue
            if not regular:
                issues.append(Issue(rel, _("{name}: is not a regular file (a pipe or a device); "
                                           "not read.").format(name=shown(rel))))
                continue
            paths.append(path)
    return sorted(paths), issues


def find_files(raw: Path) -> list[Path]:
    """All candidate transcripts under ``raw``, sorted (see :func:`scan_raw`)."""
    return scan_raw(raw)[0]


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
            yield Issue(name, _("{name}: cannot be read ({error}).")
                        .format(name=shown(name), error=exc.strerror))
            continue
        except Exception as exc:  # a reader library failing on one file must not stop the batch
            yield Issue(name, _("{name}: cannot be read ({error}: {detail}). Open it, check it "
                                "and save it again; report it if the file looks fine.")
                        .format(name=shown(name), error=type(exc).__name__,
                                detail=shown(str(exc))[:200]))
            continue
        yield LoadedFile(name, hashlib.sha256(data).hexdigest(), result)


def ingest_file(path: Path, raw: Path, metadata: pd.DataFrame | None, meta_name: str,
                unit: str, patterns: tuple[tuple[str, bool], ...]
                ) -> tuple[LoadedFile | Issue, IngestResult | None]:
    """One transcript through the per-file path: read it, then turns, sentences and lemmas.

    What a worker runs per document under ``--workers``/``--scheduler``
    (:func:`pipeline.parallel.ingest`, which assembles the tables and decides what spans files).

    Returns:
        The file as read and its tables, or the problem that kept it from being read and None.
    """
    item = next(load_files([path], raw, progress=False))
    if isinstance(item, Issue):
        return item, None
    return item, build_tables([item], metadata, meta_name, unit, patterns)


def _check_apart(raw: Path, out: Path) -> None:
    """Refuse an output folder inside the raw folder (the next ingest would read the report as
    an interview) and a raw folder inside the output folder.

    Raises:
        CodeerError: The folders are the same or one holds the other.
    """
    r, o = raw.resolve(), out.resolve()
    if o == r or o.is_relative_to(r):
        raise CodeerError(_("--out must be a folder outside the raw folder {raw}. Got {out} "
                            "instead; the next ingest would read the reports as interviews. "
                            "Choose another --out, such as data/coded.").format(raw=raw, out=out))
    if r.is_relative_to(o):
        raise CodeerError(_("--raw must be a folder outside the output folder {out}. Got {raw} "
                            "instead; codeer writes and replaces files there. Keep the "
                            "transcripts in a folder of their own, such as data/raw.")
                          .format(raw=raw, out=out))


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
    _check_raw(raw)
    patterns = speaker_patterns(extra_patterns)
    _check_apart(raw, out)
    metadata, meta_path, issues = read_metadata(raw)
    paths, scan_issues = scan_raw(raw)
    issues += scan_issues
    from pipeline import parallel

    loaded, result = [], None
    if parallel.active() is not None:  # --workers / --scheduler: one task per transcript
        read_issues, loaded, result = parallel.ingest(
            ingest_file, paths, raw, metadata, meta_path.name if meta_path else "", unit,
            patterns, progress)
        issues += read_issues
    else:
        for item in load_files(paths, raw, progress):
            (issues if isinstance(item, Issue) else loaded).append(item)
    if not loaded:
        _nothing_readable(raw, issues)
    if result is None:
        result = build_tables(loaded, metadata, meta_path.name if meta_path else "", unit,
                              patterns)
    result.issues[:0] = issues
    for issue in result.issues:
        log.warning("%s", shown(str(issue)))
    if result.documents.empty:
        raise CodeerError(_("Nothing readable in {raw}: every transcript was refused (see the "
                            "warnings above). Fix or replace the files.").format(raw=raw))
    if strict and result.issues:
        raise CodeerError(_("{n} problem(s) in the input and --strict is set.")
                          .format(n=len(result.issues)), exit_code=1)
    storage.write_table(result.documents, out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    storage.write_table(result.segments, out / config.SEGMENTS_FILE, schema.SEGMENTS)
    segs = result.segments
    log.info("%s", overview(result.plans, _("Speakers and roles per file")))
    log.info(
        _("ingest: %d documents, %d segments (%d respondent), %d words, %d warning(s) -> %s"),
        len(result.documents), len(segs), int((segs["role"] == "respondent").sum()),
        int(result.documents["n_words"].sum()), len(result.issues), out,
    )
    return result


def _check_raw(raw: Path) -> None:
    """Raises: CodeerError: ``raw`` is no folder."""
    if not raw.is_dir():
        raise CodeerError(_("Raw folder {raw} does not exist. Point --raw at your transcripts.")
                          .format(raw=raw))


def _nothing_readable(raw: Path, issues: list[Issue]) -> None:
    """Raises: CodeerError: no file in ``raw`` could be read; names the first problems."""
    detail = "; ".join(shown(str(i)) for i in issues[:3]) or _("no transcript files")
    raise CodeerError(_("Nothing readable in {raw} ({detail}). Add .txt, .md, .docx, .odt, .vtt "
                        "or .srt transcripts.").format(raw=raw, detail=detail))


def speaker_patterns(extra_patterns: tuple[str, ...] = ()) -> tuple[tuple[str, bool], ...]:
    """The user's ``--speaker-pattern`` regexes (strong, tried first) and the default ones.

    Raises:
        CodeerError: A pattern is no regular expression or has no ``(?P<name>...)`` group.
    """
    for p in extra_patterns:
        try:
            if "name" not in re.compile(p).groupindex:
                raise re.error(_("no (?P<name>...) group"))
        except re.error as exc:
            raise CodeerError(
                _("--speaker-pattern '{pattern}' must be a regular expression with a "
                  "(?P<name>...) group. Got an error instead: {error}.").format(pattern=p,
                                                                               error=exc)
            ) from None
    return tuple((p, True) for p in extra_patterns) + DEFAULT_PATTERNS


def preview(
    raw: Path = config.RAW_DIR, extra_patterns: tuple[str, ...] = (), progress: bool = True
) -> tuple[str, list[Plan]]:
    """What ``codeer ingest`` would make of the files in ``raw``, without writing anything:
    per file the header block, the speakers, their roles, turns and words, and why each role
    was chosen (no sentences are cut, so this is quick).

    Returns:
        The overview as text (in the language of the run) and the plans; problems are logged
        as warnings.

    Raises:
        CodeerError: The raw folder is missing or nothing in it is readable (exit 2).
    """
    raw = Path(raw)
    _check_raw(raw)
    patterns = speaker_patterns(extra_patterns)
    metadata, meta_path, issues = read_metadata(raw)
    paths, scan_issues = scan_raw(raw)
    issues += scan_issues
    loaded = []
    for item in load_files(paths, raw, progress):
        (issues if isinstance(item, Issue) else loaded).append(item)
    if not loaded:
        _nothing_readable(raw, issues)
    plans, _columns, plan_issues = plan_files(loaded, metadata, meta_path.name if meta_path else "",
                                       patterns)
    for issue in issues + plan_issues:
        log.warning("%s", shown(str(issue)))
    title = _("Preview: speakers and roles in {n} file(s) in {raw}; nothing was written"
              ).format(n=len(plans), raw=raw)
    return overview(plans, title), plans


def overview(plans: list[Plan], title: str) -> str:
    """A table (in the language of the run) with per file its speakers, roles, turns, words
    and why each role was chosen, plus the header block and hard-wrapped lines where a file has
    them."""
    import shutil

    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column, justify, no_wrap in OVERVIEW_COLUMNS:
        table.add_column(_(column), justify=justify, overflow="fold", no_wrap=no_wrap)
    for plan in plans:
        rows = [(shown(s) if s else _("(before the first speaker)"), ROLE_NAMES.get(role, role),
                 str(n), str(w), reason) for s, role, n, w, reason in speaker_table(plan)]
        if plan.header:
            keys = ", ".join(shown(k) for k, _value, _line in plan.header.entries)
            words = len(plan.text[plan.header.start : plan.header.end].split())
            rows.append((_("(header block)"), _("metadata"), "", str(words),
                         _("{keys}: metadata of the interview, not speech").format(keys=keys)))
        if plan.wrap:
            rows.append((_("(hard line breaks)"), "", "", "",
                         _("lines broken at {width} characters; joined within a paragraph")
                         .format(width=plan.wrap)))
        for i, row in enumerate(rows):
            table.add_row(shown(plan.name) if i == 0 else "", *row)
        table.add_section()
    width = max(100, shutil.get_terminal_size((120, 24)).columns)
    console = Console(file=io.StringIO(), width=width, markup=False, highlight=False,
                      emoji=False, color_system=None, soft_wrap=False)
    console.print(table)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines()).strip("\n")
