"""Passages: adjacent sentences of one turn with the same code are one coding, at export.

The transcript is a short real-style interview (sentences of the demo interview int02), ingested
as a researcher's file would be; codings are set by hand per sentence, the way the coder and the
review log record them (one row per segment and code).
"""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest
from lxml import etree

from pipeline.export import passages, refiqda, tables
from pipeline.ingest import command as ingest
from tests.export.test_export import BOOK

NS = {"q": refiqda.PROJECT_NS}
TRANSCRIPT = """\
I: Hoe kwam je bij de Omgevingsvisie terecht?

R: Nou, eigenlijk een beetje per ongeluk. Mijn teamleider kreeg een mail van: wie gaat er \
namens Duurzaamheid in de werkgroep zitten? En ik was net klaar met de Transitievisie Warmte. \
Dat was in het najaar van 2019.

I: Klopte dat beeld?

R: Deels wel, deels niet. En dat is eigenlijk het interessante. In een van de eerste sessies \
deed de voorzitter een rondje van: wat denk je dat de anderen van jouw onderwerp vinden?
"""


@pytest.fixture(scope="module")
def interview(tmp_path_factory):
    """The documents and the nine segments: 0 I, 1-4 R (turn 1), 5 I, 6-8 R (turn 3)."""
    root = tmp_path_factory.mktemp("passages")
    raw = root / "raw"
    raw.mkdir()
    (raw / "gesprek.txt").write_text(TRANSCRIPT, encoding="utf-8")
    result = ingest.run(raw, root / "out", progress=False)
    segments = result.segments.sort_values("segment_index").reset_index(drop=True)
    assert segments["turn_index"].tolist() == [0, 1, 1, 1, 1, 2, 3, 3, 3]
    return result.documents, segments


def _codings(segments: pd.DataFrame, rows: list[tuple]) -> pd.DataFrame:
    """Codings from ``(segment number, code, method, probability, status)`` rows."""
    return pd.DataFrame([
        {"segment_id": segments.loc[i, "segment_id"], "code_id": code, "method": method,
         "score": score, "evidence": f"regel {code}: zin {i}" if method != "embedding"
         else f"lijkt op: voorbeeld {code}", "status": status, "reviewer": None,
         "reviewed_at": None, "codebook_sha256": "0" * 64, "model_id": "test"}
        for i, code, method, score, status in rows])


def _ids(segments: pd.DataFrame, *numbers: int) -> list[str]:
    return [segments.loc[i, "segment_id"] for i in numbers]


def test_adjacent_sentences_of_one_turn_with_the_same_code_are_one_passage(interview):
    documents, segments = interview
    codings = _codings(segments, [
        (1, "L1", "embedding", 0.61, "accepted"), (2, "L1", "both", 0.83, "auto"),
        (3, "L1", "embedding", 0.55, "accepted"),
        (6, "L1", "embedding", 0.7, "auto"), (8, "L1", "embedding", 0.9, "auto"),
    ])
    rows = passages.passage_codings(codings, segments, [c.id for c in BOOK.codes])
    assert rows["segment_ids"].tolist() == [_ids(segments, 1, 2, 3), _ids(segments, 6),
                                            _ids(segments, 8)]  # 7 has no L1: two passages
    first = rows.iloc[0]
    text = documents["text"].iloc[0]
    assert text[first["start"]:first["end"]] == " ".join(segments.loc[1:3, "text"])
    assert first["n_segments"] == 3 and first["codes"] == ["L1"]
    assert first["status"] == "auto"  # one sentence not reviewed yet: not accepted
    assert first["method"] == "both" and first["probability"] == pytest.approx(0.83)
    assert first["evidence"] == "regel L1: zin 2 | lijkt op: voorbeeld L1"  # each part once
    assert first["rows"] == [0, 1, 2]


def test_sentences_of_different_turns_stay_apart(interview):
    """Segment 4 (the respondent's last sentence) and 5 (the interviewer's question) follow
    each other in the text, but belong to different turns."""
    _, segments = interview
    codings = _codings(segments, [(4, "L5", "embedding", 0.6, "auto"),
                                  (5, "L5", "embedding", 0.6, "auto"),
                                  (6, "L5", "embedding", 0.6, "auto")])
    rows = passages.passage_codings(codings, segments)
    assert rows["segment_ids"].tolist() == [_ids(segments, 4), _ids(segments, 5),
                                            _ids(segments, 6)]


