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
from pipeline.errors import CodeerError
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


# --------------------------------------------------------------------- the log under stress


@pytest.fixture(scope="module")
def small_out(tmp_path_factory):
    """Four turns of a real debate ingested: an OUT folder with segments to review."""
    from pipeline.ingest import command as ingest
    from tests.ingest.test_ingest import TURNS, WRITERS

    root = tmp_path_factory.mktemp("review")
    (root / "raw").mkdir()
    WRITERS[".txt"](root / "raw" / "debat.txt", TURNS)
    ingest.run(root / "raw", root / "out", progress=False)
    return root / "out"


def fresh_out(small_out, path):
    """A copy of ``small_out`` without a review log; its segment ids."""
    import shutil

    shutil.copytree(small_out, path)
    segments = storage.read_table(path / config.SEGMENTS_FILE, schema.SEGMENTS)
    return path, segments["segment_id"].tolist()


def test_append_after_a_log_without_final_newline_loses_nothing(small_out, tmp_path):
    """Reproduction: reviews.csv saved by an editor without its final newline; the next
    decision was glued onto the last line and silently lost."""
    out, ids = fresh_out(small_out, tmp_path / "out")
    review.record(out, ids[0], "L1", "accept", "an", timestamp=T0)
    path = out / config.REVIEWS_FILE
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # as an editor saves it
    review.record(out, ids[1], "L3", "reject", "bo", note="past niet",
                  timestamp=T0 + timedelta(minutes=1))
    reviews, issues = review.parse_reviews(path.read_text(encoding="utf-8"))
    assert not issues
    assert reviews[["segment_id", "code_id", "decision"]].values.tolist() == [
        [ids[0], "L1", "accept"], [ids[1], "L3", "reject"]]


def test_glued_line_is_reported_not_misread():
    glued = HEADER + "s1,L1,accept,an,2026-11-27T10:00:00,s2,L3,reject,bo,2026-11-27T11:00:00,\n"
    reviews, issues = review.parse_reviews(glued)
    assert reviews.empty and "line 2: has 11 cells, the header has 6" in str(issues[0])


def test_log_saved_by_dutch_excel_is_read_and_appended_in_its_own_dialect(small_out, tmp_path):
    """Reproduction: a reviews.csv saved by Dutch Excel (';', BOM, CRLF) was ignored in full
    while `codeer review` kept appending comma rows to it."""
    out, ids = fresh_out(small_out, tmp_path / "out")
    rows = [";".join(review.COLUMNS),
            f"{ids[0]};L1;accept;an;2026-11-27T10:00:00;klopt, zeker",
            f"{ids[1]};L3;reject;an;2026-11-27T10:05:00;"]
    path = out / config.REVIEWS_FILE
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8") + b"\r\n")
    review.record(out, ids[2], "L5", "add", "bo", note="gemist; echt", timestamp=T0)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == 4
    assert data.endswith(f'{ids[2]};L5;add;bo;{T0.isoformat()};"gemist; echt"\r\n'.encode())
    reviews = review.read_reviews(out, {"L1", "L3", "L5"})
    assert reviews[["segment_id", "decision", "note"]].values.tolist() == [
        [ids[0], "accept", "klopt, zeker"], [ids[1], "reject", ""],
        [ids[2], "add", "gemist; echt"]]


def _record_rounds(out_dirs, segment, reviewer, barrier):
    for i, out in enumerate(out_dirs):
        barrier.wait()
        review.record(out, segment, "L1", "accept", reviewer,
                      timestamp=T0 + timedelta(minutes=i))


def test_fifty_rounds_of_two_concurrent_reviews_lose_nothing_and_write_one_header(
        small_out, tmp_path):
    """Two `codeer review` at once, 50 times, each time on a new log: every decision is kept
    and the header is written once (reproduction: a duplicated header when two reviews start a
    new log at once)."""
    import multiprocessing

    rounds = 50
    outs = []
    for i in range(rounds):
        out, ids = fresh_out(small_out, tmp_path / f"out{i}")
        outs.append(out)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_record_rounds, args=(outs, ids[k], name, barrier))
               for k, name in enumerate(("an", "bo"))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert [w.exitcode for w in workers] == [0, 0]
    for out in outs:
        text = (out / config.REVIEWS_FILE).read_text(encoding="utf-8")
        assert text.count("segment_id") == 1, text
        reviews, issues = review.parse_reviews(text)
        assert not issues and sorted(reviews["reviewer"]) == ["an", "bo"]


def test_gold_file_that_is_not_utf8_exits_2_with_file_and_line(small_out, tmp_path):
    """Reproduction: `evaluate --gold` on a non-UTF-8 file exited 3 "unexpected"."""
    documents = storage.read_table(small_out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    path = tmp_path / "gold.csv"
    path.write_bytes("document,text,codes\ndebat,Voorzitter,L1\ndebat,één loket,L3\n"
                     .encode("cp1252"))
    with pytest.raises(CodeerError) as info:
        read_gold(path, documents)
    assert info.value.exit_code == 2
    assert str(info.value).startswith("gold.csv line 3: must be UTF-8 text. Got byte 0xe9")
