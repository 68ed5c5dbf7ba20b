"""The draft report: Markdown with figures beside it, and one self-contained HTML page.

The report is a draft for publication, in the language of the run (Dutch by default,
:mod:`pipeline.i18n`), built from the codebook whatever its subject:
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
* **Numbers as the language writes them** (:func:`pipeline.i18n.thousands`,
  :func:`pipeline.i18n.decimal`): 13.949 and 28,5% in Dutch, 13,949 and 28.5% in English.

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
from pipeline.export.figures import CAPTIONS, caption, method_name
from pipeline.export.tables import Neighbours
from pipeline.i18n import N_, _, decimal, language, ngettext, thousands
from pipeline.vocab import METHODS

N_QUOTES = 3
QUOTE_MIN_WORDS = 6
QUOTE_MAX_CHARS = 400
CONTEXT_MAX_CHARS = 200
STATUS_RANK = {"accepted": 0, "auto": 1}
#: How a status reads in the report (translated where shown).
STATUS_WORDS = {"auto": N_("not yet reviewed"), "accepted": N_("accepted after review"),
                "rejected": N_("rejected")}
#: The headings of the memos appendix, by what a memo is about.
MEMO_HEADINGS = {"project": N_("About the project"), "document": N_("About an interview"),
                 "code": N_("About a code"), "passage": N_("About a passage")}


def _sentence_words() -> tuple[str, str]:
    return _("sentence"), _("sentences")


def unit_words(segments: pd.DataFrame) -> tuple[str, str]:
    """What a segment is, in words (singular, plural) in the language of the run: sentences,
    or turns (``--unit turn``)."""
    if segments.empty:
        return _sentence_words()
    per_turn = segments.groupby(["document_id", "turn_index"]).size()
    return _sentence_words() if int(per_turn.max()) > 1 else (_("turn"), _("turns"))


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
    unit: tuple[str, str] = field(default_factory=_sentence_words)

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


def _n(value: int, one: str, many: str) -> str:
    """A count of segments in words: ``one``/``many`` are :func:`unit_words` (already in the
    language of the run, which picks the singular for 1 alone, as Dutch and English do)."""
    return f"{thousands(value)} {one if value == 1 else many}"


def _passages(n: int) -> str:
    return ngettext("{n} passage", "{n} passages", n).format(n=thousands(n))


def _interviews(n: int) -> str:
    return ngettext("{n} interview", "{n} interviews", n).format(n=thousands(n))


def _departments(n: int) -> str:
    return ngettext("{n} department", "{n} departments", n).format(n=thousands(n))


def _themes(n: int) -> str:
    return ngettext("{n} theme", "{n} themes", n).format(n=thousands(n))


def _heading(level: int, text: str) -> str:
    return f"{'#' * level} {text}"


def _quoted(text: str) -> str:
    """``text`` between the language's quotation marks („…” in Dutch)."""
    return _("“{text}”").format(text=text)


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
        return _("{items} and {n} more").format(items=", ".join(items[:limit]),
                                                n=len(items) - limit)
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
    number = _("quote {number}").format(number=q.number)
    return f"> {_quoted(' '.join(parts))}  \n> — *{who}* · {number}{extra}"


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


