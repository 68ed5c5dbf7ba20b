"""Helpers for the notebooks in ``notebooks/``: overview, review and agreement.

The notebooks read stage outputs only through these functions. They write in two ways only:
review decisions go through :func:`pipeline.review.decisions.record` and ``record_many`` (via
:func:`decide`, :func:`add_passage`, :func:`decide_text` or the buttons of
:func:`review_widget`), memos through :mod:`pipeline.review.memos`; and :func:`recode` (the
widget's *Opnieuw coderen*) runs the ``codeer code`` stage, which rewrites ``codings.parquet``
as the command does. A researcher never needs a segment id: passages are found by their text
(:func:`search_passages`, :func:`find_passage`) and shown as text. Messages a researcher reads
go through the catalogue (:mod:`pipeline.i18n`): Dutch unless ``CODEER_LANG=en``.

Paths come from the environment, like the command line's defaults: ``CODEER_OUT`` (default
``data/coded``) and ``CODEER_CODEBOOK`` (default ``codebook.yaml``), both relative to the
project root, the nearest folder upwards from the working directory that holds
``pyproject.toml`` (a notebook runs in ``notebooks/``).
"""

from __future__ import annotations

import html
import math
import os
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline import config, schema, storage
from pipeline.coding.codebook import Codebook, load_codebook
from pipeline.errors import CodeerError
from pipeline.i18n import N_, _, gettext, ngettext
from pipeline.review import decisions as review
from pipeline.vocab import DECISION_NAMES, METHODS, STATUSES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Columns of :func:`review_queue`.
QUEUE_COLUMNS = ("segment_id", "document_id", "speaker", "role", "text", "turn", "score",
                 "threshold", "method", "evidence", "status")


# --------------------------------------------------------------------------- paths and data


def project_root(start: Path | None = None) -> Path:
    """The nearest folder from ``start`` (default: the working directory) upwards that holds
    ``pyproject.toml``; else the folder the ``pipeline`` package came from, else ``start``."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    package_root = Path(__file__).resolve().parents[1]
    if (package_root / "pyproject.toml").is_file():
        return package_root
    return start


def paths(start: Path | None = None) -> tuple[Path, Path]:
    """The output folder and the codebook the notebooks use.

    ``CODEER_OUT`` and ``CODEER_CODEBOOK`` override the defaults ``data/coded`` and
    ``codebook.yaml``; relative paths are taken from the project root (see
    :func:`project_root`).

    Returns:
        ``(out, codebook)``, both absolute.
    """
    root = project_root(start)
    out = Path(os.environ.get("CODEER_OUT") or config.OUT_DIR).expanduser()
    codebook = Path(os.environ.get("CODEER_CODEBOOK") or config.CODEBOOK_FILE).expanduser()
    return (out if out.is_absolute() else root / out,
            codebook if codebook.is_absolute() else root / codebook)


@dataclass
class Data:
    """Everything the notebooks show, read once.

    Attributes:
        out: The output folder.
        codebook: The codebook file.
        book: The validated codebook.
        documents: ``documents.parquet`` (with the interview metadata columns).
        segments: ``segments.parquet``.
        codings: ``codings.parquet`` (statuses as of the last ``codeer code``).
        themes: ``themes.parquet``, or None when ``codeer themes`` has not run.
        theme_info: ``theme_info.csv``, or None.
    """

    out: Path
    codebook: Path
    book: Codebook
    documents: pd.DataFrame
    segments: pd.DataFrame
    codings: pd.DataFrame
    themes: pd.DataFrame | None = None
    theme_info: pd.DataFrame | None = None

    def code_ids(self) -> list[str]:
        """Code ids in codebook order."""
        return [c.id for c in self.book.codes]

    def reviews(self, reviewer: str | None = None) -> pd.DataFrame:
        """The latest decision per (segment, code) in ``reviews.csv``, read now."""
        reviews = review.read_reviews(self.out, set(self.code_ids()))
        return review.latest_decisions(reviews, reviewer)


def load(out: Path, codebook: Path) -> Data:
    """Read the codebook and the stage outputs in ``out``.

    Raises:
        CodeerError: The codebook is invalid, or an output is missing or outdated; the message
            names the command that builds it.
    """
    out, codebook = Path(out), Path(codebook)
    book, _sha = load_codebook(codebook)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    themes = theme_info = None
    if (out / config.THEMES_FILE).exists() and (out / config.THEME_INFO_FILE).exists():
        themes = storage.read_table(out / config.THEMES_FILE, schema.THEMES)
        theme_info = storage.read_table(out / config.THEME_INFO_FILE, schema.THEME_INFO)
    return Data(out, codebook, book, documents, segments, codings, themes, theme_info)


def thresholds(data: Data) -> dict[str, float]:
    """The embedding threshold in effect per code: calibrated if present, else the codebook's."""
    from pipeline.coding.command import load_calibration

    calibrated = load_calibration(data.out)
    return {c.id: calibrated.get(c.id, data.book.threshold_of(c)) for c in data.book.codes}


# --------------------------------------------------------------------------- overview


def _counted(codings: pd.DataFrame) -> pd.DataFrame:
    kept = codings[codings["status"] != "rejected"]
    return kept.drop_duplicates(["segment_id", "code_id"])


def overview(data: Data) -> pd.DataFrame:
    """One row per code: how often, where and how it was coded, and how far it is reviewed.

    Returns:
        ``code_id, code_name, theme, segments`` (not rejected), ``interviews``, one column per
        method (``rule, embedding, both, human``; not rejected), one per status (``auto,
        accepted, rejected``; as of the last ``codeer code``) and ``reviewed`` (pairs with a
        decision in ``reviews.csv`` now).
    """
    codings = data.codings.merge(data.segments[["segment_id", "document_id"]], on="segment_id",
                                 how="left")
    good = _counted(codings)
    ids = data.code_ids()
    table = pd.DataFrame({
        "code_id": ids,
        "code_name": [c.name for c in data.book.codes],
        "theme": [data.book.theme_of(c).name for c in data.book.codes],
    }).set_index("code_id")
    table["segments"] = good.groupby("code_id")["segment_id"].nunique()
    table["interviews"] = good.groupby("code_id")["document_id"].nunique()
    methods = good.groupby(["code_id", "method"]).size().unstack(fill_value=0)
    for method in METHODS:
        table[method] = methods[method] if method in methods else 0
    statuses = codings.groupby(["code_id", "status"]).size().unstack(fill_value=0)
    for status in STATUSES:
        table[status] = statuses[status] if status in statuses else 0
    table["reviewed"] = data.reviews().groupby("code_id").size()
    counts = [c for c in table.columns if c not in ("code_name", "theme")]
    table[counts] = table[counts].fillna(0).astype("int64")
    return table.reset_index()


def code_document(data: Data) -> pd.DataFrame:
    """Segments per code and interview (the export's ``code_document`` table, not pseudonymised)."""
    from pipeline.export.tables import code_document_table

    return code_document_table(data.documents, data.segments, data.codings, data.book)


def by_interview(data: Data) -> pd.DataFrame:
    """Codes (rows) x interviews (columns): number of segments with the code."""
    table = code_document(data)
    return table.pivot(index="code_id", columns="document_id", values="n_segments") \
        .reindex(index=data.code_ids())


def by_group(data: Data, grouping: str = "department") -> pd.DataFrame:
    """Codes (rows) x groups of interviews (columns): number of segments with the code.

    Args:
        data: See :func:`load`.
        grouping: A metadata column of the interviews sheet (``department``, ``cluster``,
            ``respondent_function``).

    Returns:
        The table; empty when the metadata has no such column.
    """
    if grouping not in data.documents.columns:
        return pd.DataFrame(index=pd.Index(data.code_ids(), name="code_id"))
    groups = data.documents[["document_id", grouping]].copy()
    groups[grouping] = groups[grouping].fillna(_("(unknown)")).astype(str)
    hits = _counted(data.codings).merge(data.segments[["segment_id", "document_id"]],
                                        on="segment_id").merge(groups, on="document_id")
    table = hits.groupby(["code_id", grouping])["segment_id"].nunique().unstack(fill_value=0)
    columns = sorted(groups[grouping].unique())
    return table.reindex(index=data.code_ids(), columns=columns).fillna(0).astype("int64")


