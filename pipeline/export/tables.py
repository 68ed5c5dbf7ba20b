"""The export's tables: one DataFrame per CSV file and workbook sheet, with Dutch descriptions.

Every exported table is listed in :data:`TABLES` with its columns in their fixed order and a
Dutch explanation of each (the workbook's ``toelichting`` sheet is made from it). The functions
here are pure: frames in, frames out; texts arrive already pseudonymised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from pipeline.coding.codebook import Codebook
from pipeline.errors import CodeerError
from pipeline.export.privacy import PseudoDocLike, PseudonymiserLike, metadata_columns

log = logging.getLogger("codeer")


#: Metadata columns that tables break counts down by (when interviews.csv has them).
GROUP_COLUMNS = ("department", "cluster", "respondent_function")
#: Metadata columns that never leave codeer (interviewer names; file names may hold names).
#: Characters of a neighbouring segment shown as context in ``excerpts``.
CONTEXT_CHARS = 160

# --------------------------------------------------------------------------- table contracts

_SHARE = ("aandeel: n_segments gedeeld door respondent_segments (0-1); leeg als het interview "
          "geen respondentsegmenten heeft")
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
            "n_segments": "aantal segmenten (zinnen of beurten) van alle sprekers",
            "respondent_segments": "aantal segmenten van de respondent(en)",
            "coded_segments": "aantal segmenten met minstens één niet-afgewezen code",
            "n_codes": "aantal verschillende codes dat in het interview voorkomt",
        },
    ),
    "code_document": (
        "Per code en interview: in hoeveel segmenten de code voorkomt. Alle combinaties staan "
        "erin, ook die met 0. Afgewezen coderingen tellen niet mee.",
        {
            "theme": _THEME,
            "code_id": "id van de code (bijv. L1)",
            "code_name": "naam van de code",
            "document_id": "interview-id",
            "n_segments": "aantal segmenten van dit interview met deze code",
            "respondent_segments": "aantal respondentsegmenten van het interview (noemer)",
            "share": _SHARE,
        },
    ),
    "code_department": (
        "Per code en groep interviews (afdeling, cluster of functie van de respondent): hoe "
        "vaak de code voorkomt. Alleen voor metadatakolommen die er zijn.",
        {
            "grouping": "waarnaar gegroepeerd is: department (afdeling), cluster of "
                        "respondent_function (functie)",
            "group": "de waarde van die groep (bijv. de naam van de afdeling)",
            "theme": _THEME,
            "code_id": "id van de code",
            "code_name": "naam van de code",
            "n_segments": "aantal segmenten in deze groep met deze code",
            "n_interviews": "aantal interviews in deze groep waarin de code voorkomt",
            "interviews_in_group": "aantal interviews in deze groep",
            "respondent_segments": "aantal respondentsegmenten in deze groep (noemer)",
            "share": _SHARE,
        },
    ),
    "cooccurrence_segment": (
        "Samen voorkomen van codes in hetzelfde segment (zin of beurt, afhankelijk van de "
        "segmentatie). Alle paren in beide richtingen; op de diagonaal (code_a = code_b) het "
        "aantal segmenten met die code.",
        {
            "code_id_a": "id van de eerste code",
            "code_name_a": "naam van de eerste code",
            "code_id_b": "id van de tweede code",
            "code_name_b": "naam van de tweede code",
            "n_segments": "aantal segmenten met beide codes",
        },
    ),
    "cooccurrence_turn": (
        "Samen voorkomen van codes binnen dezelfde spreekbeurt (alle segmenten van één spreker "
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
        "Eén rij per codering: het gecodeerde fragment (gepseudonimiseerd) met context. Ook "
        "afgewezen coderingen staan erin, herkenbaar aan de kolom status; ze tellen in de andere "
        "tabellen niet mee.",
        {
            "theme": _THEME,
            "code_id": "id van de code",
            "code_name": "naam van de code",
            "document_id": "interview-id",
            "segment_id": "id van het segment (stabiel zolang het transcript niet verandert)",
            "turn_index": "volgnummer van de spreekbeurt in het interview (vanaf 0)",
            "role": "rol van de spreker: respondent, interviewer of other",
            "respondent_function": "functie van de respondent (leeg als onbekend)",
            "department": "afdeling van de respondent (leeg als onbekend)",
            "cluster": "cluster van de afdeling (leeg als onbekend)",
            "text": "het gecodeerde segment, gepseudonimiseerd",
            "text_in_context": "het vorige segment, het gecodeerde segment tussen » en « en het "
                               "volgende segment; [interviewer] of [respondent] markeert context "
                               "uit een andere spreekbeurt, … ingekorte context",
            "passage": "het gecodeerde segment met de zinnen ervoor en erna uit dezelfde "
                       "spreekbeurt: de passage die de embedding-coder met het codeboek vergeleek",
            "score": "score van de embedding-coder voor dit segment en deze code (-1 tot 1; "
                     "hoger = meer gelijkend op de code); zegt niets bij handmatige codes",
            "method": "hoe de code is toegekend: rule (regel), embedding, both (regel én "
                      "embedding) of human (handmatig)",
            "evidence": "waarom: de regel die trof en/of het codeboekvoorbeeld dat het meest "
                        "lijkt; bij handmatige codes de reviewer en notitie",
            "status": "reviewstatus: auto (niet beoordeeld), accepted (geaccepteerd) of "
                      "rejected (afgewezen)",
        },
    ),
    "themes": (
        "Eén rij per thema dat codeer themes in de respondentsegmenten vond, met de best "
        "passende code en of het thema 'opkomend' is (door het codeboek niet gedekt).",
        {
            "topic": "nummer van het thema; -1 = niet ingedeeld",
            "label": "kort label uit de kernwoorden (gepseudonimiseerd)",
            "keywords": "kernwoorden (lemma's), gescheiden door komma's",
            "size": "aantal segmenten in het thema",
            "share": "aandeel van alle ingedeelde segmenten (0-1)",
            "best_code_id": "id van de code die inhoudelijk het dichtst bij het thema ligt",
            "best_code_name": "naam van die code",
            "best_code_similarity": "gelijkenis (cosinus) tussen thema en die code",
            "emerging": "waar (True) als geen code goed genoeg past: een opkomend thema",
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
            "about": "waarover de memo gaat: passage (één segment), document (een interview), "
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


def columns(name: str) -> list[str]:
    """The fixed column order of table ``name``."""
    return list(TABLES[name][1])


# --------------------------------------------------------------------------- helpers


def counted(codings: pd.DataFrame) -> pd.DataFrame:
    """The codings that count: not rejected, one per (segment, code)."""
    kept = codings[codings["status"] != "rejected"]
    return kept.drop_duplicates(["segment_id", "code_id"]).reset_index(drop=True)


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
        raise CodeerError(
            f"codings use codes that are not in the codebook: {unknown[:10]}. Run `codeer code` "
            "again with this codebook, or export with the codebook they were made with "
            "(--codebook FILE)."
        )
    missing = set(codings["segment_id"]) - set(segments["segment_id"])
    if missing:
        raise CodeerError(
            f"{len(missing)} coding(s) refer to segments that no longer exist (e.g. "
            f"{sorted(missing)[:3]}). Run `codeer code` again after `codeer ingest`."
        )


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


# --------------------------------------------------------------------------- tables


def interviews_table(
    documents: pd.DataFrame, segments: pd.DataFrame, codings: pd.DataFrame, meta: pd.DataFrame
) -> pd.DataFrame:
    """One row per interview: analysis metadata and counts (see :data:`TABLES`)."""
    good = counted(codings).merge(segments[["segment_id", "document_id"]], on="segment_id")
    resp = segments[segments["role"] == "respondent"].groupby("document_id").size()
    df = documents[["document_id", "n_words"]].merge(meta, on="document_id", how="left")
    df["n_segments"] = df["document_id"].map(segments.groupby("document_id").size())
    df["respondent_segments"] = df["document_id"].map(resp)
    df["coded_segments"] = df["document_id"].map(good.groupby("document_id")["segment_id"]
                                                 .nunique())
    df["n_codes"] = df["document_id"].map(good.groupby("document_id")["code_id"].nunique())
    for c in ("n_segments", "respondent_segments", "coded_segments", "n_codes"):
        df[c] = df[c].fillna(0).astype("int64")
    return _frame(df, "interviews")


def code_document_table(
    documents: pd.DataFrame, segments: pd.DataFrame, codings: pd.DataFrame, book: Codebook
) -> pd.DataFrame:
    """Segments per code and interview (every pair, zeros included), with shares."""
    good = counted(codings).merge(segments[["segment_id", "document_id"]], on="segment_id")
    n = good.groupby(["code_id", "document_id"]).size().rename("n_segments")
    resp = segments[segments["role"] == "respondent"].groupby("document_id").size()
    grid = _code_info(book).merge(documents[["document_id"]], how="cross")
    grid = grid.merge(n.reset_index(), on=["code_id", "document_id"], how="left")
    grid["n_segments"] = grid["n_segments"].fillna(0).astype("int64")
    grid["respondent_segments"] = grid["document_id"].map(resp).fillna(0).astype("int64")
    grid["share"] = _ratio(grid["n_segments"], grid["respondent_segments"])
    return _frame(grid, "code_document")


def code_group_table(
    segments: pd.DataFrame, codings: pd.DataFrame, book: Codebook, meta: pd.DataFrame
) -> pd.DataFrame:
    """Segments and interviews per code and metadata group (department, cluster, function)."""
    good = counted(codings).merge(segments[["segment_id", "document_id"]], on="segment_id")
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
            n_segments=("segment_id", "nunique"), n_interviews=("document_id", "nunique")
        ).reset_index()
        grid = per_group.merge(info, how="cross").merge(agg, on=["group", "code_id"], how="left")
        grid["grouping"] = grouping
        frames.append(grid.sort_values(["group", "code_order"], kind="stable"))
    if not frames:
        return _frame([], "code_department")
    df = pd.concat(frames, ignore_index=True)
    for c in ("n_segments", "n_interviews"):
        df[c] = df[c].fillna(0).astype("int64")
    df["share"] = _ratio(df["n_segments"], df["respondent_segments"])
    return _frame(df, "code_department")


def cooccurrence_table(
    segments: pd.DataFrame, codings: pd.DataFrame, book: Codebook, unit: str = "segment"
) -> pd.DataFrame:
    """Code x code counts of units (segments or turns) that carry both codes.

    Args:
        segments: The segments table.
        codings: The codings table (rejected codings do not count).
        book: The codebook (gives the codes and their order).
        unit: ``"segment"`` or ``"turn"`` (``document_id`` + ``turn_index``).

    Returns:
        Every ordered pair of codes, zeros included; the diagonal holds the units per code.
    """
    good = counted(codings).merge(
        segments[["segment_id", "document_id", "turn_index"]], on="segment_id"
    )
    if unit == "segment":
        good["unit"] = good["segment_id"]
        name, count = "cooccurrence_segment", "n_segments"
    elif unit == "turn":
        good["unit"] = good["document_id"] + "\x1f" + good["turn_index"].astype(str)
        name, count = "cooccurrence_turn", "n_turns"
    else:
        raise ValueError(f"unit must be 'segment' or 'turn', not {unit!r}")
    pairs = good[["unit", "code_id"]].drop_duplicates()
    joined = pairs.merge(pairs, on="unit", suffixes=("_a", "_b"))
    n = joined.groupby(["code_id_a", "code_id_b"]).size().rename(count).reset_index()
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
) -> pd.DataFrame:
    """One row per coding (rejected ones included) with pseudonymised text and context.

    Args:
        segments: The segments table.
        codings: The codings table.
        book: The codebook.
        meta: Exported (pseudonymised) metadata per ``document_id``.
        seg_texts: Pseudonymised text per ``segment_id`` (see :func:`pseudo_segment_texts`).
        scrub: Pseudonymises a further string (the evidence).
    """
    segs = segments.sort_values(["document_id", "segment_index"], kind="stable")
    neighbours: dict[str, tuple[str, str]] = {}
    passages: dict[str, str] = {}
    for _, doc in segs.groupby("document_id", sort=False):
        ids, roles, turns = list(doc["segment_id"]), list(doc["role"]), list(doc["turn_index"])
        for i, seg_id in enumerate(ids):
            parts = []
            for j, keep_end in ((i - 1, True), (i + 1, False)):
                if not 0 <= j < len(ids) or not seg_texts.get(ids[j]):
                    parts.append("")
                    continue
                text = _clip(seg_texts[ids[j]], CONTEXT_CHARS, keep_end)
                if turns[j] != turns[i]:
                    text = f"[{roles[j]}] {text}"
                parts.append(text)
            neighbours[seg_id] = (parts[0], parts[1])
            # What the embedding coder compared with the codebook (prototypes.context_windows).
            passages[seg_id] = " ".join(
                seg_texts.get(ids[j], "") for j in range(i - 1, i + 2)
                if 0 <= j < len(ids) and turns[j] == turns[i] and seg_texts.get(ids[j]))
    info = _code_info(book)
    df = codings.merge(info, on="code_id", how="left").merge(
        segments[["segment_id", "document_id", "segment_index", "turn_index", "role"]],
        on="segment_id",
    )
    df = df.merge(meta.reindex(columns=["document_id", *GROUP_COLUMNS]), on="document_id",
                  how="left")
    doc_order = {d: i for i, d in enumerate(dict.fromkeys(segments["document_id"]))}
    df["_doc"] = df["document_id"].map(doc_order)
    df = df.sort_values(["code_order", "_doc", "segment_index"], kind="stable")
    df["text"] = df["segment_id"].map(seg_texts)
    df["text_in_context"] = [
        " ".join(p for p in (neighbours[s][0], f"»{t}«", neighbours[s][1]) if p)
        for s, t in zip(df["segment_id"], df["text"], strict=True)
    ]
    df["passage"] = df["segment_id"].map(passages)
    df["score"] = df["score"].astype("float64").round(3)
    df["evidence"] = df["evidence"].map(scrub)
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
    pairs = list(zip(table.get("original", []), table.get("placeholder", []), strict=True))
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


def theme_quotes(
    theme_info: pd.DataFrame, themes: pd.DataFrame, seg_texts: dict[str, str],
    segments: pd.DataFrame, meta: pd.DataFrame,
) -> dict[int, dict]:
    """One quote per theme: its first listed quote segment, else its most probable segment."""
    doc_of = dict(zip(segments["segment_id"], segments["document_id"], strict=True))
    function = dict(zip(meta["document_id"], meta.get("respondent_function",
                                                      pd.Series(pd.NA, index=meta.index)),
                        strict=True))
    out = {}
    for row in theme_info.to_dict("records"):
        topic = int(row["topic"])
        ids = [i for i in row["quote_segment_ids"] if i in seg_texts]
        if not ids:
            mine = themes[themes["topic"] == topic].sort_values("probability", ascending=False)
            ids = [i for i in mine["segment_id"] if i in seg_texts][:1]
        if ids:
            doc = doc_of[ids[0]]
            out[topic] = {"text": seg_texts[ids[0]], "document_id": doc,
                          "respondent_function": function.get(doc)}
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

