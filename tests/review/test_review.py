"""Review decisions persist across re-runs, bad rows are reported, calibration helps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import config, schema, storage
from pipeline.cli import app
from pipeline.coding import coder
from pipeline.coding import command as code
from pipeline.coding.codebook import load_codebook
from pipeline.coding.prototypes import segment_vectors
from pipeline.models.cache import EmbeddingCache
from pipeline.review import command as review_command
from pipeline.review import decisions as review
from pipeline.review.agreement import agreement, gold_labels, read_gold
from tests.conftest import CODEBOOK, DEMO_RAW, ROOT

runner = CliRunner()
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def codings_of(out):
    return storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)


def status_of(codings: pd.DataFrame) -> dict[tuple[str, str], str]:
    keys = zip(codings["segment_id"], codings["code_id"], strict=True)
    return dict(zip(keys, codings["status"], strict=True))


HEADER = "segment_id,code_id,decision,reviewer,timestamp,note\n"


@pytest.mark.parametrize(
    "row, fragment",
    [
        ("s1,L3,misschien,an,2026-11-27T10:00:00,\n", "line 2: decision must be one of"),
        ("s1,L99,accept,an,2026-11-27T10:00:00,\n", "line 2: code 'L99' is not in the codebook"),
        ("s1,L3,accept,an,27-11-2026 10u,\n", "line 2: timestamp must be ISO 8601"),
        ("s1,L3,accept\n", "line 2: has 3 cells, the header has 6"),
        (",L3,accept,an,2026-11-27T10:00:00,\n", "line 2: segment_id is empty"),
    ],
)
def test_bad_review_rows_reported_with_line_and_skipped(row, fragment):
    good = "s2,L1,reject,an,2026-11-27T11:00:00,past niet\n"
    reviews, issues = review.parse_reviews(HEADER + row + good, {"L1", "L3"})
    assert [str(i) for i in issues] and fragment in str(issues[0])
    assert str(issues[0]).startswith("reviews.csv line 2")
    assert reviews["segment_id"].tolist() == ["s2"]


def test_header_missing_a_column_is_reported():
    reviews, issues = review.parse_reviews("segment_id,code_id,decision\ns1,L1,accept\n")
    assert reviews.empty and "line 1: the header lacks" in str(issues[0])


def test_latest_decision_wins_and_add_becomes_human_coding():
    codings = schema.CODINGS.conform(pd.DataFrame({
        "segment_id": ["a", "b"], "code_id": ["L1", "L2"], "method": ["rule", "embedding"],
        "score": [np.nan, 0.05], "evidence": ["x", "y"], "status": ["auto", "auto"],
        "codebook_sha256": ["h", "h"], "model_id": ["m", "m"]}))
    text = HEADER + (
        "a,L1,reject,an,2026-11-27T10:00:00,\n"
        "a,L1,accept,an,2026-11-27T12:00:00,toch wel\n"
        "b,L2,reject,an,2026-11-27T10:00:00,\n"
        "c,L5,add,an,2026-11-27T10:00:00,gemist\n"
        "gone,L1,accept,an,2026-11-27T10:00:00,\n")
    reviews, issues = review.parse_reviews(text, {"L1", "L2", "L5"})
    assert not issues
    out, notes = review.apply_reviews(codings, reviews, {"a", "b", "c"})
    status = status_of(out)
    assert status == {("a", "L1"): "accepted", ("b", "L2"): "rejected", ("c", "L5"): "accepted"}
    human = out[out["method"] == "human"]
    assert human["segment_id"].tolist() == ["c"] and "gemist" in human["evidence"].iloc[0]
    assert notes and "no longer exist" in notes[0] and "line 6" in notes[0]


@pytest.mark.slow
def test_decisions_survive_codeer_run_and_log_is_untouched(demo_copy):
    out = demo_copy
    auto = codings_of(out)
    assert len(auto) >= 3
    rejected = auto.iloc[:2]
    for i, row in enumerate(rejected.itertuples()):
        review.record(out, row.segment_id, row.code_id, "reject", "an",
                      timestamp=T0 + timedelta(minutes=i))
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    coded = set(auto["segment_id"])
    free = segments[(segments["role"] == "respondent") & ~segments["segment_id"].isin(coded)]
    added = free.iloc[0]["segment_id"]
    review.record(out, added, "L6", "add", "an", note="over snijvlakken",
                  timestamp=T0 + timedelta(minutes=5))
    log_before = (out / config.REVIEWS_FILE).read_bytes()

    result = runner.invoke(app, ["run", "--raw", str(DEMO_RAW), "--out", str(out), "-q",
                                 "--codebook", str(CODEBOOK)])
    assert result.exit_code == 0, result.output
    after = codings_of(out)
    status = status_of(after)
    for row in rejected.itertuples():
        assert status[(row.segment_id, row.code_id)] == "rejected"
    human = after[after["method"] == "human"]
    assert (human["segment_id"] == added).any() and status[(added, "L6")] == "accepted"
    assert (out / config.REVIEWS_FILE).read_bytes() == log_before


@pytest.mark.slow
def test_calibration_on_simulated_review_improves_f1(demo_copy):
    """A reviewer who follows the hand-made gold reviews the top candidates of every code."""
    out = demo_copy
    book, _ = load_codebook(CODEBOOK)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    target = coder.select_scope(segments, "respondent")
    gold = gold_labels(target, read_gold(ROOT / "tests" / "data" / "demo_gold.csv", documents))
    cache = EmbeddingCache(out / config.CACHE_DIR)
    vectors = segment_vectors(target, segments, cache, book.defaults.context)
    scores, _ = coder.embedding_scores(vectors, coder.embed_codebook(book, cache))
    auto = codings_of(out)
    auto_pairs = set(zip(auto["segment_id"], auto["code_id"], strict=True))
    lessons = [f"L{i}" for i in range(1, 9)]
    minute = 0
    for j, c in enumerate(book.codes):
        if c.id not in lessons:
            continue
        for i in np.argsort(-scores[:, j])[:80]:  # the 80 best candidates of the code
            seg_id = target["segment_id"].iloc[i]
            truth = c.id in gold[seg_id]
            decision = ("accept" if (seg_id, c.id) in auto_pairs else "add") if truth \
                else "reject"
            review.record(out, seg_id, c.id, decision, "sim",
                          timestamp=T0 + timedelta(seconds=minute))
            minute += 1

    def auto_f1() -> float:
        cod = codings_of(out)
        cod = cod[cod["method"] != "human"]  # the coder's own decisions, before review
        predicted: dict[str, set[str]] = {}
        for s, c in zip(cod["segment_id"], cod["code_id"], strict=True):
            predicted.setdefault(s, set()).add(c)
        return agreement(gold, predicted, lessons)[1]["macro_f1"]

    before = auto_f1()
    content = review_command.calibrate(out, CODEBOOK)
    assert any(v["calibrated"] for v in content["codes"].values())
    code.run(out, CODEBOOK, progress=False)
    after = auto_f1()
    print(f"demo macro-F1 against the gold: default thresholds {before:.3f}, calibrated "
          f"{after:.3f}; thresholds " + ", ".join(
              f"{k}={v['threshold']:+.3f}" for k, v in content["codes"].items()))
    assert after > before
