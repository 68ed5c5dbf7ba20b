"""The ``codeer export`` command: read the stage outputs, build every export, write atomically."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import pandas as pd

from pipeline import config, hooks, schema, storage
from pipeline.errors import CodeerError
from pipeline.export.core import Export, build_export
from pipeline.export.privacy import extra_names, make_pseudonymiser
from pipeline.export.tables import THEME_TABLES, csv_text

log = logging.getLogger("codeer")

# --------------------------------------------------------------------------- run


def _read_themes(out: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    info_path = out / config.THEME_INFO_FILE
    themes_path = out / config.THEMES_FILE
    if not info_path.exists() or not themes_path.exists():
        return None, None
    themes = storage.read_table(themes_path, schema.THEMES)
    return themes, storage.read_table(info_path, schema.THEME_INFO)


def reviewer_names(out: Path, known_codes: set[str]) -> list[str]:
    """Reviewer names from ``OUT/reviews.csv``, in order of first decision."""
    from pipeline.review import decisions as review

    reviews = review.read_reviews(out, known_codes)
    return list(dict.fromkeys(r for r in reviews["reviewer"] if str(r).strip()))


@hooks.timed("write_files")
def write(out: Path, result: Export) -> list[Path]:
    """Write every export atomically; remove theme outputs of an earlier run without themes.

    All files are first written to temporary files beside their targets; only when every one
    of them is complete are they renamed into place, the workbook first (the file most likely
    to be open in another program); the REFI-QDA files follow. So a full disk or an unwritable
    folder leaves every earlier export intact, and a locked workbook stops the export before
    anything is replaced. A target that cannot be replaced keeps its earlier version; files
    renamed before it are new, files after it keep their earlier version.

    Returns:
        The paths written.

    Raises:
        CodeerError: A target is locked or the folder is not writable; earlier files stay.
    """
    from pipeline.export import refiqda

    tables_dir = out / config.TABLES_DIR
    fig_dir = out / config.FIGURES_DIR
    files: list[tuple[Path, str | bytes]] = [
        (tables_dir / f"{name}.csv", csv_text(df)) for name, df in result.tables.items()
    ]
    for name, (png, svg) in result.figures.items():
        files += [(fig_dir / f"{name}.png", png), (fig_dir / f"{name}.svg", svg)]
    files += [(out / config.REPORT_MD, result.report_md),
              (out / config.REPORT_HTML, result.report_html)]
    if result.key is not None:
        files.append((out / config.PRIVATE_DIR / config.KEY_FILE, csv_text(result.key)))
    files.append((out / config.WORKBOOK_FILE, result.workbook))  # entered last: renamed first
    with contextlib.ExitStack() as stack:
        for path, data in files:
            tmp = stack.enter_context(storage.atomic_path(path))
            if isinstance(data, str):
                tmp.write_text(data, encoding="utf-8", newline="\n")
            else:
                tmp.write_bytes(data)
    refiqda.write_exports(out, result.project, result.codebook)
    if "themes" not in result.tables:
        for stale in [tables_dir / f"{n}.csv" for n in THEME_TABLES] + [
            fig_dir / f"themes.{ext}" for ext in ("png", "svg")
        ]:
            stale.unlink(missing_ok=True)
    return [p for p, _ in files] + [out / refiqda.PROJECT_FILE, out / refiqda.CODEBOOK_FILE]


def run(
    out: Path = config.OUT_DIR,
    codebook: Path = config.CODEBOOK_FILE,
    pseudonymise: bool = True,
    progress: bool = True,
) -> Export:
    """Export tables, workbook, figures, REFI-QDA and the draft report into ``out``.

    Args:
        out: The output folder of the earlier stages.
        codebook: The codebook the codings were made with.
        pseudonymise: Pseudonymise every exported text and write the key table to
            ``OUT/private/`` (``--no-pseudonymise`` turns it off).
        progress: Show which step is running.

    Returns:
        What was exported.

    Raises:
        CodeerError: No codings yet (run ``codeer code``), an invalid codebook, outdated stage
            outputs, or a locked/unwritable target (earlier exports stay intact).
    """
    t0 = time.perf_counter()
    out = Path(out)
    if not (out / config.SEGMENTS_FILE).exists():
        raise CodeerError(f"{out} holds no {config.SEGMENTS_FILE}. Run `codeer ingest --out "
                          f"{out}` and `codeer code --out {out}` first.")
    if not (out / config.CODINGS_FILE).exists():
        raise CodeerError(f"{out} holds no {config.CODINGS_FILE}, so there is nothing to export "
                          f"yet. Run `codeer code --out {out}` first.")
    from pipeline.coding.codebook import load_codebook

    book, _sha = load_codebook(codebook)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    themes, theme_info = _read_themes(out)
    reviewers = reviewer_names(out, {c.id for c in book.codes})
    pseudo = make_pseudonymiser(pseudonymise, extra_names(documents, segments))

    steps = ["pseudonimiseren", "tabellen", "werkboek", "figuren", "REFI-QDA", "rapport"]
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("export", total=len(steps))

            def step(name: str) -> None:
                bar.update(task, description=f"export: {name}", advance=0 if name == steps[0]
                           else 1)

            result = build_export(documents, segments, codings, book, pseudo, themes,
                                  theme_info, reviewers, step)
    else:
        result = build_export(documents, segments, codings, book, pseudo, themes, theme_info,
                              reviewers)
    write(out, result)
    n_rejected = int((codings["status"] == "rejected").sum())
    n_placeholders = 0 if result.key is None else len(result.key)
    log.info(
        "export: %d interviews, %d codings (%d rejected left out of counts), %d tables, "
        "%d figures, report, REFI-QDA; %s in %.1f s -> %s",
        len(documents), len(codings), n_rejected, len(result.tables), len(result.figures),
        f"pseudonymised ({n_placeholders} placeholders)" if result.key is not None
        else "NOT pseudonymised", time.perf_counter() - t0, out,
    )
    return result
