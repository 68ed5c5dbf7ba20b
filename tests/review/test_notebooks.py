"""The review notebooks: their helpers on small frames (fast), and every notebook executed on
the demo interviews coded with the real model (slow)."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from pipeline import config, schema, storage
from pipeline.coding.codebook import load_codebook
from pipeline.review import decisions as review
from pipeline.review import notebook as nb
from tests.conftest import CODEBOOK, DEMO_RAW, ROOT

NOTEBOOKS = ROOT / "notebooks"
NAMES = ("01-overzicht", "02-review", "03-overeenstemming")
DEMO_DECISIONS = {"02-review": 2}  # decisions each notebook records under the demo switch

SMALL_CODEBOOK = """\
version: 1
name: Klein
defaults: {threshold: 0.1}
themes:
  - {id: T1, name: Thema een}
codes:
  - {id: A, name: Alfa, theme: T1, definition: Over alfa., threshold: 0.05}
  - {id: B, name: Beta, theme: T1, definition: Over beta.}
"""


# --------------------------------------------------------------------------- small frames


def _segments() -> pd.DataFrame:
    """Two interviews; turn 1 of d1 has three sentences (s1, s2, s3)."""
    rows = []
    layout = [("d1", 0, "interviewer", ["Hoe ging dat?"]),
              ("d1", 1, "respondent", ["Eerste zin.", "Tweede zin.", "Derde zin."]),
              ("d2", 0, "respondent", ["Vierde zin.", "Vijfde zin.", "Zesde zin."])]
    n = 0
    for doc, turn, role, texts in layout:
        for text in texts:
            rows.append({"document_id": doc, "segment_id": f"s{n}", "segment_index": n,
                         "turn_index": turn, "speaker": role[:4], "role": role, "start": 0,
                         "end": len(text), "text": text, "lemmas": text.lower(),
                         "time_start": np.nan, "time_end": np.nan,
                         "department": "Wonen" if doc == "d1" else "Energie"})
            n += 1
    return schema.SEGMENTS.conform(pd.DataFrame(rows))


def _codings(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame([{"segment_id": s, "code_id": c, "method": m, "score": sc,
                        "evidence": f"bewijs {s}", "status": st, "codebook_sha256": "x",
                        "model_id": "m"} for s, c, m, sc, st in rows])
    return schema.CODINGS.conform(df)


@pytest.fixture
def small(tmp_path) -> nb.Data:
    """A tiny output folder: code A (threshold 0.05) on six segments, code B on one."""
    out = tmp_path / "out"
    book_path = tmp_path / "codebook.yaml"
    book_path.write_text(SMALL_CODEBOOK, encoding="utf-8")
    book, _ = load_codebook(book_path)
    segments = _segments()
    storage.write_table(segments, out / config.SEGMENTS_FILE, schema.SEGMENTS)
    documents = schema.DOCUMENTS.conform(pd.DataFrame({
        "document_id": ["d1", "d2"], "source_path": ["d1.txt", "d2.txt"], "sha256": ["a", "b"],
        "format": ["txt", "txt"], "encoding": ["utf-8", "utf-8"], "text": ["", ""],
        "n_words": [10, 10], "department": ["Wonen", "Energie"]}))
    codings = _codings([
        ("s1", "A", "embedding", 0.25, "auto"),   # distance 0.20
        ("s2", "A", "both", 0.04, "auto"),        # distance 0.01: most uncertain
        ("s3", "A", "rule", np.nan, "auto"),      # no score: last
        ("s4", "A", "embedding", 0.10, "auto"),   # distance 0.05
        ("s5", "A", "embedding", 0.07, "rejected"),  # reviewed in an earlier run
        ("s6", "A", "human", np.nan, "accepted"),    # added by hand: not in the queue
        ("s4", "B", "rule", 0.01, "auto"),
    ])
    return nb.Data(out, book_path, book, documents, segments, codings)


def test_paths_default_to_the_project_root_from_the_notebooks_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("CODEER_OUT", raising=False)
    monkeypatch.delenv("CODEER_CODEBOOK", raising=False)
    assert nb.paths(NOTEBOOKS) == (ROOT / "data" / "coded", ROOT / "codebook.yaml")
    monkeypatch.setenv("CODEER_OUT", "elders/coded")
    monkeypatch.setenv("CODEER_CODEBOOK", str(tmp_path / "boek.yaml"))
    assert nb.paths(NOTEBOOKS) == (ROOT / "elders" / "coded", tmp_path / "boek.yaml")


def test_review_queue_most_uncertain_first_rule_only_last(small):
    queue = nb.review_queue(small, "A")
    assert list(queue.columns) == list(nb.QUEUE_COLUMNS)
    assert queue["segment_id"].tolist() == ["s2", "s4", "s1", "s3"]
    assert (queue["threshold"] == 0.05).all()
    assert nb.review_queue(small, "A", n=2)["segment_id"].tolist() == ["s2", "s4"]
    # The whole turn, the segment itself marked.
    assert queue.loc[0, "turn"] == "Eerste zin. »Tweede zin.« Derde zin."
    assert queue.loc[0, ["document_id", "role"]].tolist() == ["d1", "respondent"]
    assert nb.review_queue(small, "B")["threshold"].tolist() == [0.1]  # codebook default


def test_review_queue_leaves_out_what_is_reviewed(small):
    review.record(small.out, "s2", "A", "reject", "anna")
    review.record(small.out, "s4", "B", "accept", "anna")  # another code: s4 stays for A
    assert nb.review_queue(small, "A")["segment_id"].tolist() == ["s4", "s1", "s3"]
    # A second reviewer still sees what anna decided (an independent double review), and
    # also what an earlier run marked as reviewed.
    assert nb.review_queue(small, "A", reviewer="bram")["segment_id"].tolist() == \
        ["s2", "s5", "s4", "s1", "s3"]
    assert nb.review_queue(small, "A", reviewer="anna")["segment_id"].tolist() == \
        ["s5", "s4", "s1", "s3"]
    sizes = nb.queue_sizes(small)
    assert sizes.set_index("code_id")["to_review"].to_dict() == {"A": 3, "B": 0}


def test_review_queue_unknown_code(small):
    from pipeline.errors import CodeerError

    with pytest.raises(CodeerError, match="code moet een van"):
        nb.review_queue(small, "Z")


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _reviews(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / config.REVIEWS_FILE, dtype=str, keep_default_na=False)


def test_decide_is_review_record(small):
    row = nb.decide(small.out, "s1", "A", "accept", "anna", note="duidelijk")
    assert row["note"] == "duidelijk"
    latest = small.reviews("anna")
    assert latest[["segment_id", "decision"]].values.tolist() == [["s1", "accept"]]


def test_overview_and_where_codes_occur(small):
    review.record(small.out, "s1", "A", "accept", "anna")
    table = nb.overview(small).set_index("code_id")
    # s5 is rejected: not counted; s6 (human) is.
    assert table.loc["A", ["segments", "interviews", "embedding", "both", "rule", "human"]] \
        .tolist() == [5, 2, 2, 1, 1, 1]
    assert table.loc["A", ["auto", "accepted", "rejected", "reviewed"]].tolist() == [4, 1, 1, 1]
    assert table.loc["B", "segments"] == 1
    groups = nb.by_group(small, "department")
    assert groups.loc["A"].to_dict() == {"Energie": 2, "Wonen": 3}
    assert nb.by_group(small, "cluster").shape[1] == 0


# --------------------------------------------------------------------------- passages by text

# Real Dutch: the interview with Erik Veerman ('s-Hertogenbosch) on replicating Signalen
# (tests/data/corpora/signalen, EUPL-1.2), cut into turns as ingest would.
VEERMAN = [
    ("veerman", 0, "interviewer",
     ["Waarom heb je besloten om je bestaande systeem te vervangen met Signalen?"]),
    ("veerman", 1, "respondent",
     ["We hebben onderzocht of de huidige oplossingen nog voldoen aan de wensen van de "
      "organisatie.",
      "De oude oplossingen voldeden niet meer aan de eisen, vooral op het gebied van integratie "
      "met andere applicaties.",
      "Ook hadden we de wens om beter te kunnen communiceren met de reporters (melders).",
      "Wat niet echt een optie was met de oplossingen die we toen hadden."]),
    ("veerman", 2, "interviewer",
     ["Waarom is een replicatie beter dan vanaf nul beginnen in je eigen omgeving?"]),
    ("veerman", 3, "respondent",
     ["Het grootste voordeel van replicatie van Signalen is dat veel van de gewenste "
      "functionaliteit al is gerealiseerd en bewezen in Amsterdam.",
      "Als je vanaf nul begint is er veel meer onzekerheid of en hoe de oplossing zal eindigen.",
      "En replicatie heeft waarschijnlijk een financieel voordeel, hoewel ik niet zeker weet of "
      "dit waar is."]),
    ("open", 0, "respondent",
     ["Goede vraag!", "Ik weet het niet zeker.",
      "Maar ik denk dat het makkelijker is om met open source technologie een duurzame "
      "omgeving/gemeenschap van softwareleveranciers en andere gemeenten te creëren."]),
]


@pytest.fixture
def veerman(tmp_path) -> nb.Data:
    """Two interviews of real Dutch; code A automatically on two sentences of turn 1."""
    out = tmp_path / "out"
    book_path = tmp_path / "codebook.yaml"
    book_path.write_text(SMALL_CODEBOOK, encoding="utf-8")
    book, _ = load_codebook(book_path)
    rows, n = [], 0
    for doc, turn, role, texts in VEERMAN:
        for text in texts:
            rows.append({"document_id": doc, "segment_id": f"v{n:02d}", "segment_index": n,
                         "turn_index": turn, "speaker": role[:4], "role": role, "start": 0,
                         "end": len(text), "text": text, "lemmas": text.lower(),
                         "time_start": np.nan, "time_end": np.nan})
            n += 1
    segments = schema.SEGMENTS.conform(pd.DataFrame(rows))
    storage.write_table(segments, out / config.SEGMENTS_FILE, schema.SEGMENTS)
    documents = schema.DOCUMENTS.conform(pd.DataFrame({
        "document_id": ["veerman", "open"], "source_path": ["v.txt", "o.txt"],
        "sha256": ["a", "b"], "format": ["txt", "txt"], "encoding": ["utf-8", "utf-8"],
        "text": ["", ""], "n_words": [100, 30]}))
    codings = _codings([("v01", "A", "embedding", 0.8, "auto"),
                        ("v02", "A", "embedding", 0.6, "auto")])
    return nb.Data(out, book_path, book, documents, segments, codings)


@pytest.mark.parametrize("query, expected", [
    # A phrase across two sentences finds both (a pasted passage): turn 1, sentences 1-2.
    ("voldoen aan de wensen van de organisatie. De oude oplossingen",
     [("veerman", 1, 1, 2, "zin")]),
    # Case, accents and line breaks do not count: "creeren" finds "creëren".
    ("GEMEENTEN TE\n  creeren", [("open", 0, 3, 3, "zin")]),
    # Words that are no phrase: every sentence holding all of them.
    ("oplossingen eisen", [("veerman", 1, 2, 2, "woorden")]),
    # The phrase first, then other sentences with all the words; words match from their
    # start ("de oplossingen" is not in "oude oplossingen"; "oplossing" is in "oplossingen").
    ("de oplossing", [("veerman", 1, 4, 4, "zin"), ("veerman", 3, 2, 2, "zin"),
                      ("veerman", 1, 1, 1, "woorden"), ("veerman", 1, 2, 2, "woorden")]),
    ("ude oplossingen", []),
    # Interviewer turns are not coded (scope respondent), so not searched: only the answer.
    ("vanaf nul", [("veerman", 3, 2, 2, "zin")]),
    ("", []),
    ("gemeentehuis", []),
])
def test_search_passages_by_text(veerman, query, expected):
    hits = nb.search_passages(veerman, query)
    assert [(h.document_id, h.turn_index, h.first, h.last, h.match)
            for h in hits.itertuples()] == expected


def test_search_marks_the_passage_in_its_turn(veerman):
    hit = nb.search_passages(veerman, "wensen van de organisatie. De oude").iloc[0]
    assert hit["segment_ids"] == ["v01", "v02"]
    assert hit["turn"].startswith("»We hebben onderzocht")
    assert "applicaties.« Ook hadden we" in hit["turn"]
    assert hit["text"].endswith("met andere applicaties.")


def test_find_passage_needs_one_passage_and_says_so_in_dutch(veerman):
    from pipeline.errors import CodeerError

    assert nb.find_passage(veerman, "Goede vraag! Ik weet het") == ["v09", "v10"]
    with pytest.raises(CodeerError, match="in geen enkele zin voorkomt"):
        nb.find_passage(veerman, "stadhuis")
    with pytest.raises(CodeerError, match="meer dan één passage.*langer stuk tekst"):
        nb.find_passage(veerman, "replicatie")


@pytest.mark.parametrize("action, dutch, english", [
    (lambda data: nb.find_passage(data, "stadhuis"),
     "De tekst moet in een passage staan. Nu: 'stadhuis', dat in geen enkele zin voorkomt; "
     "kopieer een stuk uit de passage.",
     "The text must be in a passage. Got 'stadhuis', which no sentence holds; copy a piece of "
     "the passage."),
    (lambda data: nb.add_passage(data, ["v09"], "Z", "bram"),
     "De code moet er een uit het codeboek zijn (A, B). Nu: 'Z'.",
     "The code must be one from the codebook (A, B). Got 'Z'."),
    (lambda data: nb.decide_text(data, "Goede vraag! Ik weet het", "A", "accept", "naam"),
     "REVIEWER moet je naam of initialen zijn, zodat de overeenstemming tussen beoordelaars te "
     "berekenen is. Nu: 'naam'. Vul hem in de eerste cel in en voer die opnieuw uit.",
     "REVIEWER must be your name or initials, so agreement between reviewers can be computed. "
     "Got 'naam'. Fill it in in the first cell and run that cell again."),
    (lambda data: nb.kappa_sentence({"kappa": 0.62, "low": 0.51, "high": 0.72, "n": 1,
                                     "groups": 2, "fragmenten": 1}),
     "Kappa is 0,62 (1 besluit over 1 fragment in 2 spreekbeurten): goede overeenstemming. Het "
     "95%-betrouwbaarheidsinterval loopt van 0,51 tot 0,72: meer overeenstemming dan toeval, "
     "ergens tussen matige overeenstemming en goede overeenstemming.",
     "Kappa is 0,62 (1 decision on 1 excerpt in 2 turns): substantial agreement. The 95% "
     "confidence interval runs from 0,51 to 0,72: more agreement than chance, somewhere between "
     "moderate agreement and substantial agreement."),
], ids=["no-passage", "unknown-code", "no-reviewer", "kappa-sentence"])
def test_notebook_speaks_dutch_by_default_and_english_on_request(veerman, monkeypatch, action,
                                                                 dutch, english):
    from pipeline.errors import CodeerError
    from pipeline.i18n import ENV

    def said() -> str:
        try:
            return action(veerman)
        except CodeerError as exc:
            return str(exc)

    monkeypatch.delenv(ENV, raising=False)
    assert said() == dutch
    monkeypatch.setenv(ENV, "en")
    assert said() == english
    assert not (veerman.out / config.REVIEWS_FILE).exists()


def test_widget_labels_follow_the_language(veerman, monkeypatch):
    import ipywidgets as widgets

    from pipeline.i18n import ENV

    monkeypatch.setenv(ENV, "en")
    box = nb.review_widget(veerman, veerman.out, "A", "anna", queue=_queue(
        [("v02", "A", 0.6, True)], veerman))
    buttons = {w.description for w in _walk(box) if isinstance(w, widgets.Button)}
    assert {"Belongs", "Does not belong", "Search", "Add code", "Code again"} <= buttons
    shown = " ".join(w.value for w in _walk(box) if isinstance(w, widgets.HTML))
    assert "Review: A Alfa" in shown and "(chance 0,60) · now coded" in shown
    assert "Beoordelen" not in shown and "Hoort erbij" not in buttons


def test_turn_sentences_in_order(veerman):
    turn = nb.turn_sentences(veerman, "v03")
    assert turn["position"].tolist() == [1, 2, 3, 4]
    assert turn["segment_id"].tolist() == ["v01", "v02", "v03", "v04"]


def _queue(rows: list[tuple[str, str, float, bool]], data: nb.Data) -> pd.DataFrame:
    """A queue as :func:`nb.next_passages` returns it, for the widget without a model."""
    text = data.segments.set_index("segment_id")["text"]
    return pd.DataFrame({
        "segment_id": [r[0] for r in rows], "document_id": "veerman",
        "code_id": [r[1] for r in rows], "code_name": "Alfa",
        "probability": [r[2] for r in rows], "reason": "onzeker",
        "coded": [r[3] for r in rows], "text": [text[r[0]] for r in rows],
        "context": [f"… »{text[r[0]]}« …" for r in rows]})


def test_review_widget_buttons_record_by_text(veerman):
    import ipywidgets as widgets

    queue = _queue([("v02", "A", 0.6, True), ("v03", "A", 0.45, False),
                    ("v07", "A", 0.5, False)], veerman)
    box = nb.review_widget(veerman, veerman.out, "A", "anna", queue=queue)
    parts = list(_walk(box))
    html_text = " ".join(w.value for w in parts if isinstance(w, widgets.HTML))
    # Passages by their text, the coded sentence marked; no segment ids anywhere.
    assert "<b style='background:#FFF3B0'>»De oude oplossingen voldeden" in html_text
    assert not any(f"v{i:02d}" in html_text for i in range(12))
    yes = [w for w in parts if isinstance(w, widgets.Button) and w.description == "Hoort erbij"]
    no = [w for w in parts
          if isinstance(w, widgets.Button) and w.description == "Hoort er niet bij"]
    assert len(yes) == len(no) == 3
    yes[0].click()  # the coder had A on v02: accept
    yes[1].click()  # it had not on v03: add
    no[2].click()
    rows = _reviews(veerman.out)
    assert rows[["segment_id", "code_id", "decision", "reviewer"]].values.tolist() == [
        ["v02", "A", "accept", "anna"], ["v03", "A", "add", "anna"],
        ["v07", "A", "reject", "anna"]]
    assert yes[0].disabled and no[0].disabled


def _add_parts(box):
    import ipywidgets as widgets

    parts = list(_walk(box))

    def one(kind, description):
        return next(w for w in parts if isinstance(w, kind) and w.description == description)

    return {"query": one(widgets.Text, "Zoek:"), "search": one(widgets.Button, "Zoeken"),
            "found": one(widgets.Select, "Gevonden:"), "first": one(widgets.Dropdown, "Van zin:"),
            "last": one(widgets.Dropdown, "Tot en met:"), "code": one(widgets.Dropdown, "Code:"),
            "add": one(widgets.Button, "Code toevoegen"),
            "html": [w for w in parts if isinstance(w, widgets.HTML)]}


def test_add_a_code_by_searching_and_a_sentence_range(veerman):
    box = nb.review_widget(veerman, veerman.out, "A", "anna", queue=_queue([], veerman))
    w = _add_parts(box)
    w["query"].value = "replicatie heeft waarschijnlijk een financieel"
    w["search"].click()
    assert len(w["found"].options) == 1 and w["found"].value == 0
    assert (w["first"].value, w["last"].value) == (3, 3)
    # Widen the passage to the whole answer: sentences 1 to 3 of the turn.
    w["first"].value = 1
    shown = " ".join(h.value for h in w["html"])
    assert "»Het grootste voordeel" in shown and "dit waar is.«" in shown
    w["code"].value = "B"
    w["add"].click()
    rows = _reviews(veerman.out)
    assert rows[["segment_id", "code_id", "decision"]].values.tolist() == [
        ["v06", "B", "add"], ["v07", "B", "add"], ["v08", "B", "add"]]
    status = " ".join(h.value for h in w["html"])
    assert "B toegevoegd</b> door anna aan: „Het grootste voordeel" in status


ENGLISH = re.compile(r"\b(must|Got|instead|not in|Cannot)\b")


@pytest.mark.parametrize("reviewer, query, message", [
    ("anna", "", "Typ eerst een paar woorden"),
    ("anna", "gemeentehuis", "Geen passage gevonden met 'gemeentehuis'"),
    ("", "financieel voordeel", "REVIEWER moet je naam of initialen zijn"),
    ("naam", "financieel voordeel", "REVIEWER moet je naam of initialen zijn"),
])
def test_widget_errors_are_dutch_and_record_nothing(veerman, reviewer, query, message):
    box = nb.review_widget(veerman, veerman.out, "A", reviewer, queue=_queue(
        [("v02", "A", 0.6, True)], veerman))
    w = _add_parts(box)
    yes = next(b for b in _walk(box) if getattr(b, "description", "") == "Hoort erbij")
    w["query"].value = query
    actions = [w["search"].click, w["add"].click] + ([yes.click] if reviewer in ("", "naam")
                                                     else [])
    errors = []
    for action in actions:
        action()
        errors += [html.unescape(h.value) for h in _walk(box)
                   if "#B00020" in str(getattr(h, "value", ""))]
    assert any(message in e for e in errors), errors
    assert not any(ENGLISH.search(e) for e in errors), errors
    assert not (veerman.out / config.REVIEWS_FILE).exists()


def test_decide_text_and_add_passage(veerman):
    from pipeline.errors import CodeerError

    rows = nb.decide_text(veerman, "Ook hadden we de wens om beter te kunnen communiceren",
                          "A", "reject", "anna", note="gaat over melders")
    assert [(r["segment_id"], r["decision"], r["note"]) for r in rows] == \
        [("v03", "reject", "gaat over melders")]
    rows = nb.add_passage(veerman, ["v09", "v10"], "B", " bram ")
    assert [(r["segment_id"], r["reviewer"]) for r in rows] == [("v09", "bram"), ("v10", "bram")]
    with pytest.raises(CodeerError, match="De code moet er een uit het codeboek zijn"):
        nb.add_passage(veerman, ["v09"], "Z", "bram")
    with pytest.raises(CodeerError, match="Kies eerst een passage"):
        nb.add_passage(veerman, [], "A", "bram")
    assert len(_reviews(veerman.out)) == 3


def test_reviewed_passages_show_text_and_join_adjacent_sentences(veerman):
    t0 = pd.Timestamp("2024-05-01T10:00:00Z").to_pydatetime()
    for seg, code, decision, minute in [("v01", "A", "accept", 1), ("v02", "A", "accept", 2),
                                        ("v04", "A", "accept", 3), ("v03", "B", "add", 4),
                                        ("v06", "A", "reject", 5)]:
        review.record(veerman.out, seg, code, decision, "anna",
                      timestamp=t0 + pd.Timedelta(minutes=minute))
    review.record(veerman.out, "v02", "A", "accept", "bram")
    table = nb.reviewed_passages(veerman, "anna")
    assert list(table.columns[:-1]) == ["wanneer", "beoordelaar", "code", "besluit",
                                        "interview", "passage", "zinnen", "notitie"]
    got = [(r.code, r.besluit, r.zinnen, r.passage[:30]) for r in table.itertuples()]
    assert got == [
        ("A Alfa", "afgewezen", 1, "Het grootste voordeel van repl"),
        ("B Beta", "toegevoegd", 1, "Ook hadden we de wens om beter"),
        # v01 and v02 follow each other: one passage; v04 is not adjacent to them.
        ("A Alfa", "geaccepteerd", 1, "Wat niet echt een optie was me"),
        ("A Alfa", "geaccepteerd", 2, "We hebben onderzocht of de hui"),
    ]
    assert table["segment_ids"].iloc[3] == ["v01", "v02"]
    assert len(nb.reviewed_passages(veerman)) == 5  # bram's v02 is the latest for that pair


def test_coding_changes_as_passages(veerman):
    before = _codings([("v01", "A", "embedding", 0.8, "auto"),
                       ("v02", "A", "embedding", 0.6, "auto"),
                       ("v06", "A", "embedding", 0.7, "auto")])
    after = _codings([("v01", "A", "embedding", 0.4, "rejected"),
                      ("v06", "A", "embedding", 0.9, "auto"),
                      ("v07", "B", "embedding", 0.7, "auto"),
                      ("v08", "B", "embedding", 0.7, "auto"),
                      ("v09", "B", "human", np.nan, "accepted")])
    changes = nb.coding_changes(before, after, veerman.segments, veerman.book)
    got = [(r.code, r.interview, r.voor, r.na, r.zinnen) for r in changes.itertuples()]
    assert got == [
        ("A Alfa", "veerman", "gecodeerd", "afgewezen", 1),
        ("A Alfa", "veerman", "gecodeerd", "niet gecodeerd", 1),
        ("B Beta", "open", "niet gecodeerd", "toegevoegd door beoordelaar", 1),
        ("B Beta", "veerman", "niet gecodeerd", "gecodeerd", 2),
    ]
    assert changes["passage"].iloc[3].startswith("Als je vanaf nul begint")
    result = nb.Recoded(veerman, changes, 8.4)
    assert result.summary() == ("Opnieuw gecodeerd in 8 s: 4 passage(s) veranderd (2 nieuw "
                                "gecodeerd, 1 niet meer gecodeerd, 1 met een besluit).")


def test_memo_box_finds_a_passage_by_text_in_dutch(veerman):
    import ipywidgets as widgets

    from pipeline.review import memos

    box = nb.memo_box(veerman, veerman.out, "anna")
    parts = list(_walk(box))
    about = next(w for w in parts if isinstance(w, widgets.Dropdown))
    target = next(w for w in parts if isinstance(w, widgets.Text))
    text = next(w for w in parts if isinstance(w, widgets.Textarea))
    save = next(w for w in parts if isinstance(w, widgets.Button))
    about.value, target.value, text.value = "passage", "financieel voordeel, hoewel", ""
    save.click()
    status = [w.value for w in parts if isinstance(w, widgets.HTML) and "#B00020" in w.value]
    assert status and "Schrijf eerst je memo" in status[0]
    text.value = "Twijfel over de kosten."
    save.click()
    log = memos.read_memos(veerman.out)
    assert log[["about", "target", "text"]].values.tolist() == \
        [["passage", "v08", "Twijfel over de kosten."]]
    listing = " ".join(w.value for w in _walk(box) if isinstance(w, widgets.HTML))
    assert "passage „En replicatie heeft waarschijnlijk" in listing and "v08" not in listing


# --------------------------------------------------------------------------- agreement


def _two_reviewers(data: nb.Data) -> None:
    """anna and bram on the same six pairs of code A (they differ on two), anna on two more."""
    book = [("v01", "accept", "accept"), ("v02", "reject", "accept"), ("v03", "add", "add"),
            ("v04", "reject", "reject"), ("v06", "accept", "reject"), ("v07", "reject", "reject")]
    for seg, a, b in book:
        review.record(data.out, seg, "A", a, "anna")
        review.record(data.out, seg, "A", b, "bram")
    review.record(data.out, "v08", "A", "add", "anna")
    review.record(data.out, "v09", "A", "reject", "anna")


def test_kappa_intervals_rest_on_the_decisions_of_agreement_tables(veerman):
    storage.write_table(veerman.codings, veerman.out / config.CODINGS_FILE, schema.CODINGS)
    _two_reviewers(veerman)
    tables = nb.agreement_tables(veerman.out, veerman.codebook)
    intervals = nb.kappa_intervals(veerman.out, veerman.codebook).set_index("vergelijking")
    assert list(intervals.index) == ["coder tegenover beoordelaars", "anna tegenover bram"]
    for name, label in (("auto_vs_review", "coder tegenover beoordelaars"),
                        ("anna_vs_bram", "anna tegenover bram")):
        table, pooled = tables[name]
        row = intervals.loc[label]
        # The same decisions as the figures above it: the same kappa and count.
        assert row["kappa"] == pytest.approx(pooled["kappa"])
        assert row["besluiten"] == pooled["decisions"] == table["reviewed"].sum()
    assert intervals.loc["anna tegenover bram", ["besluiten", "fragmenten", "beurten"]] \
        .tolist() == [6, 6, 2]
    # A fixed seed: the same interval every time.
    again = nb.kappa_intervals(veerman.out, veerman.codebook).set_index("vergelijking")
    assert again["laag"].equals(intervals["laag"]) and again["hoog"].equals(intervals["hoog"])
    assert intervals["uitleg"].str.startswith("Kappa is").all()


def test_threshold_figure_titles_name_the_decisions():
    curve = pd.DataFrame({"threshold": [0.2, 0.5, 0.8], "f1": [0.5, 0.6, 0.4],
                          "precision": [0.4, 0.6, 0.9], "recall": [1.0, 0.6, 0.3]})
    fig = nb.threshold_figure({"A": curve}, {"A": 0.5}, counts={"A": 12})
    assert fig.axes[0].get_title(loc="left") == "A (12 besluiten)"


def test_learning_curve_is_read_and_drawn(tmp_path):
    from pipeline.errors import CodeerError

    assert nb.learning_curve(tmp_path) is None
    rows = [{"fold": f, "decisions": d, "kappa": k, "precision": 0.5, "recall": 0.4, "f1": 0.45,
             "false_positive_rate": 0.1, "passages": p}
            for f, p in (("1", 40), ("2", 52), ("alle", 92))
            for d, k in ((0, 0.3), (25, 0.35), (50, 0.41))]
    (tmp_path / "learning_curve.json").write_text(json.dumps(rows), encoding="utf-8")
    table = nb.learning_curve(tmp_path)
    assert table["fold"].tolist()[-1] == "alle"
    fig = nb.learning_curve_figure(table)
    ax = fig.axes[0]
    assert "92 passages" in ax.get_title(loc="left")
    assert [ln.get_label() for ln in ax.lines if not ln.get_label().startswith("_")] == \
        ["kappa per deel", "kappa", "precisie", "recall"]
    (tmp_path / "learning_curve.json").write_text('[{"fold": "1"}]', encoding="utf-8")
    with pytest.raises(CodeerError, match="moet de kolommen .* hebben"):
        nb.learning_curve(tmp_path)


def test_notebooks_are_saved_without_outputs():
    for name in NAMES:
        book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(book)
        assert book.metadata["kernelspec"]["name"] == "python3"
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


# --------------------------------------------------------------------------- notebooks


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    """The demo interviews ingested and coded with the real model, plus a few decisions.

    Embeddings go to the session's shared cache (``CODEER_CACHE_DIR``, see conftest), so the
    demo is embedded once per test session whichever test codes it first.
    """
    from pipeline.coding import command as code
    from pipeline.ingest import command as ingest
    from pipeline.models import build as models

    config.model_offline_env()
    models.build_model()
    tmp = tmp_path_factory.mktemp("notebooks")
    raw, out = tmp / "raw", tmp / "out"
    shutil.copytree(DEMO_RAW, raw)
    ingest.run(raw, out, progress=False)
    code.run(out, CODEBOOK, progress=False)

    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    counts = codings["code_id"].value_counts()
    assert counts.max() >= 2, "the demo needs a code with two automatic codings"
    top = counts.index[0]
    seg = codings.loc[codings["code_id"] == top, "segment_id"].tolist()
    review.record(out, seg[0], top, "accept", "anna")
    review.record(out, seg[1], top, "reject", "anna")
    review.record(out, seg[0], top, "accept", "bram")
    review.record(out, seg[1], top, "accept", "bram")
    coded = set(zip(codings["segment_id"], codings["code_id"], strict=True))
    other = next(c for c in counts.index[::-1] if c != top)
    missed = next(s for s in segments.loc[segments["role"] == "respondent", "segment_id"]
                  if (s, other) not in coded)
    review.record(out, missed, other, "add", "anna", note="gemist")
    # A small real learning curve (two folds, one batch of decisions) for notebook 3.
    from pipeline.review.command import evaluate_learning_curve

    evaluate_learning_curve(out, ROOT / "tests" / "data" / "demo_gold.csv", CODEBOOK,
                            steps=(0, 25), folds=2)
    return out


def _execute(name: str) -> nbformat.NotebookNode:
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    assert "python3" in KernelSpecManager().find_kernel_specs(), "ipykernel is not installed"
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(book, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return book


def _outputs(book: nbformat.NotebookNode, kind: str) -> list:
    return [o for c in book.cells if c.cell_type == "code" for o in c.outputs
            if kind in o.get("data", {})]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, demo_out, monkeypatch):
    monkeypatch.setenv("CODEER_OUT", str(demo_out))
    monkeypatch.setenv("CODEER_CODEBOOK", str(CODEBOOK))
    monkeypatch.setenv("CODEER_NOTEBOOK_DEMO_DECISIONS", "1")
    monkeypatch.setenv("CODEER_REVIEWER", "demo")
    log = demo_out / config.REVIEWS_FILE
    before = log.read_text(encoding="utf-8").count("\n")
    book = _execute(name)
    errors = [f"{o.ename}: {o.evalue}" for c in book.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert log.read_text(encoding="utf-8").count("\n") - before == DEMO_DECISIONS.get(name, 0)
    text = "".join(o.get("text", "") for c in book.cells if c.cell_type == "code"
                   for o in c.outputs)
    if name == "01-overzicht":
        assert len(_outputs(book, "image/png")) == 2
    elif name == "02-review":
        assert _outputs(book, "application/vnd.jupyter.widget-view+json")
        demo = review.read_reviews(demo_out)
        assert (demo["reviewer"] == "demo").sum() == 2
        # The two decisions, found by their text, show as passages; the batch is re-coded.
        assert "2 passage(s) beoordeeld door demo" in text
        assert re.search(r"Opnieuw gecodeerd in \d+ s: \d+ passage\(s\) veranderd", text)
    else:
        assert "anna tegenover bram" in text
        assert "coder tegenover beoordelaars: Kappa is" in text
        assert "Kappa is niet te berekenen" in text or "interval" in text
        assert len(_outputs(book, "image/png")) == 2  # threshold curves, learning curve


@pytest.mark.slow
def test_review_widget_recodes_and_moves_on(demo_out):
    """The widget's own round trip on the real coder: a rejection, Opnieuw coderen, the
    change and the next passages, all as text."""
    import ipywidgets as widgets

    data = nb.load(demo_out, CODEBOOK)
    queue = nb.next_passages(data, 4, None, "carla")
    assert len(queue) == 4 and queue["coded"].any()
    box = nb.review_widget(data, demo_out, None, "carla", n=4, queue=queue)
    first = next(w for w in _walk(box) if isinstance(w, widgets.HTML)
                 and "»" in w.value and "kans" in w.value)
    i = int(np.flatnonzero(queue["coded"].to_numpy())[0])  # a passage the coder coded
    no = [b for b in _walk(box) if getattr(b, "description", "") == "Hoort er niet bij"]
    no[i].click()
    decided = review.read_reviews(demo_out).iloc[-1]
    assert (decided["reviewer"], decided["segment_id"], decided["code_id"], decided["decision"]) \
        == ("carla", queue["segment_id"].iloc[i], queue["code_id"].iloc[i], "reject")
    recode = next(b for b in _walk(box) if getattr(b, "description", "") == "Opnieuw coderen")
    recode.click()
    shown = html.unescape(" ".join(w.value for w in _walk(box) if isinstance(w, widgets.HTML)))
    assert re.search(r"Opnieuw gecodeerd in \d+ s: \d+ passage\(s\) veranderd", shown), shown
    # The rejected passage is among the changes, by its text.
    assert "<td style='text-align:left;vertical-align:top'>afgewezen</td>" in shown
    assert queue["text"].iloc[i] in shown
    assert first not in list(_walk(box))  # the passages were replaced by the next ones
    after = nb.next_passages(nb.load(demo_out, CODEBOOK), 4, None, "carla")
    pairs = set(zip(after["segment_id"], after["code_id"], strict=True))
    assert (decided["segment_id"], decided["code_id"]) not in pairs
    assert not re.search(r"\b[0-9a-f]{16}\b", shown)  # no segment id anywhere
