"""The report a researcher can publish from: each quote once, the passage marked in its
context, numbers a reader understands, words from the codebook; the figures' one quantity."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pipeline import config, schema, storage
from pipeline.coding.codebook import Codebook
from pipeline.export import core as export_core
from pipeline.export import figures, report
from pipeline.export.privacy import Identity
from tests.export.test_export import (  # noqa: F401  (fixtures)
    BOOK,
    BOOK_DATA,
    ingested,
    quick_figures,
)
from tests.export.test_refiqda import BOOK as OTHER_BOOK


def _frames(out):
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    return documents, segments


def _long_turn(segments: pd.DataFrame, doc: str = "int02") -> list[str]:
    """The segment ids of the first respondent turn of ``doc`` with six sentences or more."""
    resp = segments[(segments["document_id"] == doc) & (segments["role"] == "respondent")]
    turn = resp.groupby("turn_index").filter(lambda g: len(g) >= 6)["turn_index"].iloc[0]
    return resp[resp["turn_index"] == turn].sort_values("segment_index")["segment_id"].tolist()


def _coding(seg: str, code: str, score: float, status: str = "auto",
            method: str = "embedding") -> dict:
    return {"segment_id": seg, "code_id": code, "method": method, "score": score,
            "evidence": "lijkt op: voorbeeld", "status": status, "codebook_sha256": "0" * 64,
            "model_id": "test"}


@pytest.fixture(scope="module")
def crowded(ingested):  # noqa: F811
    """Codes that crowd one turn: L1 and L5 on sentences 0-1 (one passage, two codes), L2 on
    1-2 (overlapping), L6 on 3 (right after L2): the quotes of four codes compete for the same
    sentences and their context."""
    documents, segments = _frames(ingested)
    s = _long_turn(segments)
    rows = [_coding(s[0], "L1", 0.9, "accepted"), _coding(s[1], "L1", 0.7),
            _coding(s[0], "L5", 0.8), _coding(s[1], "L5", 0.85),
            _coding(s[1], "L2", 0.6), _coding(s[2], "L2", 0.65),
            _coding(s[3], "L6", 0.55), _coding(s[5], "L6", 0.5, "rejected")]
    codings = pd.DataFrame(rows)
    result = export_core.build_export(documents, segments, codings, BOOK, Identity())
    return result, segments, s, (documents, segments, codings)


def _quotes(md: str) -> list[str]:
    return re.findall(r"^> „(.*)”  $", md, flags=re.MULTILINE)


def _sentences(quote: str) -> list[str]:
    plain = quote.replace("**", "").replace(" …", "").replace("… ", "").replace("\\", "")
    return [s for s in re.split(r"(?<=[.?!])\s+", plain) if len(s.split()) >= 3]


def test_no_sentence_is_quoted_twice(crowded):
    """Reproduction: quotes overlapped in 5 of 8 sections of one small batch (each quote was
    a sentence with its neighbours, and neighbours were other sections' quotes)."""
    result, segments, s, _ = crowded
    quotes = _quotes(result.report_md)
    assert len(quotes) == 2  # L1 (with L5) and L6; L2's passage shares a sentence with L1's
    seen = [sentence for q in quotes for sentence in _sentences(q)]
    assert len(seen) == len(set(seen))
    text = dict(zip(segments["segment_id"], segments["text"], strict=True))
    for seg in s[:4]:  # every crowded sentence is shown at most once, bold or as context
        assert sum(text[seg] in q.replace("**", "") for q in quotes) == 1
    l2 = result.report_md.split("### L2 ")[1].split("\n### ")[0]
    assert "Geen eigen citaat: de passages met deze code staan al in citaat 1." in l2


def test_the_coded_passage_is_marked_inside_its_turn(crowded):
    result, segments, s, _ = crowded
    text = dict(zip(segments["segment_id"], segments["text"], strict=True))
    l1 = result.report_md.split("### L1 ")[1].split("\n### ")[0]
    quote = _quotes(l1)[0]
    # the passage (sentences 0 and 1, L1 and L5) in bold; the next sentence of the turn plain
    assert f"**{text[s[0]]} {text[s[1]]}**" in quote
    assert quote.endswith(f"** {text[s[2]]}")
    assert "ook L5" in l1  # the other code of the same passage is named, not quoted again
    l5 = result.report_md.split("### L5 ")[1].split("\n### ")[0]
    assert text[s[0]] not in l5


def test_body_has_counts_not_scores_and_the_appendix_has_the_probabilities(crowded):
    result, _, _, frames = crowded
    md = result.report_md
    body, appendix = md.split("## Bijlage: hoe de citaten zijn gecodeerd")
    assert not re.search(r"\bscore\b", md, flags=re.IGNORECASE)
    assert "0,90" not in body and "0,9" not in body  # no probability in the body
    assert "**1 passage** in **1 van de 2 interviews** (beleidsadviseur energietransitie)" in body
    # sentence 0 accepted, 1 not yet: the passage counts as not yet reviewed
    assert "| 1 | L1 | int02 | nog niet beoordeeld | model | 0,90 |" in appendix
    assert "**3 passages**" in body.split("## Methode")[1]  # L1+L5, L2, L6; rejected left out


def test_words_come_from_the_codebook(ingested, quick_figures):  # noqa: F811
    """Reproduction: "Lessen per thema" and "Deze les ..." were hard-wired whatever the
    codebook; "Reflectie" named the closing questions, the note under each code and a theme."""
    documents, segments = _frames(ingested)
    data = {**BOOK_DATA, "name": "Wonen in de wijk",
            "themes": [{"id": "T1", "name": "Reflectie", "color": "#0072B2"},
                       {"id": "T2", "name": "Buurt", "color": "#D55E00"}]}
    book = Codebook.model_validate(data)
    s = _long_turn(segments)
    codings = pd.DataFrame([_coding(s[0], "L1", 0.9), _coding(s[3], "L6", 0.8)])
    md = export_core.build_export(documents, segments, codings, book, Identity()).report_md
    assert md.startswith("# Wonen in de wijk: conceptrapportage")
    assert "\n## Reflectie\n" in md and md.count("Reflectie") == 1  # only the theme's name
    assert "\n## Buurt\n" in md and "### L6 Thema's op de snijvlakken" in md
    assert not re.search(r"\b[Ll]ess?(en)?\b", md)
    assert "](figures/codes.png)" in md and "lessen" not in md
    assert "*Duiding:* …" in md and "## Vragen voor de analyse" in md
    other = export_core.build_export(
        documents, segments, pd.DataFrame([_coding(s[0], "S1", 0.9)]).assign(
            segment_id=s[0]), OTHER_BOOK, Identity())
    assert "\n## Samenwerken\n" in other.report_md and "### S1 Gemeenschap" in other.report_md


def test_report_warns_when_the_batch_is_too_small_for_themes(crowded):
    result, _, _, frames = crowded
    themes = pd.DataFrame({"topic": [-1, 0, 1], "label": ["(niet ingedeeld)", "a · b", "c"],
                           "size": [15, 50, 50], "emerging": [False, True, False],
                           "small_talk": [None, None, "praatjes: kennismaking (30 van 50 "
                                                       "segmenten)"],
                           "n_interviews": [1, 1, 1], "interviews": ["int02"] * 3,
                           "best_code_id": ["", "L1", "L2"],
                           "best_code_name": ["", "x", "y"]})
    tables = {**result.tables, "themes": themes}
    summary = report.Summary.from_frames(*frames, BOOK, False)
    md = report.render_markdown(summary, BOOK, tables, {}, [])
    section = md.split("## Opkomende thema's")[1]
    assert "> **Let op:** 2 thema's uit 115 respondentsegmenten" in section
    assert "### Thema 0: a · b" in section and "### Thema 1" not in section
    assert "- Thema 1 (c): kennismaking (30 van 50 segmenten)." in section
    assert "1 thema is praatjes" in section and "telt niet mee" in section


# --------------------------------------------------------------------------- figures


def test_heatmap_colour_and_number_show_the_same_count():
    """Reproduction: the number was a count and the colour a share, so a 9 in a short
    interview looked brighter than a 10 in a long one; rows were ids, not functions."""
    code_document = pd.DataFrame({
        "theme": "Aan tafel", "code_id": ["L1", "L1", "L2", "L2"],
        "code_name": "x", "document_id": ["int01", "int02", "int01", "int02"],
        "n_passages": [9, 10, 0, 2], "n_segments": [9, 30, 0, 2],
        "respondent_segments": [50, 600, 50, 600], "share": [0.18, 0.05, 0.0, 0.0033],
    })
    interviews = pd.DataFrame({"document_id": ["int01", "int02"],
                               "respondent_function": ["procesregisseur", None],
                               "department": ["Kernteam", "Duurzaamheid"]})
    book = Codebook.model_validate({**BOOK_DATA, "codes": BOOK_DATA["codes"][:2]})
    fig = figures.code_interview_heatmap(book, code_document, interviews)
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    assert shown.tolist() == [[9, None], [10, 2]]  # colour: passages; no passage: no colour
    numbers = [[t.get_text() for t in ax.texts if t.get_position()[1] == row]
               for row in (0, 1)]
    assert numbers == [["9"], ["10", "2"]]
    norm = ax.images[0].norm
    assert norm(10) > norm(9)  # the larger count is the brighter colour
    assert [t.get_text() for t in ax.get_yticklabels()] == ["procesregisseur", "Duurzaamheid"]
    assert "Integrerend werken (test)" in ax.get_title()


def test_interview_labels_fall_back_and_stay_unique():
    interviews = pd.DataFrame({"document_id": ["a", "b", "c"],
                               "respondent_function": ["beleidsadviseur", "beleidsadviseur",
                                                       None]})
    assert figures.interview_labels(["a", "b", "c"], interviews) == [
        "beleidsadviseur (a)", "beleidsadviseur (b)", "c"]
    assert figures.interview_labels(["a"], None) == ["a"]


def test_themes_figure_labels_are_readable_and_small_talk_is_greyed():
    themes = pd.DataFrame({
        "topic": [0, 1, 2], "label": ["opgroeien in de stad · beweging · sportpark",
                                      "succes · checken", "dashboard"],
        "size": [63, 17, 29], "emerging": [True, False, False],
        "small_talk": [None, "praatjes: korte reacties (10 van 17 segmenten)", None],
        "best_code_id": ["L6", "L2", "L6"], "best_code_similarity": [0.0, 0.08, 0.4]})
    fig = figures.themes_chart(themes, unit="zinnen")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Thema 0: opgroeien in de stad · beweging ·\nsportpark"
    texts = [t.get_text() for t in ax.texts]
    assert "17  (praatje: korte reacties)" in texts and "63  → L6" in texts
    assert not any("0,0" in t for t in texts)  # no similarity numbers
    assert ax.get_xlabel().startswith("aantal zinnen")
