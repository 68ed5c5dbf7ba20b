"""What the coder learns from a researcher: the queue, simulated reviewers, the learning curve,
gold files per paragraph, and the commands around them."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import config, schema, storage
from pipeline.cli import app
from pipeline.coding import coder
from pipeline.coding.codebook import load_codebook
from pipeline.errors import CodeerError
from pipeline.models.cache import EmbeddingCache
from pipeline.review import learning
from pipeline.review.gold import paragraphs, passage_agreement, read_any_gold
from tests.conftest import CODEBOOK, DEMO_RAW, ROOT, SIGNALEN

runner = CliRunner()
DEMO_GOLD = ROOT / "tests" / "data" / "demo_gold.csv"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo interviews ingested (no codes yet)."""
    from pipeline.ingest import command as ingest

    out = tmp_path_factory.mktemp("learning") / "out"
    ingest.run(DEMO_RAW, out, progress=False)
    return out


def _batch(out):
    book, _ = load_codebook(CODEBOOK)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    target = coder.select_scope(segments, "respondent")
    prepared = coder.prepare(target, segments, documents, book, EmbeddingCache(None))
    return book, documents, target, prepared


# --------------------------------------------------------------------------- gold files


def test_paragraph_gold_is_read_by_file_and_line_and_checked(tmp_path):
    """The development-set format: the para-th non-empty line not starting with '#'; the sha1
    (as is, stripped or without the speaker label) detects a changed transcript."""
    text = SIGNALEN.read_text(encoding="utf-8")
    paras = paragraphs(text)
    line = text[paras[3][0]:paras[3][1]]
    documents = pd.DataFrame({"document_id": ["sig"], "source_path": [f"x/{SIGNALEN.name}"],
                              "text": [text]})
    gold = tmp_path / "gold.jsonl"
    sha = hashlib.sha1(line.strip().encode()).hexdigest()[:12]
    rows = [{"file": f"signalen/{SIGNALEN.name}", "para": 3, "sha1": sha, "codes": ["L5"]},
            {"file": f"signalen/{SIGNALEN.name}", "para": 4, "codes": []},
            {"file": "elders/niet-in-deze-batch.txt", "para": 0, "codes": ["L1"]}]
    gold.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    read = read_any_gold(gold, documents)
    assert read[["document_id", "start", "end"]].values.tolist() == [
        ["sig", *paras[3]], ["sig", *paras[4]]]
    assert read["codes"].tolist() == [["L5"], []]
    changed = documents.assign(text=text.replace(line, line.replace("e", "a", 1)))
    with pytest.raises(CodeerError, match="regel 1: alinea 3 .* veranderd sinds hij gecodeerd is"):
        read_any_gold(gold, changed)
    rows[0]["para"] = 999
    gold.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(CodeerError, match="regel 1: para moet een alinea van"):
        read_any_gold(gold, documents)


def test_passage_agreement_counts_a_passage_once():
    segments = pd.DataFrame({"document_id": ["d"] * 4, "segment_id": list("abcd"),
                             "start": [0, 10, 20, 30], "end": [9, 19, 29, 39]})
    gold = pd.DataFrame({"document_id": ["d", "d"], "start": [0, 20], "end": [19, 39],
                         "codes": [["L1"], []]})
    # the coder finds L1 in the second sentence of passage 1, and codes passage 2 too
    table, pooled = passage_agreement(segments, gold, {"b": {"L1"}, "c": {"L2"}}, ["L1", "L2"])
    assert pooled["passages"] == 2 and pooled["false_positive_rate"] == 1.0
    assert table.set_index("code_id").loc["L1", "tp"] == 1
    assert table.set_index("code_id").loc["L2", "fp"] == 1


# --------------------------------------------------------------------------- simulation


def test_simulated_full_review_accepts_rejects_and_adds_per_paragraph():
    target = pd.DataFrame({"document_id": ["d"] * 3 + ["e"], "segment_id": list("abcx"),
                           "start": [0, 10, 20, 0], "end": [9, 19, 29, 9]})
    gold = pd.DataFrame({"document_id": ["d", "d"], "start": [0, 20], "end": [19, 29],
                         "codes": [["L1"], []]})
    codings = pd.DataFrame({"segment_id": ["a", "c", "x"], "code_id": ["L1", "L2", "L1"],
                            "method": ["embedding", "rule", "embedding"]})
    d = learning.simulate_full_review(target, codings, gold, {"d"}, ["L1", "L2"])
    got = sorted(zip(d["segment_id"], d["code_id"], d["decision"], strict=True))
    # a: coded and right; b: same paragraph, missed, added; c: coded but wrong; x: not reviewed
    assert got == [("a", "L1", "accept"), ("b", "L1", "add"), ("c", "L2", "reject")]
    assert (d["reviewer"] == learning.SIMULATED_REVIEWER).all()
    assert d["time"].is_monotonic_increasing


