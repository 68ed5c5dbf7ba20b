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
from pipeline.export.privacy import extra_names, make_pseudonymiser, previous_ids
from pipeline.export.pseudo_settings import Settings, load_settings
from pipeline.export.tables import THEME_TABLES, csv_text
from pipeline.i18n import N_, _, decimal

log = logging.getLogger("codeer")

#: The steps of :func:`pipeline.export.core.build_export` (their names also name the timing
#: spans, so they stay fixed) and the progress label each shows, in the researcher's language.
STEP_LABELS = {
    "pseudonimiseren": N_("pseudonymising"),
    "tabellen": N_("tables"),
    "werkboek": N_("workbook"),
    "figuren": N_("figures"),
    "REFI-QDA": "REFI-QDA",
    "rapport": N_("report"),
}

# --------------------------------------------------------------------------- run


def _read_themes(out: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    info_path = out / config.THEME_INFO_FILE
    themes_path = out / config.THEMES_FILE
    if not info_path.exists() or not themes_path.exists():
        return None, None
    themes = storage.read_table(themes_path, schema.THEMES)
    return themes, storage.read_table(info_path, schema.THEME_INFO)


def pseudonymisation_settings(codebook: Path, path: Path | None = None) -> Settings:
    """The researcher's settings: ``path``, else ``pseudonimisering.yaml`` beside the codebook
    when it exists, else the defaults.

    Raises:
        CodeerError: ``path`` does not exist, or the file is invalid (file and line named).
    """
    if path is None:
        beside = Path(codebook).parent / config.PSEUDONYMISATION_FILE
        if not beside.is_file():
            return Settings()
        path = beside
    return load_settings(path)


def _earlier_ids(out: Path) -> dict[str, str]:
    """Neutral document ids recorded by an earlier export (kept stable between runs)."""
    path = out / config.PRIVATE_DIR / config.KEY_FILE
    if not path.is_file():
        return {}
    try:
        key = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        log.warning(_("%s could not be read (%s); document ids are numbered afresh."), path, exc)
        return {}
    return previous_ids(key)


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
    private: set[Path] = set()
    if result.key is not None:
        private.add(out / config.PRIVATE_DIR / config.KEY_FILE)
        files.append((out / config.PRIVATE_DIR / config.KEY_FILE, csv_text(result.key)))
    if result.overview is not None:
        private.add(out / config.PRIVATE_DIR / config.OVERVIEW_FILE)
        files.append((out / config.PRIVATE_DIR / config.OVERVIEW_FILE, csv_text(result.overview)))
    files.append((out / config.WORKBOOK_FILE, result.workbook))  # entered last: renamed first
    with contextlib.ExitStack() as stack:
        for path, data in files:
            # The key and the overview hold every original: owner-only, whatever the umask.
            tmp = stack.enter_context(storage.atomic_path(path, private=path in private))
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
    # Renamed outputs of earlier versions (counts per passage, figures named after the codes).
    for stale in (tables_dir / "cooccurrence_segment.csv", fig_dir / "lessen.png",
                  fig_dir / "lessen.svg"):
        stale.unlink(missing_ok=True)
    return [p for p, _data in files] + [out / refiqda.PROJECT_FILE, out / refiqda.CODEBOOK_FILE]


def run(
    out: Path = config.OUT_DIR,
    codebook: Path = config.CODEBOOK_FILE,
    pseudonymise: bool = True,
    progress: bool = True,
    settings: Path | None = None,
) -> Export:
    """Export tables, workbook, figures, REFI-QDA and the draft report into ``out``.

    Args:
        out: The output folder of the earlier stages.
        codebook: The codebook the codings were made with.
        pseudonymise: Pseudonymise every exported text and write the key table and the
            overview of replacements to ``OUT/private/`` (``--no-pseudonymise`` turns it off).
        progress: Show which step is running.
        settings: The researcher's pseudonymisation settings (``--pseudonymisation FILE``);
            default: ``pseudonimisering.yaml`` beside the codebook, when it exists.

    Returns:
        What was exported.

    Raises:
        CodeerError: No codings yet (run ``codeer code``), an invalid codebook or settings
            file, outdated stage outputs, or a locked/unwritable target (earlier exports stay
            intact).
    """
    t0 = time.perf_counter()
    out = Path(out)
    if not (out / config.SEGMENTS_FILE).exists():
        raise CodeerError(_("{out} holds no {file}. Run `codeer ingest --out {out}` and "
                            "`codeer code --out {out}` first.")
                          .format(out=out, file=config.SEGMENTS_FILE))
    if not (out / config.CODINGS_FILE).exists():
        raise CodeerError(_("{out} holds no {file}, so there is nothing to export yet. Run "
                            "`codeer code --out {out}` first.")
                          .format(out=out, file=config.CODINGS_FILE))
    from pipeline.coding.codebook import load_codebook
    from pipeline.review import decisions as review
    from pipeline.review import memos as memo_log

    book, _sha = load_codebook(codebook)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    themes, theme_info = _read_themes(out)
    reviews = review.read_reviews(out, {c.id for c in book.codes})
    memos = memo_log.read_memos(out)
    reviewers = list(dict.fromkeys(r for r in reviews["reviewer"] if str(r).strip()))
    rules = pseudonymisation_settings(codebook, settings) if pseudonymise else None
    if rules is not None and rules.source is not None:
        log.info(_("pseudonymisation settings: %s (%d to keep, %d to remove, districts replaced)")
                 if rules.replace_districts else
                 _("pseudonymisation settings: %s (%d to keep, %d to remove, districts kept)"),
                 rules.source, len(rules.keep), len(rules.remove))
    pseudo = make_pseudonymiser(pseudonymise, extra_names(documents, segments), rules)
    earlier = _earlier_ids(out) if pseudonymise else {}

    steps = list(STEP_LABELS)
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("export", total=len(steps))

            def step(name: str) -> None:
                label = _(STEP_LABELS[name]) if name in STEP_LABELS else name
                bar.update(task, description=f"export: {label}", advance=0 if name == steps[0]
                           else 1)

            result = build_export(documents, segments, codings, book, pseudo, themes,
                                  theme_info, reviewers, step, previous_ids=earlier,
                                  reviews=reviews, memos=memos)
    else:
        result = build_export(documents, segments, codings, book, pseudo, themes, theme_info,
                              reviewers, previous_ids=earlier, reviews=reviews, memos=memos)
    write(out, result)
    n_rejected = int((codings["status"] == "rejected").sum())
    n_placeholders = 0 if result.key is None else len(result.key)
    excerpts = result.tables["excerpts"]
    n_passages = excerpts.loc[excerpts["status"] != "rejected", "passage_id"].nunique()
    log.info(
        _("export: %d interviews, %d passages from %d codings (%d rejected left out of counts), "
          "%d tables, %d figures, report, REFI-QDA; %s in %s s -> %s"),
        len(documents), n_passages, len(codings), n_rejected, len(result.tables),
        len(result.figures),
        _("pseudonymised ({n} placeholders)").format(n=n_placeholders) if result.key is not None
        else _("NOT pseudonymised"), decimal(time.perf_counter() - t0), out,
    )
    return result
