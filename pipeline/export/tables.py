"""The export's tables: one DataFrame per CSV file and workbook sheet, with descriptions.

Every exported table is listed in :data:`TABLES` with its columns in their fixed order and an
explanation of each, in the language of the run (the workbook's ``toelichting`` sheet is made
from it). The functions here are pure: frames in, frames out; texts arrive already
pseudonymised.

Counts count *passages* (:mod:`pipeline.export.passages`): adjacent sentences of one turn with
the same code are one coding, whatever the number of sentences. Sizes (how much an interview
or a group said) count segments, the unit ingest cut the turns into (sentences, or whole turns
with ``--unit turn``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from pipeline.coding.codebook import Codebook
from pipeline.errors import CodeerError
from pipeline.export import passages as passages_mod
from pipeline.export.privacy import PseudoDocLike, PseudonymiserLike, metadata_columns
from pipeline.i18n import N_, gettext

log = logging.getLogger("codeer")


#: Metadata columns that tables break counts down by (when interviews.csv has them).
GROUP_COLUMNS = ("department", "cluster", "respondent_function")
#: Characters of a neighbouring segment shown as context in ``excerpts``.
CONTEXT_CHARS = 160

# --------------------------------------------------------------------------- table contracts

_SHARE = N_("share: segments divided by respondent segments (0-1), i.e. the part of what the "
            "respondent said that has this code; empty when there are no respondent segments")
_THEME = N_("name of the codebook theme the code falls under (e.g. Aan tafel)")


class _Explained(Mapping[str, tuple[str, dict[str, str]]]):
    """The table contracts, their explanations translated each time they are read.

    The texts are marked with :func:`pipeline.i18n.N_` (English); reading a table gives its
    description and column explanations in the language of the run, so the workbook's
    ``toelichting`` sheet follows ``CODEER_LANG``. The keys and the column order never change.
    """

    def __init__(self, tables: dict[str, tuple[str, dict[str, str]]]):
        self._tables = tables

    def __getitem__(self, name: str) -> tuple[str, dict[str, str]]:
        description, cols = self._tables[name]
        return gettext(description), {col: gettext(text) for col, text in cols.items()}

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)


#: Every exported table: a description and its columns, in their fixed order, each column with
#: its explanation (English here; read in the language of the run).
TABLES: Mapping[str, tuple[str, dict[str, str]]] = _Explained({
    "interviews": (
        N_("One row per interview: metadata (pseudonymised) and counts."),
        {
            "document_id": N_("interview id (from interviews.csv, else the file name)"),
            "respondent_function": N_("the respondent's function (empty when the metadata do "
                                      "not have it)"),
            "department": N_("the respondent's department (empty when unknown)"),
            "cluster": N_("the department's cluster (empty when unknown)"),
            "n_words": N_("number of words of spoken text in the transcript"),
            "n_segments": N_("number of segments of all speakers; segment (a sentence, or a "
                             "whole turn with --unit turn)"),
            "respondent_segments": N_("number of segments of the respondent(s)"),
            "n_passages": N_("number of coded passages (not rejected); a passage with two "
                             "codes counts once. passage: adjacent sentences of one turn with "
                             "the same code; counts as one coding, however many sentences it "
                             "has"),
            "n_codes": N_("number of different codes that occur in the interview"),
        },
    ),
    "code_document": (
        N_("Per code and interview: in how many passages the code occurs. Every combination "
           "is listed, also those with 0. Rejected codings do not count."),
        {
            "theme": _THEME,
            "code_id": N_("id of the code (e.g. L1)"),
            "code_name": N_("name of the code"),
            "document_id": N_("interview id"),
            "n_passages": N_("number of passages of this interview with this code; passage: "
                             "adjacent sentences of one turn with the same code; counts as one "
                             "coding, however many sentences it has"),
            "n_segments": N_("number of segments in those passages"),
            "respondent_segments": N_("number of respondent segments of the interview "
                                      "(denominator)"),
            "share": _SHARE,
        },
    ),
    "code_department": (
        N_("Per code and group of interviews (department, cluster or the respondent's "
           "function): how often the code occurs. Only for metadata columns that exist."),
        {
            "grouping": N_("what is grouped by: department, cluster or the respondent's "
                           "function"),
            "group": N_("the value of that group (e.g. the name of the department)"),
            "theme": _THEME,
            "code_id": N_("id of the code"),
            "code_name": N_("name of the code"),
            "n_passages": N_("number of passages in this group with this code"),
            "n_interviews": N_("number of interviews in this group in which the code occurs"),
            "interviews_in_group": N_("number of interviews in this group"),
            "n_segments": N_("number of segments in those passages"),
            "respondent_segments": N_("number of respondent segments in this group "
                                      "(denominator)"),
            "share": _SHARE,
        },
    ),
    "cooccurrence_passage": (
        N_("Codes occurring together on the same text: how often a passage with one code and "
           "a passage with the other code share at least one sentence (a passage with both "
           "codes counts once). Every pair in both directions; on the diagonal (code_a = "
           "code_b) the number of passages with that code."),
        {
            "code_id_a": N_("id of the first code"),
            "code_name_a": N_("name of the first code"),
            "code_id_b": N_("id of the second code"),
            "code_name_b": N_("name of the second code"),
            "n_passages": N_("number of times passages with both codes share text (diagonal: "
                             "number of passages with the code)"),
        },
    ),
    "cooccurrence_turn": (
        N_("Codes occurring together within the same turn (all sentences of one speaker until "
           "the next speaker takes the floor). On the diagonal the number of turns with that "
           "code."),
        {
            "code_id_a": N_("id of the first code"),
            "code_name_a": N_("name of the first code"),
            "code_id_b": N_("id of the second code"),
            "code_name_b": N_("name of the second code"),
            "n_turns": N_("number of turns in which both codes occur"),
        },
    ),
    "excerpts": (
        N_("One row per coded passage and code: the text (pseudonymised) with context. A "
           "passage with two codes is listed twice (one row per code, see other codes). "
           "Rejected passages are listed too, recognisable by their review status; they do not "
           "count in the other tables."),
        {
            "theme": _THEME,
            "code_id": N_("id of the code"),
            "code_name": N_("name of the code"),
            "other_codes": N_("other codes on exactly the same passage, separated by commas"),
            "document_id": N_("interview id"),
            "passage_id": N_("id of the passage (stable as long as its sentences and their "
                             "codes stay the same)"),
            "segment_ids": N_("ids of the segments of the passage, in order, separated by "
                              "spaces (for codeer review and reviews.csv)"),
            "n_segments": N_("number of segments (sentences) in the passage"),
            "turn_index": N_("number of the turn in the interview (from 0)"),
            "role": N_("the speaker's role: respondent, interviewer or other"),
            "respondent_function": N_("the respondent's function (empty when unknown)"),
            "department": N_("the respondent's department (empty when unknown)"),
            "cluster": N_("the department's cluster (empty when unknown)"),
            "text": N_("the coded passage, pseudonymised"),
            "text_in_context": N_("the sentence before the passage, the passage between » and "
                                  "« and the sentence after it; [interviewer] or [respondent] "
                                  "marks context from another turn, … shortened context"),
            "probability": N_("probability (0-1) that a researcher accepts this code on this "
                              "passage, as codeer estimates it: the highest of its sentences; "
                              "empty for codes given by hand"),
            "method": N_("how the code was given: rule (a keyword rule of the codebook "
                         "matched), model (the passage resembles the code's examples), rule "
                         "and model, or by hand (by a researcher)"),
            "evidence": N_("why: the words a rule matched, the codebook example it most "
                           "resembles and how many review decisions the code learnt from"),
            "status": N_("review status of the passage: automatic (not every sentence "
                         "reviewed yet), accepted (every sentence accepted) or rejected"),
        },
    ),
    "themes": (
        N_("One row per theme that codeer themes found in the respondent segments, with the "
           "best fitting code and whether the theme is 'emerging' (not covered by the "
           "codebook)."),
        {
            "topic": N_("number of the theme; -1 = not assigned"),
            "label": N_("short label: the phrases that typify the theme best (pseudonymised)"),
            "keywords": N_("keywords (lemmas: base forms), separated by commas"),
            "size": N_("number of segments in the theme"),
            "share": N_("share of all assigned segments (0-1)"),
            "best_code_id": N_("id of the code closest to the theme in content"),
            "best_code_name": N_("name of that code"),
            "best_code_similarity": N_("similarity (cosine, -1 to 1) between the theme and "
                                       "that code"),
            "emerging": N_("true (True) when no code fits well enough and it is not small "
                           "talk: an emerging theme"),
            "small_talk": N_("why this is not a theme of substance (greeting or closing, "
                             "recording and consent, contact details, short reactions); empty "
                             "for a theme of substance"),
            "coded_share": N_("share of the theme's segments that have a code (0-1)"),
            "n_interviews": N_("in how many interviews the theme occurs"),
            "interviews": N_("in which interviews, separated by commas"),
        },
    ),
    "theme_interview": (
        N_("Per theme and interview: how many segments of the interview fall in the theme."),
        {
            "topic": N_("number of the theme"),
            "label": N_("label of the theme"),
            "document_id": N_("interview id"),
            "n_segments": N_("number of segments of this interview in the theme"),
            "share_of_theme": N_("share of the theme's segments that come from this interview "
                                 "(0-1)"),
        },
    ),
    "memos": (
        N_("One row per memo (codeer memo, the review notebook or a CAQDAS via codeer import): "
           "what a researcher noted about a passage, an interview, a code or the project."),
        {
            "timestamp": N_("when the memo was written (ISO 8601)"),
            "author": N_("who wrote the memo"),
            "about": N_("what the memo is about: passage (one segment), interview, code or "
                        "project"),
            "document_id": N_("interview id (for a memo about a passage or an interview)"),
            "segment_id": N_("id of the segment (for a memo about a passage)"),
            "code_id": N_("id of the code (for a memo about a code)"),
            "passage": N_("the text of the segment the memo is about, pseudonymised"),
            "text": N_("the memo itself, pseudonymised"),
        },
    ),
})
THEME_TABLES = ("themes", "theme_interview")

#: The workbook's column headers: plain words for the researcher (English here, translated by
#: :func:`pipeline.i18n.gettext`). The CSV files keep the column names, which other tools and
#: ``codeer import`` read.
LABELS: dict[str, str] = {
    "document_id": N_("interview"),
    "respondent_function": N_("respondent's function"),
    "department": N_("department"),
    "cluster": N_("cluster"),
    "n_words": N_("words"),
    "n_segments": N_("segments"),
    "respondent_segments": N_("respondent segments"),
    "n_passages": N_("passages"),
    "n_codes": N_("codes"),
    "theme": N_("theme"),
    "code_id": N_("code id"),
    "code_name": N_("code"),
    "share": N_("share"),
    "grouping": N_("grouped by"),
    "group": N_("group"),
    "n_interviews": N_("interviews (number)"),
    "interviews_in_group": N_("interviews in group"),
    "code_id_a": N_("code id A"),
    "code_name_a": N_("code A"),
    "code_id_b": N_("code id B"),
    "code_name_b": N_("code B"),
    "n_turns": N_("turns"),
    "other_codes": N_("other codes"),
    "passage_id": N_("passage id"),
    "segment_ids": N_("segment ids"),
    "turn_index": N_("turn number"),
    "role": N_("role"),
    "text": N_("text"),
    "text_in_context": N_("text in context"),
    "probability": N_("chance accepted"),
    "method": N_("how coded"),
    "evidence": N_("why"),
    "status": N_("review status"),
    "topic": N_("theme number"),
    "label": N_("label"),
    "keywords": N_("keywords"),
    "size": N_("size"),
    "best_code_id": N_("nearest code id"),
    "best_code_name": N_("nearest code"),
    "best_code_similarity": N_("similarity to nearest code"),
    "emerging": N_("emerging"),
    "small_talk": N_("small talk"),
    "coded_share": N_("share coded"),
    "interviews": N_("interviews"),
    "share_of_theme": N_("share of theme"),
    "timestamp": N_("written at"),
    "author": N_("author"),
    "about": N_("about"),
    "segment_id": N_("segment id"),
    "passage": N_("passage"),
}


def label(column: str) -> str:
    """The workbook header of ``column``, in the current language (the name itself if it has
    no label)."""
    return gettext(LABELS[column]) if column in LABELS else column


def columns(name: str) -> list[str]:
    """The fixed column order of table ``name``."""
    return list(TABLES[name][1])


# --------------------------------------------------------------------------- helpers


def counted(codings: pd.DataFrame) -> pd.DataFrame:
    """The codings that count: not rejected, one per (segment, code)."""
    kept = codings[codings["status"] != "rejected"]
    return kept.drop_duplicates(["segment_id", "code_id"]).reset_index(drop=True)


def passage_rows(codings: pd.DataFrame, segments: pd.DataFrame, book: Codebook | None,
                 given: pd.DataFrame | None = None) -> pd.DataFrame:
    """The codings as passages, one row per passage and code, rejected ones included
    (:func:`pipeline.export.passages.passage_codings`; codes in the codebook's order when there
    is one); ``given`` when already computed."""
    if given is not None:
        return given
    code_order = [c.id for c in book.codes] if book is not None else ()
    return passages_mod.passage_codings(codings, segments, code_order)


def _frame(rows: Iterable[dict] | pd.DataFrame, name: str) -> pd.DataFrame:
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    cols = columns(name)
    for c in cols:
        if c not in df.columns:
            df[c] = pd.Series(dtype="object")
    return df[cols].reset_index(drop=True)


def _code_info(book: Codebook) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "theme": [book.theme_of(c).name for c in book.codes],
            "code_id": [c.id for c in book.codes],
            "code_name": [c.name for c in book.codes],
            "code_order": range(len(book.codes)),
        }
    )


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    den = den.astype("float64")
    return (num.astype("float64") / den.where(den > 0)).round(4)


def check_codes(codings: pd.DataFrame, book: Codebook, segments: pd.DataFrame) -> None:
    unknown = sorted(set(codings["code_id"]) - {c.id for c in book.codes})
    if unknown:
        raise CodeerError(gettext(
            "codings use codes that are not in the codebook: {codes}. Run `codeer code` "
            "again with this codebook, or export with the codebook they were made with "
            "(--codebook FILE)."
        ).format(codes=unknown[:10]))
    missing = set(codings["segment_id"]) - set(segments["segment_id"])
    if missing:
        raise CodeerError(gettext(
            "{n} coding(s) refer to segments that no longer exist (e.g. {ids}). Run "
            "`codeer code` again after `codeer ingest`."
        ).format(n=len(missing), ids=sorted(missing)[:3]))


class Memo:
    """Pseudonymises each distinct string once (same numbering as the pseudonymiser)."""

    def __init__(self, pseudo: PseudonymiserLike):
        self.pseudo = pseudo
        self.cache: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
            return value
        text = str(value)
        if not self.pseudo.enabled or not text.strip():
            return text
        if text not in self.cache:
            self.cache[text] = self.pseudo.text(text)
        return self.cache[text]


def exported_metadata(documents: pd.DataFrame, scrub: Callable[[Any], Any]) -> pd.DataFrame:
    """``document_id`` and every exportable metadata column, values pseudonymised."""
    meta = documents[["document_id", *metadata_columns(documents)]].copy()
    for col in meta.columns[1:]:
        meta[col] = meta[col].map(scrub).astype("string")
    return meta.reset_index(drop=True)


def pseudo_segment_texts(
    segments: pd.DataFrame, docs: dict[str, PseudoDocLike]
) -> dict[str, str]:
    """The pseudonymised text of every segment, cut from its pseudonymised document."""
    out = {}
    for seg_id, doc_id, start, end in zip(segments["segment_id"], segments["document_id"],
                                          segments["start"], segments["end"], strict=True):
        doc = docs[doc_id]
        out[seg_id] = doc.text[doc.map_start(int(start)) : doc.map_end(int(end))].strip()
    return out


def pseudo_passage_texts(rows: pd.DataFrame, docs: dict[str, PseudoDocLike]) -> dict[str, str]:
    """The pseudonymised text of every passage (first sentence's start to last one's end)."""
    out: dict[str, str] = {}
    for pid, doc_id, start, end in zip(rows["passage_id"], rows["document_id"], rows["start"],
                                       rows["end"], strict=True):
        if pid not in out:
            doc = docs[doc_id]
            out[pid] = doc.text[doc.map_start(int(start)) : doc.map_end(int(end))].strip()
    return out


class Neighbours:
    """The segments before and after a passage, for quotes and excerpts in their context.

    Args:
        segments: The segments table.
        seg_texts: Pseudonymised text per segment (:func:`pseudo_segment_texts`).
    """

    def __init__(self, segments: pd.DataFrame, seg_texts: dict[str, str]):
        segs = segments.sort_values(["document_id", "segment_index"], kind="stable")
        self.texts = seg_texts
        self.ids: dict[str, list[str]] = {}
        self.where: dict[str, tuple[str, int]] = {}
        for doc, group in segs.groupby("document_id", sort=False):
            ids = group["segment_id"].tolist()
            self.ids[doc] = ids
            for i, seg_id in enumerate(ids):
                self.where[seg_id] = (doc, i)
        self.turn = dict(zip(segs["segment_id"], segs["turn_index"], strict=True))
        self.role = dict(zip(segs["segment_id"], segs["role"].astype(str), strict=True))

    def _step(self, seg_id: str, step: int, same_turn: bool) -> str | None:
        if seg_id not in self.where:
            return None
        doc, i = self.where[seg_id]
        j = i + step
        if not 0 <= j < len(self.ids[doc]):
            return None
        other = self.ids[doc][j]
        if same_turn and self.turn[other] != self.turn[seg_id]:
            return None
        return other if self.texts.get(other) else None

    def before(self, seg_ids: Sequence[str], same_turn: bool = True) -> str | None:
        """The segment just before the first of ``seg_ids`` (in its turn), or None."""
        return self._step(seg_ids[0], -1, same_turn) if len(seg_ids) else None

    def after(self, seg_ids: Sequence[str], same_turn: bool = True) -> str | None:
        """The segment just after the last of ``seg_ids`` (in its turn), or None."""
        return self._step(seg_ids[-1], 1, same_turn) if len(seg_ids) else None

    def in_context(self, seg_ids: Sequence[str], text: str) -> str:
        """``text`` between » and «, with the segment before and after it (any turn; one of
        another turn marked with its role, long context shortened with …)."""
        parts = [f"»{text}«"]
        for other, keep_end in ((self.before(seg_ids, False), True),
                                (self.after(seg_ids, False), False)):
            if other is None:
                continue
            near = _clip(self.texts[other], CONTEXT_CHARS, keep_end)
            if self.turn[other] != self.turn[seg_ids[0]]:
                near = f"[{self.role[other]}] {near}"
            parts.insert(0 if keep_end else len(parts), near)
        return " ".join(parts)


# --------------------------------------------------------------------------- tables


def interviews_table(
    documents: pd.DataFrame, segments: pd.DataFrame, codings: pd.DataFrame, meta: pd.DataFrame,
    book: Codebook | None = None, rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per interview: analysis metadata and counts (see :data:`TABLES`)."""
    good = passages_mod.counted(passage_rows(codings, segments, book, rows))
    resp = segments[segments["role"] == "respondent"].groupby("document_id").size()
    df = documents[["document_id", "n_words"]].merge(meta, on="document_id", how="left")
    df["n_segments"] = df["document_id"].map(segments.groupby("document_id").size())
    df["respondent_segments"] = df["document_id"].map(resp)
    df["n_passages"] = df["document_id"].map(good.groupby("document_id")["passage_id"]
                                             .nunique())
    df["n_codes"] = df["document_id"].map(good.groupby("document_id")["code_id"].nunique())
    for c in ("n_segments", "respondent_segments", "n_passages", "n_codes"):
        df[c] = df[c].fillna(0).astype("int64")
    return _frame(df, "interviews")


