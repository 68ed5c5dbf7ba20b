"""The export's tables: one DataFrame per CSV file and workbook sheet, with Dutch descriptions.

Every exported table is listed in :data:`TABLES` with its columns in their fixed order and a
Dutch explanation of each (the workbook's ``toelichting`` sheet is made from it). The functions
here are pure: frames in, frames out; texts arrive already pseudonymised.

Counts count *passages* (:mod:`pipeline.export.passages`): adjacent sentences of one turn with
the same code are one coding, whatever the number of sentences. Sizes (how much an interview
or a group said) count segments, the unit ingest cut the turns into (sentences, or whole turns
with ``--unit turn``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
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

_SEGMENT = "segment (een zin, of een hele spreekbeurt bij --unit turn)"
_PASSAGE = ("passage: aaneengesloten zinnen uit één spreekbeurt met dezelfde code; telt als één "
            "codering, hoeveel zinnen ze ook heeft")
_SHARE = ("aandeel: segmenten gedeeld door respondentsegmenten (0-1), dus welk deel van wat de "
          "respondent zei deze code heeft; leeg als er geen respondentsegmenten zijn")
_THEME = "naam van het thema in het codeboek waar de code onder valt (bijv. Aan tafel)"

#: Every exported table: a Dutch description and its columns, in their fixed order.
TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "interviews": (
        "Eén rij per interview: metadata (gepseudonimiseerd) en aantallen.",
        {
            "document_id": "interview-id (uit interviews.csv, anders de bestandsnaam)",
            "respondent_function": "functie van de respondent (leeg als de metadata die niet "
                                   "heeft)",
            "department": "afdeling van de respondent (leeg als onbekend)",
            "cluster": "cluster van de afdeling (leeg als onbekend)",
            "n_words": "aantal woorden gesproken tekst in het transcript",
            "n_segments": f"aantal segmenten van alle sprekers; {_SEGMENT}",
            "respondent_segments": "aantal segmenten van de respondent(en)",
            "n_passages": "aantal gecodeerde passages (niet afgewezen); een passage met twee "
                          f"codes telt één keer. {_PASSAGE}",
            "n_codes": "aantal verschillende codes dat in het interview voorkomt",
        },
    ),
    "code_document": (
        "Per code en interview: in hoeveel passages de code voorkomt. Alle combinaties staan "
        "erin, ook die met 0. Afgewezen coderingen tellen niet mee.",
        {
            "theme": _THEME,
            "code_id": "id van de code (bijv. L1)",
            "code_name": "naam van de code",
            "document_id": "interview-id",
            "n_passages": f"aantal passages van dit interview met deze code; {_PASSAGE}",
            "n_segments": "aantal segmenten in die passages",
            "respondent_segments": "aantal respondentsegmenten van het interview (noemer)",
            "share": _SHARE,
        },
    ),
    "code_department": (
        "Per code en groep interviews (afdeling, cluster of functie van de respondent): hoe "
        "vaak de code voorkomt. Alleen voor metadatakolommen die er zijn.",
        {
            "grouping": "waarnaar gegroepeerd is: afdeling, cluster of functie van de "
                        "respondent",
            "group": "de waarde van die groep (bijv. de naam van de afdeling)",
            "theme": _THEME,
            "code_id": "id van de code",
            "code_name": "naam van de code",
            "n_passages": "aantal passages in deze groep met deze code",
            "n_interviews": "aantal interviews in deze groep waarin de code voorkomt",
            "interviews_in_group": "aantal interviews in deze groep",
            "n_segments": "aantal segmenten in die passages",
            "respondent_segments": "aantal respondentsegmenten in deze groep (noemer)",
            "share": _SHARE,
        },
    ),
    "cooccurrence_passage": (
        "Samen voorkomen van codes op dezelfde tekst: hoe vaak een passage met de ene code en "
        "een passage met de andere code minstens één zin delen (een passage met beide codes "
        "telt één keer). Alle paren in beide richtingen; op de diagonaal (code_a = code_b) het "
        "aantal passages met die code.",
        {
            "code_id_a": "id van de eerste code",
            "code_name_a": "naam van de eerste code",
            "code_id_b": "id van de tweede code",
            "code_name_b": "naam van de tweede code",
            "n_passages": "aantal keer dat passages met beide codes tekst delen (diagonaal: "
                          "aantal passages met de code)",
        },
    ),
    "cooccurrence_turn": (
        "Samen voorkomen van codes binnen dezelfde spreekbeurt (alle zinnen van één spreker "
        "tot de volgende spreker aan het woord is). Op de diagonaal het aantal beurten met die "
        "code.",
        {
            "code_id_a": "id van de eerste code",
            "code_name_a": "naam van de eerste code",
            "code_id_b": "id van de tweede code",
            "code_name_b": "naam van de tweede code",
            "n_turns": "aantal spreekbeurten waarin beide codes voorkomen",
        },
    ),
    "excerpts": (
        "Eén rij per gecodeerde passage en code: de tekst (gepseudonimiseerd) met context. Een "
        "passage met twee codes staat er twee keer in (één rij per code, zie andere codes). Ook "
        "afgewezen passages staan erin, herkenbaar aan de reviewstatus; ze tellen in de andere "
        "tabellen niet mee.",
        {
            "theme": _THEME,
            "code_id": "id van de code",
            "code_name": "naam van de code",
            "other_codes": "andere codes op precies dezelfde passage, gescheiden door komma's",
            "document_id": "interview-id",
            "passage_id": "id van de passage (stabiel zolang de zinnen en hun codes gelijk "
                          "blijven)",
            "segment_ids": "ids van de segmenten van de passage, in volgorde, gescheiden door "
                           "spaties (voor codeer review en reviews.csv)",
            "n_segments": "aantal segmenten (zinnen) in de passage",
            "turn_index": "volgnummer van de spreekbeurt in het interview (vanaf 0)",
            "role": "rol van de spreker: respondent, interviewer of overig",
            "respondent_function": "functie van de respondent (leeg als onbekend)",
            "department": "afdeling van de respondent (leeg als onbekend)",
            "cluster": "cluster van de afdeling (leeg als onbekend)",
            "text": "de gecodeerde passage, gepseudonimiseerd",
            "text_in_context": "de zin vóór de passage, de passage tussen » en « en de zin erna; "
                               "[interviewer] of [respondent] markeert context uit een andere "
                               "spreekbeurt, … ingekorte context",
            "probability": "kans (0-1) dat een onderzoeker deze code op deze passage accepteert, "
                           "zoals codeer die schat: de hoogste van de zinnen; leeg bij "
                           "handmatige codes",
            "method": "hoe de code is toegekend: regel (een trefwoordregel van het codeboek "
                      "trof), model (de passage lijkt op de voorbeelden van de code), regel én "
                      "model, of handmatig (door een onderzoeker)",
            "evidence": "waarom: de woorden waarop een regel trof, het codeboekvoorbeeld dat het "
                        "meest lijkt en van hoeveel beoordelingen de code leerde",
            "status": "reviewstatus van de passage: automatisch (nog niet elke zin "
                      "beoordeeld), geaccepteerd (elke zin geaccepteerd) of afgewezen",
        },
    ),
    "themes": (
        "Eén rij per thema dat codeer themes in de respondentsegmenten vond, met de best "
        "passende code en of het thema 'opkomend' is (door het codeboek niet gedekt).",
        {
            "topic": "nummer van het thema; -1 = niet ingedeeld",
            "label": "kort label: de woordgroepen die het thema het best typeren "
                     "(gepseudonimiseerd)",
            "keywords": "kernwoorden (lemma's: grondvormen), gescheiden door komma's",
            "size": "aantal segmenten in het thema",
            "share": "aandeel van alle ingedeelde segmenten (0-1)",
            "best_code_id": "id van de code die inhoudelijk het dichtst bij het thema ligt",
            "best_code_name": "naam van die code",
            "best_code_similarity": "gelijkenis (cosinus, -1 tot 1) tussen thema en die code",
            "emerging": "waar (True) als geen code goed genoeg past en het geen praatje is: een "
                        "opkomend thema",
            "small_talk": "waarom dit geen inhoudelijk thema is (begroeting of afsluiting, "
                          "opname en toestemming, contactgegevens, korte reacties); leeg bij "
                          "een inhoudelijk thema",
            "coded_share": "aandeel van de segmenten van het thema dat een code heeft (0-1)",
            "n_interviews": "in hoeveel interviews het thema voorkomt",
            "interviews": "in welke interviews, gescheiden door komma's",
        },
    ),
    "theme_interview": (
        "Per thema en interview: hoeveel segmenten van het interview in het thema vallen.",
        {
            "topic": "nummer van het thema",
            "label": "label van het thema",
            "document_id": "interview-id",
            "n_segments": "aantal segmenten van dit interview in het thema",
            "share_of_theme": "aandeel van de segmenten van het thema dat uit dit interview komt "
                              "(0-1)",
        },
    ),
    "memos": (
        "Eén rij per memo (codeer memo, het reviewnotebook of een CAQDAS via codeer import): "
        "wat een onderzoeker noteerde bij een passage, een interview, een code of het project.",
        {
            "timestamp": "wanneer de memo is geschreven (ISO 8601)",
            "author": "wie de memo schreef",
            "about": "waarover de memo gaat: passage (één segment), interview, "
                     "code of project",
            "document_id": "interview-id (bij een memo over een passage of een interview)",
            "segment_id": "id van het segment (bij een memo over een passage)",
            "code_id": "id van de code (bij een memo over een code)",
            "passage": "de tekst van het segment waarover de memo gaat, gepseudonimiseerd",
            "text": "de memo zelf, gepseudonimiseerd",
        },
    ),
}
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