def lessons_figure(data: Data) -> Figure:
    """Bars: segments per code under its theme (the export's ``lessen`` figure)."""
    from pipeline.export.figures import lessons_chart

    return lessons_chart(data.book, code_document(data))


def heatmap_figure(data: Data) -> Figure:
    """Codes x interviews heatmap (the export's ``code_interview`` figure)."""
    from pipeline.export.figures import code_interview_heatmap

    return code_interview_heatmap(data.book, code_document(data))


# --------------------------------------------------------------------------- review


def _turn_texts(segments: pd.DataFrame, seg_ids: list[str]) -> dict[str, str]:
    """The whole turn of each segment, the segment itself marked with »…«."""
    wanted = segments[segments["segment_id"].isin(set(seg_ids))]
    keys = set(zip(wanted["document_id"], wanted["turn_index"], strict=True))
    turns = segments[[k in keys for k in zip(segments["document_id"], segments["turn_index"],
                                              strict=True)]]
    out: dict[str, str] = {}
    for _key, turn in turns.sort_values(["document_id", "segment_index"]).groupby(
            ["document_id", "turn_index"], sort=False):
        ids, texts = turn["segment_id"].tolist(), turn["text"].tolist()
        for i, seg_id in enumerate(ids):
            marked = [f"»{t}«" if j == i else t for j, t in enumerate(texts)]
            out[seg_id] = " ".join(marked)
    return out


def review_queue(data: Data, code_id: str, n: int | None = 20,
                 reviewer: str | None = None) -> pd.DataFrame:
    """Automatic codings of one code that are not reviewed yet, most uncertain first.

    Uncertainty is the distance of the embedding score to the code's threshold,
    ``|score - threshold|``; rule-only codings without a score come last. Decisions are read
    from ``reviews.csv`` now, so a decision made a moment ago already counts.

    Args:
        data: See :func:`load`.
        code_id: The code to review.
        n: At most this many rows (None: all).
        reviewer: Only this reviewer's decisions count as reviewed (for a second, independent
            review); None: anyone's.

    Returns:
        A frame with :data:`QUEUE_COLUMNS`; ``turn`` is the whole turn with the segment
        marked »…«.

    Raises:
        CodeerError: ``code_id`` is not in the codebook.
    """
    if code_id not in data.code_ids():
        raise CodeerError(_("code must be one of {codes}. Got '{got}' instead.")
                          .format(codes=data.code_ids(), got=code_id))
    rows = data.codings[(data.codings["code_id"] == code_id)
                        & (data.codings["method"] != "human")]
    if reviewer is None:
        rows = rows[rows["status"] == "auto"]
    done = data.reviews(reviewer)
    done = set(done.loc[done["code_id"] == code_id, "segment_id"])
    rows = rows[~rows["segment_id"].isin(done)]
    seg_cols = ["segment_id", "document_id", "speaker", "role", "text", "segment_index"]
    rows = rows.merge(data.segments[seg_cols], on="segment_id", how="inner")
    threshold = thresholds(data)[code_id]
    rows["threshold"] = threshold
    rows["_distance"] = (rows["score"] - threshold).abs()
    rows = rows.sort_values(["_distance", "document_id", "segment_index"],
                            na_position="last", kind="stable")
    if n is not None:
        rows = rows.head(n)
    turns = _turn_texts(data.segments, rows["segment_id"].tolist())
    rows["turn"] = rows["segment_id"].map(turns)
    return rows[list(QUEUE_COLUMNS)].reset_index(drop=True)


def queue_sizes(data: Data, reviewer: str | None = None) -> pd.DataFrame:
    """Per code: automatic codings still to review (see :func:`review_queue`)."""
    rows = [{"code_id": c.id, "code_name": c.name,
             "to_review": len(review_queue(data, c.id, n=None, reviewer=reviewer))}
            for c in data.book.codes]
    return pd.DataFrame(rows)


def _num(value: float, digits: int = 2) -> str:
    """A number the Dutch way (decimal comma); ``-`` for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}".replace(".", ",").replace("-", "−")


# --------------------------------------------------------------------------- what to review next


#: Dutch column names of :func:`progress_table`.
PROGRESS_NAMES = {"code_id": "code", "code_name": "naam", "decisions": "besluiten",
                  "accept": "akkoord", "reject": "afgewezen", "add": "toegevoegd",
                  "open_codings": "nog open", "precision": "precisie", "recall": "recall"}


def next_passages(data: Data, n: int = 10, code_id: str | None = None,
                  reviewer: str | None = None) -> pd.DataFrame:
    """The ``n`` passages whose decision teaches the coder most (see
    :func:`pipeline.review.command.teaching_queue`): what to review next.

    The coder is retrained on every decision in ``reviews.csv`` first, so a decision made a
    moment ago already moves the queue. Takes a few seconds (the embeddings come from the
    cache; the first call in a session also loads the model).

    Args:
        data: See :func:`load`.
        n: How many.
        code_id: Only this code; None or ``""``: every code in turn.
        reviewer: Only this reviewer's decisions count as made (an independent second review).

    Returns:
        ``segment_id, document_id, code_id, code_name, probability, reason, coded, text,
        context`` (``context``: the sentence with up to two neighbours each side in its turn,
        the sentence marked »…«).
    """
    from pipeline.review.command import teaching_queue

    code_id = code_id or None
    _check_code(data, code_id, allow_none=True)
    return teaching_queue(data.out, data.codebook, n, code_id, reviewer)


def progress_table(data: Data) -> pd.DataFrame:
    """Per code: the decisions so far and the precision and recall they suggest (see
    :func:`pipeline.review.command.review_progress`), with Dutch column names."""
    from pipeline.review.command import review_progress

    table = review_progress(data.out, data.codebook)
    table.insert(1, "code_name", [c.name for c in data.book.codes])
    return table.rename(columns=PROGRESS_NAMES)


def queue_table(queue: pd.DataFrame) -> pd.DataFrame:
    """The queue of :func:`next_passages` to read: interview, code, why, and the passage."""
    return pd.DataFrame({
        "interview": queue["document_id"],
        "code": queue["code_id"] + " " + queue["code_name"],
        "waarom": queue["reason"].map(_reason),
        "kans": queue["probability"].round(2),
        "nu": queue["coded"].map({True: _("coded"), False: _("not coded")}),
        "passage": queue["context"],
    })


#: Why a passage is in the queue (:func:`pipeline.review.learning.review_queue`), to read.
_REASONS = {"onzeker": N_("borderline case"), "waarschijnlijk": N_("likely")}


def _reason(reason: str) -> str:
    return gettext(_REASONS[reason]) if reason in _REASONS else reason


# --------------------------------------------------------------------------- passages by text


def _norm(text: str) -> str:
    """Text to compare: accents dropped, case folded, runs of whitespace one space."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


def _scope(data: Data) -> pd.DataFrame:
    from pipeline.coding.coder import select_scope

    return select_scope(data.segments, data.book.defaults.scope)


def _turns(segments: pd.DataFrame) -> dict[tuple[str, int], pd.DataFrame]:
    ordered = segments.sort_values(["document_id", "segment_index"], kind="stable")
    return {k: g.reset_index(drop=True)
            for k, g in ordered.groupby(["document_id", "turn_index"], sort=False)}


