"""Export stage: tables, one Excel workbook, figures, REFI-QDA and a draft report.

Everything a researcher takes out of codeer is made here, from the stage outputs in OUT:

* ``OUT/tables/<name>.csv`` (UTF-8, comma-separated, fixed column order; see :data:`TABLES`)
  and the same tables as sheets of ``OUT/codeer.xlsx``, with a ``toelichting`` sheet that
  explains every column of every sheet in Dutch;
* ``OUT/figures/<name>.png`` (300 dpi) and ``.svg`` (see :mod:`pipeline.figures`);
* ``OUT/project.qdpx`` and ``OUT/codebook.qdc`` (see :mod:`pipeline.refiqda`);
* ``OUT/report.md`` and a self-contained ``OUT/report.html`` (see :mod:`pipeline.report`);
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
import io
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from pipeline import config, schema, storage
from pipeline.codebook import Codebook
from pipeline.errors import CodeerError

log = logging.getLogger("codeer")

TABLES_DIR = config.TABLES_DIR
WORKBOOK_FILE = config.WORKBOOK_FILE
KEY_FILE = config.KEY_FILE
REPORT_MD = config.REPORT_MD
REPORT_HTML = config.REPORT_HTML
NOTES_SHEET = "toelichting"

#: Metadata columns that tables break counts down by (when interviews.csv has them).
GROUP_COLUMNS = ("department", "cluster", "respondent_function")
#: Metadata columns that never leave codeer (interviewer names; file names may hold names).
PRIVATE_COLUMNS = frozenset({"interviewer", "interviewers", "interviewer_name", "file"})
#: Characters of a neighbouring segment shown as context in ``excerpts``.
CONTEXT_CHARS = 160
KEY_COLUMNS = ("placeholder", "original", "category", "occurrences")

GROUP_NAMES = {"department": "afdeling", "cluster": "cluster", "respondent_function": "functie"}
METHOD_NAMES = {"rule": "regel", "embedding": "embedding", "both": "regel én embedding",
                "human": "handmatig"}
STATUS_NAMES = {"auto": "automatisch (niet beoordeeld)", "accepted": "geaccepteerd",
                "rejected": "afgewezen"}

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
}
THEME_TABLES = ("themes", "theme_interview")


def columns(name: str) -> list[str]:
    """The fixed column order of table ``name``."""
    return list(TABLES[name][1])


# --------------------------------------------------------------------------- pseudonymiser


class PseudoDocLike(Protocol):
    """What the export needs of :class:`pipeline.pseudonymise.PseudoDoc`."""

    text: str

    def map_start(self, pos: int) -> int: ...

    def map_end(self, pos: int) -> int: ...


class PseudonymiserLike(Protocol):
    """What the export needs of :class:`pipeline.pseudonymise.Pseudonymiser`."""

    enabled: bool

    def documents(self, texts: dict[str, str]) -> dict[str, PseudoDocLike]: ...

    def text(self, text: str) -> str: ...

    def key_table(self) -> pd.DataFrame: ...

    def originals(self) -> set[str]: ...


@dataclass
class _IdentityDoc:
    text: str

    def map_start(self, pos: int) -> int:
        return pos

    def map_end(self, pos: int) -> int:
        return pos


@dataclass
class Identity:
    """Stands in for the pseudonymiser when pseudonymisation is off: every text unchanged."""

    enabled: bool = False

    def documents(self, texts: dict[str, str]) -> dict[str, _IdentityDoc]:
        """Unchanged texts with identity offset maps."""
        return {k: _IdentityDoc(v) for k, v in texts.items()}

    def text(self, text: str) -> str:
        """``text`` unchanged."""
        return text

    def key_table(self) -> pd.DataFrame:
        """An empty key table."""
        return pd.DataFrame(columns=list(KEY_COLUMNS))

    def originals(self) -> set[str]:
        """No originals."""
        return set()


def make_pseudonymiser(enabled: bool, extra_names: Sequence[str]) -> PseudonymiserLike:
    """The real pseudonymiser, or :class:`Identity` when ``enabled`` is false.

    Raises:
        CodeerError: Pseudonymisation is asked for but :mod:`pipeline.pseudonymise` is missing.
    """
    if not enabled:
        return Identity()
    try:
        from pipeline.pseudonymise import Pseudonymiser
    except ModuleNotFoundError as exc:
        if exc.name not in ("pipeline.pseudonymise", "deduce"):
            raise
        raise CodeerError(
            f"Pseudonymisation is not available ({exc.name} is missing), so nothing was "
            "exported. Reinstall codeer with `make install`, or export with --no-pseudonymise "
            "if the transcripts may leave as they are."
        ) from None
    return Pseudonymiser(enabled=True, extra_names=tuple(extra_names))


def metadata_columns(documents: pd.DataFrame) -> list[str]:
    """Metadata columns of ``documents`` that may be exported (not the interviewer names)."""
    return [c for c in documents.columns
            if c not in schema.DOCUMENTS.columns and c.lower() not in PRIVATE_COLUMNS]


def interviewer_names(documents: pd.DataFrame) -> list[str]:
    """Interviewer names from the metadata (``;`` or ``,`` separated), in order of appearance."""
    names: list[str] = []
    for col in documents.columns:
        if col.lower() not in PRIVATE_COLUMNS - {"file"}:
            continue
        for value in documents[col].dropna():
            names += [n.strip() for n in re.split(r"[;,/]| en ", str(value)) if n.strip()]
    return list(dict.fromkeys(names))


def speaker_names(segments: pd.DataFrame) -> list[str]:
    """Speaker labels that are names, not role words ("Sanne de Wit", not "R" or "Spreker 2")."""
    from pipeline import turns

    names = []
    for label in dict.fromkeys(segments["speaker"].dropna()):
        label = str(label).strip()
        base = re.sub(r"\s*\([^()]*\)\s*$", "", label).strip()
        low = base.lower()
        if not base or turns.role_word(base) or low in turns.CHAIR:
            continue
        m = re.match(r"^([^\W\d_]+)(?:\s+\d{1,2})?$", low)
        if m and m.group(1) in turns.NEUTRAL_WORDS:
            continue
        names += [label, base] if base != label else [label]
    return list(dict.fromkeys(names))


def extra_names(documents: pd.DataFrame, segments: pd.DataFrame) -> list[str]:
    """Names the pseudonymiser must replace even if it would not find them itself."""
    return list(dict.fromkeys(interviewer_names(documents) + speaker_names(segments)))


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


def _check_codes(codings: pd.DataFrame, book: Codebook, segments: pd.DataFrame) -> None:
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


class _Memo:
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


# --------------------------------------------------------------------------- themes


def _split_list(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return []
    return [p for p in re.split(r"[;,|\s]+", str(value).strip("[]() ")) if p.strip("'\"")]


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "ja", "waar")


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
    """Theme info from ``theme_info.csv`` with code names; labels and keywords pseudonymised."""
    names = {c.id: c.name for c in book.codes}
    df = theme_info.copy()
    df["topic"] = df["topic"].astype("int64")
    df["label"] = df["label"].map(lambda v: scrub(theme_label(v)) if pd.notna(v) else "")
    df["keywords"] = df.get("keywords", pd.Series("", index=df.index)).map(
        lambda v: scrub(", ".join(_split_list(v)))
    )
    df["best_code_id"] = df.get("best_code", pd.Series(pd.NA, index=df.index))
    df["best_code_name"] = df["best_code_id"].map(names)
    df["emerging"] = df.get("emerging", pd.Series(False, index=df.index)).map(_truthy)
    df["interviews"] = df.get("interviews", pd.Series("", index=df.index)).map(
        lambda v: ", ".join(_split_list(v))
    )
    if "n_interviews" not in df:
        df["n_interviews"] = df["interviews"].map(lambda v: len(_split_list(v)))
    for col in ("share", "best_code_similarity", "coded_share"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").round(4)
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
        ids = [i for i in _split_list(row.get("quote_segment_ids")) if i in seg_texts]
        if not ids:
            mine = themes[themes["topic"] == topic].sort_values("probability", ascending=False)
            ids = [i for i in mine["segment_id"] if i in seg_texts][:1]
        if ids:
            doc = doc_of[ids[0]]
            out[topic] = {"text": seg_texts[ids[0]], "document_id": doc,
                          "respondent_function": function.get(doc)}
    return out


# --------------------------------------------------------------------------- workbook


def notes_rows(tables: dict[str, pd.DataFrame], notes: Sequence[str]) -> list[tuple[str, str, str]]:
    """Rows of the ``toelichting`` sheet: general notes, then every sheet and its columns."""
    rows = [("(algemeen)", "", n) for n in notes]
    for name in TABLES:
        if name not in tables:
            continue
        description, cols = TABLES[name]
        rows.append((name, "", description))
        rows += [(name, col, text) for col, text in cols.items()]
    return rows


def workbook_bytes(tables: dict[str, pd.DataFrame], notes: Sequence[str]) -> bytes:
    """One ``.xlsx`` with a ``toelichting`` sheet first and one sheet per table."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    def cell_value(v: Any) -> Any:
        if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
            return None
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, str):
            return ILLEGAL_CHARACTERS_RE.sub("", v)
        return v

    wb = Workbook()
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    ws = wb.active
    ws.title = NOTES_SHEET
    ws.append(["blad", "kolom", "toelichting"])
    for row in notes_rows(tables, notes):
        ws.append(list(row))
        if not row[1]:
            for c in ws[ws.max_row]:
                c.font = bold
    for c in ws[1]:
        c.font = bold
    for letter, width in zip("ABC", (22, 24, 110), strict=True):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        row[0].alignment = wrap
    ws.freeze_panes = "A2"

    wide = {"text": 60, "text_in_context": 90, "evidence": 40, "keywords": 50, "label": 30,
            "code_name": 34, "code_name_a": 34, "code_name_b": 34, "best_code_name": 34,
            "group": 30, "department": 26, "respondent_function": 28, "interviews": 30}
    for name, df in tables.items():
        sheet = wb.create_sheet(name)
        sheet.append(list(df.columns))
        for c in sheet[1]:
            c.font = bold
        for record in df.itertuples(index=False):
            sheet.append([cell_value(v) for v in record])
        for i, col in enumerate(df.columns, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = wide.get(
                col, max(10, min(24, len(col) + 2))
            )
        for col in ("text", "text_in_context"):
            if col in df.columns:
                idx = list(df.columns).index(col) + 1
                for row in sheet.iter_rows(min_row=2, min_col=idx, max_col=idx):
                    row[0].alignment = wrap
        # Text that starts with '=' is text, not a formula.
        for row in sheet.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, str) and c.value.startswith("="):
                    c.data_type = "s"
        sheet.freeze_panes = "A2"
        if len(df.columns):
            sheet.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{max(1, len(df) + 1)}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def csv_text(df: pd.DataFrame) -> str:
    """A table as CSV text (UTF-8 without BOM, ``\\n`` line ends, empty cells for missing)."""
    return df.to_csv(index=False, lineterminator="\n")


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
    from pipeline import figures, refiqda, report

    _check_codes(codings, book, segments)
    have_themes = themes is not None and theme_info is not None
    notes = [
        "Afgewezen coderingen (status rejected) tellen in geen enkele tabel mee; ze staan wel "
        "in excerpts, met hun status.",
        "CSV-bestanden in tables/ zijn UTF-8 met komma als scheidingsteken; dit werkboek bevat "
        "dezelfde tabellen.",
    ]
    if pseudo.enabled:
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

    step("pseudonimiseren")
    docs = pseudo.documents(dict(zip(documents["document_id"], documents["text"], strict=True)))
    seg_texts = pseudo_segment_texts(segments, docs)
    scrub = _Memo(pseudo)
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


