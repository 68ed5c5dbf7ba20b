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
from pipeline.errors import CodeerError
from pipeline.review import command as review_command
from pipeline.review import decisions as review
from pipeline.review.agreement import read_gold
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
        ("s1,L3,misschien,an,2026-11-27T10:00:00,\n", "regel 2: decision moet een van"),
        ("s1,L99,accept,an,2026-11-27T10:00:00,\n",
         "regel 2: code 'L99' staat niet in het codeboek"),
        ("s1,L3,accept,an,27-11-2026 10u,\n", "regel 2: timestamp moet ISO 8601 zijn"),
        ("s1,L3,accept\n", "regel 2: heeft 3 cellen, de rij met kolomnamen heeft er 6"),
        (",L3,accept,an,2026-11-27T10:00:00,\n", "regel 2: segment_id is leeg"),
    ],
)
def test_bad_review_rows_reported_with_line_and_skipped(row, fragment):
    good = "s2,L1,reject,an,2026-11-27T11:00:00,past niet\n"
    reviews, issues = review.parse_reviews(HEADER + row + good, {"L1", "L3"})
    assert [str(i) for i in issues] and fragment in str(issues[0])
    assert str(issues[0]).startswith("reviews.csv regel 2")
    assert reviews["segment_id"].tolist() == ["s2"]


def test_header_missing_a_column_is_reported():
    reviews, issues = review.parse_reviews("segment_id,code_id,decision\ns1,L1,accept\n")
    assert reviews.empty and "regel 1: de kolomnamen in de eerste rij missen" in str(issues[0])


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
    assert notes and "niet meer bestaan" in notes[0] and "regel 6" in notes[0]


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
    # the added pair is an accepted coding: a human one, or the coder's own once it has
    # learned the code from this very decision
    assert status[(added, "L6")] == "accepted"
    row = after[(after["segment_id"] == added) & (after["code_id"] == "L6")].iloc[0]
    assert row["reviewer"] == "an"
    assert (out / config.REVIEWS_FILE).read_bytes() == log_before


@pytest.mark.slow
def test_reviewing_some_interviews_makes_the_others_more_precise(demo_copy):
    """A researcher reviews four demo interviews in full against the hand-made gold (accepts,
    rejects, adds per passage); after `codeer code` the coder's codes on the three interviews
    nobody reviewed are more precise: it learned what the researcher rejects.

    On the demo it also codes less (recall 0.58 -> 0.47, kappa 0.565 -> 0.517 with the default
    settings): the codebook was written with these lesson-dense interviews in mind, so the
    reviews mostly teach caution. On real text the codebook fits badly and the same reviews
    raise kappa (Heerenveen, documents held out: 0.22 -> 0.41, docs/learning.md). Kappa is
    therefore printed, not asserted, here.
    """
    from pipeline.review.gold import passage_agreement, read_any_gold
    from pipeline.review.learning import simulate_full_review

    out = demo_copy
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    target = coder.select_scope(segments, "respondent")
    gold = read_any_gold(ROOT / "tests" / "data" / "demo_gold.csv", documents)
    reviewed, held = {"int01", "int02", "int03", "int04"}, {"int05", "int06", "int07"}
    lessons = [f"L{i}" for i in range(1, 9)]

    def held_out() -> dict[str, float]:
        cod = codings_of(out)
        cod = cod[(cod["method"] != "human") & (cod["status"] != "rejected")]
        predicted: dict[str, set[str]] = {}
        for s, c in zip(cod["segment_id"], cod["code_id"], strict=True):
            predicted.setdefault(s, set()).add(c)
        test = target[target["document_id"].isin(held)]
        return passage_agreement(test, gold[gold["document_id"].isin(held)], predicted,
                                 lessons)[1]

    before = held_out()
    decisions = simulate_full_review(target, codings_of(out), gold, reviewed, lessons)
    review.record_many(out, [
        {"segment_id": r.segment_id, "code_id": r.code_id, "decision": r.decision,
         "reviewer": "sim", "timestamp": T0 + timedelta(seconds=i)}
        for i, r in enumerate(decisions.itertuples())])
    code.run(out, CODEBOOK, progress=False)
    after = held_out()
    print(f"demo, 3 interviews nobody reviewed, after {len(decisions)} decisions on 4 others: "
          f"precision {before['precision']:.3f} -> {after['precision']:.3f}, recall "
          f"{before['recall']:.3f} -> {after['recall']:.3f}, kappa {before['kappa']:.3f} -> "
          f"{after['kappa']:.3f}")
    assert after["precision"] > before["precision"] + 0.02
    # Learning must not undo the coder: it still finds a fair share of the gold codes.
    assert after["recall"] > 0.3


@pytest.mark.slow
def test_calibrate_writes_probability_thresholds_that_code_uses(demo_copy):
    """calibrate chooses per-code thresholds between 0 and 1 from out-of-fold probabilities of
    the reviewed pairs; codeer code then codes with them."""
    out = demo_copy
    auto = codings_of(out)
    minute = 0
    for code_id, group in auto.groupby("code_id"):
        for i, seg_id in enumerate(group["segment_id"].head(12)):
            review.record(out, seg_id, code_id, "accept" if i % 3 else "reject", "sim",
                          timestamp=T0 + timedelta(minutes=minute))
            minute += 1
    content = review_command.calibrate(out, CODEBOOK)
    done = {k: v for k, v in content["codes"].items() if v["calibrated"]}
    assert done and all(0 < v["threshold"] < 1 for v in done.values())
    code.run(out, CODEBOOK, progress=False)
    again = codings_of(out)
    machine = again[again["method"] != "human"]
    for code_id, entry in done.items():
        scores = machine.loc[machine["code_id"] == code_id, "score"]
        assert (scores >= entry["threshold"] - 1e-9).all()


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
    assert reviews.empty and "regel 2: heeft 11 cellen, de rij met kolomnamen heeft er 6" \
        in str(issues[0])


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
    assert str(info.value).startswith("gold.csv regel 3: moet UTF-8-tekst zijn. Gevonden: "
                                      "byte 0xe9")