def search_passages(data: Data, query: str, n: int = 20) -> pd.DataFrame:
    """Passages in the coded segments (respondents, or everyone under the codebook's
    ``scope: all``) that hold ``query``.

    Accents, case and line breaks do not count; words match from their start, so a word may
    be typed in part ("oplossing" finds "oplossingen"). A query that spans sentences finds the
    sentences it covers, so a passage is found by pasting it. Exact phrases come first; then
    single sentences that hold every word of the query.

    Args:
        data: See :func:`load`.
        query: A few words, or a whole passage.
        n: At most this many hits.

    Returns:
        One row per hit, in that order: ``document_id, turn_index, first, last`` (the positions
        of the first and last sentence in the turn, from 1), ``segment_ids`` (a list),
        ``speaker``, ``text`` (the sentences), ``turn`` (the whole turn, the hit marked »…«),
        ``match`` (``zin`` for the phrase, ``woorden`` for all words).
    """
    needle = _norm(query)
    columns = ["document_id", "turn_index", "first", "last", "segment_ids", "speaker", "text",
               "turn", "match"]
    if not needle:
        return pd.DataFrame(columns=columns)
    # Matches start at the start of a word ("de oplossingen" is not in "oude oplossingen"),
    # and may end inside one ("oplossing" finds "oplossingen").
    phrase = re.compile(r"(?<!\w)" + re.escape(needle))
    by_word = [re.compile(r"(?<!\w)" + re.escape(w)) for w in needle.split()]
    hits: list[dict] = []
    seen: set[tuple] = set()
    turns = _turns(_scope(data))
    for match in ("zin", "woorden"):
        for (doc, turn_index), turn in turns.items():
            texts = [_norm(t) for t in turn["text"]]
            spans = []
            if match == "zin":
                joined, bounds, pos = " ".join(texts), [], 0
                for t in texts:
                    bounds.append((pos, pos + len(t)))
                    pos += len(t) + 1
                for found in phrase.finditer(joined):
                    start, end = found.span()
                    inside = [i for i, (a, b) in enumerate(bounds) if a < end and b > start]
                    spans.append((inside[0], inside[-1]))
            else:
                spans = [(i, i) for i, t in enumerate(texts)
                         if all(p.search(t) for p in by_word)]
            for lo, hi in spans:
                if (doc, turn_index, lo, hi) in seen or any(
                        (doc, turn_index) == h[:2] and h[2] <= lo and hi <= h[3] for h in seen):
                    continue
                seen.add((doc, turn_index, lo, hi))
                hits.append(_hit(turn, doc, turn_index, lo, hi, match))
                if len(hits) >= n:
                    return pd.DataFrame(hits, columns=columns)
    return pd.DataFrame(hits, columns=columns)


def _marked(texts: list[str], lo: int, hi: int) -> str:
    """The sentences of a turn, those from ``lo`` to ``hi`` (0-based) marked »…«."""
    parts = list(texts)
    parts[lo] = "»" + parts[lo]
    parts[hi] = parts[hi] + "«"
    return " ".join(parts)


def _hit(turn: pd.DataFrame, doc: str, turn_index: int, lo: int, hi: int, match: str) -> dict:
    texts = turn["text"].tolist()
    return {"document_id": doc, "turn_index": int(turn_index), "first": lo + 1, "last": hi + 1,
            "segment_ids": turn["segment_id"].iloc[lo:hi + 1].tolist(),
            "speaker": str(turn["speaker"].iloc[lo]), "text": " ".join(texts[lo:hi + 1]),
            "turn": _marked(texts, lo, hi), "match": match}


def turn_sentences(data: Data, segment_id: str) -> pd.DataFrame:
    """The sentences of the turn that holds ``segment_id``, in order.

    Returns:
        ``position`` (from 1), ``segment_id``, ``text``.

    Raises:
        CodeerError: No such segment.
    """
    seg = data.segments[data.segments["segment_id"] == segment_id]
    if seg.empty:
        raise CodeerError(_("This passage is not (or no longer) in {file}: was the batch "
                            "ingested again? Load the data again (run the notebook again).")
                          .format(file=config.SEGMENTS_FILE))
    doc, turn_index = seg["document_id"].iloc[0], int(seg["turn_index"].iloc[0])
    turn = data.segments[(data.segments["document_id"] == doc)
                         & (data.segments["turn_index"] == turn_index)]
    turn = turn.sort_values("segment_index", kind="stable")
    return pd.DataFrame({"position": range(1, len(turn) + 1),
                         "segment_id": turn["segment_id"].tolist(),
                         "text": turn["text"].tolist()})


def find_passage(data: Data, text: str) -> list[str]:
    """The segment ids of the one passage that holds ``text`` (see :func:`search_passages`).

    Raises:
        CodeerError: No passage holds the text, or several do (in Dutch, with what to do).
    """
    hits = search_passages(data, text, n=5)
    exact = hits[hits["match"] == "zin"]
    if len(exact) == 1:
        return list(exact["segment_ids"].iloc[0])
    if exact.empty and len(hits) == 1:
        return list(hits["segment_ids"].iloc[0])
    shown = text.strip()[:60]
    if hits.empty:
        raise CodeerError(_("The text must be in a passage. Got '{text}', which no sentence "
                            "holds; copy a piece of the passage.").format(text=shown))
    where = ", ".join(f"{h.document_id}: {_short(h.text, 40)}" for h in hits.head(3).itertuples())
    raise CodeerError(_("The text must point at one passage. Got '{text}', which more than one "
                        "passage holds (for example {where}); take a longer piece of text.")
                      .format(text=shown, where=where))


# --------------------------------------------------------------------------- recording


def _check_code(data: Data, code_id: str | None, allow_none: bool = False) -> None:
    if code_id is None and allow_none:
        return
    if code_id not in data.code_ids():
        raise CodeerError(_("The code must be one from the codebook ({codes}). Got '{got}'.")
                          .format(codes=", ".join(data.code_ids()), got=code_id))


def _check_reviewer(reviewer: str) -> str:
    name = str(reviewer or "").strip()
    if not name or name == "naam":
        raise CodeerError(_("REVIEWER must be your name or initials, so agreement between "
                            "reviewers can be computed. Got '{name}'. Fill it in in the first "
                            "cell and run that cell again.").format(name=name))
    return name


#: Shown when the researcher records a decision before choosing a passage.
CHOOSE_PASSAGE = N_("Choose a passage first: search for a few words and click a passage found.")


def _record(data: Data, segment_ids: list[str], code_id: str, decision: str, reviewer: str,
            note: str = "") -> list[dict]:
    """Check what the widget can check (in the researcher's language), then append through
    :func:`pipeline.review.decisions.record_many` (all decisions or none)."""
    name = _check_reviewer(reviewer)
    _check_code(data, code_id)
    if decision not in DECISION_NAMES:
        raise CodeerError(_("The decision must be 'accept', 'reject' or 'add'. Got '{got}'.")
                          .format(got=decision))
    if not segment_ids:
        raise CodeerError(_(CHOOSE_PASSAGE))
    known = set(data.segments["segment_id"])
    if any(s not in known for s in segment_ids):
        raise CodeerError(_("This passage is not (or no longer) in {file}: was the batch "
                            "ingested again? Run the notebook again.")
                          .format(file=config.SEGMENTS_FILE))
    try:
        return review.record_many(Path(data.out), [
            {"segment_id": s, "code_id": code_id, "decision": decision, "reviewer": name,
             "note": note} for s in segment_ids])
    except CodeerError as exc:
        # What is left is the log itself (locked, no permission): say so in plain words.
        raise CodeerError(_("Not recorded in {file}. Is the file open in another program, such "
                            "as Excel? Close it and try again. (Message: {error})")
                          .format(file=config.REVIEWS_FILE, error=exc)) from None


def add_passage(data: Data, segment_ids: list[str], code_id: str, reviewer: str,
                note: str = "") -> list[dict]:
    """Give a passage (one or more sentences) a code the coder missed: one ``add`` decision
    per sentence, appended together to ``OUT/reviews.csv``.

    Args:
        data: See :func:`load`.
        segment_ids: The sentences of the passage (from :func:`search_passages`,
            :func:`find_passage` or :func:`turn_sentences`).
        code_id: The code.
        reviewer: Your name or initials.
        note: Why (optional).

    Returns:
        The rows as written.

    Raises:
        CodeerError: In Dutch: no reviewer, unknown code, no passage, or the log cannot be
            written.
    """
    return _record(data, list(segment_ids), code_id, "add", reviewer, note)


def decide_text(data: Data, text: str, code_id: str, decision: str, reviewer: str,
                note: str = "") -> list[dict]:
    """Record a decision about the passage that holds ``text``: ``accept``, ``reject`` or
    ``add``, one row per sentence of the passage (see :func:`find_passage`)."""
    return _record(data, find_passage(data, text), code_id, decision, reviewer, note)


