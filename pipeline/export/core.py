"""Export stage: tables, one Excel workbook, figures, REFI-QDA and a draft report.

Everything a researcher takes out of codeer is made here, from the stage outputs in OUT:

* ``OUT/tables/<name>.csv`` (UTF-8, comma-separated, fixed column order; see :data:`TABLES`)
  and the same tables as sheets of ``OUT/codeer.xlsx``, with a ``toelichting`` sheet that
  explains every column of every sheet in Dutch;
* ``OUT/figures/<name>.png`` (300 dpi) and ``.svg`` (see :mod:`pipeline.export.figures`);
* ``OUT/project.qdpx`` and ``OUT/codebook.qdc`` (see :mod:`pipeline.export.refiqda`);
* ``OUT/report.md`` and a self-contained ``OUT/report.html`` (see :mod:`pipeline.export.report`);
* ``OUT/private/pseudonymisation_key.csv``: which placeholder stands for which original. It is
  never referenced from any other export and is not written with ``--no-pseudonymise``.

Pseudonymisation is on by default and covers every exported text: the transcripts (REFI-QDA
sources), excerpts and quotes (cut from the pseudonymised transcripts with the offset maps),
evidence strings, metadata values and theme labels/keywords. Interviewer names and every speaker
label that is not a role word ("Sanne de Wit", not "R") are handed to the pseudonymiser as extra
names; the ``interviewer`` metadata column is never exported.

Codings with status ``rejected`` do not count anywhere; they stay in ``excerpts`` with their
status, so a reviewer can see what was turned down.

:func:`build_export` is the pure core (frames in, bytes and frames out; the pseudonymiser is
handed in); :func:`run` reads, validates, calls it, writes atomically and logs one line.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from pipeline import hooks
from pipeline.coding.codebook import Codebook
from pipeline.export.privacy import KEY_COLUMNS, PseudonymiserLike, extra_names, metadata_columns
from pipeline.export.tables import (
    Memo,
    check_codes,
    code_document_table,
    code_group_table,
    cooccurrence_table,
    counted,
    excerpts_table,
    exported_metadata,
    interviews_table,
    keyword_scrubber,
    pseudo_segment_texts,
    theme_interview_table,
    theme_quotes,
    themes_table,
)
from pipeline.export.workbook import workbook_bytes

log = logging.getLogger("codeer")

# --------------------------------------------------------------------------- core


@dataclass
class Export:
    """Everything the export writes, built in memory.

    Attributes:
        tables: Table name -> frame, in :data:`TABLES` order (theme tables only with themes).
        workbook: The ``.xlsx`` bytes.
        figures: Figure name -> (PNG bytes, SVG bytes).
        report_md: The draft report in Markdown (figures referenced as ``figures/<name>.png``).
        report_html: The same report as one self-contained HTML page.
        project: The ``.qdpx`` bytes.
        codebook: The ``.qdc`` bytes.
        key: The pseudonymisation key table, or ``None`` when pseudonymisation is off.
        notes: General remarks (also on the ``toelichting`` sheet).
    """

    tables: dict[str, pd.DataFrame]
    workbook: bytes
    figures: dict[str, tuple[bytes, bytes]]
    report_md: str
    report_html: str
    project: bytes
    codebook: bytes
    key: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)


@hooks.timed("build_export")
def build_export(
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    book: Codebook,
    pseudo: PseudonymiserLike,
    themes: pd.DataFrame | None = None,
    theme_info: pd.DataFrame | None = None,
    reviewers: Sequence[str] = (),
    step: Callable[[str], None] = lambda name: None,
) -> Export:
    """Build every export in memory (the core of :func:`run`).

    Args:
        documents: The documents table (:data:`pipeline.schema.DOCUMENTS`).
        segments: The segments table (:data:`pipeline.schema.SEGMENTS`).
        codings: The codings table (:data:`pipeline.schema.CODINGS`).
        book: The codebook.
        pseudo: The pseudonymiser (:class:`Identity` for none); fresh, so its numbering
            starts with these documents.
        themes: ``themes.parquet`` (:data:`pipeline.schema.THEMES`), or ``None``.
        theme_info: ``theme_info.csv``, or ``None`` (no theme tables, figure or section).
        reviewers: Reviewer names (users of the REFI-QDA project).
        step: Called with the name of each step before it runs (progress display).

    Raises:
        CodeerError: Codings refer to codes outside ``book`` or to missing segments.
    """
    phases = contextlib.ExitStack()  # one timing span per step, for tools that listen

    def phase(name: str) -> None:
        phases.close()
        step(name)
        phases.enter_context(hooks.span(f"export_step:{name}"))

    try:
        return _build(documents, segments, codings, book, pseudo, themes, theme_info, reviewers,
                      phase)
    finally:
        phases.close()


def _build(documents: pd.DataFrame, segments: pd.DataFrame, codings: pd.DataFrame,
           book: Codebook, pseudo: PseudonymiserLike, themes: pd.DataFrame | None,
           theme_info: pd.DataFrame | None, reviewers: Sequence[str],
           step: Callable[[str], None]) -> Export:
    from pipeline.export import figures, refiqda, report

    check_codes(codings, book, segments)
    have_themes = themes is not None and theme_info is not None
    notes = _notes(pseudo.enabled, have_themes)

    step("pseudonimiseren")
    docs = pseudo.documents(dict(zip(documents["document_id"], documents["text"], strict=True)))
    seg_texts = pseudo_segment_texts(segments, docs)
    scrub = Memo(pseudo)
    meta = exported_metadata(documents, scrub)

    step("tabellen")
    tables = {
        "interviews": interviews_table(documents, segments, codings, meta),
        "code_document": code_document_table(documents, segments, codings, book),
        "code_department": code_group_table(segments, codings, book, meta),
        "cooccurrence_segment": cooccurrence_table(segments, codings, book, "segment"),
        "cooccurrence_turn": cooccurrence_table(segments, codings, book, "turn"),
        "excerpts": excerpts_table(segments, codings, book, meta, seg_texts, scrub),
    }
    quotes_by_theme: dict[int, dict] = {}
    if have_themes:
        words = keyword_scrubber(pseudo, extra_names(documents, segments))
        tables["themes"] = themes_table(theme_info, book, lambda v: scrub(words(str(v))))
        tables["theme_interview"] = theme_interview_table(themes, segments, tables["themes"],
                                                          documents)
        quotes_by_theme = theme_quotes(theme_info, themes, seg_texts, segments, meta)

    step("werkboek")
    workbook = workbook_bytes(tables, notes)

    step("figuren")
    figs = figures.build_figures(book, tables, counted(codings))

    step("REFI-QDA")
    refi_docs = documents.drop(columns=[c for c in metadata_columns(documents)])
    refi_docs = refi_docs.merge(meta, on="document_id", how="left")
    texts = offsets = None
    if pseudo.enabled:
        texts = {d: docs[d].text for d in documents["document_id"]}

        def offsets(doc_id: str, start: int, end: int) -> tuple[int, int]:
            return docs[doc_id].map_start(start), docs[doc_id].map_end(end)

    project = refiqda.build_project(
        refi_docs, segments, codings, book, texts=texts, offsets=offsets,
        reviewers=list(reviewers), project_name=book.name,
        metadata_columns=metadata_columns(documents),
    )
    qdc = refiqda.build_codebook(book)

    step("rapport")
    summary = report.Summary.from_frames(documents, segments, codings, book, pseudo.enabled)
    md = report.render_markdown(summary, book, tables, quotes_by_theme, sorted(figs))
    html = report.render_html(md, {n: png for n, (png, _svg) in figs.items()}, book.name)

    key = None
    if pseudo.enabled:
        key = pseudo.key_table().reindex(columns=list(KEY_COLUMNS))
    return Export(tables, workbook, figs, md, html, project, qdc, key, notes)


def _notes(pseudonymised: bool, have_themes: bool) -> list[str]:
    """General remarks for the workbook's ``toelichting`` sheet."""
    notes = [
        "Afgewezen coderingen (status rejected) tellen in geen enkele tabel mee; ze staan wel "
        "in excerpts, met hun status.",
        "CSV-bestanden in tables/ zijn UTF-8 met komma als scheidingsteken; dit werkboek bevat "
        "dezelfde tabellen.",
    ]
    if pseudonymised:
        notes.insert(0, "Alle teksten zijn gepseudonimiseerd: namen, plaatsen, data, "
                        "telefoonnummers en e-mailadressen zijn vervangen door placeholders "
                        "zoals [PERSOON-1]; dezelfde persoon heeft overal dezelfde placeholder. "
                        "De interviewers staan niet in de export.")
    else:
        notes.insert(0, "LET OP: niet gepseudonimiseerd (--no-pseudonymise). De teksten bevatten "
                        "namen en andere herleidbare gegevens; deel deze bestanden niet.")
    if not have_themes:
        notes.append("De bladen themes en theme_interview ontbreken: `codeer themes` is (nog) "
                     "niet gedraaid.")
    return notes