def test_a_passage_carries_every_code_of_its_sentences(interview):
    _, segments = interview
    codings = _codings(segments, [
        (6, "L2", "embedding", 0.7, "auto"), (7, "L2", "embedding", 0.6, "accepted"),
        (6, "L1", "rule", float("nan"), "auto"), (7, "L1", "embedding", 0.8, "auto"),
        (7, "L5", "embedding", 0.9, "auto"),  # one sentence only: a passage of its own
    ])
    rows = passages.passage_codings(codings, segments, [c.id for c in BOOK.codes])
    both = rows[rows["codes"].map(len) == 2]
    assert both["code_id"].tolist() == ["L1", "L2"]  # codebook order
    assert both["passage_id"].nunique() == 1 and both["codes"].iloc[0] == ["L1", "L2"]
    assert both["segment_ids"].iloc[0] == _ids(segments, 6, 7)
    assert both.set_index("code_id")["method"].to_dict() == {"L1": "both", "L2": "embedding"}
    alone = rows[rows["code_id"] == "L5"].iloc[0]
    assert alone["segment_ids"] == _ids(segments, 7) and alone["codes"] == ["L5"]
    whole = passages.passages(codings, segments, [c.id for c in BOOK.codes])
    assert len(whole) == 2
    multi = whole[whole["codes"].map(len) == 2].iloc[0]
    assert multi["evidence"].startswith("L1: regel L1: zin 6 | ")
    assert multi["probability"] == pytest.approx(0.8)


def test_a_rejected_sentence_splits_a_passage(interview):
    """A passage is rejected only when all its sentences are; a rejected sentence inside a
    coded stretch is no part of the passages around it."""
    _, segments = interview
    codings = _codings(segments, [
        (1, "L6", "embedding", 0.6, "accepted"), (2, "L6", "embedding", 0.6, "rejected"),
        (3, "L6", "embedding", 0.6, "rejected"), (4, "L6", "embedding", 0.6, "accepted"),
    ])
    rows = passages.passage_codings(codings, segments)
    got = {tuple(ids): status for ids, status in zip(rows["segment_ids"], rows["status"],
                                                      strict=True)}
    assert got == {tuple(_ids(segments, 1)): "accepted", tuple(_ids(segments, 2, 3)): "rejected",
                   tuple(_ids(segments, 4)): "accepted"}
    assert len(passages.counted(rows)) == 2


@pytest.mark.parametrize("methods, mixed", [
    (["embedding", "embedding"], "embedding"),
    (["rule", "embedding"], "both"),
    (["both", "embedding"], "both"),
    (["human", "embedding"], "embedding"),  # found by the machine, partly coded by hand
    (["human", "rule"], "rule"),
    (["human", "human"], "human"),
])
def test_methods_mix(methods, mixed):
    assert passages.mix_method(methods) == mixed


@pytest.mark.parametrize("statuses, mixed", [
    (["accepted", "accepted"], "accepted"),
    (["accepted", "auto"], "auto"),
    (["rejected", "rejected"], "rejected"),
    (["auto"], "auto"),
])
def test_statuses_mix(statuses, mixed):
    assert passages.mix_status(statuses) == mixed


def _qde(project: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(project)) as zf:
        return zf.read("project.qde")


def test_refi_qda_selection_spans_the_passage_and_validates(interview):
    documents, segments = interview
    codings = _codings(segments, [
        (1, "L1", "embedding", 0.61, "accepted"), (2, "L1", "both", 0.83, "auto"),
        (3, "L1", "embedding", 0.55, "accepted"),
        (6, "L2", "embedding", 0.7, "auto"), (7, "L2", "embedding", 0.6, "auto"),
        (6, "L5", "embedding", 0.8, "accepted"), (7, "L5", "embedding", 0.5, "accepted"),
        (8, "L6", "embedding", 0.4, "rejected"),
    ])
    project = refiqda.build_project(documents, segments, codings, BOOK, reviewers=("Renate",))
    qde = _qde(project)
    assert refiqda.validate(qde, "project") == []
    text = documents["text"].iloc[0]
    back = refiqda.read_project(project)
    spans = sorted({(b["start"], b["end"]) for b in back})
    first, last = segments.loc[1], segments.loc[3]
    assert (int(first["start"]), int(last["end"])) in spans  # start of the first, end of last
    assert len(spans) == 2  # one selection per passage; the rejected sentence left out
    by_code = {b["code_name"].split()[0]: b for b in back}
    assert by_code["L1"]["text"] == text[int(first["start"]):int(last["end"])]
    assert by_code["L1"]["description"].startswith(
        "codeer | regel én model, kans op acceptatie 0,830, automatisch | waarom: ")
    assert by_code["L1"]["user"] == refiqda.AUTOMATIC_USER  # sentence 2 not reviewed yet
    # One selection with two codings for the passage that carries L2 and L5.
    root = etree.fromstring(qde)
    sels = root.findall(".//q:PlainTextSelection", NS)
    assert sorted(len(s.findall("q:Coding", NS)) for s in sels) == [1, 2]
    two = next(s for s in sels if len(s.findall("q:Coding", NS)) == 2)
    assert two.get("guid") == refiqda.guid("selection", documents["document_id"].iloc[0],
                                           segments.loc[6, "segment_id"], "L2")
    users = {u.get("guid"): u.get("name") for u in root.iter(f"{{{refiqda.PROJECT_NS}}}User")}
    coders = sorted(users[c.get("creatingUser")] for c in two.findall("q:Coding", NS))
    assert coders == ["Renate", refiqda.AUTOMATIC_USER]  # L5 accepted, L2 automatic
    assert "L2: " in two.findtext("q:Description", namespaces=NS)


