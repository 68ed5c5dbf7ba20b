"""Export stage: tables, one Excel workbook, figures, REFI-QDA and a draft report.

Everything a researcher takes out of codeer is made here, from the stage outputs in OUT:

* ``OUT/tables/<name>.csv`` (UTF-8, comma-separated, fixed column order; see :data:`TABLES`)
  and the same tables as sheets of ``OUT/codeer.xlsx``, with a ``toelichting`` sheet that
  explains every column of every sheet (in the language of the run, Dutch by default);
* ``OUT/figures/<name>.png`` (300 dpi) and ``.svg`` (see :mod:`pipeline.export.figures`);
* ``OUT/project.qdpx`` and ``OUT/codebook.qdc`` (see :mod:`pipeline.export.refiqda`);
* ``OUT/report.md`` and a self-contained ``OUT/report.html`` (see :mod:`pipeline.export.report`);
* ``OUT/private/pseudonymisation_key.csv``: which placeholder stands for which original (and
  which neutral document id stands for which original id), and
  ``OUT/private/pseudonymisation_overview.csv``: every replacement per document (what, where,
  why), to check before sharing. Both are owner-only, never referenced from any other export
  and not written with ``--no-pseudonymise``.

Pseudonymisation is on by default and covers every exported text: the transcripts (REFI-QDA
sources), excerpts and quotes (cut from the pseudonymised transcripts with the offset maps),
evidence strings, metadata values and theme labels/keywords. Interviewer names and every speaker
label that is not a role word ("Sanne de Wit", not "R") are handed to the pseudonymiser as extra
names; the ``interviewer`` metadata column is never exported. Document ids that come from a file
name (no row in ``interviews.csv``) or hold a replaced name become neutral ids such as
``interview-01`` in every export (:func:`pipeline.export.privacy.exported_ids`).

Counts count passages (:mod:`pipeline.export.passages`): adjacent sentences of one turn with
the same code are one coding for the researcher (one quote, one excerpt row, one REFI-QDA
selection). The codings stay one row per segment and code; passages are derived here, once,
and handed to every table, figure, the report and the REFI-QDA project.

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
from datetime import datetime

import pandas as pd

from pipeline import hooks
from pipeline.coding.codebook import Codebook
from pipeline.export.privacy import (
    KEY_COLUMNS,
    OVERVIEW_COLUMNS,
    PseudonymiserLike,
    exported_ids,
    extra_names,
    id_key_rows,
    metadata_columns,
    name_words,
)
from pipeline.export.tables import (
    Memo,
    Neighbours,
    check_codes,
    code_document_table,
    code_group_table,
    cooccurrence_table,
    excerpts_table,
    exported_metadata,
    interviews_table,
    keyword_scrubber,
    memos_table,
    passage_rows,
    pseudo_passage_texts,
    pseudo_segment_texts,
    theme_interview_table,
    theme_quotes,
    themes_table,
)
from pipeline.export.workbook import workbook_bytes
from pipeline.i18n import _

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
        overview: Every replacement (:data:`pipeline.export.privacy.OVERVIEW_COLUMNS`), or
            ``None`` when pseudonymisation is off.
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
    overview: pd.DataFrame | None = None


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
    *,
    reviews: pd.DataFrame | None = None,
    memos: pd.DataFrame | None = None,
    coded_at: datetime | None = None,
    previous_ids: dict[str, str] | None = None,
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
        reviews: ``reviews.csv`` as parsed (:func:`pipeline.review.decisions.read_reviews`):
            its notes become REFI-QDA notes on the codings' selections.
        memos: ``memos.csv`` as parsed (:func:`pipeline.review.memos.read_memos`): the
            ``memos`` table and sheet, the report's appendix and REFI-QDA notes.
        coded_at: When the automatic codings were made (a recorded, deterministic time; see
            :mod:`pipeline.export.refiqda`), for the REFI-QDA dates.
        previous_ids: Neutral document ids of an earlier export (from its key table), kept.

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
                      phase, reviews, memos, coded_at, previous_ids or {})
    finally:
        phases.close()


def _build(documents: pd.DataFrame, segments: pd.DataFrame, codings: pd.DataFrame,
           book: Codebook, pseudo: PseudonymiserLike, themes: pd.DataFrame | None,
           theme_info: pd.DataFrame | None, reviewers: Sequence[str],
           step: Callable[[str], None], reviews: pd.DataFrame | None = None,
           memos: pd.DataFrame | None = None, coded_at: datetime | None = None,
           previous_ids: dict[str, str] | None = None) -> Export:
    from pipeline.export import figures, refiqda, report

    check_codes(codings, book, segments)
    have_themes = themes is not None and theme_info is not None
    notes = _notes(pseudo.enabled, have_themes)

    step("pseudonimiseren")
    docs = pseudo.documents(dict(zip(documents["document_id"], documents["text"], strict=True)))
    ids: dict[str, str] = {}
    if pseudo.enabled:
        # Ids from file names may hold names: from here on every table, the report, the
        # REFI-QDA project and the figures only see the exported ids.
        words = name_words([*pseudo.key_table().get("original", []), *pseudo.originals(),
                            *extra_names(documents, segments)])
        ids = exported_ids(documents, words, previous_ids)
        documents, segments, docs, theme_info = _rename_documents(ids, documents, segments,
                                                                  docs, theme_info)
        if any(new != old for old, new in ids.items()):
            notes.insert(1, _("Interviews without a row in interviews.csv, or with a name in "
                              "their id, have a neutral id in the export (interview-01, "
                              "interview-02, ...); the link with the file is only in the "
                              "private key and stays the same in a later export."))
    seg_texts = pseudo_segment_texts(segments, docs)
    scrub = Memo(pseudo)
    meta = exported_metadata(documents, scrub)

    step("tabellen")
    rows = passage_rows(codings, segments, book)  # the passages, once for every export
    tables = {
        "interviews": interviews_table(documents, segments, codings, meta, book, rows),
        "code_document": code_document_table(documents, segments, codings, book, rows),
        "code_department": code_group_table(segments, codings, book, meta, rows),
        "cooccurrence_passage": cooccurrence_table(segments, codings, book, "passage", rows),
        "cooccurrence_turn": cooccurrence_table(segments, codings, book, "turn", rows),
        "excerpts": excerpts_table(segments, codings, book, meta, seg_texts, scrub, rows,
                                   pseudo_passage_texts(rows, docs)),
    }
    quotes_by_theme: dict[int, list[dict]] = {}
    if have_themes:
        words = keyword_scrubber(pseudo, extra_names(documents, segments))
        tables["themes"] = themes_table(theme_info, book, lambda v: scrub(words(str(v))))
        tables["theme_interview"] = theme_interview_table(themes, segments, tables["themes"],
                                                          documents)
        quotes_by_theme = theme_quotes(theme_info, themes, seg_texts, segments, meta)
    memos = memos if memos is not None else _no_memos()
    if ids and len(memos):  # a memo on an interview names it by its id
        memos = memos.assign(target=[
            ids.get(t, t) if a == "document" else t
            for a, t in zip(memos["about"], memos["target"], strict=True)])
    tables["memos"] = memos_table(memos, segments, seg_texts, scrub)

    step("werkboek")
    workbook = workbook_bytes(tables, notes)

    step("figuren")
    unit = report.unit_words(segments)
    figs = figures.build_figures(book, tables, unit=unit[1])

    step("REFI-QDA")
    refi_docs = documents.drop(columns=[c for c in metadata_columns(documents)])
    refi_docs = refi_docs.merge(meta, on="document_id", how="left")
    texts = offsets = None
    if pseudo.enabled:
        texts = {d: docs[d].text for d in documents["document_id"]}

        def offsets(doc_id: str, start: int, end: int) -> tuple[int, int]:
            return docs[doc_id].map_start(start), docs[doc_id].map_end(end)

    refi_notes = refiqda.memo_notes(memos, scrub)
    if reviews is not None:
        refi_notes += refiqda.review_notes(reviews, scrub)
    speakers = {str(s): str(scrub(str(s))) for s in segments["speaker"].dropna().unique()}
    project = refiqda.build_project(
        refi_docs, segments, codings, book, texts=texts, offsets=offsets,
        reviewers=list(reviewers), project_name=book.name,
        metadata_columns=metadata_columns(documents), coded_at=coded_at, notes=refi_notes,
        speakers=speakers,
    )
    qdc = refiqda.build_codebook(book)

    step("rapport")
    summary = report.Summary.from_frames(documents, segments, codings, book, pseudo.enabled,
                                         rows)
    md = report.render_markdown(summary, book, tables, quotes_by_theme, list(figs),
                                Neighbours(segments, seg_texts))
    html = report.render_html(md, {n: png for n, (png, _svg) in figs.items()}, book.name)

    key = overview = None
    if pseudo.enabled:
        key = pseudo.key_table().reindex(columns=list(KEY_COLUMNS))
        key = pd.concat([key, id_key_rows(ids, previous_ids)], ignore_index=True)
        overview = _overview(pseudo, ids)
    return Export(tables, workbook, figs, md, html, project, qdc, key, notes, overview)


def _rename_documents(
    ids: dict[str, str], documents: pd.DataFrame, segments: pd.DataFrame,
    docs: dict, theme_info: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict, pd.DataFrame | None]:
    """The frames with every document id replaced by its exported id."""
    documents = documents.assign(document_id=documents["document_id"].map(ids))
    segments = segments.assign(document_id=segments["document_id"].map(ids))
    docs = {ids[k]: v for k, v in docs.items()}
    if theme_info is not None:
        theme_info = theme_info.assign(interviews=theme_info["interviews"].map(
            lambda v: [ids.get(d, d) for d in v]))
    return documents, segments, docs, theme_info


def _overview(pseudo: PseudonymiserLike, ids: dict[str, str]) -> pd.DataFrame:
    """Every replacement of the run, with the exported id of its document."""
    make = getattr(pseudo, "overview", None)
    frame = make() if make is not None else pd.DataFrame(columns=["document_id"])
    frame = frame.assign(exported_id=frame["document_id"].map(lambda d: ids.get(d, "")))
    return frame.reindex(columns=list(OVERVIEW_COLUMNS))


def _no_memos() -> pd.DataFrame:
    from pipeline.review.memos import parse_memos

    return parse_memos("")[0]


def _notes(pseudonymised: bool, have_themes: bool) -> list[str]:
    """General remarks for the workbook's ``toelichting`` sheet, in the language of the run."""
    notes = [
        _("Counts count passages: adjacent sentences of one turn with the same code are "
          "together one coding (one row in excerpts, one selection in the REFI-QDA project), "
          "however many sentences there are. A passage can have more than one code."),
        _("Rejected passages (status rejected) do not count in any table; they are in "
          "excerpts, with their status. A rejected sentence breaks a passage in two."),
        _("CSV files in tables/ are UTF-8 with a comma as separator; this workbook holds the "
          "same tables."),
    ]
    if pseudonymised:
        notes.insert(0, _("All texts are pseudonymised: names, places, dates, phone numbers "
                          "and e-mail addresses are replaced by placeholders such as "
                          "[PERSOON-1]; the same person has the same placeholder everywhere "
                          "(full name, surname and first name together, unless two people in "
                          "the interviews share that first name or surname). Neighbourhoods, "
                          "districts and well-known buildings are places: all replaced by "
                          "[LOCATIE-n], or all kept if so configured. The interviewers are not "
                          "in the export."))
    else:
        notes.insert(0, _("NOTE: not pseudonymised (--no-pseudonymise). The texts contain "
                          "names and other identifying details; do not share these files."))
    if not have_themes:
        notes.append(_("The sheets themes and theme_interview are missing: `codeer themes` has "
                       "not been run (yet)."))
    return notes