# --------------------------------------------------------------------------- run


def _read_themes(out: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    info_path = out / config.THEME_INFO_FILE
    themes_path = out / config.THEMES_FILE
    if not info_path.exists() or not themes_path.exists():
        return None, None
    themes = storage.read_table(themes_path, schema.THEMES)
    try:
        info = pd.read_csv(info_path, encoding="utf-8", keep_default_na=False,
                           na_values=[""])
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CodeerError(f"{info_path} cannot be read ({exc}). Run `codeer themes` again.") \
            from None
    if missing := [c for c in ("topic", "label") if c not in info.columns]:
        raise CodeerError(f"{info_path} lacks the columns {missing}. Run `codeer themes` again.")
    return themes, info


def reviewer_names(out: Path, known_codes: set[str]) -> list[str]:
    """Reviewer names from ``OUT/reviews.csv``, in order of first decision."""
    from pipeline import review

    reviews = review.read_reviews(out, known_codes)
    return list(dict.fromkeys(r for r in reviews["reviewer"] if str(r).strip()))


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
    from pipeline import refiqda

    tables_dir = out / TABLES_DIR
    fig_dir = out / config.FIGURES_DIR
    files: list[tuple[Path, str | bytes]] = [
        (tables_dir / f"{name}.csv", csv_text(df)) for name, df in result.tables.items()
    ]
    for name, (png, svg) in result.figures.items():
        files += [(fig_dir / f"{name}.png", png), (fig_dir / f"{name}.svg", svg)]
    files += [(out / REPORT_MD, result.report_md), (out / REPORT_HTML, result.report_html)]
    if result.key is not None:
        files.append((out / config.PRIVATE_DIR / KEY_FILE, csv_text(result.key)))
    files.append((out / WORKBOOK_FILE, result.workbook))  # entered last: renamed first
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
    from pipeline.codebook import load_codebook

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