def decide(out: Path, segment_id: str, code_id: str, decision: str, reviewer: str,
           note: str = "") -> dict:
    """Record one decision (``accept``, ``reject`` or ``add``) in ``OUT/reviews.csv``.

    A thin wrapper over :func:`pipeline.review.record`, the only writer of that file.

    Returns:
        The row as written.

    Raises:
        CodeerError: Unknown decision, empty reviewer or unknown segment.
    """
    return review.record(Path(out), segment_id, code_id, decision, reviewer, note)


# --------------------------------------------------------------------------- reviewed passages


def _passages(rows: pd.DataFrame, segments: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows about single sentences joined into passages: adjacent sentences of one turn with the
    same ``keys`` become one row, with ``text`` (the sentences), ``sentences`` and
    ``segment_ids``. Other columns take the value of the passage's last sentence."""
    seg = segments[["segment_id", "document_id", "turn_index", "segment_index", "text"]]
    merged = rows.merge(seg, on="segment_id", how="inner")
    if merged.empty:
        return merged.assign(sentences=pd.Series(dtype="int64"),
                             segment_ids=pd.Series(dtype=object))
    order = ["document_id", "turn_index", *keys, "segment_index"]
    merged = merged.sort_values(order, kind="stable").reset_index(drop=True)
    # Sentences of one turn follow each other when no other sentence of the turn lies between.
    rank = segments.sort_values(["document_id", "segment_index"], kind="stable") \
        .groupby(["document_id", "turn_index"]).cumcount()
    position = dict(zip(segments.loc[rank.index, "segment_id"], rank, strict=True))
    merged["_pos"] = merged["segment_id"].map(position)
    same = (merged[["document_id", "turn_index", *keys]].astype(str)
            == merged[["document_id", "turn_index", *keys]].astype(str).shift()).all(axis=1)
    new = ~(same & (merged["_pos"] == merged["_pos"].shift() + 1))
    merged["_passage"] = new.cumsum()
    out = merged.groupby("_passage", sort=False).agg(
        **{c: (c, "last") for c in merged.columns
           if c not in ("_passage", "text", "segment_id", "_pos")},
        text=("text", " ".join), sentences=("segment_id", "size"),
        segment_ids=("segment_id", list))
    return out.reset_index(drop=True).drop(columns=["segment_index"])


def reviewed_passages(data: Data, reviewer: str | None = None) -> pd.DataFrame:
    """The latest decisions, read now from ``reviews.csv``, as passages to read.

    Adjacent sentences of one turn with the same code, decision and reviewer are one passage.

    Args:
        data: See :func:`load`.
        reviewer: Only this reviewer's decisions; None: everyone's.

    Returns:
        Newest first: ``wanneer, beoordelaar, code, besluit, interview, passage, zinnen,
        notitie`` and ``segment_ids``.
    """
    latest = data.reviews(reviewer)
    columns = ["wanneer", "beoordelaar", "code", "besluit", "interview", "passage", "zinnen",
               "notitie", "segment_ids"]
    if latest.empty:
        return pd.DataFrame(columns=columns)
    rows = latest[["segment_id", "code_id", "decision", "reviewer", "time", "note"]]
    passages = _passages(rows, data.segments, ["code_id", "decision", "reviewer"])
    names = {c.id: f"{c.id} {c.name}" for c in data.book.codes}
    # The log holds UTC; the researcher reads the time of this computer.
    local = datetime.now().astimezone().tzinfo
    times = pd.to_datetime(passages["time"], utc=True).dt.tz_convert(local)
    table = pd.DataFrame({
        "wanneer": times.dt.strftime("%Y-%m-%d %H:%M"),
        "beoordelaar": passages["reviewer"],
        "code": passages["code_id"].map(names).fillna(passages["code_id"]),
        "besluit": passages["decision"].map(DECISION_NAMES),
        "interview": passages["document_id"],
        "passage": passages["text"],
        "zinnen": passages["sentences"],
        "notitie": passages["note"].fillna(""),
        "segment_ids": passages["segment_ids"],
        "_time": times,
    })
    return table.sort_values("_time", ascending=False, kind="stable") \
        .drop(columns="_time").reset_index(drop=True)


# --------------------------------------------------------------------------- the effect


#: What a (segment, code) pair is, in the words of :func:`coding_changes` (translated there).
_NOT_CODED = N_("not coded")


def _states(codings: pd.DataFrame) -> dict[tuple[str, str], str]:
    state = {}
    for s, c, m, st in zip(codings["segment_id"], codings["code_id"], codings["method"],
                           codings["status"], strict=True):
        if st == "rejected":
            state[(s, c)] = N_("rejected")
        elif m == "human":
            state[(s, c)] = N_("added by a reviewer")
        elif st == "accepted":
            state[(s, c)] = N_("coded, accepted")
        else:
            state[(s, c)] = N_("coded")
    return state


def coding_changes(before: pd.DataFrame, after: pd.DataFrame, segments: pd.DataFrame,
                   book: Codebook) -> pd.DataFrame:
    """What changed between two versions of ``codings.parquet``, as passages.

    Returns:
        One row per passage whose code changed: ``code, interview, voor, na, passage,
        zinnen`` (``voor``/``na``: ``niet gecodeerd``, ``gecodeerd``, ``gecodeerd,
        geaccepteerd``, ``toegevoegd door beoordelaar`` or ``afgewezen``), in codebook order.
    """
    old, new = _states(before), _states(after)
    changed = [(s, c, old.get((s, c), _NOT_CODED), new.get((s, c), _NOT_CODED))
               for s, c in sorted(set(old) | set(new))
               if old.get((s, c), _NOT_CODED) != new.get((s, c), _NOT_CODED)]
    columns = ["code", "interview", "voor", "na", "passage", "zinnen"]
    if not changed:
        return pd.DataFrame(columns=columns)
    rows = pd.DataFrame(changed, columns=["segment_id", "code_id", "voor", "na"])
    # Translated before joining: passages are ordered by what the researcher reads.
    rows[["voor", "na"]] = rows[["voor", "na"]].map(gettext)
    passages = _passages(rows, segments, ["code_id", "voor", "na"])
    order = {c.id: i for i, c in enumerate(book.codes)}
    names = {c.id: f"{c.id} {c.name}" for c in book.codes}
    passages = passages.assign(_o=passages["code_id"].map(order).fillna(len(order))) \
        .sort_values(["_o", "document_id", "turn_index"], kind="stable")
    return pd.DataFrame({
        "code": passages["code_id"].map(names).fillna(passages["code_id"]),
        "interview": passages["document_id"], "voor": passages["voor"], "na": passages["na"],
        "passage": passages["text"], "zinnen": passages["sentences"],
    }).reset_index(drop=True)


@dataclass
class Recoded:
    """The result of :func:`recode`.

    Attributes:
        data: The outputs read again after coding.
        changes: See :func:`coding_changes`.
        seconds: How long coding took.
    """

    data: Data
    changes: pd.DataFrame
    seconds: float

    def summary(self) -> str:
        """One sentence on what changed."""
        n = len(self.changes)
        if not n:
            return _("Coded again in {seconds} s: no passage changed.").format(
                seconds=_num(self.seconds, 0))
        not_coded = gettext(_NOT_CODED)
        gained = int((self.changes["voor"] == not_coded).sum())
        lost = int((self.changes["na"] == not_coded).sum())
        return _("Coded again in {seconds} s: {n} passage(s) changed ({gained} newly coded, "
                 "{lost} no longer coded, {decided} with a decision).").format(
                     seconds=_num(self.seconds, 0), n=n, gained=gained, lost=lost,
                     decided=n - gained - lost)


def recode(data: Data) -> Recoded:
    """Run the coder again on the batch (``codeer code``: it learns from every decision in
    ``reviews.csv``), then read the outputs again and list what changed.

    On the demo (seven interviews, two cores) this takes about 8 seconds once the model is
    loaded; the first time in a session 15 to 25 seconds. It writes ``codings.parquet``, as
    ``codeer code`` does; ``reviews.csv`` is only read.

    Returns:
        See :class:`Recoded`.

    Raises:
        CodeerError: When coding fails (the cause in the message).
    """
    import time

    from pipeline.coding import command as code_stage

    start = time.perf_counter()
    try:
        code_stage.run(Path(data.out), Path(data.codebook), progress=False)
        fresh = load(data.out, data.codebook)
    except CodeerError as exc:
        raise CodeerError(_("Coding again failed: {error}").format(error=exc)) from None
    seconds = time.perf_counter() - start
    return Recoded(fresh, coding_changes(data.codings, fresh.codings, fresh.segments,
                                         fresh.book), seconds)


# --------------------------------------------------------------------------- the widget


def _error(exc: Exception) -> str:
    return f"<span style='color:#B00020'>{html.escape(str(exc))}</span>"


def _mark_html(text: str) -> str:
    """Escaped text with the part between »…« highlighted."""
    escaped = html.escape(text)
    return re.sub(r"»(.*?)«", lambda m: f"<b style='background:#FFF3B0'>»{m.group(1)}«</b>",
                  escaped, flags=re.S)


def _table_html(frame: pd.DataFrame, columns: list[str], limit: int = 30) -> str:
    if frame.empty:
        return ""
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left;vertical-align:top'>"
                         f"{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame[columns].head(limit).itertuples(index=False))
    more = ("<p><i>" + html.escape(_("… and {n} more.").format(n=len(frame) - limit))
            + "</i></p>" if len(frame) > limit else "")
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def review_widget(data: Data, out: Path, code_id: str | None, reviewer: str, n: int = 10,
                  queue: pd.DataFrame | None = None):
    """Review in the notebook, by text only: the passages that teach the coder most, a search
    to give any passage a code the coder missed, and a button that codes the batch again and
    shows what changed and what to review next.

    Every click on *Hoort erbij* or *Hoort er niet bij* records one decision (``accept`` when
    the coder had the code, ``add`` when it had not; ``reject``). Messages go through the
    catalogue (Dutch unless ``CODEER_LANG=en``). The
    widget is built without a running frontend, so its buttons also work from code
    (``button.click()``).

    Args:
        data: See :func:`load`.
        out: The output folder (that of ``data``).
        code_id: Only passages of this code; None or ``""``: every code in turn.
        reviewer: Your name or initials.
        n: Passages per round.
        queue: The passages to show first (default :func:`next_passages`).

    Returns:
        An ``ipywidgets.VBox``.
    """
    import ipywidgets as widgets

    code_id = code_id or None
    _check_code(data, code_id, allow_none=True)
    state = {"data": data if Path(out) == Path(data.out) else replace(data, out=Path(out))}
    header = widgets.HTML()
    items = widgets.VBox()
    effect = widgets.HTML()
    status = widgets.HTML()

    def show(rows: pd.DataFrame) -> None:
        code = next((c for c in data.book.codes if c.id == code_id), None)
        title = f"{code.id} {code.name}" if code else _("all codes")
        header.value = ("<h3>" + html.escape(_("Review: {title}").format(title=title)) + "</h3>"
                        + (f"<p>{html.escape(code.definition)}</p>" if code else "")
                        + "<p><i>" + html.escape(_(
                            "{n} passage(s) for {reviewer}, in the order in which they teach "
                            "the coder most.").format(n=len(rows), reviewer=reviewer))
                        + "</i></p>")
        boxes = [_queue_box(widgets, state, row, reviewer) for row in rows.itertuples()]
        if not boxes:
            boxes = [widgets.HTML("<p>" + html.escape(_(
                "Nothing left to review: every passage has a decision for these code(s)."))
                + "</p>")]
        items.children = boxes

    def on_recode(_button) -> None:
        button.disabled = True
        status.value = "<i>" + html.escape(_("Coding again…")) + "</i>"
        try:
            result = recode(state["data"])
            state["data"] = result.data
            rows = next_passages(result.data, n, code_id, reviewer)
        except CodeerError as exc:
            status.value = _error(exc)
            return
        finally:
            button.disabled = False
        status.value = f"<b>{html.escape(result.summary())}</b>"
        effect.value = _table_html(result.changes, ["code", "interview", "voor", "na",
                                                    "passage"])
        show(rows)

    button = widgets.Button(description=_("Code again"), icon="refresh",
                            tooltip=_("The coder learns from your decisions and codes the batch "
                                      "again; then the next passages."))
    button.on_click(on_recode)
    if queue is None:
        queue = next_passages(data, n, code_id, reviewer)
    show(queue)
    return widgets.VBox([
        header, items, _add_box(widgets, state, code_id, reviewer),
        widgets.HTML("<h4>" + html.escape(_("What do your decisions do?")) + "</h4><p>"
                     + html.escape(_("Code the batch again: the coder learns from every "
                                     "decision. Then you see which passages gained or lost a "
                                     "code, and the next passages to review (on the demo about "
                                     "20 seconds).")) + "</p>"),
        widgets.HBox([button, status]), effect])


def _queue_box(widgets, state: dict, row, reviewer: str):
    facts = _("{why} (chance {probability}) · now {state}").format(
        why=_reason(row.reason), probability=_num(row.probability),
        state=_("coded") if row.coded else _("not coded"))
    info = (f"<small>{html.escape(str(row.document_id))} · <b>{html.escape(row.code_id)} "
            f"{html.escape(str(row.code_name))}</b> · {html.escape(facts)}</small>")
    yes = widgets.Button(description=_("Belongs"), button_style="success", icon="check")
    no = widgets.Button(description=_("Does not belong"), button_style="danger", icon="times")
    note = widgets.Text(placeholder=_("note (optional)"))
    status = widgets.HTML("")

    def on_click(belongs: bool):
        def handler(_button) -> None:
            data = state["data"]
            auto = data.codings[(data.codings["segment_id"] == row.segment_id)
                                & (data.codings["code_id"] == row.code_id)
                                & (data.codings["method"] != "human")]
            decision = ("accept" if len(auto) else "add") if belongs else "reject"
            try:
                _record(data, [row.segment_id], row.code_id, decision, reviewer, note.value)
            except CodeerError as exc:
                status.value = _error(exc)
                return
            yes.disabled = no.disabled = note.disabled = True
            status.value = _("<b>{decision}</b> by {reviewer}").format(
                decision=html.escape(DECISION_NAMES[decision]), reviewer=html.escape(reviewer))
        return handler

    yes.on_click(on_click(True))
    no.on_click(on_click(False))
    return widgets.VBox([
        widgets.HTML(f"<p>{_mark_html(row.context)}</p>{info}"),
        widgets.HBox([yes, no, note, status]),
    ], layout=widgets.Layout(border="1px solid #DDDDDD", padding="4px", margin="4px 0"))


def _add_box(widgets, state: dict, code_id: str | None, reviewer: str):
    data = state["data"]
    query = widgets.Text(placeholder=_("a few words from the passage, or the passage itself"),
                         description=_("Search:"), layout=widgets.Layout(width="60%"))
    search = widgets.Button(description=_("Search"), icon="search")
    found = widgets.Select(options=[], description=_("Found:"), rows=6,
                           layout=widgets.Layout(width="95%"))
    first = widgets.Dropdown(options=[], description=_("From sentence:"),
                             layout=widgets.Layout(width="95%"))
    last = widgets.Dropdown(options=[], description=_("Up to and including:"),
                            layout=widgets.Layout(width="95%"))
    turn_view = widgets.HTML("")
    code = widgets.Dropdown(options=[(f"{c.id} {c.name}", c.id) for c in data.book.codes],
                            value=code_id or data.code_ids()[0], description=_("Code:"))
    note = widgets.Text(placeholder=_("note (optional)"))
    add = widgets.Button(description=_("Add code"), icon="plus")
    status = widgets.HTML("")
    hits: dict[int, dict] = {}
    turn: dict[str, pd.DataFrame] = {}

    def show_range(_change=None) -> None:
        sentences = turn.get("rows")
        if sentences is None or first.value is None or last.value is None:
            turn_view.value = ""
            return
        lo, hi = sorted((first.value, last.value))
        turn_view.value = "<p>" + _mark_html(_marked(sentences["text"].tolist(), lo - 1,
                                                     hi - 1)) + "</p>"

    def on_found(_change=None) -> None:
        hit = hits.get(found.value)
        if hit is None:
            turn.clear()
            first.options = last.options = []
            show_range()
            return
        sentences = turn_sentences(state["data"], hit["segment_ids"][0])
        turn["rows"] = sentences
        options = [(f"{p}. {_short(t)}", p) for p, t in zip(sentences["position"],
                                                          sentences["text"], strict=True)]
        first.options = last.options = options
        first.value, last.value = hit["first"], hit["last"]
        show_range()

    def on_search(_button=None) -> None:
        status.value = ""
        hits.clear()
        if not query.value.strip():
            found.options = []
            status.value = _error(_("Type a few words from the passage first."))
            on_found()
            return
        result = search_passages(state["data"], query.value)
        for i, hit in enumerate(result.to_dict("records")):
            hits[i] = hit
        found.options = [(f"{h['document_id']} · {_short(h['text'], 110)}", i)
                         for i, h in hits.items()]
        if not hits:
            status.value = _error(_("No passage found with '{query}'. Try fewer or other "
                                    "words.").format(query=query.value.strip()[:60]))
        found.value = 0 if hits else None
        on_found()

    def on_add(_button) -> None:
        sentences = turn.get("rows")
        if sentences is None or first.value is None or last.value is None:
            status.value = _error(_(CHOOSE_PASSAGE))
            return
        lo, hi = sorted((first.value, last.value))
        ids = sentences["segment_id"].iloc[lo - 1:hi].tolist()
        try:
            add_passage(state["data"], ids, code.value, reviewer, note.value)
        except CodeerError as exc:
            status.value = _error(exc)
            return
        text = " ".join(sentences["text"].iloc[lo - 1:hi])
        status.value = _("<b>{code} added</b> by {reviewer} to: “{text}”").format(
            code=html.escape(code.value), reviewer=html.escape(reviewer),
            text=html.escape(_short(text, 160)))
        note.value = ""

    search.on_click(on_search)
    found.observe(on_found, names="value")
    first.observe(show_range, names="value")
    last.observe(show_range, names="value")
    add.on_click(on_add)
    return widgets.VBox([
        widgets.HTML("<h4>" + html.escape(_("Add a code the coder missed")) + "</h4><p>"
                     + html.escape(_("Search for the passage by a few words (or paste it), "
                                     "choose it, and if needed set from which to which sentence "
                                     "of the turn it runs.")) + "</p>"),
        widgets.HBox([query, search]), found, turn_view, first, last,
        widgets.HBox([code, note, add]), status,
    ])


def _short(text: str, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


# --------------------------------------------------------------------------- memos


def write_memo(out: Path, text: str, author: str, about: str = "project", target: str = "",
               data: Data | None = None) -> dict:
    """Write one memo to ``OUT/memos.csv`` (append-only; see :mod:`pipeline.review.memos`).

    Args:
        out: The output folder.
        text: The memo.
        author: Name or initials.
        about: ``passage``, ``document``, ``code`` or ``project``.
        target: Segment id or text of one segment (passage), document id, or code id.
        data: The loaded data, to check a code id against the codebook.

    Returns:
        The row as written.

    Raises:
        CodeerError: Empty text or author, or a target that does not exist.
    """
    from pipeline.review import memos

    known = set(data.code_ids()) if data is not None else None
    return memos.add(Path(out), text, author, about, target, known)


def memo_box(data: Data, out: Path, author: str):
    """A form to write a memo about a passage, an interview, a code or the project.

    Every click on *Memo opslaan* appends one memo via :func:`write_memo`; the box also lists
    the memos written so far.

    Returns:
        An ``ipywidgets.VBox``.
    """
    import ipywidgets as widgets

    from pipeline.review import memos

    about = widgets.Dropdown(options=[(_("the project"), "project"), (_("a passage"), "passage"),
                                      (_("an interview"), "document"), (_("a code"), "code")],
                             value="project", description=_("About:"))
    target = widgets.Text(placeholder=_("a piece of text from the passage / interview / code"),
                          description=_("Which:"))
    text = widgets.Textarea(placeholder=_("your memo"), layout=widgets.Layout(width="100%"))
    button = widgets.Button(description=_("Save memo"), icon="pencil")
    status = widgets.HTML("")
    listing = widgets.HTML("")

    def show() -> None:
        log = memos.read_memos(out)
        rows = "".join(
            f"<li><small>{html.escape(str(m['timestamp'])[:16])} · "
            f"{html.escape(str(m['author']))} · {html.escape(_memo_about(data, m))}</small><br>"
            f"{html.escape(str(m['text']))}</li>"
            for m in log.tail(10).to_dict("records"))
        listing.value = (f"<ul>{rows}</ul>" if rows
                         else "<p><i>" + html.escape(_("No memos yet."), quote=False)
                         + "</i></p>")

    def on_save(_button) -> None:
        try:
            where = _memo_target(data, text.value, author, about.value, target.value)
            row = write_memo(out, text.value, author, about.value, where, data)
        except CodeerError as exc:
            status.value = _error(exc)
            return
        status.value = _("<b>Memo saved</b> ({about}) by {author}").format(
            about=html.escape(_memo_about(data, row)), author=html.escape(author))
        text.value = ""
        show()

    button.on_click(on_save)
    show()
    return widgets.VBox([widgets.HTML("<h4>" + html.escape(_("Write a memo")) + "</h4>"),
                         widgets.HBox([about, target]),
                         text, widgets.HBox([button, status]), listing])


def _memo_about(data: Data, memo: dict) -> str:
    """What a memo is about, to read: a passage by its text, not its id."""
    about = str(memo["about"])
    target = "" if pd.isna(memo["target"]) else str(memo["target"])
    if about == "passage":
        text = data.segments.loc[data.segments["segment_id"] == target, "text"]
        return (_("passage “{text}”").format(text=_short(text.iloc[0], 80)) if len(text)
                else _("passage"))
    names = {"project": _("the project"), "document": _("interview"), "code": _("code")}
    return f"{names.get(about, about)} {target}".strip()


def _memo_target(data: Data, text: str, author: str, about: str, target: str) -> str:
    """Check a memo from the form; the target as :func:`write_memo` takes it (a passage found
    by its text becomes the id of its first sentence)."""
    if not str(text).strip():
        raise CodeerError(_("Write your memo in the text box first."))
    if not str(author or "").strip() or author == "naam":
        raise CodeerError(_("REVIEWER must be your name or initials. Got '{name}'. Fill it in "
                            "in the first cell.").format(name=str(author or "").strip()))
    target = str(target or "").strip()
    if about == "project":
        return ""
    if about == "passage":
        if target in set(data.segments["segment_id"]):
            return target
        if not target:
            raise CodeerError(_("For a passage: type or paste a piece of its text at Which."))
        return find_passage(data, target)[0]
    if about == "document":
        ids = data.documents["document_id"].tolist()
        if target not in ids:
            raise CodeerError(_("For an interview, Which must be one of {ids}. Got '{got}'.")
                              .format(ids=", ".join(ids[:10]), got=target))
        return target
    _check_code(data, target)
    return target


# --------------------------------------------------------------------------- agreement


def agreement_tables(out: Path, codebook: Path) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Agreement of the automatic codes with the reviewers, and between reviewers.

    Uses :func:`pipeline.review.agreement.review_agreement`; unlike ``codeer evaluate --reviews`` it
    writes nothing (notebooks only read).

    Returns:
        ``{"auto_vs_review": (table, pooled), "<a>_vs_<b>": ...}``; empty without decisions.
        Each table has the columns of :func:`pipeline.review.agreement.agreement_arrays` and, after
        ``code_id``, ``reviewed``: the number of (segment, code) pairs compared.
    """
    from pipeline.review.agreement import review_agreement

    book, _sha = load_codebook(codebook)
    reviews = review.read_reviews(Path(out), {c.id for c in book.codes})
    if reviews.empty:
        return {}
    codings = storage.read_table(Path(out) / config.CODINGS_FILE, schema.CODINGS)
    results = review_agreement(codings, reviews, [c.id for c in book.codes])
    latest = review.latest_decisions(reviews)
    counted = {"auto_vs_review": latest.groupby("code_id").size()}
    for name in results:
        if name == "auto_vs_review":
            continue
        # Reviewer names may hold "_vs_" themselves; find the pair that names this result.
        names = sorted(r for r in reviews["reviewer"].unique() if r)
        pair = next(((a, b) for a in names for b in names if f"{a}_vs_{b}" == name), None)
        if pair is None:
            continue
        keys = [set(zip(d["segment_id"], d["code_id"], strict=True))
                for d in (review.latest_decisions(reviews, r) for r in pair)]
        both = pd.DataFrame(sorted(keys[0] & keys[1]), columns=["segment_id", "code_id"])
        counted[name] = both.groupby("code_id").size()
    for name, (table, _pooled) in results.items():
        if name in counted:
            n = table["code_id"].map(counted[name]).fillna(0).astype("int64")
            table.insert(1, "reviewed", n)
    return results


def _comparisons(out: Path, codebook: Path) -> dict[str, pd.DataFrame]:
    """The reviewed pairs behind every figure of :func:`agreement_tables`, one row per
    (segment, code): ``segment_id, code_id, reference, predicted`` (0/1), built as
    :func:`pipeline.review.agreement.review_agreement` builds its arrays."""
    book, _sha = load_codebook(codebook)
    codes = [c.id for c in book.codes]
    reviews = review.read_reviews(Path(out), set(codes))
    if reviews.empty:
        return {}
    codings = storage.read_table(Path(out) / config.CODINGS_FILE, schema.CODINGS)
    auto = codings[codings["method"] != "human"]
    auto_pairs = set(zip(auto["segment_id"], auto["code_id"], strict=True))
    latest = review.latest_decisions(reviews)
    latest = latest[latest["code_id"].isin(codes)]
    frames = {"auto_vs_review": pd.DataFrame({
        "segment_id": latest["segment_id"].tolist(), "code_id": latest["code_id"].tolist(),
        "reference": latest["decision"].isin(["accept", "add"]).astype(int).tolist(),
        "predicted": [int(k in auto_pairs) for k in zip(latest["segment_id"], latest["code_id"],
                                                         strict=True)]})}
    names = sorted(r for r in reviews["reviewer"].unique() if r)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            da = review.latest_decisions(reviews, a).set_index(["segment_id", "code_id"])
            db = review.latest_decisions(reviews, b).set_index(["segment_id", "code_id"])
            both = [k for k in da.index.intersection(db.index) if k[1] in codes]
            if not both:
                continue
            frames[f"{a}_vs_{b}"] = pd.DataFrame({
                "segment_id": [k[0] for k in both], "code_id": [k[1] for k in both],
                "reference": [int(da.loc[k, "decision"] != "reject") for k in both],
                "predicted": [int(db.loc[k, "decision"] != "reject") for k in both]})
    return frames


def kappa_intervals(out: Path, codebook: Path, n_resamples: int = 1000,
                    level: float = 0.95, seed: int | None = None) -> pd.DataFrame:
    """Pooled kappa of every comparison with a bootstrap confidence interval, the number of
    decisions it rests on, and a sentence on what it means (see :func:`kappa_sentence`).

    The units are the reviewed (segment, code) pairs; they are resampled per spreekbeurt
    (all pairs of one turn together, since the sentences of a turn hang together), with the
    fixed seed :data:`pipeline.config.SEED` (see
    :func:`pipeline.review.agreement.bootstrap_kappa`).

    Returns:
        One row per comparison (as in :func:`agreement_tables`): ``vergelijking, besluiten``
        (pairs), ``fragmenten`` (distinct sentences), ``beurten``, ``kappa, laag, hoog``
        and ``uitleg``; empty without decisions.
    """
    from pipeline.review.agreement import bootstrap_kappa

    columns = ["vergelijking", "besluiten", "fragmenten", "beurten", "kappa", "laag", "hoog",
               "uitleg"]
    frames = _comparisons(out, codebook)
    if not frames:
        return pd.DataFrame(columns=columns)
    segments = storage.read_table(Path(out) / config.SEGMENTS_FILE, schema.SEGMENTS)
    turn = dict(zip(segments["segment_id"], segments["document_id"] + "#"
                    + segments["turn_index"].astype(str), strict=True))
    rows = []
    for name, frame in frames.items():
        # A decision about a segment that is gone (re-ingested text) is its own group.
        groups = frame["segment_id"].map(turn).fillna(frame["segment_id"]).to_numpy()
        result = bootstrap_kappa(frame["reference"].to_numpy(), frame["predicted"].to_numpy(),
                                 groups, n_resamples=n_resamples, level=level, seed=seed)
        result["fragmenten"] = int(frame["segment_id"].nunique())
        rows.append({"vergelijking": _comparison_name(name), "besluiten": result["n"],
                     "fragmenten": result["fragmenten"], "beurten": result["groups"],
                     "kappa": result["kappa"], "laag": result["low"], "hoog": result["high"],
                     "uitleg": kappa_sentence(result, level)})
    return pd.DataFrame(rows, columns=columns)


def _comparison_name(name: str) -> str:
    if name == "auto_vs_review":
        return _("coder versus reviewers")
    first, second = name.split("_vs_", 1)
    return _("{first} versus {second}").format(first=first, second=second)


def kappa_sentence(result: dict, level: float = 0.95) -> str:
    """What a kappa and its interval mean, in the researcher's language (see
    :func:`pipeline.review.agreement.bootstrap_kappa` for ``result``)."""
    from pipeline.review.agreement import kappa_words

    kappa, low, high, n = result["kappa"], result["low"], result["high"], result["n"]
    decisions = ngettext("{n} decision", "{n} decisions", n).format(n=n)
    turns = ngettext("{n} turn", "{n} turns", result["groups"]).format(n=result["groups"])
    if "fragmenten" in result:
        excerpts = ngettext("{n} excerpt", "{n} excerpts", result["fragmenten"]).format(
            n=result["fragmenten"])
        basis = _("{decisions} on {excerpts} in {turns}").format(
            decisions=decisions, excerpts=excerpts, turns=turns)
    else:
        basis = _("{decisions} in {turns}").format(decisions=decisions, turns=turns)
    if math.isnan(kappa):
        return _("Kappa cannot be computed ({basis}): all decisions are the same, so agreement "
                 "and chance cannot be told apart. Also review passages the code does not (or "
                 "does) belong to.").format(basis=basis)
    text = _("Kappa is {kappa} ({basis}): {reading}.").format(
        kappa=_num(kappa), basis=basis, reading=kappa_words(kappa))
    if math.isnan(low):
        return text + " " + _("There are too few decisions for a confidence interval: the "
                              "figure can still go either way. Review more passages.")
    figures = {"percent": f"{round(100 * level)}%", "low": _num(low), "high": _num(high)}
    if low <= 0 <= high:
        text += " " + _("The {percent} confidence interval runs from {low} to {high}: it "
                        "includes 0, so with these decisions the agreement cannot be told apart "
                        "from chance.").format(**figures)
    elif high < 0:
        text += " " + _("The {percent} confidence interval runs from {low} to {high}: even "
                        "its upper bound lies below 0, so the two differ systematically. Look "
                        "at which passages differ; perhaps they read the code differently.") \
            .format(**figures)
    else:
        text += " " + _("The {percent} confidence interval runs from {low} to {high}: more "
                        "agreement than chance, somewhere between {lower} and {upper}.").format(
                            lower=kappa_words(low), upper=kappa_words(high), **figures)
    if high - low > 0.4:
        text += " " + _("The interval is wide, so the estimate is still uncertain; with four "
                        "times as many decisions it becomes about half as wide.")
    return text


def reviewed_counts(out: Path, codebook: Path) -> dict[str, int]:
    """Per code the number of reviewed pairs behind its threshold curve."""
    _book, by_code = _reviewed(out, codebook)
    return {code_id: int(len(rs.truth)) for code_id, rs in by_code.items()}


def learning_curve(out: Path) -> pd.DataFrame | None:
    """``OUT/learning_curve.json`` (written by ``codeer evaluate --gold FILE
    --learning-curve``), or None when it is not there.

    Raises:
        CodeerError: The file cannot be read (with what to do).
    """
    path = Path(out) / "learning_curve.json"
    if not path.exists():
        return None
    try:
        table = pd.read_json(path, orient="records", dtype={"fold": str})
    except ValueError as exc:
        raise CodeerError(_("{path} cannot be read ({error}). Make it again with `codeer "
                            "evaluate --gold FILE --learning-curve`.").format(path=path, error=exc)
                          ) from None
    needed = {"fold", "decisions", "kappa", "precision", "recall", "passages"}
    if not needed <= set(table.columns):
        raise CodeerError(_("{path} must have the columns {needed}. Got {columns}. Make it again "
                            "with `codeer evaluate --gold FILE --learning-curve`.").format(
                                path=path, needed=sorted(needed), columns=sorted(table.columns)))
    return table


def learning_curve_figure(table: pd.DataFrame) -> Figure:
    """Kappa, precision and recall on held-out interviews against the number of decisions:
    the pooled curve (``fold == "alle"``) bold, each fold's kappa thin."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    folds = table[table["fold"].astype(str) != "alle"]
    for i, (_fold, part) in enumerate(folds.groupby("fold", sort=True)):
        ax.plot(part["decisions"], part["kappa"], color="#BBBBBB", linewidth=0.8,
                label=_("kappa per fold") if i == 0 else None)
    pooled = table[table["fold"].astype(str) == "alle"].sort_values("decisions")
    styles = {"kappa": ("kappa", "#000000", "-"), "precision": (_("precision"), "#0072B2", "--"),
              "recall": (_("recall"), "#D55E00", ":")}
    for col, (label, color, style) in styles.items():
        ax.plot(pooled["decisions"], pooled[col], color=color, linestyle=style, marker="o",
                markersize=3, label=label)
    ax.set_xlabel(_("number of the reviewer's decisions"))
    ax.set_ylim(min(-0.05, float(np.nanmin(table["kappa"])) - 0.05), 1.02)
    ax.axhline(0, color="#999999", linewidth=0.6)
    n = int(pooled["passages"].max()) if len(pooled) else 0
    ax.set_title(_("Learning curve: agreement on held-out interviews ({n} passages)")
                 .format(n=n), loc="left", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return fig


def threshold_curves(out: Path, codebook: Path) -> dict[str, pd.DataFrame]:
    """Precision, recall, F1 and kappa against the threshold, per reviewed code.

    Computed by :func:`pipeline.review.calibrate.threshold_curve` over the reviewed pairs
    (:func:`pipeline.review.calibrate.reviewed_scores`); codes with fewer than two reviewed pairs
    are left out.

    Returns:
        ``{code_id: curve}`` in codebook order; empty without decisions.
    """
    from pipeline.review import calibrate

    book, by_code = _reviewed(out, codebook)
    return {c.id: calibrate.threshold_curve(by_code[c.id]) for c in book.codes
            if c.id in by_code and len(by_code[c.id].truth) >= 2}


_REVIEWED_MEMO: dict[tuple, tuple[Codebook, dict]] = {}


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def _reviewed(out: Path, codebook: Path) -> tuple[Codebook, dict]:
    """Reviewed scores per code; remembered while the review log, codebook and segments stay
    the same (scoring loads spaCy and the embedding cache, which takes a while)."""
    from pipeline.review import calibrate

    out, codebook = Path(out).resolve(), Path(codebook).resolve()
    key = (out, codebook, _stamp(out / config.REVIEWS_FILE), _stamp(codebook),
           _stamp(out / config.SEGMENTS_FILE))
    if key in _REVIEWED_MEMO:
        return _REVIEWED_MEMO[key]
    book, _sha = load_codebook(codebook)
    if review.read_reviews(out, {c.id for c in book.codes}).empty:
        return book, {}
    scores = calibrate.reviewed_scores(out, codebook)
    _REVIEWED_MEMO.clear()
    _REVIEWED_MEMO[key] = (book, {rs.code_id: rs for rs in scores})
    return _REVIEWED_MEMO[key]


def calibration_preview(out: Path, codebook: Path, metric: str = "f1") -> pd.DataFrame:
    """What ``codeer calibrate`` would choose now, per reviewed code, without writing anything.

    Returns:
        One row per reviewed code: ``code_id``, the codebook's threshold (``default``), the
        ``threshold`` calibration would choose, ``calibrated`` (False: too few decisions,
        see ``reason``), the numbers of ``reviewed`` pairs and ``positives``, and F1 at both
        thresholds.
    """
    from pipeline.review import calibrate

    book, by_code = _reviewed(out, codebook)
    rows = []
    for code in book.codes:
        if code.id in by_code:
            entry = calibrate.choose_threshold(by_code[code.id], book.threshold_of(code), metric)
            if not entry["calibrated"]:  # the researcher reads it: in plain words
                entry["reason"] = _(
                    "{reviewed} decision(s), {positives} belong; needs {needed}, with at least "
                    "{per_class} accepted and {per_class} rejected").format(
                        reviewed=entry["reviewed"], positives=entry["positives"],
                        needed=calibrate.MIN_REVIEWED, per_class=calibrate.MIN_PER_CLASS)
            rows.append({"code_id": code.id, **entry})
    columns = ["code_id", "default", "threshold", "calibrated", "reviewed", "positives",
               "f1_default", "f1_calibrated", "reason"]
    return pd.DataFrame(rows).reindex(columns=columns)


def threshold_figure(curves: dict[str, pd.DataFrame], current: dict[str, float],
                     columns: int = 2, counts: dict[str, int] | None = None) -> Figure | None:
    """One small plot per code: F1, precision and recall against the threshold.

    Args:
        curves: See :func:`threshold_curves`.
        current: The threshold in effect per code (see :func:`thresholds`), drawn as a
            dashed line.
        columns: Plots per row.
        counts: Reviewed pairs per code (see :func:`reviewed_counts`), shown in the titles.

    Returns:
        The figure, or None without curves.
    """
    from matplotlib.figure import Figure

    if not curves:
        return None
    columns = max(1, min(columns, len(curves)))
    rows = math.ceil(len(curves) / columns)
    fig = Figure(figsize=(4.2 * columns, 2.8 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False).ravel())
    styles = {"f1": ("F1", "#000000", "-"), "precision": (_("precision"), "#0072B2", "--"),
              "recall": (_("recall"), "#D55E00", ":")}
    for ax, (code_id, curve) in zip(axes, curves.items(), strict=False):
        for col, (label, color, style) in styles.items():
            ax.step(curve["threshold"], curve[col], where="post", label=label, color=color,
                    linestyle=style)
        # The curve runs from -1 to 1; show the reviewed scores and the current threshold.
        th = current.get(code_id)
        inner = curve.loc[curve["threshold"].abs() < 1, "threshold"].tolist()
        span = inner + ([th] if th is not None else [])
        if span:
            pad = max(0.02, 0.1 * (max(span) - min(span)))
            ax.set_xlim(max(-1.0, min(span) - pad), min(1.0, max(span) + pad))
        if th is not None:
            ax.axvline(th, color="#999999", linestyle="--", linewidth=1)
            ax.annotate(_("now {threshold}").format(threshold=f"{th:.2f}".replace(".", ",")),
                        (th, 1.02), ha="center",
                        fontsize=8, color="#555555", xycoords=("data", "axes fraction"))
        ax.set_ylim(-0.02, 1.05)
        n = (counts or {}).get(code_id)
        ax.set_title(code_id if n is None else _("{code} ({n} decisions)").format(code=code_id,
                                                                                   n=n),
                     loc="left", fontsize=10)
        ax.set_xlabel(_("threshold (chance)"))
    for ax in axes[len(curves):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, frameon=False)
    return fig