def test_queue_teaches_in_turn_one_passage_per_paragraph_and_skips_decisions(demo,
                                                                             fake_embedder):
    book, _, target, prepared = _batch(demo)
    scores = coder.score(prepared, target, learning._decision_frame([], learning.datetime.now(
        learning.UTC)))
    thresholds = {c.id: book.threshold_of(c) for c in book.codes}
    first = learning.review_queue(target, scores, prepared.window_vectors,
                                  prepared.units.paragraph_of, thresholds, set(), 18)
    assert len(first) == 18
    assert set(first["reason"]) <= {"onzeker", "waarschijnlijk"}
    assert first["code_id"].iloc[:9].nunique() == 9  # every code once before any code twice
    para = dict(zip(target["segment_id"], prepared.units.paragraph_of, strict=True))
    pairs = [(para[s], c) for s, c in zip(first["segment_id"], first["code_id"], strict=True)]
    assert len(pairs) == len(set(pairs))
    decided = set(zip(first["segment_id"], first["code_id"], strict=True))
    again = learning.review_queue(target, scores, prepared.window_vectors,
                                  prepared.units.paragraph_of, thresholds, decided, 18)
    assert not decided & set(zip(again["segment_id"], again["code_id"], strict=True))
    mixed = learning.review_queue(target, scores, prepared.window_vectors,
                                  prepared.units.paragraph_of, thresholds, set(), 18,
                                  settings=learning.QueueSettings(likely_share=0.5))
    assert set(mixed["reason"]) == {"onzeker", "waarschijnlijk"}


def test_learning_curve_holds_documents_out(demo, fake_embedder):
    book, documents, target, prepared = _batch(demo)
    from pipeline.review.gold import read_any_gold

    gold = read_any_gold(DEMO_GOLD, documents)
    thresholds = {c.id: book.threshold_of(c) for c in book.codes}
    lessons = [f"L{i}" for i in range(1, 9)]
    table = learning.learning_curve(prepared, target, gold, lessons, thresholds,
                                    steps=(0, 25), folds=3)
    folds = table[table["fold"] != "alle"]
    assert sorted(folds["fold"].unique()) == ["1", "2", "3"]
    assert set(folds["decisions"]) == {0, 25}
    pooled = table[table["fold"] == "alle"]
    assert pooled["decisions"].tolist() == [0, 25]
    # every gold passage is held out exactly once
    assert pooled["passages"].iloc[0] == folds[folds["decisions"] == 0]["passages"].sum()
    assert table[["kappa", "precision", "recall"]].stack().between(-1, 1).all()


# --------------------------------------------------------------------------- commands


def test_review_next_shows_the_queue_in_dutch_and_records_nothing(demo, tmp_path,
                                                                  fake_embedder):
    out = tmp_path / "out"
    shutil.copytree(demo, out)
    assert runner.invoke(app, ["code", "--out", str(out), "-q"]).exit_code == 0
    result = runner.invoke(app, ["review", "--next", "3", "--code", "L5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.count("L5 Duidelijke opdracht") == 3
    assert "»" in result.output and "codeer review --segment" in result.output
    assert "Voortgang" in result.output and "besluiten" in result.output
    assert not (out / config.REVIEWS_FILE).exists()
    bad = runner.invoke(app, ["review", "--out", str(out), "--code", "L5"])
    assert bad.exit_code == 2 and "Ontbreekt: --segment, --decision, --reviewer" in bad.output


def test_evaluate_learning_curve_command(demo, tmp_path, fake_embedder):
    out = tmp_path / "out"
    shutil.copytree(demo, out)
    result = runner.invoke(app, ["evaluate", "--out", str(out), "--gold", str(DEMO_GOLD),
                                 "--learning-curve", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["decisions"] for r in rows if r["fold"] == "alle"} == set(learning.STEPS)
    assert (out / "learning_curve.json").exists()
    no_gold = runner.invoke(app, ["evaluate", "--out", str(out), "--reviews",
                                  "--learning-curve"])
    assert no_gold.exit_code == 2 and "--learning-curve moet samen met --gold" in no_gold.output
