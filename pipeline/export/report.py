"""The draft report: Markdown with figures beside it, and one self-contained HTML page.

The report is a draft for publication, in Dutch, built from the codebook whatever its subject:
a short method section, then per theme of the codebook and per code how many passages carry it,
in how many interviews and with which respondents (functions, departments), with up to three
quotes; then the emerging themes with three quotes each, questions for the analysis, and an
appendix with how each quote was coded (rule or model, the probability that a researcher
accepts it) and the memos.

What a reader meets:

* **Passages, not sentences** (:mod:`pipeline.export.passages`): adjacent sentences of one turn
  with the same code are one coding, counted once and quoted once.
* **Each quote once.** No sentence appears in two quotes: a passage is skipped when one of its
  sentences was shown before (as a quote or as context), and context already shown is left out.
* **The coded passage marked in its context**: the sentence before and after it in the same
  turn, the passage itself in **bold**.
* **Numbers a reader understands** in the body (passages, interviews, functions,
  departments); probabilities and methods only in the appendix.
* **Words from the codebook** (its name, theme and code names); nothing assumes a subject.
  Each concept has one word: *passage* (coded text), *thema* (a theme of the codebook in its
  section headings; "opkomend thema" for what ``codeer themes`` found), *duiding* (the
  researcher's interpretation, left open), *vragen voor de analyse* (the closing questions).

Quotes come from the ``excerpts`` table and the pseudonymised segment texts, so they are
pseudonymised whenever the export is. Pure: frames in, text out. :func:`render_html` embeds
the figures as base64 PNG data URIs.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from pipeline import __version__
from pipeline.coding.codebook import Code, Codebook
from pipeline.export import passages as passages_mod
from pipeline.export.tables import Neighbours
from pipeline.vocab import METHOD_NAMES, METHODS, STATUS_NAMES

N_QUOTES = 3
QUOTE_MIN_WORDS = 6
QUOTE_MAX_CHARS = 400
CONTEXT_MAX_CHARS = 200
STATUS_RANK = {"accepted": 0, "auto": 1}
#: How a status reads in the report.
STATUS_WORDS = {"auto": "nog niet beoordeeld", "accepted": "geaccepteerd",
                "rejected": "afgewezen"}


def unit_words(segments: pd.DataFrame) -> tuple[str, str]:
    """What a segment is, in words (singular, plural): sentences, or turns (``--unit turn``)."""
    if segments.empty:
        return "zin", "zinnen"
    per_turn = segments.groupby(["document_id", "turn_index"]).size()
    return ("zin", "zinnen") if int(per_turn.max()) > 1 else ("spreekbeurt", "spreekbeurten")


@dataclass(frozen=True)
class Summary:
    """Numbers for the method section (counts of passages, not of sentences)."""

    n_interviews: int
    document_ids: tuple[str, ...]
    n_segments: int
    n_respondent_segments: int
    n_words: int
    n_passages: int
    n_passage_segments: int
    n_coded_interviews: int
    by_method: dict[str, int]
    by_status: dict[str, int]
    codebook_name: str
    n_codes: int
    n_themes: int
    pseudonymised: bool
    unit: tuple[str, str] = ("zin", "zinnen")

    @classmethod
    def from_frames(cls, documents: pd.DataFrame, segments: pd.DataFrame,
                    codings: pd.DataFrame, book: Codebook, pseudonymised: bool,
                    rows: pd.DataFrame | None = None) -> Summary:
        """Count what was ingested and coded.

        Args:
            documents: The documents table.
            segments: The segments table.
            codings: The codings table.
            book: The codebook.
            pseudonymised: Whether the export is pseudonymised.
            rows: The passages (:func:`pipeline.export.passages.passage_codings`), when
                already computed.
        """
        if rows is None:
            rows = passages_mod.passage_codings(codings, segments, [c.id for c in book.codes])
        whole = rows.drop_duplicates("passage_id")
        kept = whole[whole["passage_status"] != "rejected"]
        methods = rows[rows["status"] != "rejected"].groupby("passage_id")["method"].agg(
            lambda m: passages_mod.mix_method(list(m)))
        return cls(
            n_interviews=len(documents),
            document_ids=tuple(documents["document_id"]),
            n_segments=len(segments),
            n_respondent_segments=int((segments["role"] == "respondent").sum()),
            n_words=int(documents["n_words"].sum()),
            n_passages=len(kept),
            n_passage_segments=len({s for ids in kept["segment_ids"] for s in ids}),
            n_coded_interviews=int(kept["document_id"].nunique()),
            by_method={k: int(v) for k, v in methods.value_counts().items()},
            by_status={k: int(v) for k, v in whole["passage_status"].value_counts().items()},
            codebook_name=book.name,
            n_codes=len(book.codes),
            n_themes=len(book.themes),
            pseudonymised=pseudonymised,
            unit=unit_words(segments),
        )


def md_escape(text: str) -> str:
    """``text`` safe as Markdown inline text: no HTML, emphasis, links or code."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    text = re.sub(r"([\\`*_#|])", r"\\\1", text)
    # "[PERSOON-1]" stays readable; only a "]" that could close a link or image is escaped.
    return re.sub(r"\](?=[(\[:])", r"\\]", text).replace("![", "!\\[")


def _nl(value: float, decimals: int = 2) -> str:
    """A number the Dutch way: decimal comma."""
    return f"{value:.{decimals}f}".replace(".", ",")


def _int(value: int) -> str:
    """A whole number the Dutch way: a full stop between thousands (13.949)."""
    return f"{value:,}".replace(",", ".")


def _n(value: int, one: str, many: str) -> str:
    return f"{_int(value)} {one if value == 1 else many}"


def _known(value: object) -> bool:
    return value is not None and not pd.isna(value) and bool(str(value).strip())


def _clip(text: str, limit: int, keep_end: bool = False) -> str:
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    if keep_end:
        cut = text[-limit:]
        return "… " + (cut[cut.find(" ") + 1:] if " " in cut else cut)
    cut = text[:limit]
    return (cut[: cut.rfind(" ")] if " " in cut else cut) + " …"


_SENTENCE_END = re.compile(r"[.?!…][\"”’)]*\s")


def _clip_passage(text: str, limit: int = QUOTE_MAX_CHARS) -> tuple[str, bool]:
    """A long passage cut after its last whole sentence within ``limit`` (else after a word),
    marked with …; and whether it was cut."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text, False
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() <= limit]
    if ends and ends[-1] >= 0.4 * limit:
        return text[:ends[-1]].rstrip() + " …", True
    return _clip(text, limit), True


def _join(items: Sequence[str], limit: int = 8) -> str:
    items = list(items)
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" en {len(items) - limit} andere"
    return ", ".join(items)


# --------------------------------------------------------------------------- quotes


@dataclass
class Quote:
    """One quote of the report, for its line and the appendix."""

    number: int
    text: str
    before: str
    after: str
    document_id: str
    function: object
    code_id: str = ""
    status: str = ""
    method: str = ""
    probability: float = float("nan")
    evidence: str = ""
    other_codes: str = ""


@dataclass
class Quotes:
    """The quotes of one report: numbered, and no sentence shown twice.

    Args:
        near: The segments around a passage (same turn), with their pseudonymised texts; None
            gives quotes without context.
    """

    near: Neighbours | None = None
    shown: dict[str, int] = field(default_factory=dict)  # segment -> number of its quote
    all: list[Quote] = field(default_factory=list)

    def free(self, seg_ids: Sequence[str]) -> bool:
        """Whether none of these segments was shown yet."""
        return not set(seg_ids) & self.shown.keys()

    def take(self, seg_ids: Sequence[str], text: str, document_id: str, function: object,
             **coding: object) -> Quote:
        """Number a quote, with the segment before and after it in its turn when not shown."""
        before = after = ""
        text, cut = _clip_passage(text)
        number = len(self.all) + 1
        if self.near is not None:
            for other, is_before in ((self.near.before(seg_ids), True),
                                     (self.near.after(seg_ids), False)):
                if other is None or other in self.shown or (cut and not is_before):
                    continue
                self.shown[other] = number
                if is_before:
                    before = _clip(self.near.texts[other], CONTEXT_MAX_CHARS, keep_end=True)
                else:
                    after = _clip(self.near.texts[other], CONTEXT_MAX_CHARS)
        self.shown.update(dict.fromkeys(seg_ids, number))
        quote = Quote(number, text, before, after, document_id, function, **coding)
        self.all.append(quote)
        return quote


def _quote_line(q: Quote, note: str = "") -> str:
    """The quote as a Markdown blockquote: context plain, the coded passage in bold."""
    parts = [md_escape(q.before)] if q.before else []
    parts.append(f"**{md_escape(q.text)}**")
    if q.after:
        parts.append(md_escape(q.after))
    who = md_escape(q.document_id)
    if _known(q.function):
        who += f", {md_escape(str(q.function))}"
    extra = f" · {note}" if note else ""
    return f"> „{' '.join(parts)}”  \n> — *{who}* · citaat {q.number}{extra}"


def pick_quotes(excerpts: pd.DataFrame, code_id: str, quotes: Quotes | None = None,
                n: int = N_QUOTES) -> pd.DataFrame:
    """Quotes of a code: accepted before unreviewed, then the most probable, one per interview
    before any gives a second; passages of :data:`QUOTE_MIN_WORDS` words or more first.

    Rejected passages never qualify; with ``quotes``, passages with a sentence already shown in
    the report are skipped.
    """
    df = excerpts[(excerpts["code_id"] == code_id) & (excerpts["status"] != "rejected")].copy()
    if df.empty:
        return df
    df["_short"] = df["text"].fillna("").str.split().str.len() < QUOTE_MIN_WORDS
    df["_status"] = df["status"].map(STATUS_RANK).fillna(2)
    human = df["method"] == "human"
    df["_prob"] = pd.to_numeric(df["probability"], errors="coerce").where(~human, 1.0) \
        .fillna(-1.0)
    df = df.sort_values(["_short", "_status", "_prob", "document_id"],
                        ascending=[True, True, False, True], kind="stable")
    if quotes is not None:
        taken: set[str] = set()
        keep = []
        for ids in df["segment_ids"]:
            mine = str(ids).split()
            ok = quotes.free(mine) and not taken & set(mine)
            keep.append(ok)
            if ok:
                taken.update(mine)
        df = df[keep]
    df["_nth"] = df.groupby("document_id").cumcount()
    df = df.sort_values(["_nth", "_short", "_status", "_prob"],
                        ascending=[True, True, True, False], kind="stable")
    return df.head(n)


def _figure(name: str, caption: str) -> str:
    return f"![{md_escape(caption)}](figures/{name}.png)\n\n*Figuur: {md_escape(caption)}*"


# --------------------------------------------------------------------------- sections


def _who(docs: Sequence[str], interviews: pd.DataFrame) -> tuple[list[str], int]:
    """The respondents' functions (else the ids) of ``docs``, and their number of departments."""
    info = interviews.set_index("document_id")
    functions = []
    for d in docs:
        value = info["respondent_function"].get(d) if "respondent_function" in info else None
        functions.append(str(value) if _known(value) else str(d))
    departments = set()
    if "department" in info:
        departments = {str(info["department"].get(d)) for d in docs
                       if _known(info["department"].get(d))}
    return list(dict.fromkeys(functions)), len(departments)


def _method_section(s: Summary, interviews: pd.DataFrame) -> list[str]:
    one, many = s.unit
    functions, n_departments = _who(list(s.document_ids), interviews)
    share = 100 * s.n_passage_segments / max(s.n_respondent_segments, 1)
    accepted = s.by_status.get("accepted", 0)
    rejected = s.by_status.get("rejected", 0)
    who = md_escape(_join(functions, 12))
    if n_departments:
        who += f"; {_n(n_departments, 'afdeling', 'afdelingen')}"
    lines = [
        "## Methode",
        "",
        f"- **Interviews:** {_n(s.n_interviews, 'interview', 'interviews')} ({who}), samen "
        f"{_int(s.n_words)} woorden; {_int(s.n_respondent_segments)} van de "
        f"{_n(s.n_segments, one, many)} zijn van respondenten.",
        f"- **Codeboek:** *{md_escape(s.codebook_name)}*, "
        f"{_n(s.n_codes, 'code', 'codes')} in {_n(s.n_themes, 'thema', 'thema’s')}.",
        f"- **Codering:** codeer schat per {one} en per code hoe waarschijnlijk het is dat een "
        "onderzoeker die code toekent, met een model dat leert van het codeboek (definities, "
        "voorbeelden, regels) en van elke beoordeling in de review. Een "
        f"{one} boven de drempel van een code krijgt die code; aangrenzende {many} uit één "
        "spreekbeurt met dezelfde code vormen samen één *passage*, en een passage kan meer "
        f"dan één code hebben. Resultaat: **{_n(s.n_passages, 'passage', 'passages')}** in "
        f"{s.n_coded_interviews} van de {_n(s.n_interviews, 'interview', 'interviews')} "
        f"({_n(s.n_passage_segments, one, many)}, {_nl(share, 1)}% van wat respondenten "
        "zeiden).",
        f"- **Review:** {_int(accepted)} van de {_n(s.n_passages, 'passage', 'passages')} "
        f"geaccepteerd, {_int(s.n_passages - accepted)} nog niet (helemaal) beoordeeld. "
        + (f"{_n(rejected, 'afgewezen passage telt', 'afgewezen passages tellen')} nergens "
           "mee." if rejected else "Afgewezen passages tellen nergens mee."),
        "- **Citaten:** de gecodeerde passage staat **vet**, met de zin ervoor en erna uit "
        "dezelfde spreekbeurt; geen citaat komt twee keer voor. Hoe elk citaat is gecodeerd "
        "staat in de bijlage.",
    ]
    if s.pseudonymised:
        lines.append("- **Pseudonimisering:** namen, plaatsen, data, telefoonnummers en "
                     "e-mailadressen in de citaten zijn vervangen door placeholders zoals "
                     "\\[PERSOON-1\\].")
    else:
        lines.append("- **Let op:** deze export is *niet* gepseudonimiseerd; de citaten kunnen "
                     "namen bevatten. Deel dit rapport niet.")
    return lines


def _code_section(code: Code, tables: dict[str, pd.DataFrame], quotes: Quotes,
                  n_docs: int) -> list[str]:
    cd = tables["code_document"]
    mine = cd[(cd["code_id"] == code.id) & (cd["n_passages"] > 0)]
    n_passages = int(mine["n_passages"].sum())
    docs = list(mine["document_id"])
    lines = [f"### {md_escape(code.id)} {md_escape(code.name)}", ""]
    if code.definition.strip():
        lines += [f"*Definitie:* {md_escape(code.definition.strip())}", ""]
    if not n_passages:
        return lines + ["Geen passage met deze code (ook niet na review).", "",
                        "*Duiding:* …", ""]
    functions, n_departments = _who(docs, tables["interviews"])
    where = (f"**{_n(n_passages, 'passage', 'passages')}** in **{len(docs)} van de {n_docs} "
             f"interviews** ({md_escape(_join(functions))})")
    if n_departments:
        where += f", uit **{_n(n_departments, 'afdeling', 'afdelingen')}**"
    lines += [where + ".", ""]
    picked = pick_quotes(tables["excerpts"], code.id, quotes)
    if picked.empty:  # every passage of the code is shown already, with another code
        ex = tables["excerpts"]
        mine = ex[(ex["code_id"] == code.id) & (ex["status"] != "rejected")]
        refs = sorted({quotes.shown[seg] for ids in mine["segment_ids"]
                       for seg in str(ids).split() if seg in quotes.shown})
        if refs:
            lines += [f"Geen eigen citaat: de passages met deze code staan al in "
                      f"{'citaat' if len(refs) == 1 else 'citaten'} "
                      f"{_join([str(r) for r in refs])}.", ""]
    for q in picked.to_dict("records"):
        quote = quotes.take(
            str(q["segment_ids"]).split(), q["text"], q["document_id"],
            q.get("respondent_function"), code_id=code.id, status=q["status"],
            method=q["method"], probability=q["probability"], evidence=q["evidence"] or "",
            other_codes=q.get("other_codes") or "")
        note = "nog niet beoordeeld" if q["status"] == "auto" else ""
        if quote.other_codes:
            note = ", ".join(p for p in (note, f"ook {md_escape(quote.other_codes)}") if p)
        lines += [_quote_line(quote, note), ""]
    lines += ["*Duiding:* …", ""]
    return lines


def _emerging_section(tables: dict[str, pd.DataFrame], theme_quotes: dict[int, list[dict]],
                      quotes: Quotes, unit: tuple[str, str]) -> list[str]:
    from pipeline.themes.core import batch_warning

    one, many = unit
    lines = ["## Opkomende thema's", ""]
    if "themes" not in tables:
        return lines + ["`codeer themes` is niet gedraaid; er zijn dus geen opkomende thema's "
                        "bepaald.", ""]
    themes = tables["themes"]
    found = themes[themes["topic"] >= 0]
    talk = found["small_talk"].map(_known) if "small_talk" in found else \
        pd.Series(False, index=found.index)
    emerging = found[found["emerging"].astype(bool) & ~talk]
    emerging = emerging.sort_values(["size", "topic"], ascending=[False, True])
    total = int(themes["size"].sum())
    said = _n(total, f"{one} van respondenten", f"{many} van respondenten")
    lines += [
        f"`codeer themes` deelde {said} op inhoud in, los van het codeboek: "
        f"{_n(len(found), 'thema', 'thema’s')}. Daarvan "
        + (f"{'past' if len(emerging) == 1 else 'passen'} er {len(emerging)} bij geen enkele "
           "code goed genoeg: ze kunnen wijzen op iets wat het codeboek (nog) mist."
           if len(emerging) else "past elk thema bij een code.")
        + ((f" {_n(int(talk.sum()), 'thema is', 'thema’s zijn')} praatjes (begroetingen, "
            "kennismaking, de opname, contactgegevens, korte reacties) en "
            f"{'telt' if int(talk.sum()) == 1 else 'tellen'} niet mee.") if talk.any()
           else ""),
        "",
    ]
    warning = batch_warning(total, len(found))
    if warning:
        lines += [f"> **Let op:** {md_escape(warning)}", ""]
    interviews = tables.get("interviews")
    for row in emerging.to_dict("records"):
        lines += [f"### Thema {row['topic']}: {md_escape(row['label'])}", ""]
        docs = [d.strip() for d in str(row.get("interviews") or "").split(",") if d.strip()]
        functions = _who(docs, interviews)[0] if interviews is not None else docs
        text = (f"{_n(int(row['size']), one, many)} in "
                f"{_n(int(row['n_interviews']), 'interview', 'interviews')}"
                + (f" ({md_escape(_join(functions))})" if functions else "") + ".")
        best = row.get("best_code_id")
        if _known(best):
            name = row.get("best_code_name")
            text += (f" Ligt het dichtst bij {md_escape(str(best))}"
                     + (f" {md_escape(str(name))}" if _known(name) else "")
                     + ", maar niet dichtbij genoeg.")
        lines += [text, ""]
        taken = 0
        for cand in theme_quotes.get(int(row["topic"]), []):
            if taken == N_QUOTES:
                break
            if not quotes.free([cand["segment_id"]]):
                continue
            quote = quotes.take([cand["segment_id"]], cand["text"], cand["document_id"],
                                cand.get("respondent_function"))
            lines += [_quote_line(quote), ""]
            taken += 1
    small = found[talk]
    if len(small):
        lines += ["Niet meegeteld (praatjes, geen inhoudelijk thema):", ""]
        for row in small.sort_values("topic").to_dict("records"):
            lines.append(f"- Thema {row['topic']} ({md_escape(row['label'])}): "
                         f"{md_escape(str(row['small_talk']).removeprefix('praatjes: '))}.")
        lines.append("")
    return lines


def _quotes_appendix(quotes: Quotes, s: Summary) -> list[str]:
    coded = [q for q in quotes.all if q.code_id]
    methods = ", ".join(f"{METHOD_NAMES.get(m, m)} {s.by_method.get(m, 0)}" for m in METHODS)
    lines = [
        "## Bijlage: hoe de citaten zijn gecodeerd",
        "",
        f"Alle {_n(s.n_passages, 'passage', 'passages')} naar hoe ze zijn gecodeerd: "
        f"{methods}. Per citaat hieronder: de *kans* is hoe waarschijnlijk het volgens het model "
        "van codeer is dat een onderzoeker de code op deze passage accepteert (0 tot 1; de "
        "hoogste van de zinnen van de passage); de onderbouwing noemt de woorden waarop een "
        "regel trof en het voorbeeld uit het codeboek dat het meest lijkt. Citaten bij de "
        "opkomende thema's zijn niet gecodeerd.",
        "",
    ]
    if not coded:
        return lines
    lines += ["| citaat | code | interview | status | gecodeerd door | kans | onderbouwing |",
              "|---:|---|---|---|---|---:|---|"]
    for q in coded:
        prob = "" if q.method == "human" or pd.isna(q.probability) else _nl(q.probability)
        cells = [str(q.number), md_escape(q.code_id), md_escape(q.document_id),
                 STATUS_WORDS.get(q.status, STATUS_NAMES.get(q.status, q.status)),
                 md_escape(METHOD_NAMES.get(q.method, q.method)), prob,
                 md_escape(_clip(q.evidence, 160)) if q.evidence else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def render_markdown(
    summary: Summary,
    book: Codebook,
    tables: dict[str, pd.DataFrame],
    theme_quotes: dict[int, list[dict]],
    figures: Sequence[str],
    near: Neighbours | None = None,
) -> str:
    """The draft report as Markdown.

    Args:
        summary: Counts for the method section.
        book: The codebook (themes and codes in order; its name is the title).
        tables: The export tables (``code_document``, ``excerpts``, ``interviews``, and
            ``themes`` when themes ran).
        theme_quotes: Quote candidates per theme topic
            (:func:`pipeline.export.tables.theme_quotes`).
        figures: Names of the figures written to ``figures/<name>.png``.
        near: The segments around a passage with their (pseudonymised) texts, for the
            context of each quote; None: quotes without context.
    """
    from pipeline.export.figures import CAPTIONS

    interviews = tables["interviews"]
    n_docs = len(interviews)
    quotes = Quotes(near)
    lines = [
        f"# {md_escape(summary.codebook_name)}: conceptrapportage",
        "",
        f"*Concept, automatisch opgesteld door codeer {__version__}. Controleer elk citaat in "
        "zijn context (tables/excerpts.csv of het REFI-QDA-project) voordat je het "
        "gebruikt.*",
        "",
        *_method_section(summary, interviews),
        "",
    ]
    if "codes" in figures:
        lines += [_figure("codes", CAPTIONS["codes"]), ""]
    for theme in book.themes:
        codes = [c for c in book.codes if c.theme == theme.id]
        if not codes:
            continue
        lines += [f"## {md_escape(theme.name)}", ""]
        if theme.description.strip():
            lines += [md_escape(theme.description.strip()), ""]
        for code in codes:
            lines += _code_section(code, tables, quotes, n_docs)
    lines += _emerging_section(tables, theme_quotes, quotes, summary.unit)
    rest = [f for f in CAPTIONS if f in figures and f != "codes"]
    if rest:
        lines += ["## Figuren", ""]
        for name in rest:
            lines += [_figure(name, CAPTIONS[name]), ""]
    lines += [
        "## Vragen voor de analyse",
        "",
        "- Welke codes komen in (bijna) alle interviews terug, en welke maar in één of twee?",
        "- Waar verschillen functies, afdelingen of clusters van elkaar?",
        "- Welke opkomende thema's verdienen een eigen code of een aanpassing van het "
        "codeboek?",
        "- Welke citaten zijn na controle in hun context echt representatief?",
        "",
    ]
    lines += _quotes_appendix(quotes, summary)
    lines += _memos_section(tables)
    return "\n".join(lines)


def _memos_section(tables: dict[str, pd.DataFrame]) -> list[str]:
    """The appendix with every memo (the ``memos`` table), grouped by what it is about."""
    memos = tables.get("memos")
    if memos is None or memos.empty:
        return []
    lines = ["## Bijlage: memo's", "",
             f"{_n(len(memos), 'memo', 'memo’s')} van onderzoekers (`codeer memo`, het "
             "reviewnotebook of een CAQDAS via `codeer import`), oudste eerst.", ""]
    headings = {"project": "Over het project", "document": "Over een interview",
                "code": "Over een code", "passage": "Over een passage"}
    for about, heading in headings.items():
        mine = memos[memos["about"] == about]
        if mine.empty:
            continue
        lines += [f"### {heading}", ""]
        for m in mine.to_dict("records"):
            when = str(m.get("timestamp") or "")[:10]
            subject = {"document": m.get("document_id"), "code": m.get("code_id"),
                       "passage": m.get("document_id")}.get(about)
            head = ", ".join(md_escape(str(p)) for p in (when, m.get("author"), subject)
                             if p is not None and not pd.isna(p) and str(p))
            lines.append(f"- *{head}:* {md_escape(str(m['text']))}")
            passage = m.get("passage")
            if about == "passage" and passage is not None and not pd.isna(passage):
                lines.append(f"  > „{md_escape(str(passage))}”")
        lines.append("")
    return lines


_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; max-width: 48rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #222; }
h1, h2, h3 { line-height: 1.25; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; }
blockquote { margin: 1rem 0; padding: .2rem 1rem; border-left: 4px solid #0072B2;
             background: #f6f8fa; }
img { max-width: 100%; height: auto; }
"""


# Python-Markdown's "extra" without attr_list and md_in_html: with attr_list, a code name or a
# quote ending in '{: onclick="..."}' would become an attribute of the HTML element.
HTML_EXTENSIONS = ["abbr", "def_list", "fenced_code", "footnotes", "tables", "sane_lists"]


def render_html(markdown_text: str, figures: dict[str, bytes], title: str) -> str:
    """The report as one HTML page, with every figure embedded as a base64 PNG data URI."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=HTML_EXTENSIONS, output_format="html")

    def embed(m: re.Match) -> str:
        name = m.group(1)
        if name not in figures:
            return m.group(0)
        data = base64.b64encode(figures[name]).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="figures/([^"/]+)\.png"', embed, body)
    return (
        "<!DOCTYPE html>\n<html lang=\"nl\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}: conceptrapportage</title>\n<style>{_CSS}</style>\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