def code_document_table(
    documents: pd.DataFrame, segments: pd.DataFrame, codings: pd.DataFrame, book: Codebook,
    rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Passages (and their segments) per code and interview, every pair, zeros included."""
    good = passages_mod.counted(passage_rows(codings, segments, book, rows))
    n = good.groupby(["code_id", "document_id"]).agg(
        n_passages=("passage_id", "size"), n_segments=("n_segments", "sum")).reset_index()
    resp = segments[segments["role"] == "respondent"].groupby("document_id").size()
    grid = _code_info(book).merge(documents[["document_id"]], how="cross")
    grid = grid.merge(n, on=["code_id", "document_id"], how="left")
    for c in ("n_passages", "n_segments"):
        grid[c] = grid[c].fillna(0).astype("int64")
    grid["respondent_segments"] = grid["document_id"].map(resp).fillna(0).astype("int64")
    grid["share"] = _ratio(grid["n_segments"], grid["respondent_segments"])
    return _frame(grid, "code_document")


def code_group_table(
    segments: pd.DataFrame, codings: pd.DataFrame, book: Codebook, meta: pd.DataFrame,
    rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Passages and interviews per code and metadata group (department, cluster, function)."""
    good = passages_mod.counted(passage_rows(codings, segments, book, rows))
    resp = segments[segments["role"] == "respondent"].groupby("document_id").size()
    info = _code_info(book)
    frames = []
    for grouping in GROUP_COLUMNS:
        if grouping not in meta.columns or meta[grouping].isna().all():
            continue
        groups = meta[["document_id", grouping]].rename(columns={grouping: "group"})
        groups["group"] = groups["group"].fillna("(onbekend)").astype(str)
        per_group = groups.groupby("group", sort=True).agg(
            interviews_in_group=("document_id", "size"),
            respondent_segments=("document_id",
                                 lambda d: int(resp.reindex(d).fillna(0).sum())),
        ).reset_index()
        hits = good.merge(groups, on="document_id")
        agg = hits.groupby(["group", "code_id"]).agg(
            n_passages=("passage_id", "size"), n_segments=("n_segments", "sum"),
            n_interviews=("document_id", "nunique"),
        ).reset_index()
        grid = per_group.merge(info, how="cross").merge(agg, on=["group", "code_id"], how="left")
        grid["grouping"] = grouping
        frames.append(grid.sort_values(["group", "code_order"], kind="stable"))
    if not frames:
        return _frame([], "code_department")
    df = pd.concat(frames, ignore_index=True)
    for c in ("n_passages", "n_segments", "n_interviews"):
        df[c] = df[c].fillna(0).astype("int64")
    df["share"] = _ratio(df["n_segments"], df["respondent_segments"])
    return _frame(df, "code_department")


def cooccurrence_table(
    segments: pd.DataFrame, codings: pd.DataFrame, book: Codebook, unit: str = "passage",
    rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Code x code counts: passages that share text, or turns that carry both codes.

    Args:
        segments: The segments table.
        codings: The codings table (rejected codings do not count).
        book: The codebook (gives the codes and their order).
        unit: ``"passage"`` (pairs of passages sharing at least one segment; a passage with
            both codes once; the diagonal is the passages per code) or ``"turn"``
            (``document_id`` + ``turn_index``; the diagonal is the turns per code).
        rows: :func:`passage_rows`, when already computed.

    Returns:
        Every ordered pair of codes, zeros included.
    """
    good = passages_mod.counted(passage_rows(codings, segments, book, rows))
    if unit == "passage":
        name, count = "cooccurrence_passage", "n_passages"
        cells = good[["passage_id", "code_id", "segment_ids"]].explode("segment_ids")
        joined = cells.merge(cells, on="segment_ids", suffixes=("_a", "_b"))
        pairs = joined[["passage_id_a", "code_id_a", "passage_id_b", "code_id_b"]] \
            .drop_duplicates()
    elif unit == "turn":
        name, count = "cooccurrence_turn", "n_turns"
        units = good.assign(unit=good["document_id"] + "\x1f" + good["turn_index"].astype(str))
        cells = units[["unit", "code_id"]].drop_duplicates()
        pairs = cells.merge(cells, on="unit", suffixes=("_a", "_b"))
    else:
        raise ValueError(f"unit must be 'passage' or 'turn', not {unit!r}")
    n = pairs.groupby(["code_id_a", "code_id_b"]).size().rename(count).reset_index()
    info = _code_info(book)[["code_id", "code_name", "code_order"]]
    a = info.add_suffix("_a")
    b = info.add_suffix("_b")
    grid = a.merge(b, how="cross").merge(n, on=["code_id_a", "code_id_b"], how="left")
    grid[count] = grid[count].fillna(0).astype("int64")
    grid = grid.sort_values(["code_order_a", "code_order_b"], kind="stable")
    return _frame(grid, name)


def _clip(text: str, limit: int, keep_end: bool) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if keep_end:
        cut = text[-limit:]
        return "…" + cut[cut.find(" ") + 1 :] if " " in cut else "…" + cut
    cut = text[:limit]
    return (cut[: cut.rfind(" ")] if " " in cut else cut) + "…"


def excerpts_table(
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    book: Codebook,
    meta: pd.DataFrame,
    seg_texts: dict[str, str],
    scrub: Callable[[Any], Any],
    rows: pd.DataFrame | None = None,
    texts: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per passage and code (rejected ones included) with pseudonymised text and context.

    Args:
        segments: The segments table.
        codings: The codings table.
        book: The codebook.
        meta: Exported (pseudonymised) metadata per ``document_id``.
        seg_texts: Pseudonymised text per ``segment_id`` (see :func:`pseudo_segment_texts`).
        scrub: Pseudonymises a further string (the evidence).
        rows: :func:`passage_rows`, when already computed.
        texts: Pseudonymised text per passage (:func:`pseudo_passage_texts`); default: the
            segments' texts joined by a space.
    """
    rows = passage_rows(codings, segments, book, rows)
    info = _code_info(book)
    df = rows.merge(info, on="code_id", how="left")
    role = dict(zip(segments["segment_id"], segments["role"].astype(str), strict=True))
    df["role"] = [role[ids[0]] for ids in df["segment_ids"]]
    df = df.merge(meta.reindex(columns=["document_id", *GROUP_COLUMNS]), on="document_id",
                  how="left")
    if texts is None:
        texts = {pid: " ".join(seg_texts.get(s, "") for s in ids)
                 for pid, ids in zip(df["passage_id"], df["segment_ids"], strict=True)}
    df["text"] = df["passage_id"].map(texts)
    near = Neighbours(segments, seg_texts)
    df["text_in_context"] = [near.in_context(ids, t) for ids, t in
                             zip(df["segment_ids"], df["text"], strict=True)]
    df["other_codes"] = [", ".join(c for c in codes if c != me)
                         for codes, me in zip(df["codes"], df["code_id"], strict=True)]
    df["segment_ids"] = df["segment_ids"].map(" ".join)
    df["probability"] = pd.to_numeric(df["probability"], errors="coerce").astype("float64") \
        .round(3)
    df["evidence"] = df["evidence"].map(scrub)
    df = df.sort_values("code_order", kind="stable")  # per code, in text order
    return _frame(df, "excerpts")


def memos_table(
    memos: pd.DataFrame,
    segments: pd.DataFrame,
    seg_texts: dict[str, str],
    scrub: Callable[[Any], Any],
) -> pd.DataFrame:
    """One row per memo, oldest first, with the passage it is about (see :data:`TABLES`).

    Args:
        memos: ``memos.csv`` as parsed by :func:`pipeline.review.memos.parse_memos`.
        segments: The segments table.
        seg_texts: Pseudonymised text per ``segment_id``.
        scrub: Pseudonymises the memo text.
    """
    doc_of = dict(zip(segments["segment_id"], segments["document_id"], strict=True))
    rows = []
    order = memos.sort_values(["time", "line"], kind="stable") if len(memos) else memos
    for m in order.to_dict("records"):
        about, target = str(m["about"]), str(m.get("target") or "")
        rows.append({
            "timestamp": m["timestamp"], "author": m["author"], "about": about,
            "document_id": doc_of.get(target) if about == "passage" else
            (target if about == "document" else None),
            "segment_id": target if about == "passage" else None,
            "code_id": target if about == "code" else None,
            "passage": seg_texts.get(target) if about == "passage" else None,
            "text": scrub(str(m["text"])),
        })
    return _frame(rows, "memos")


# --------------------------------------------------------------------------- themes


def keyword_scrubber(pseudo: PseudonymiserLike, names: Sequence[str]) -> Callable[[str], str]:
    """Replace words of originals and extra names in lowercase keyword text by placeholders.

    Theme keywords are lemmas ("verbeek"), which the pseudonymiser would not recognise; every
    word of an original (or extra name) of three letters or more is replaced by its
    placeholder wherever it occurs as a whole word, whatever its case.
    """
    if not pseudo.enabled:
        return lambda text: text
    table = pseudo.key_table()
    categories = table.get("category", pd.Series([""] * len(table), index=table.index))
    pairs = []
    for original, placeholder, category in zip(table.get("original", []),
                                               table.get("placeholder", []), categories,
                                               strict=True):
        # Of an address only the part before "@" can name someone: "gemeente" and "example"
        # in "r.schouten@gemeente.example" are no personal data, and common words in labels.
        if category == "EMAIL":
            original = str(original).split("@")[0]
        elif category == "URL":
            continue
        pairs.append((original, placeholder))
    pairs += [(n, pseudo.text(n)) for n in names]
    words: dict[str, str] = {}
    for original, placeholder in pairs:
        for w in re.findall(r"\w+", str(original)):
            if len(w) >= 3 and not w.isdigit():
                words.setdefault(w.casefold(), str(placeholder))
    if not words:
        return lambda text: text
    # Underscores separate words here ("3_verbeek_ruimte" is a BERTopic label).
    pattern = re.compile(
        r"(?<![^\W_])(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        + r")(?![^\W_])", re.IGNORECASE,
    )
    return lambda text: pattern.sub(lambda m: words[m.group(1).casefold()], text)


def theme_label(label: Any) -> str:
    """A BERTopic label ("3_wonen_energie_wijk") as readable text ("wonen, energie, wijk")."""
    text = re.sub(r"^-?\d+_", "", str(label))
    return ", ".join(p for p in text.split("_") if p) if "_" in text else text


def themes_table(
    theme_info: pd.DataFrame, book: Codebook, scrub: Callable[[Any], Any]
) -> pd.DataFrame:
    """Theme info (:data:`pipeline.schema.THEME_INFO`) with code names; labels and keywords
    pseudonymised."""
    names = {c.id: c.name for c in book.codes}
    df = theme_info.copy()
    df["label"] = df["label"].map(lambda v: scrub(theme_label(v)) if pd.notna(v) else "")
    df["keywords"] = df["keywords"].map(lambda v: scrub(", ".join(v)))
    df["best_code_id"] = df["best_code"]
    df["best_code_name"] = df["best_code_id"].map(names)
    if "small_talk" not in df.columns:
        df["small_talk"] = pd.NA
    df["interviews"] = df["interviews"].map(", ".join)
    for col in ("share", "best_code_similarity", "coded_share"):
        df[col] = df[col].round(4)
    return _frame(df.sort_values("topic", kind="stable"), "themes")


def theme_interview_table(
    themes: pd.DataFrame, segments: pd.DataFrame, themes_tbl: pd.DataFrame,
    documents: pd.DataFrame
) -> pd.DataFrame:
    """Segments per theme and interview (every pair, zeros included)."""
    hits = themes.merge(segments[["segment_id", "document_id"]], on="segment_id")
    n = hits.groupby(["topic", "document_id"]).size().rename("n_segments").reset_index()
    grid = themes_tbl[["topic", "label"]].merge(documents[["document_id"]], how="cross")
    grid = grid.merge(n, on=["topic", "document_id"], how="left")
    grid["n_segments"] = grid["n_segments"].fillna(0).astype("int64")
    total = grid.groupby("topic")["n_segments"].transform("sum")
    grid["share_of_theme"] = _ratio(grid["n_segments"], total)
    return _frame(grid, "theme_interview")


#: Quote candidates per theme handed to the report (it takes three that no other quote used).
THEME_QUOTE_CANDIDATES = 12


def theme_quotes(
    theme_info: pd.DataFrame, themes: pd.DataFrame, seg_texts: dict[str, str],
    segments: pd.DataFrame, meta: pd.DataFrame, n: int = THEME_QUOTE_CANDIDATES,
) -> dict[int, list[dict]]:
    """Quote candidates per theme, best first: the theme's own quotes (nearest its centre),
    then its other segments of six words or more by membership.

    Returns:
        Topic -> up to ``n`` dicts with ``segment_id``, ``text``, ``document_id`` and
        ``respondent_function``.
    """
    doc_of = dict(zip(segments["segment_id"], segments["document_id"], strict=True))
    function = dict(zip(meta["document_id"], meta.get("respondent_function",
                                                      pd.Series(pd.NA, index=meta.index)),
                        strict=True))
    out: dict[int, list[dict]] = {}
    for row in theme_info.to_dict("records"):
        topic = int(row["topic"])
        ids = [i for i in row["quote_segment_ids"] if i in seg_texts]
        mine = themes[themes["topic"] == topic].sort_values(["probability", "segment_id"],
                                                            ascending=[False, True])
        long = [i for i in mine["segment_id"] if len(seg_texts.get(i, "").split()) >= 6]
        ids = list(dict.fromkeys([*ids, *long]))[:n]
        out[topic] = [{"segment_id": i, "text": seg_texts[i], "document_id": doc_of[i],
                       "respondent_function": function.get(doc_of[i])} for i in ids]
    return out


# A spreadsheet takes a cell that starts with one of these for a formula (or, for tab and CR,
# shifts it); OWASP's advice, which spreadsheet users know, is a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value):
    """A text cell that no spreadsheet runs as a formula: ``'`` before ``=``, ``+``, ``-``,
    ``@``, tab or carriage return at its start; numbers (also written as text) stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) \
            and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(df: pd.DataFrame) -> str:
    """A table as CSV text (UTF-8 without BOM, ``\\n`` line ends, empty cells for missing),
    with every text cell made safe for spreadsheets (:func:`safe_cell`)."""
    safe = df.copy()
    for col in safe.columns:
        if not (pd.api.types.is_numeric_dtype(safe[col]) or pd.api.types.is_bool_dtype(safe[col])):
            safe[col] = safe[col].map(safe_cell)
    safe.columns = [safe_cell(str(c)) for c in safe.columns]
    return safe.to_csv(index=False, lineterminator="\n")