def test_excerpts_and_counts_follow_the_passages(interview):
    documents, segments = interview
    codings = _codings(segments, [
        (1, "L1", "embedding", 0.61, "auto"), (2, "L1", "both", 0.83, "auto"),
        (6, "L1", "embedding", 0.7, "auto"), (6, "L2", "embedding", 0.7, "auto"),
        (8, "L5", "embedding", 0.4, "rejected"),
    ])
    seg_texts = dict(zip(segments["segment_id"], segments["text"], strict=True))
    meta = documents[["document_id"]]
    ex = tables.excerpts_table(segments, codings, BOOK, meta, seg_texts, str)
    assert len(ex) == 4  # L1 on 1-2, L1 and L2 on 6, the rejected L5 on 8
    first = ex.iloc[0]
    assert first["text"] == f"{segments.loc[1, 'text']} {segments.loc[2, 'text']}"
    assert first["segment_ids"] == " ".join(_ids(segments, 1, 2)) and first["n_segments"] == 2
    assert first["text_in_context"] == (f"[interviewer] {segments.loc[0, 'text']} "
                                        f"»{first['text']}« {segments.loc[3, 'text']}")
    assert ex.set_index(["code_id", "n_segments"]).loc[("L1", 1), "other_codes"] == "L2"
    cd = tables.code_document_table(documents, segments, codings, BOOK)
    got = cd.set_index("code_id")[["n_passages", "n_segments"]].T.to_dict("list")
    assert got == {"L1": [2, 3], "L2": [1, 1], "L5": [0, 0], "L6": [0, 0]}
    iv = tables.interviews_table(documents, segments, codings, meta, BOOK)
    assert iv["n_passages"].tolist() == [2]  # the passage with L1 and L2 counts once
    cooc = tables.cooccurrence_table(segments, codings, BOOK, "passage")
    m = cooc.pivot(index="code_id_a", columns="code_id_b", values="n_passages")
    assert m.loc["L1", "L1"] == 2 and m.loc["L1", "L2"] == m.loc["L2", "L1"] == 1


def test_an_untouched_project_imports_as_accepted_passages(interview):
    """What the rejected-sentence rule is for: ``codeer import`` reads a selection as a coding
    of every sentence it covers, so exported passages must hold no rejected sentence."""
    from datetime import UTC, datetime

    from pipeline.review import caqdas_import, decisions, memos

    documents, segments = interview
    codings = _codings(segments, [
        (1, "L1", "embedding", 0.6, "auto"), (2, "L1", "embedding", 0.6, "rejected"),
        (3, "L1", "embedding", 0.6, "auto"), (4, "L1", "embedding", 0.6, "auto"),
        (6, "L2", "embedding", 0.7, "auto"), (7, "L2", "embedding", 0.6, "auto"),
        (6, "L5", "embedding", 0.8, "auto"), (7, "L5", "embedding", 0.5, "auto"),
    ])
    project, issues = caqdas_import.read_qdpx(refiqda.build_project(documents, segments,
                                                                    codings, BOOK))
    assert issues == []
    plan = caqdas_import.plan_import(
        project, documents, segments, codings, BOOK, decisions.parse_reviews("")[0],
        memos.parse_memos("")[0], reviewer="Renate", now=datetime(2025, 1, 1, tzinfo=UTC))
    assert plan.issues == []
    got = {(d["segment_id"], d["code_id"], d["decision"]) for d in plan.decisions}
    kept = codings[codings["status"] != "rejected"]
    assert got == {(s, c, "accept") for s, c in zip(kept["segment_id"], kept["code_id"],
                                                    strict=True)}