def _figure(name: str) -> str:
    text = md_escape(caption(name))
    below = _("Figure: {caption}").format(caption=text)
    return f"![{text}](figures/{name}.png)\n\n*{below}*"


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
        who += f"; {_departments(n_departments)}"
    review = _("- **Review:** {accepted} of the {passages} accepted, {open} not (fully) "
               "reviewed yet.").format(accepted=thousands(accepted),
                                       passages=_passages(s.n_passages),
                                       open=thousands(s.n_passages - accepted))
    if rejected:
        review += " " + ngettext("{n} rejected passage does not count anywhere.",
                                 "{n} rejected passages do not count anywhere.",
                                 rejected).format(n=thousands(rejected))
    else:
        review += " " + _("Rejected passages do not count anywhere.")
    lines = [
        _heading(2, _("Method")),
        "",
        _("- **Interviews:** {interviews} ({who}), {words} words in all; {respondent} of the "
          "{segments} are from respondents.").format(
            interviews=_interviews(s.n_interviews), who=who, words=thousands(s.n_words),
            respondent=thousands(s.n_respondent_segments),
            segments=_n(s.n_segments, one, many)),
        _("- **Codebook:** *{name}*, {codes} in {themes}.").format(
            name=md_escape(s.codebook_name),
            codes=ngettext("{n} code", "{n} codes", s.n_codes).format(n=thousands(s.n_codes)),
            themes=_themes(s.n_themes)),
        _("- **Coding:** codeer estimates for each {unit} and each code how likely it is that a "
          "researcher gives it that code, with a model that learns from the codebook "
          "(definitions, examples, rules) and from every decision in the review. A {unit} "
          "above the threshold of a code gets that code; adjacent {units} of one turn with the "
          "same code together form one *passage*, and a passage can have more than one code. "
          "Result: **{passages}** in {coded} of the {interviews} ({segments}, {share}% of what "
          "respondents said).").format(
            unit=one, units=many, passages=_passages(s.n_passages),
            coded=s.n_coded_interviews, interviews=_interviews(s.n_interviews),
            segments=_n(s.n_passage_segments, one, many), share=decimal(share, 1)),
        review,
        _("- **Quotes:** the coded passage is in **bold**, with the sentence before and after "
          "it from the same turn; no quote appears twice. How each quote was coded is in the "
          "appendix."),
    ]
    if s.pseudonymised:
        lines.append(_("- **Pseudonymisation:** names, places, dates, phone numbers and e-mail "
                       "addresses in the quotes have been replaced by placeholders such as "
                       "\\[PERSOON-1\\]."))
    else:
        lines.append(_("- **Note:** this export is *not* pseudonymised; the quotes may contain "
                       "names. Do not share this report."))
    return lines


def _code_section(code: Code, tables: dict[str, pd.DataFrame], quotes: Quotes,
                  n_docs: int) -> list[str]:
    cd = tables["code_document"]
    mine = cd[(cd["code_id"] == code.id) & (cd["n_passages"] > 0)]
    n_passages = int(mine["n_passages"].sum())
    docs = list(mine["document_id"])
    lines = [_heading(3, f"{md_escape(code.id)} {md_escape(code.name)}"), ""]
    if code.definition.strip():
        lines += [_("*Definition:* {definition}").format(
            definition=md_escape(code.definition.strip())), ""]
    if not n_passages:
        return lines + [_("No passage with this code (not even after review)."), "",
                        _("*Interpretation:* …"), ""]
    functions, n_departments = _who(docs, tables["interviews"])
    where = {"passages": _passages(n_passages), "found": len(docs), "total": n_docs,
             "functions": md_escape(_join(functions))}
    if n_departments:
        text = _("**{passages}** in **{found} of the {total} interviews** ({functions}), from "
                 "**{departments}**.").format(departments=_departments(n_departments), **where)
    else:
        text = _("**{passages}** in **{found} of the {total} interviews** "
                 "({functions}).").format(**where)
    lines += [text, ""]
    picked = pick_quotes(tables["excerpts"], code.id, quotes)
    if picked.empty:  # every passage of the code is shown already, with another code
        ex = tables["excerpts"]
        mine = ex[(ex["code_id"] == code.id) & (ex["status"] != "rejected")]
        refs = sorted({quotes.shown[seg] for ids in mine["segment_ids"]
                       for seg in str(ids).split() if seg in quotes.shown})
        if refs:
            lines += [ngettext(
                "No quote of its own: the passages with this code are already in quote "
                "{quotes}.",
                "No quote of its own: the passages with this code are already in quotes "
                "{quotes}.", len(refs)).format(quotes=_join([str(r) for r in refs])), ""]
    for q in picked.to_dict("records"):
        quote = quotes.take(
            str(q["segment_ids"]).split(), q["text"], q["document_id"],
            q.get("respondent_function"), code_id=code.id, status=q["status"],
            method=q["method"], probability=q["probability"], evidence=q["evidence"] or "",
            other_codes=q.get("other_codes") or "")
        note = _(STATUS_WORDS["auto"]) if q["status"] == "auto" else ""
        if quote.other_codes:
            also = _("also {codes}").format(codes=md_escape(quote.other_codes))
            note = ", ".join(p for p in (note, also) if p)
        lines += [_quote_line(quote, note), ""]
    lines += [_("*Interpretation:* …"), ""]
    return lines


