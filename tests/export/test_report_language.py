"""The report, the figures and the workbook's explanations speak the language of the run:
Dutch by default (exactly as before the texts went through the catalogue), English with
``CODEER_LANG=en``; numbers are written the way each language writes them, and what comes from
the data (codebook, transcripts, theme labels) is never translated."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from pipeline.coding.codebook import Codebook
from pipeline.export import core as export_core
from pipeline.export import figures, report, tables, workbook
from pipeline.export.privacy import Identity
from pipeline.i18n import gettext
from pipeline.vocab import METHOD_NAMES, METHODS, STATUS_NAMES
from tests.export.test_export import (  # noqa: F401  (fixtures)
    BOOK,
    BOOK_DATA,
    ingested,
    quick_figures,
)
from tests.export.test_report import _coding, _frames, _long_turn


def _speak(monkeypatch, lang: str | None) -> None:
    if lang is None:
        monkeypatch.delenv("CODEER_LANG", raising=False)
    else:
        monkeypatch.setenv("CODEER_LANG", lang)


def _crowded_codings(segments: pd.DataFrame) -> pd.DataFrame:
    """One turn of int02 coded by four codes (as in test_report's ``crowded``): L1 and L5 share
    a passage, L2 overlaps it, L6 follows, one L6 sentence rejected."""
    s = _long_turn(segments)
    return pd.DataFrame([
        _coding(s[0], "L1", 0.9, "accepted"), _coding(s[1], "L1", 0.7),
        _coding(s[0], "L5", 0.8), _coding(s[1], "L5", 0.85),
        _coding(s[1], "L2", 0.6), _coding(s[2], "L2", 0.65),
        _coding(s[3], "L6", 0.55), _coding(s[5], "L6", 0.5, "rejected")])


DUTCH = (
    "# Integrerend werken (test): conceptrapportage",
    "\n## Methode\n",
    "- **Interviews:** 2 interviews (beleidsadviseur energietransitie, senior planoloog; "
    "2 afdelingen), samen 3.813 woorden; 278 van de 328 zinnen zijn van respondenten.",
    "- **Codeboek:** *Integrerend werken (test)*, 4 codes in 2 thema’s.",
    "- **Review:** 0 van de 3 passages geaccepteerd, 3 nog niet (helemaal) beoordeeld. "
    "1 afgewezen passage telt nergens mee.",
    "**1 passage** in **1 van de 2 interviews** (beleidsadviseur energietransitie), uit "
    "**1 afdeling**.",
    "Geen eigen citaat: de passages met deze code staan al in citaat 1.",
    "· citaat 1 · nog niet beoordeeld, ook L5",
    "*Definitie:* Wie zit er aan tafel en met welke rol.",
    "`codeer themes` is niet gedraaid; er zijn dus geen opkomende thema's bepaald.",
    "## Vragen voor de analyse",
    "Alle 3 passages naar hoe ze zijn gecodeerd: regel 0, model 3, regel én model 0, "
    "handmatig 0.",
    "| citaat | code | interview | status | gecodeerd door | kans | onderbouwing |",
    "| 1 | L1 | int02 | nog niet beoordeeld | model | 0,90 | lijkt op: voorbeeld |",
    "> „",
)
ENGLISH = (
    "# Integrerend werken (test): draft report",
    "\n## Method\n",
    "- **Interviews:** 2 interviews (beleidsadviseur energietransitie, senior planoloog; "
    "2 departments), 3,813 words in all; 278 of the 328 sentences are from respondents.",
    "- **Codebook:** *Integrerend werken (test)*, 4 codes in 2 themes.",
    "- **Review:** 0 of the 3 passages accepted, 3 not (fully) reviewed yet. "
    "1 rejected passage does not count anywhere.",
    "**1 passage** in **1 of the 2 interviews** (beleidsadviseur energietransitie), from "
    "**1 department**.",
    "No quote of its own: the passages with this code are already in quote 1.",
    "· quote 1 · not yet reviewed, also L5",
    "*Definition:* Wie zit er aan tafel en met welke rol.",  # the codebook's own words
    "`codeer themes` has not been run, so no emerging themes were found.",
    "## Questions for the analysis",
    "How all 3 passages were coded: rule 0, model 3, rule and model 0, by hand 0.",
    "| quote | code | interview | status | coded by | probability | evidence |",
    "| 1 | L1 | int02 | not yet reviewed | model | 0.90 | lijkt op: voorbeeld |",
    "> “",
)


@pytest.mark.parametrize(("lang", "expected", "other"),
                         [(None, DUTCH, ENGLISH), ("nl", DUTCH, ENGLISH),
                          ("en", ENGLISH, DUTCH)])
def test_the_report_speaks_the_language_of_the_run(ingested, quick_figures,  # noqa: F811
                                                   monkeypatch, lang, expected, other):
    _speak(monkeypatch, lang)
    documents, segments = _frames(ingested)
    md = export_core.build_export(documents, segments, _crowded_codings(segments), BOOK,
                                  Identity()).report_md
    for text in expected:
        assert text in md
    for text in other:  # nothing of the other language is left
        assert text not in md
    assert "\n## Aan tafel\n" in md and "### L6 Thema's op de snijvlakken" in md  # data


def _summary(n: int, rejected: int, unit: tuple[str, str] | None = None) -> report.Summary:
    """Counts with thousands and a decimal share; ``n`` interviews, themes, departments."""
    docs = tuple(f"int0{i}" for i in range(1, n + 1))
    return report.Summary(
        n_interviews=n, document_ids=docs, n_segments=1234, n_respondent_segments=1000,
        n_words=13949, n_passages=40, n_passage_segments=285, n_coded_interviews=n,
        by_method={"embedding": 40}, by_status={"auto": 30, "accepted": 10,
                                                 "rejected": rejected},
        codebook_name="Wonen", n_codes=n, n_themes=n, pseudonymised=True,
        **({"unit": unit} if unit else {}))


def _interviews(n: int) -> pd.DataFrame:
    return pd.DataFrame({"document_id": [f"int0{i}" for i in range(1, n + 1)],
                         "respondent_function": ["beleidsadviseur"] * n,
                         "department": [f"Afdeling {i}" for i in range(n)]})


@pytest.mark.parametrize(("lang", "n", "rejected", "expected"), [
    ("nl", 1, 1, ["- **Interviews:** 1 interview (beleidsadviseur; 1 afdeling), samen 13.949 "
                  "woorden; 1.000 van de 1.234 zinnen zijn van respondenten.",
                  "- **Codeboek:** *Wonen*, 1 code in 1 thema.",
                  "Resultaat: **40 passages** in 1 van de 1 interview (285 zinnen, 28,5% van "
                  "wat respondenten zeiden).",
                  "- **Review:** 10 van de 40 passages geaccepteerd, 30 nog niet (helemaal) "
                  "beoordeeld. 1 afgewezen passage telt nergens mee.",
                  "placeholders zoals \\[PERSOON-1\\]."]),
    ("nl", 3, 2, ["- **Interviews:** 3 interviews (beleidsadviseur; 3 afdelingen), samen",
                  "- **Codeboek:** *Wonen*, 3 codes in 3 thema’s.",
                  "2 afgewezen passages tellen nergens mee."]),
    ("nl", 3, 0, ["30 nog niet (helemaal) beoordeeld. Afgewezen passages tellen nergens mee."]),
    ("en", 1, 1, ["- **Interviews:** 1 interview (beleidsadviseur; 1 department), 13,949 words "
                  "in all; 1,000 of the 1,234 sentences are from respondents.",
                  "- **Codebook:** *Wonen*, 1 code in 1 theme.",
                  "Result: **40 passages** in 1 of the 1 interview (285 sentences, 28.5% of what "
                  "respondents said).",
                  "- **Review:** 10 of the 40 passages accepted, 30 not (fully) reviewed yet. "
                  "1 rejected passage does not count anywhere.",
                  "placeholders such as \\[PERSOON-1\\]."]),
    ("en", 3, 2, ["- **Interviews:** 3 interviews (beleidsadviseur; 3 departments), 13,949",
                  "- **Codebook:** *Wonen*, 3 codes in 3 themes.",
                  "2 rejected passages do not count anywhere."]),
    ("en", 3, 0, ["30 not (fully) reviewed yet. Rejected passages do not count anywhere."]),
])
def test_method_section_counts_and_numbers_follow_the_language(monkeypatch, lang, n, rejected,
                                                              expected):
    _speak(monkeypatch, lang)
    text = "\n".join(report._method_section(_summary(n, rejected), _interviews(n)))
    for line in expected:
        assert line in text


@pytest.mark.parametrize(("lang", "words", "count"), [
    ("nl", [("zin", "zinnen"), ("spreekbeurt", "spreekbeurten")], "285 spreekbeurten, 28,5%"),
    ("en", [("sentence", "sentences"), ("turn", "turns")], "285 turns, 28.5%"),
])
def test_the_unit_is_named_in_the_language_of_the_run(monkeypatch, lang, words, count):
    _speak(monkeypatch, lang)
    sentences = pd.DataFrame({"document_id": ["a", "a", "a"], "turn_index": [0, 0, 1]})
    turns = sentences.drop_duplicates("turn_index")
    assert [report.unit_words(sentences), report.unit_words(turns)] == words
    text = "\n".join(report._method_section(_summary(2, 0, report.unit_words(turns)),
                                            _interviews(2)))
    assert count in text


def _themes_table() -> pd.DataFrame:
    return pd.DataFrame({"topic": [-1, 0, 1, 2], "label": ["(niet ingedeeld)", "a · b", "c", "d"],
                         "size": [15, 50, 50, 30], "emerging": [False, True, False, False],
                         "small_talk": [None, None, "praatjes: kennismaking (30 van 50 "
                                                    "segmenten)", None],
                         "n_interviews": [1, 1, 1, 1], "interviews": ["int02"] * 4,
                         "best_code_id": ["", "L1", "L2", "L6"],
                         "best_code_name": ["", "x", "y", "z"]})


@pytest.mark.parametrize(("lang", "expected"), [
    ("nl", ["## Opkomende thema's",
            "`codeer themes` deelde 145 zinnen van respondenten op inhoud in, los van het "
            "codeboek: 3 thema’s. Daarvan past er 1 bij geen enkele code goed genoeg: ze kunnen "
            "wijzen op iets wat het codeboek (nog) mist. 1 thema is praatjes (begroetingen, "
            "kennismaking, de opname, contactgegevens, korte reacties) en telt niet mee.",
            "### Thema 0: a · b",
            "50 zinnen in 1 interview (beleidsadviseur energietransitie). Ligt het dichtst bij "
            "L1 x, maar niet dichtbij genoeg.",
            "Niet meegeteld (praatjes, geen inhoudelijk thema):",
            "- Thema 1 (c): kennismaking (30 van 50 segmenten)."]),
    ("en", ["## Emerging themes",
            "`codeer themes` grouped 145 sentences from respondents by content, apart from the "
            "codebook: 3 themes. Of these, 1 fits no code well enough: it may point to something "
            "the codebook (still) misses. 1 theme is small talk (greetings, introductions, the "
            "recording, contact details, short reactions) and does not count.",
            "### Theme 0: a · b",
            "50 sentences in 1 interview (beleidsadviseur energietransitie). Closest to L1 x, "
            "but not close enough.",
            "Not counted (small talk, not a theme of substance):",
            # the themes stage's description of the small talk is data: kept as it was made
            "- Theme 1 (c): kennismaking (30 van 50 segmenten)."]),
])
def test_emerging_themes_in_the_language_of_the_run(ingested, quick_figures,  # noqa: F811
                                                    monkeypatch, lang, expected):
    _speak(monkeypatch, lang)
    documents, segments = _frames(ingested)
    codings = _crowded_codings(segments)
    result = export_core.build_export(documents, segments, codings, BOOK, Identity())
    summary = report.Summary.from_frames(documents, segments, codings, BOOK, False)
    md = report.render_markdown(summary, BOOK, {**result.tables, "themes": _themes_table()},
                                {}, [])
    for text in expected:
        assert text in md


def _memos(n: int) -> pd.DataFrame:
    rows = [{"timestamp": "2026-01-02T10:00:00+00:00", "author": "Anna", "about": "project",
             "document_id": None, "segment_id": None, "code_id": None, "passage": None,
             "text": "Eerste indruk."},
            {"timestamp": "2026-01-03T10:00:00+00:00", "author": "Bram", "about": "passage",
             "document_id": "int02", "segment_id": "int02-s1", "code_id": None,
             "passage": "Dat was verwarrend.", "text": "Mooi citaat."}]
    return pd.DataFrame(rows[:n])


@pytest.mark.parametrize(("lang", "n", "expected"), [
    ("nl", 1, ["## Bijlage: memo's", "1 memo van onderzoekers (`codeer memo`, het "
               "reviewnotebook of een CAQDAS via `codeer import`), oudste eerst.",
               "### Over het project", "- *2026-01-02, Anna:* Eerste indruk."]),
    ("nl", 2, ["2 memo’s van onderzoekers", "### Over een passage",
               "  > „Dat was verwarrend.”"]),
    ("en", 1, ["## Appendix: memos", "1 memo by researchers (`codeer memo`, the review "
               "notebook or a CAQDAS via `codeer import`), oldest first.",
               "### About the project", "- *2026-01-02, Anna:* Eerste indruk."]),
    ("en", 2, ["2 memos by researchers", "### About a passage", "  > “Dat was verwarrend.”"]),
])
def test_memos_appendix_in_the_language_of_the_run(monkeypatch, lang, n, expected):
    _speak(monkeypatch, lang)
    text = "\n".join(report._memos_section({"memos": _memos(n)}))
    for line in expected:
        assert line in text


@pytest.mark.parametrize(("lang", "head"), [
    ("nl", '<html lang="nl">\n<head>\n<meta charset="utf-8">\n'
           "<title>Wonen &amp; werken: conceptrapportage</title>"),
    ("en", '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
           "<title>Wonen &amp; werken: draft report</title>"),
])
def test_the_html_page_says_its_language(monkeypatch, lang, head):
    _speak(monkeypatch, lang)
    assert head in report.render_html("# Wonen", {}, "Wonen & werken")


def test_dutch_method_and_status_words_are_the_vocabulary_names(monkeypatch):
    """The report and the figures name methods and statuses as the workbook does
    (:mod:`pipeline.vocab`), through the catalogue."""
    _speak(monkeypatch, None)
    assert [figures.method_name(m) for m in METHODS] == [METHOD_NAMES[m] for m in METHODS]
    words = {k: gettext(v) for k, v in report.STATUS_WORDS.items()}
    assert words == {**STATUS_NAMES, "auto": "nog niet beoordeeld"}
    _speak(monkeypatch, "en")
    assert [figures.method_name(m) for m in METHODS] == ["rule", "model", "rule and model",
                                                          "by hand"]


def _texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


FIGURE_WORDS = {
    "nl": ["Integrerend werken (test): gecodeerde passages per code", "9 (1 van 2)",
           "aantal passages (tussen haakjes: in hoeveel interviews)",
           "Codes samen in dezelfde spreekbeurt",
           "grijs, tussen haakjes: aantal spreekbeurten met die code",
           "Integrerend werken (test): hoe de passages zijn gecodeerd",
           "aandeel van de passages (niet afgewezen); n = aantal passages",
           "Thema's in wat respondenten zeiden", "Thema 0: opgroeien in de stad",
           "aantal segmenten (→ de code die er het dichtst bij ligt)",
           "17  (praatje: korte reacties)", "opkomend (past bij geen code)", "past bij een code",
           "praatje (geen thema)"],
    "en": ["Integrerend werken (test): coded passages per code", "9 (1 of 2)",
           "number of passages (in brackets: in how many interviews)",
           "Codes together in the same turn",
           "grey, in brackets: number of turns with that code",
           "Integrerend werken (test): how the passages were coded",
           "share of the passages (not rejected); n = number of passages",
           "Themes in what respondents said", "Theme 0: opgroeien in de stad",
           "number of segments (→ the code closest to it)",
           "17  (small talk: korte reacties)", "emerging (fits no code)", "fits a code",
           "small talk (not a theme)"],
}


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_figures_speak_the_language_of_the_run(monkeypatch, lang):
    _speak(monkeypatch, lang)
    book = Codebook.model_validate({**BOOK_DATA, "codes": BOOK_DATA["codes"][:2]})
    code_document = pd.DataFrame({
        "theme": "Aan tafel", "code_id": ["L1", "L1", "L2", "L2"], "code_name": "x",
        "document_id": ["int01", "int02", "int01", "int02"], "n_passages": [9, 0, 3, 2]})
    cooc = pd.DataFrame({"code_id_a": ["L1", "L1", "L2", "L2"],
                         "code_id_b": ["L1", "L2", "L1", "L2"], "n_turns": [9, 2, 2, 5]})
    coded = pd.DataFrame({"code_id": ["L1", "L1", "L2"], "method": ["rule", "human", "both"],
                          "status": ["auto", "accepted", "auto"]})
    themes = pd.DataFrame({
        "topic": [0, 1], "label": ["opgroeien in de stad · beweging", "succes · checken"],
        "size": [63, 17], "emerging": [True, False],
        "small_talk": [None, "praatjes: korte reacties (10 van 17 segmenten)"],
        "best_code_id": ["L2", "L1"]})
    methods = figures.method_chart(book, coded)
    texts = [t for fig in (figures.codes_chart(book, code_document),
                           figures.cooccurrence_heatmap(book, cooc), methods,
                           figures.themes_chart(themes)) for t in _texts(fig)]
    for word in FIGURE_WORDS[lang]:
        assert any(t.startswith(word) for t in texts), word
    other = FIGURE_WORDS["en" if lang == "nl" else "nl"]
    assert not any(t.startswith(word) for word in other for t in texts)
    legend = [t.get_text() for t in methods.legends[0].get_texts()]
    assert legend == [figures.method_name(m) for m in METHODS]
    assert [figures.caption(n) for n in figures.CAPTIONS][2] == {
        "nl": "Codes die samen voorkomen binnen dezelfde spreekbeurt.",
        "en": "Codes that occur together within the same turn."}[lang]


@pytest.mark.parametrize(("lang", "expected"), [
    ("nl", [("(algemeen)", "", "", "LET OP: niet gepseudonimiseerd (--no-pseudonymise). De "
             "teksten bevatten namen en andere herleidbare gegevens; deel deze bestanden niet."),
            ("interviews", "", "", "Eén rij per interview: metadata (gepseudonimiseerd) en "
             "aantallen."),
            ("excerpts", "kans op acceptatie", "probability", "kans (0-1) dat een onderzoeker "
             "deze code op deze passage accepteert, zoals codeer die schat: de hoogste van de "
             "zinnen; leeg bij handmatige codes")]),
    ("en", [("(general)", "", "", "NOTE: not pseudonymised (--no-pseudonymise). The texts "
             "contain names and other identifying details; do not share these files."),
            ("interviews", "", "", "One row per interview: metadata (pseudonymised) and "
             "counts."),
            ("excerpts", "chance accepted", "probability", "probability (0-1) that a "
             "researcher accepts this code on this passage, as codeer estimates it: the highest "
             "of its sentences; empty for codes given by hand")]),
])
def test_workbook_notes_and_column_explanations_follow_the_language(
        ingested, quick_figures, monkeypatch, lang, expected):  # noqa: F811
    from openpyxl import load_workbook

    _speak(monkeypatch, lang)
    documents, segments = _frames(ingested)
    result = export_core.build_export(documents, segments, _crowded_codings(segments), BOOK,
                                      Identity())
    wb = load_workbook(io.BytesIO(result.workbook), read_only=True)
    rows = [tuple(v or "" for v in r)
            for r in wb[workbook.NOTES_SHEET].iter_rows(min_row=2, values_only=True)]
    for row in expected:
        assert row in rows
    assert any(r[3].startswith({"nl": "De bladen themes en theme_interview ontbreken",
                                "en": "The sheets themes and theme_interview are missing"}[lang])
               for r in rows)
    # The explanations change language, the sheets and their columns do not.
    for name in result.tables:
        assert list(tables.TABLES[name][1]) == tables.columns(name) == \
            list(result.tables[name].columns)
        explained = [r[2] for r in rows if r[0] == name and r[2]]
        assert explained == tables.columns(name)
