"""The benchmark's corpus scaler and results writer (fast: no model, no timing assertions)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bench import bench
from pipeline import hooks
from tests.conftest import DEMO_RAW

SOURCES = [DEMO_RAW / "int02.txt", DEMO_RAW / "int03.vtt", DEMO_RAW / "int06.txt"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _sentences(text: str) -> set[str]:
    return {s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) > 1}


def test_scaled_corpus_is_deterministic(tmp_path):
    a = bench.build_corpus(tmp_path / "a", 3, SOURCES)
    b = bench.build_corpus(tmp_path / "b", 3, SOURCES)
    assert _files(a.raw) == _files(b.raw)
    assert len(a.files) == 9


def test_x4_has_four_times_the_words_and_metadata_rows(tmp_path):
    one = bench.build_corpus(tmp_path / "x1", 1, SOURCES)
    four = bench.build_corpus(tmp_path / "x4", 4, SOURCES)
    words = sum(len((four.raw / f).read_text(encoding="utf-8", errors="replace").split())
                for f in four.files if f.endswith("_k01.txt"))
    assert four.words == 4 * one.words
    assert words > 0.95 * one.words  # one copy has about the words of the original
    meta = (four.raw / "interviews.csv").read_text(encoding="utf-8").splitlines()
    assert len(meta) == 1 + 12
    assert any(line.startswith("int02_k03,int02_k03.txt,Ahmed El Amrani") for line in meta)


def test_copies_differ_from_each_other_and_keep_speaker_labels(tmp_path):
    corpus = bench.build_corpus(tmp_path / "raw", 3, SOURCES)
    from pipeline.ingest.readers import read_file

    original = read_file(DEMO_RAW / "int06.txt").text
    one = (corpus.raw / "int06_k01.txt").read_text(encoding="utf-8")
    two = (corpus.raw / "int06_k02.txt").read_text(encoding="utf-8")
    assert one.count("\n") == original.count("\n")
    labels = [re.match(r"^\[[\d:]+\] [^:]+:", line) for line in original.splitlines()]
    for line, copy_line in zip(original.splitlines(), one.splitlines(), strict=True):
        label = re.match(r"^\[[\d:]+\] [^:]+:", line)
        if label:  # timestamped labels (int06) are never edited
            assert copy_line.startswith(label.group(0))
    assert any(labels)
    s0, s1, s2 = _sentences(original), _sentences(one), _sentences(two)
    assert len(s1 & s2) <= 0.02 * len(s1)
    assert len(s0 & s1) <= 0.02 * len(s1)


def test_vary_text_edits_every_sentence_injectively():
    text = "R: Ik denk dat we in Rotterdam samen moeten werken. Ja. Dat vind ik echt belangrijk!"
    copies = [bench.vary_text(text, k, "x") for k in range(6)]
    assert copies[0] == text
    assert len(set(copies)) == 6
    for c in copies[1:]:
        assert c.startswith("R: ")
        assert c.count(".") + c.count("!") == text.count(".") + text.count("!")


def _fake_stage(wall: float, **timers: float) -> dict:
    return {"wall_s": wall, "cpu_s": wall * 0.9, "maxrss_mb": 300.0 + wall, "load_before": 1.0,
            "timers": {k: {"s": v, "calls": 1, "n": 10} for k, v in timers.items()}}


def test_run_writes_results_with_mocked_stages(tmp_path, fake_embedder, monkeypatch):
    """The whole orchestration on a tiny corpus: real ingest, stages mocked, results written."""
    from pipeline.ingest import command as ingest

    calls = []

    def runner(job: bench.Job) -> dict:
        calls.append(job.name)
        assert job.backend == ("onnx" if job.name.endswith("_onnx") else "torch")
        if job.name == "recode_warm_onnx":
            return _fake_stage(0.5, model_load=0.2)
        argv = job.argv
        if argv[:2] == ["cli", "ingest"]:
            ingest.run(Path(argv[3]), Path(argv[5]), progress=False)
            return _fake_stage(2.0, spacy_load=0.5)
        if job.name == "code":
            return _fake_stage(10.0, model_load=3.0, embedding=5.0, code_segments=1.0,
                               spacy_load=0.2, scoring=0.1, parquet_read=0.05)
        if job.name == "themes":
            return _fake_stage(6.0, bertopic_fit=2.0, embedding=2.5)
        if job.name == "run_e2e":
            return _fake_stage(12.0, model_load=2.0, embedding=7.0, code_segments=0.5,
                               scoring=0.1, bertopic_fit=2.0, **{"bertopic_fit>embedding": 1.0})
        if job.name == "bertopic_default":
            return _fake_stage(4.0, bertopic_fit=1.5) | {"topics": 3, "outlier_share": 0.3}
        return _fake_stage(8.0 if job.name == "embed_only" else 1.0, embedding=5.0)

    monkeypatch.setattr(bench, "_onnx_ready", lambda: True)
    result = bench.run(tmp_path / "dest", (2, 1), sources=[DEMO_RAW / "int02.txt"],
                       runner=runner, with_extras=False, work=tmp_path / "work")
    assert [r["scale"] for r in result["scales"]] == [1, 2]
    x1, x2 = result["scales"]
    assert 1.8 < x2["words"] / x1["words"] < 2.2
    assert x2["unique_windows"] > 1.9 * x1["unique_windows"]
    assert x1["e2e_s"] == pytest.approx(12.0)  # the one-process run
    assert x1["stages_sum_s"] == pytest.approx(18.0)  # ingest + code + themes apart
    assert x1["e2e_over_embed_only"] == pytest.approx(12.0 / 8.0, abs=1e-3)
    assert x1["stages_sum_over_embed_only"] == pytest.approx(18.0 / 8.0, abs=1e-3)
    assert x1["recode_over_e2e"] == pytest.approx(1.0 / 12.0, abs=1e-3)
    assert x1["run_split"]["bertopic_fit_excl_embedding"] == pytest.approx(1.0)
    assert x1["run_split"]["start_imports_other"] == pytest.approx(12.0 - 2 - 7 - 0.4 - 0.1 - 1)
    assert x1["code_split"]["model_load"] == 3.0
    assert x1["code_split"]["rules_and_rows"] == pytest.approx(0.7)
    assert result["linearity"]["x2"]["e2e_s"] == pytest.approx(x1["words"] / x2["words"],
                                                               abs=1e-2)
    assert calls.count("code") == 2 and calls.count("recode_warm") == 2
    assert calls.count("run_e2e") == 2 and calls.count("run_e2e_onnx") == 2
    assert x1["onnx"]["recode_warm_s"] == 0.5
    assert x1["onnx"]["recode_over_e2e"] == pytest.approx(0.5 / 1.0, abs=1e-3)
    saved = json.loads((tmp_path / "dest" / "results.json").read_text(encoding="utf-8"))
    assert saved["scales"][1]["words"] == x2["words"]
    md = (tmp_path / "dest" / "results.md").read_text(encoding="utf-8")
    assert "| x1 |" in md and "| x2 |" in md and "Linearity" in md
    assert "Split of e2e (one process)" in md and "The onnx backend" in md
    edited = yaml.safe_load((tmp_path / "work" / "x1" / "codebook-edited.yaml").read_text("utf-8"))
    assert edited["codes"][0]["examples"][0].endswith("Dat hebben we later ook zo afgesproken.")
    windows = json.loads((tmp_path / "work" / "x2" / "windows.json").read_text("utf-8"))
    assert len(windows) == len(set(windows)) == x2["unique_windows"]


def test_nested_timers_record_inner_time_under_the_outer_label(monkeypatch):
    """The benchmark listens to the package's hooks; a span inside another counts twice."""
    monkeypatch.setattr(bench, "_TIMERS", {})
    inner = hooks.timed("embedding", lambda texts: len(texts))(lambda texts: len(texts))
    outer = hooks.timed("bertopic_fit")(lambda: inner(["a", "b", "c"]))
    stop = hooks.listen(bench._record)
    try:
        assert outer() == 3
    finally:
        stop()
    assert outer() == 3  # nothing listens: nothing recorded
    assert set(bench._TIMERS) == {"embedding", "bertopic_fit", "bertopic_fit>embedding"}
    assert bench._TIMERS["embedding"][2] == bench._TIMERS["bertopic_fit>embedding"][2] == 3
    assert bench._TIMERS["bertopic_fit"][0] >= bench._TIMERS["bertopic_fit>embedding"][0]


def test_render_markdown_with_extras():
    results = {
        "meta": {"date": "today", "batch_size": 32, "base_corpus": ["data/raw/int02.txt"]},
        "scales": [],
        "extras": {
            "cli_help": {"codeer --help": {"min_s": 0.4, "median_s": 0.5}},
            "speed": {"fp32": {"rates": {"bs32": 60.0}, "mean_tokens": 50.0},
                      "int8": {"rates": {"bs32": 110.0}}, "cosine_fp32_int8": {"mean": 0.99}},
            "quality": {"seed": {"fp32": {"macro_f1": 0.4, "coded_share": 0.5},
                                 "int8": {"macro_f1": 0.38, "coded_share": 0.48},
                                 "codings_jaccard_fp32_int8": 0.8}},
        },
    }
    md = bench.render_markdown(results)
    assert "codeer --help" in md and "bs32 110.0" in md and "| seed | int8 |" in md