def _emerging_section(tables: dict[str, pd.DataFrame], theme_quotes: dict[int, list[dict]],
                      quotes: Quotes, unit: tuple[str, str]) -> list[str]:
    from pipeline.themes.core import batch_warning

    one, many = unit
    lines = [_heading(2, _("Emerging themes")), ""]
    if "themes" not in tables:
        return lines + [_("`codeer themes` has not been run, so no emerging themes were "
                          "found."), ""]
    themes = tables["themes"]
    found = themes[themes["topic"] >= 0]
    talk = found["small_talk"].map(_known) if "small_talk" in found else \
        pd.Series(False, index=found.index)
    emerging = found[found["emerging"].astype(bool) & ~talk]
    emerging = emerging.sort_values(["size", "topic"], ascending=[False, True])
    total = int(themes["size"].sum())
    text = _("`codeer themes` grouped {segments} from respondents by content, apart from the "
             "codebook: {themes}.").format(segments=_n(total, one, many),
                                           themes=_themes(len(found)))
    if len(emerging):
        text += " " + ngettext(
            "Of these, {n} fits no code well enough: it may point to something the codebook "
            "(still) misses.",
            "Of these, {n} fit no code well enough: they may point to something the codebook "
            "(still) misses.", len(emerging)).format(n=len(emerging))
    else:
        text += " " + _("Of these, every theme fits a code.")
    if talk.any():
        n_talk = int(talk.sum())
        text += " " + ngettext(
            "{n} theme is small talk (greetings, introductions, the recording, contact "
            "details, short reactions) and does not count.",
            "{n} themes are small talk (greetings, introductions, the recording, contact "
            "details, short reactions) and do not count.", n_talk).format(n=thousands(n_talk))
    lines += [text, ""]
    warning = batch_warning(total, len(found))
    if warning:
        lines += [_("> **Note:** {warning}").format(warning=md_escape(warning)), ""]
    interviews = tables.get("interviews")
    for row in emerging.to_dict("records"):
        lines += [_heading(3, _("Theme {topic}: {label}").format(
            topic=row["topic"], label=md_escape(row["label"]))), ""]
        docs = [d.strip() for d in str(row.get("interviews") or "").split(",") if d.strip()]
        functions = _who(docs, interviews)[0] if interviews is not None else docs
        size = {"segments": _n(int(row["size"]), one, many),
                "interviews": _interviews(int(row["n_interviews"]))}
        if functions:
            text = _("{segments} in {interviews} ({functions}).").format(
                functions=md_escape(_join(functions)), **size)
        else:
            text = _("{segments} in {interviews}.").format(**size)
        best = row.get("best_code_id")
        if _known(best):
            name = row.get("best_code_name")
            nearest = md_escape(str(best)) + (f" {md_escape(str(name))}" if _known(name) else "")
            text += " " + _("Closest to {code}, but not close enough.").format(code=nearest)
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
        lines += [_("Not counted (small talk, not a theme of substance):"), ""]
        for row in small.sort_values("topic").to_dict("records"):
            # small_talk is the themes stage's description: "praatjes: <kinds> (n van m ...)"
            kind = str(row["small_talk"]).removeprefix("praatjes: ")
            lines.append("- " + _("Theme {topic} ({label}): {kind}.").format(
                topic=row["topic"], label=md_escape(row["label"]), kind=md_escape(kind)))
        lines.append("")
    return lines


