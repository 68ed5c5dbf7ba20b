"""The draft report: Markdown with figures beside it, and one self-contained HTML page.

The report is the skeleton of a reflection note, in Dutch: a short method section, then per
theme of the codebook and per code (lesson) how often it occurs, in how many interviews and
departments, with two or three representative quotes, then the emerging themes, and a few
questions for the reflection. Quotes come from the ``excerpts`` table and so are pseudonymised
whenever the export is.

Pure: frames in, text out. :func:`render_html` embeds the figures as base64 PNG data URIs.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from pipeline import __version__
from pipeline.coding.codebook import Code, Codebook
from pipeline.vocab import METHOD_NAMES, STATUS_NAMES

N_QUOTES = 3
QUOTE_MIN_WORDS = 6
QUOTE_MAX_CHARS = 400
STATUS_RANK = {"accepted": 0, "auto": 1}
METHOD_RANK = {"both": 0, "human": 1, "embedding": 2, "rule": 3}


@dataclass(frozen=True)
class Summary:
    """Numbers for the method section."""

    n_interviews: int
    document_ids: tuple[str, ...]
    n_segments: int
    n_respondent_segments: int
    n_words: int
    n_codings: int
    n_coded_segments: int
    by_method: dict[str, int]
    by_status: dict[str, int]
    codebook_name: str
    n_codes: int
    n_themes: int
    pseudonymised: bool

    @classmethod
    def from_frames(cls, documents: pd.DataFrame, segments: pd.DataFrame,
                    codings: pd.DataFrame, book: Codebook, pseudonymised: bool) -> Summary:
        """Count what was ingested and coded."""
        kept = codings[codings["status"] != "rejected"]
        return cls(
            n_interviews=len(documents),
            document_ids=tuple(documents["document_id"]),
            n_segments=len(segments),
            n_respondent_segments=int((segments["role"] == "respondent").sum()),
            n_words=int(documents["n_words"].sum()),
            n_codings=len(kept),
            n_coded_segments=int(kept["segment_id"].nunique()),
            by_method={k: int(v) for k, v in kept["method"].value_counts().items()},
            by_status={k: int(v) for k, v in codings["status"].value_counts().items()},
            codebook_name=book.name,
            n_codes=len(book.codes),
            n_themes=len(book.themes),
            pseudonymised=pseudonymised,
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


def _n(value: int, one: str, many: str) -> str:
    return f"{value} {one if value == 1 else many}"


def pick_quotes(excerpts: pd.DataFrame, code_id: str, n: int = N_QUOTES) -> pd.DataFrame:
    """Representative quotes of a code: accepted before auto, 'both' first, high score first.

    Rejected codings never qualify; quotes of at least :data:`QUOTE_MIN_WORDS` words come
    first, and each interview gives one quote before any gives a second.
    """
    df = excerpts[(excerpts["code_id"] == code_id) & (excerpts["status"] != "rejected")].copy()
    if df.empty:
        return df
    df["_short"] = df["text"].fillna("").str.split().str.len() < QUOTE_MIN_WORDS
    df["_status"] = df["status"].map(STATUS_RANK).fillna(2)
    df["_method"] = df["method"].map(METHOD_RANK).fillna(4)
    df["_score"] = df["score"].astype(float).fillna(-9.0)
    df = df.sort_values(["_short", "_status", "_method", "_score", "document_id"],
                        ascending=[True, True, True, False, True], kind="stable")
    df["_nth"] = df.groupby("document_id").cumcount()
    df = df.sort_values(["_nth", "_short", "_status", "_method", "_score"],
                        ascending=[True, True, True, True, False], kind="stable")
    return df.head(n)


def _quote_line(text: str, document_id: str, function: object, detail: str = "") -> str:
    text = " ".join(str(text).split())
    if len(text) > QUOTE_MAX_CHARS:
        text = text[: QUOTE_MAX_CHARS].rsplit(" ", 1)[0] + " …"
    who = md_escape(document_id)
    if function is not None and not pd.isna(function) and str(function).strip():
        who += f", {md_escape(str(function))}"
    extra = f" ({detail})" if detail else ""
    return f"> „{md_escape(text)}”  \n> — *{who}*{extra}"


def _figure(name: str, caption: str) -> str:
    return f"![{md_escape(caption)}](figures/{name}.png)\n\n*Figuur: {md_escape(caption)}*"


def _method_section(s: Summary) -> list[str]:
    methods = ", ".join(f"{METHOD_NAMES.get(m, m)} {s.by_method.get(m, 0)}"
                        for m in ("rule", "embedding", "both", "human"))
    statuses = ", ".join(f"{STATUS_NAMES.get(k, k)} {s.by_status.get(k, 0)}"
                         for k in ("auto", "accepted", "rejected"))
    share = 100 * s.n_coded_segments / max(s.n_respondent_segments, 1)
    ids = ", ".join(s.document_ids[:12]) + (" …" if len(s.document_ids) > 12 else "")
    lines = [
        "## Methode",
        "",
        f"- **Ingelezen:** {_n(s.n_interviews, 'interview', 'interviews')} ({md_escape(ids)}), "
        f"{s.n_segments} segmenten, waarvan {s.n_respondent_segments} van respondenten, "
        f"samen {s.n_words} woorden.",
        f"- **Codeboek:** *{md_escape(s.codebook_name)}*, "
        f"{_n(s.n_codes, 'code', 'codes')} in {_n(s.n_themes, 'thema', 'thema’s')}.",
        f"- **Automatische codering** met regels (trefwoorden op lemma's) en embeddings "
        f"(gelijkenis met de definities en voorbeelden van het codeboek): {s.n_codings} "
        f"coderingen op {s.n_coded_segments} segmenten ({_nl(share, 1)}% van de "
        f"respondentsegmenten). Toegekend door: {methods}.",
        f"- **Review:** {statuses}. Afgewezen coderingen tellen nergens mee.",
    ]
    if s.pseudonymised:
        lines.append("- **Pseudonimisering:** namen, plaatsen, data, telefoonnummers en "
                     "e-mailadressen in de citaten zijn vervangen door placeholders zoals "
                     "\\[PERSOON-1\\].")
    else:
        lines.append("- **Let op:** deze export is *niet* gepseudonimiseerd; de citaten kunnen "
                     "namen bevatten. Deel dit rapport niet.")
    return lines


def _code_section(code: Code, tables: dict[str, pd.DataFrame], doc_group: dict[str, str],
                  n_docs: int) -> list[str]:
    cd = tables["code_document"]
    mine = cd[(cd["code_id"] == code.id) & (cd["n_segments"] > 0)]
    n_seg = int(mine["n_segments"].sum())
    docs = list(mine["document_id"])
    lines = [f"### {md_escape(code.id)} {md_escape(code.name)}", ""]
    if code.definition.strip():
        lines += [f"*Definitie:* {md_escape(code.definition.strip())}", ""]
    if not n_seg:
        lines += ["Deze les komt in geen enkel interview voor (ook niet na review).", "",
                  "*Reflectie:* …", ""]
        return lines
    where = f"in **{len(docs)} van de {n_docs} interviews** ({md_escape(', '.join(docs))})"
    groups = sorted({doc_group[d] for d in docs if doc_group.get(d)})
    if groups:
        where += f" en **{_n(len(groups), 'afdeling', 'afdelingen')}**"
    lines += [f"Komt voor in **{_n(n_seg, 'segment', 'segmenten')}**, {where}.", ""]
    quotes = pick_quotes(tables["excerpts"], code.id)
    for q in quotes.to_dict("records"):
        score = q.get("score")
        detail = ", ".join(
            p for p in (STATUS_NAMES.get(q["status"], q["status"]),
                        METHOD_NAMES.get(q["method"], q["method"]),
                        f"score {_nl(score)}" if q["method"] != "human" and score is not None
                        and pd.notna(score) else "")
            if p
        )
        # The passage (the sentence with its neighbours in the turn) is what was coded on.
        text = q.get("passage") or q["text"]
        lines += [_quote_line(text, q["document_id"], q.get("respondent_function"),
                              detail), ""]
    lines += ["*Reflectie:* …", ""]
    return lines


def _emerging_section(tables: dict[str, pd.DataFrame], quotes: dict[int, dict]) -> list[str]:
    lines = ["## Opkomende thema's", ""]
    if "themes" not in tables:
        return lines + ["`codeer themes` is niet gedraaid; er zijn dus geen opkomende thema's "
                        "bepaald.", ""]
    themes = tables["themes"]
    emerging = themes[(themes["topic"] >= 0) & themes["emerging"].astype(bool)]
    emerging = emerging.sort_values(["size", "topic"], ascending=[False, True])
    lines += [
        f"Van de {int((themes['topic'] >= 0).sum())} thema's in de respondentsegmenten passen er "
        f"{len(emerging)} bij geen enkele code goed genoeg. Ze kunnen wijzen op een les die het "
        "codeboek (nog) mist.",
        "",
    ]
    for row in emerging.to_dict("records"):
        lines.append(f"### Thema {row['topic']}: {md_escape(row['label'])}")
        lines.append("")
        best = row.get("best_code_id")
        best_text = ""
        if best is not None and pd.notna(best) and str(best):
            sim = row.get("best_code_similarity")
            best_text = f" Dichtstbijzijnde code: {md_escape(str(best))}" + (
                f" (gelijkenis {_nl(sim)})." if sim is not None and pd.notna(sim) else ".")
        lines.append(
            f"{_n(int(row['size']), 'segment', 'segmenten')} in "
            f"{_n(int(row['n_interviews']), 'interview', 'interviews')}"
            + (f" ({md_escape(row['interviews'])})" if row.get("interviews") else "")
            + f". Kernwoorden: {md_escape(row['keywords'])}.{best_text}"
        )
        lines.append("")
        q = quotes.get(int(row["topic"]))
        if q:
            lines += [_quote_line(q["text"], q["document_id"], q.get("respondent_function")), ""]
    return lines


def render_markdown(
    summary: Summary,
    book: Codebook,
    tables: dict[str, pd.DataFrame],
    theme_quotes: dict[int, dict],
    figures: Sequence[str],
) -> str:
    """The draft report as Markdown.

    Args:
        summary: Counts for the method section.
        book: The codebook (themes and codes in order).
        tables: The export tables (``code_document``, ``excerpts``, ``interviews``, and
            ``themes`` when themes ran).
        theme_quotes: One quote per theme topic (see :func:`pipeline.export.theme_quotes`).
        figures: Names of the figures written to ``figures/<name>.png``.
    """
    from pipeline.export.figures import CAPTIONS

    interviews = tables["interviews"]
    doc_group = {d: g for d, g in zip(interviews["document_id"], interviews["department"],
                                      strict=True) if g is not None and not pd.isna(g)}
    n_docs = len(interviews)
    lines = [
        f"# {md_escape(summary.codebook_name)}: conceptrapportage",
        "",
        f"*Concept, automatisch opgesteld door codeer {__version__}. Controleer elk citaat in "
        "zijn context (tables/excerpts.csv of het REFI-QDA-project) voordat je het "
        "gebruikt.*",
        "",
        *_method_section(summary),
        "",
    ]
    if "lessen" in figures:
        lines += [_figure("lessen", CAPTIONS["lessen"]), ""]
    for theme in book.themes:
        codes = [c for c in book.codes if c.theme == theme.id]
        if not codes:
            continue
        lines += [f"## {md_escape(theme.name)}", ""]
        if theme.description.strip():
            lines += [md_escape(theme.description.strip()), ""]
        for code in codes:
            lines += _code_section(code, tables, doc_group, n_docs)
    lines += _emerging_section(tables, theme_quotes)
    rest = [f for f in CAPTIONS if f in figures and f != "lessen"]
    if rest:
        lines += ["## Figuren", ""]
        for name in rest:
            lines += [_figure(name, CAPTIONS[name]), ""]
    lines += [
        "## Reflectie",
        "",
        "- Welke lessen komen in (bijna) alle interviews terug, en welke maar in één of twee?",
        "- Waar verschillen afdelingen of clusters van elkaar?",
        "- Welke opkomende thema's verdienen een eigen les of een aanpassing van het codeboek?",
        "- Welke citaten zijn na controle in hun context echt representatief?",
        "",
    ]
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