def _quotes_appendix(quotes: Quotes, s: Summary) -> list[str]:
    coded = [q for q in quotes.all if q.code_id]
    methods = ", ".join(f"{method_name(m)} {s.by_method.get(m, 0)}" for m in METHODS)
    lines = [
        _heading(2, _("Appendix: how the quotes were coded")),
        "",
        _("How all {passages} were coded: {methods}.").format(
            passages=_passages(s.n_passages), methods=methods)
        + " " + _("For each quote below: the *probability* is how likely codeer's model "
                  "thinks it is that a researcher accepts the code on this passage (0 to 1; "
                  "the highest of the passage's sentences); the evidence names the words a "
                  "rule matched and the codebook example it most resembles. Quotes under the "
                  "emerging themes are not coded."),
        "",
    ]
    if not coded:
        return lines
    lines += [_("| quote | code | interview | status | coded by | probability | evidence |"),
              "|---:|---|---|---|---|---:|---|"]
    for q in coded:
        prob = "" if q.method == "human" or pd.isna(q.probability) else decimal(q.probability, 2)
        status = _(STATUS_WORDS[q.status]) if q.status in STATUS_WORDS else q.status
        cells = [str(q.number), md_escape(q.code_id), md_escape(q.document_id), status,
                 md_escape(method_name(q.method)), prob,
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
    """The draft report as Markdown, in the language of the run.

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
    interviews = tables["interviews"]
    n_docs = len(interviews)
    quotes = Quotes(near)
    lines = [
        _heading(1, _("{name}: draft report").format(name=md_escape(summary.codebook_name))),
        "",
        _("*Draft, written automatically by codeer {version}. Check every quote in its context "
          "(tables/excerpts.csv or the REFI-QDA project) before you use it.*").format(
            version=__version__),
        "",
        *_method_section(summary, interviews),
        "",
    ]
    if "codes" in figures:
        lines += [_figure("codes"), ""]
    for theme in book.themes:
        codes = [c for c in book.codes if c.theme == theme.id]
        if not codes:
            continue
        lines += [_heading(2, md_escape(theme.name)), ""]
        if theme.description.strip():
            lines += [md_escape(theme.description.strip()), ""]
        for code in codes:
            lines += _code_section(code, tables, quotes, n_docs)
    lines += _emerging_section(tables, theme_quotes, quotes, summary.unit)
    rest = [f for f in CAPTIONS if f in figures and f != "codes"]
    if rest:
        lines += [_heading(2, _("Figures")), ""]
        for name in rest:
            lines += [_figure(name), ""]
    lines += [
        _heading(2, _("Questions for the analysis")),
        "",
        "- " + _("Which codes come back in (almost) every interview, and which in only one or "
                 "two?"),
        "- " + _("Where do functions, departments or clusters differ from each other?"),
        "- " + _("Which emerging themes deserve a code of their own or a change to the "
                 "codebook?"),
        "- " + _("Which quotes, once checked in their context, are truly representative?"),
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
    count = ngettext("{n} memo", "{n} memos", len(memos)).format(n=thousands(len(memos)))
    lines = [_heading(2, _("Appendix: memos")), "",
             _("{memos} by researchers (`codeer memo`, the review notebook or a CAQDAS via "
               "`codeer import`), oldest first.").format(memos=count), ""]
    for about, heading in MEMO_HEADINGS.items():
        mine = memos[memos["about"] == about]
        if mine.empty:
            continue
        lines += [_heading(3, _(heading)), ""]
        for m in mine.to_dict("records"):
            when = str(m.get("timestamp") or "")[:10]
            subject = {"document": m.get("document_id"), "code": m.get("code_id"),
                       "passage": m.get("document_id")}.get(about)
            head = ", ".join(md_escape(str(p)) for p in (when, m.get("author"), subject)
                             if p is not None and not pd.isna(p) and str(p))
            lines.append(f"- *{head}:* {md_escape(str(m['text']))}")
            passage = m.get("passage")
            if about == "passage" and passage is not None and not pd.isna(passage):
                lines.append(f"  > {_quoted(md_escape(str(passage)))}")
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
    head = html.escape(_("{name}: draft report").format(name=title))
    return (
        f"<!DOCTYPE html>\n<html lang=\"{language()}\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{head}</title>\n<style>{_CSS}</style>\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
