"""The heavy stages on Dask (issue 13): same outputs with workers, nothing imported without.

Fast tests run a LocalCluster of worker *threads* (``processes=False``), so the stand-in embedder
of ``fake_embedder`` reaches the workers; the slow ones start real worker processes with the
real model, as ``--workers 2`` does.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import config, parallel, schema, storage
from pipeline.cli import app
from pipeline.errors import CodeerError
from tests.conftest import CODEBOOK, DEMO_RAW, ROOT

pytest.importorskip("distributed")

def _tree(folder: Path) -> dict[str, bytes]:
    """Every output file under ``folder`` (the cache folder left out), by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and config.CACHE_DIR not in p.relative_to(folder).parts}


def _windows(n: int) -> list[str]:
    """``n`` real Dutch passages: sentences of the demo interviews (unique, in file order)."""
    import re

    from pipeline.ingest.readers import read_file

    sentences = []
    for path in sorted(DEMO_RAW.glob("int0*")):
        text = read_file(path).text
        sentences += [s.split(":", 1)[-1].strip() for s in re.split(r"(?<=[.?!])\s+", text)
                      if len(s.split()) > 6]
    unique = list(dict.fromkeys(sentences))
    assert len(unique) >= n
    return unique[:n]


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "--workers moet een positief geheel getal zijn. Gevonden: 0."),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "--workers en --scheduler mogen niet samen worden gebruikt"),
])
@pytest.mark.parametrize("command", ["run", "code", "ingest", "themes"])
def test_bad_cluster_options_are_refused_before_any_work(tmp_path, command, args, message):
    out = tmp_path / "out"
    extra = ["--raw", str(DEMO_RAW)] if command in ("run", "ingest") else []
    result = CliRunner().invoke(app, [command, *extra, "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_missing_dask_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(CodeerError, match=r"pip install 'codeer\[scale\]'"):
        with parallel.engine(workers=1):
            pass


@pytest.mark.parametrize(("n", "size", "expected"), [
    (0, 256, []),
    (5, 256, [(0, 5)]),
    (512, 256, [(0, 256), (256, 512)]),
    (600, 256, [(0, 256), (256, 512), (512, 600)]),
])
def test_partitions_are_contiguous_in_input_order(n, size, expected):
    assert parallel.partitions(n, size) == expected


def test_the_default_run_imports_no_dask(tmp_path):
    """`codeer run` without --workers (ingest and code, stand-in vectors) never imports Dask."""
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from tests.conftest import FakeModel, fake_vectors
from pipeline.models import cache, runtime
runtime.load_model = lambda name=None, backend=None: FakeModel()
runtime.encode = lambda model, texts, kind="query", batch_size=32, show_progress=False: \\
    fake_vectors(list(texts))
cache.model_key = lambda name=None, backend=None: "fake-bow"
from pipeline.cli import app
try:
    app(["run", "--raw", {str(DEMO_RAW)!r}, "--out", {str(tmp_path / "out")!r}, "--codebook",
         {str(CODEBOOK)!r}, "--until", "code", "-q"], standalone_mode=False)
finally:
    print("LOADED", [m for m in ("dask", "distributed") if m in sys.modules])
"""
    env = dict(os.environ, CODEER_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=600)
    assert "LOADED []" in out.stdout, out.stdout + out.stderr
    assert (tmp_path / "out" / config.CODINGS_FILE).exists()


# --------------------------------------------------------------------------- worker threads


@pytest.fixture
def thread_engine():
    """A LocalCluster of two worker threads in this process, partitions of 8 texts."""
    with parallel.engine(workers=2, partition_size=8, processes=False) as eng:
        yield eng


def test_encode_on_workers_equals_encode_here(fake_embedder, monkeypatch, tmp_path,
                                              thread_engine):
    from pipeline.models import cache, runtime

    monkeypatch.setattr(runtime, "model_id", lambda model: "fake-bow")
    texts = _windows(30)
    texts = texts + texts[:5]  # repeated texts are embedded once
    here = fake_embedder(texts)  # what the model gives in this process
    there = cache.EmbeddingCache(tmp_path / "cache")
    vectors = there.encode(texts)
    assert vectors.tobytes() == here.tobytes()
    assert thread_engine.stats["partitions"] == 4  # 30 unique texts in partitions of 8
    assert thread_engine.stats["texts"] == 30
    assert not (tmp_path / "cache").exists()  # only save() writes, on the client
    there.save()
    assert len(list((tmp_path / "cache").iterdir())) == 1
    again = cache.EmbeddingCache(tmp_path / "cache")
    assert again.encode(texts).tobytes() == here.tobytes() and again.misses == 0


def test_a_worker_with_another_model_stops_the_run(fake_embedder, monkeypatch, thread_engine):
    from pipeline.models import cache, runtime

    monkeypatch.setattr(runtime, "model_id", lambda model: "multilingual-e5-base@other")
    with pytest.raises(CodeerError, match=r"moeten hetzelfde taalmodel laden als deze computer: "
                                          r"fake-bow\. Gevonden: multilingual-e5-base@other "
                                          r"\(partitie 0\)"):
        cache.EmbeddingCache(None).encode(_windows(3))


def _ingest_both(raw: Path, tmp_path: Path) -> tuple[Path, Path]:
    from pipeline.ingest import command as ingest

    single, cluster = tmp_path / "single", tmp_path / "cluster"
    ingest.run(raw, single, progress=False)
    with parallel.engine(workers=2, processes=False) as eng:
        ingest.run(raw, cluster, progress=False)
        assert eng.stats["files"] == len(ingest.find_files(raw))  # one task per transcript
    return single, cluster


# What the client logs when it builds the tables itself (see the next two tests).
NOT_COMPOSED = "ingest: de tabellen per bestand passen niet samen"


def _log_to(caplog, monkeypatch) -> None:
    """Let pytest see the codeer log (the command line stops it propagating)."""
    monkeypatch.setattr(parallel.log, "propagate", True)
    caplog.set_level(logging.INFO, logger="codeer")


def test_ingest_on_workers_gives_the_same_tables(tmp_path, caplog, monkeypatch):
    _log_to(caplog, monkeypatch)
    single, cluster = _ingest_both(DEMO_RAW, tmp_path)
    for name in (config.DOCUMENTS_FILE, config.SEGMENTS_FILE):
        assert (single / name).read_bytes() == (cluster / name).read_bytes(), name
    assert "parallel: LocalCluster met 2 worker(s)" in caplog.text
    assert NOT_COMPOSED not in caplog.text


def test_ingest_on_workers_with_shared_document_ids_and_a_partial_sheet(tmp_path, caplog,
                                                                         monkeypatch):
    """Two files with one document id (int02.txt and int02.md), a row for a file that is not
    there: the cross-file decisions are the single run's (suffixed id, same problems)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("int02.txt", "int05.srt", "int07.md"):
        shutil.copyfile(DEMO_RAW / name, raw / name)
    shutil.copyfile(DEMO_RAW / "int07.md", raw / "int02.md")
    sheet = (DEMO_RAW / "interviews.csv").read_text(encoding="utf-8").splitlines()
    (raw / "interviews.csv").write_text("\n".join(
        [sheet[0]] + [ln for ln in sheet[1:] if "int0" in ln and "int03" not in ln]) + "\n",
        encoding="utf-8")
    from pipeline.ingest import command as ingest

    _log_to(caplog, monkeypatch)
    single_result = ingest.run(raw, tmp_path / "single", progress=False)
    with parallel.engine(workers=2, processes=False):
        cluster_result = ingest.run(raw, tmp_path / "cluster", progress=False)
    assert NOT_COMPOSED in caplog.text  # two files, one id: the client decides
    for name in (config.DOCUMENTS_FILE, config.SEGMENTS_FILE):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "single" / name),
                                      pd.read_parquet(tmp_path / "cluster" / name))
    docs = storage.read_table(tmp_path / "cluster" / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    assert docs["document_id"].is_unique and len(docs) == 4
    assert [str(i) for i in single_result.issues] == [str(i) for i in cluster_result.issues]
    assert any("niet in de map met transcripten" in str(i) for i in cluster_result.issues)


# --------------------------------------------------------------------------- worker processes


@pytest.mark.slow
def test_two_workers_give_the_single_run_outputs(tmp_path, monkeypatch):
    """`codeer run --workers 2` on the demo: every output file byte for byte as `codeer run`.

    The single run may use the session's warm cache; the cluster run gets an empty one, so its
    workers embed every segment and codebook text (and its themes are fitted anew).
    """
    from pipeline.models.build import build_model

    build_model()
    # Both runs record the same time for their codings (the reproducible-builds convention).
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    single, cluster = tmp_path / "single", tmp_path / "cluster"
    runner = CliRunner()
    args = ["run", "--raw", str(DEMO_RAW), "--codebook", str(CODEBOOK), "-q"]
    first = runner.invoke(app, [*args, "--out", str(single)])
    assert first.exit_code == 0, first.output
    monkeypatch.setenv("CODEER_CACHE_DIR", str(tmp_path / "fresh-cache"))
    second = runner.invoke(app, [*args, "--out", str(cluster), "--workers", "2"])
    assert second.exit_code == 0, second.output
    assert "parallel: LocalCluster met 2 worker(s)" in second.output
    assert parallel.LAST_STATS["texts"] > 1000  # the workers embedded the corpus
    assert len(parallel.LAST_STATS["pids"]) == 2 and os.getpid() not in parallel.LAST_STATS["pids"]
    a, b = _tree(single), _tree(cluster)
    assert sorted(a) == sorted(b)
    for name in (config.DOCUMENTS_FILE, config.SEGMENTS_FILE, config.CODINGS_FILE,
                 config.THEMES_FILE, config.THEME_INFO_FILE, config.THEME_SPREAD_FILE):
        pd.testing.assert_frame_equal(pd.read_parquet(single / name),
                                      pd.read_parquet(cluster / name))
    different = [name for name in a if a[name] != b[name]]
    assert not different, different
    assert {"codeer.xlsx", "project.qdpx", "report.md", "tables/excerpts.csv"} <= set(a)


@pytest.mark.slow
def test_a_worker_killed_mid_run_costs_only_time(tmp_path):
    """Kill one worker process while the embedding runs: its partitions run again elsewhere
    and the vectors are those of a run in this process."""
    from pipeline.models import runtime
    from pipeline.models.build import build_model
    from pipeline.models.cache import EmbeddingCache

    build_model()
    texts = _windows(240)
    expected = EmbeddingCache(None).encode(texts)
    result: dict[str, object] = {}
    with parallel.engine(workers=2, partition_size=8) as eng:
        cache = EmbeddingCache(tmp_path / "cache")

        def work() -> None:
            try:
                result["vectors"] = cache.encode(texts)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                result["error"] = exc

        thread = threading.Thread(target=work)
        thread.start()

        def loaded() -> dict[str, bool]:
            return eng.client.run(lambda: bool(runtime._LOADED))

        deadline = time.monotonic() + 300
        while not all(loaded().values()) and time.monotonic() < deadline:
            time.sleep(0.2)  # both workers have loaded the model: the embedding runs
        pids = eng.client.run(os.getpid)
        victim = sorted(pids.values())[0]
        assert thread.is_alive()  # the embedding still runs
        os.kill(victim, signal.SIGKILL)
        thread.join(600)
        stats = dict(eng.stats)
    assert "error" not in result, result.get("error")
    assert np.asarray(result["vectors"]).tobytes() == expected.tobytes()
    assert stats["partitions"] == 30
    assert victim not in stats["pids"][-1:]  # the last partitions ran on a living worker
    assert len(set(stats["pids"])) >= 2


# --------------------------------------------------------------------------- cluster recipes

DEPLOY = ROOT / "deploy"


def _yaml(path: Path) -> object:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def test_slurm_recipe_is_one_single_threaded_worker_per_job_with_the_shared_model():
    slurm = _yaml(DEPLOY / "slurm" / "jobqueue.yaml")["jobqueue"]["slurm"]
    assert (slurm["cores"], slurm["processes"]) == (1, 1)
    assert slurm["memory"].endswith("GiB") and slurm["walltime"]
    prologue = "\n".join(slurm["job-script-prologue"])
    assert "CODEER_MODEL_DIR=/project/" in prologue and "HF_HUB_OFFLINE=1" in prologue
    assert "activate" in prologue  # the same codeer on every node
    launcher = (DEPLOY / "slurm" / "run_slurm.py").read_text(encoding="utf-8")
    compile(launcher, "run_slurm.py", "exec")
    assert 'SLURMCluster(config_name="slurm")' in launcher and '"--scheduler"' in launcher
    batch = (DEPLOY / "slurm" / "codeer.sbatch").read_text(encoding="utf-8")
    assert batch.startswith("#!/bin/bash") and "run_slurm.py" in batch


def test_slurm_recipe_renders_a_job_script_with_dask_jobqueue(monkeypatch):
    """Where dask-jobqueue is installed, it reads the file and writes the worker's job script."""
    jobqueue = pytest.importorskip("dask_jobqueue")
    import dask

    slurm = _yaml(DEPLOY / "slurm" / "jobqueue.yaml")["jobqueue"]["slurm"]
    with dask.config.set({f"jobqueue.slurm.{key}": value for key, value in slurm.items()}):
        cluster = jobqueue.SLURMCluster(config_name="slurm")
        try:
            script = cluster.job_script()
        finally:
            cluster.close()
    assert "--cpus-per-task=1" in script and "--nthreads 1" in script
    assert "export CODEER_MODEL_DIR=" in script


def test_kubernetes_recipe_shares_one_volume_and_one_scheduler_address():
    cluster = _yaml(DEPLOY / "kubernetes" / "daskcluster.yaml")
    assert (cluster["apiVersion"], cluster["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    name = cluster["metadata"]["name"]
    worker = cluster["spec"]["worker"]["spec"]
    container = worker["containers"][0]
    args = container["args"]
    assert args[0] == "dask-worker" and args[args.index("--nthreads") + 1] == "1"
    assert _env(container)["CODEER_MODEL_DIR"].startswith("/data/")
    assert container["volumeMounts"][0]["mountPath"] == "/data"
    claim = worker["volumes"][0]["persistentVolumeClaim"]["claimName"]
    scheduler = cluster["spec"]["scheduler"]
    assert scheduler["spec"]["containers"][0]["args"] == ["dask-scheduler"]
    assert 8786 in [p["port"] for p in scheduler["service"]["ports"]]

    storage = _yaml(DEPLOY / "kubernetes" / "storage.yaml")
    assert storage["metadata"]["name"] == claim
    assert storage["spec"]["accessModes"] == ["ReadWriteMany"]  # many pods read the model

    job = _yaml(DEPLOY / "kubernetes" / "codeer-job.yaml")
    client = job["spec"]["template"]["spec"]["containers"][0]
    command = client["command"]
    assert command[:2] == ["codeer", "run"]
    assert command[command.index("--scheduler") + 1] == f"tcp://{name}-scheduler:8786"
    assert command[command.index("--out") + 1].startswith("/data/")
    assert _env(client)["CODEER_MODEL_DIR"] == _env(container)["CODEER_MODEL_DIR"]
    assert job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"][
        "claimName"] == claim


def test_helm_values_match_the_operator_recipe():
    values = _yaml(DEPLOY / "kubernetes" / "values.yaml")
    cluster = _yaml(DEPLOY / "kubernetes" / "daskcluster.yaml")
    container = cluster["spec"]["worker"]["spec"]["containers"][0]
    worker = values["worker"]
    assert worker["threads_per_worker"] == 1 and worker["replicas"] >= 1
    assert _env(worker) == _env(container)
    assert worker["mounts"]["volumeMounts"][0]["mountPath"] == "/data"
    assert values["jupyter"]["enabled"] is False
    assert f"{worker['image']['repository']}:{worker['image']['tag']}" == container["image"]


def test_the_projection_follows_its_formula():
    """bench.project: T(W) = S + ceil(P / W) * (t + o) from the measured cluster run."""
    from bench import bench

    cluster = {"wall_s": 130.0, "timers": {"embedding": {"s": 110.0, "n": 4000}},
               "parallel": {"partitions": 20, "texts": 4000, "worker_s": 200.0}}
    got = bench.project(cluster, workers=2, targets=(8, 32))
    # t = 200 / 20 = 10 s, o = (110 * 2 - 200) / 20 = 1 s, S = 130 - 110 = 20 s
    assert (got["partition_s"], got["overhead_per_partition_s"], got["serial_s"]) == (10, 1, 20)
    assert got["per_worker_passages_per_s"] == 20.0
    assert {w: (r["rounds"], r["total_s"]) for w, r in got["rows"].items()} == {
        "2": (10, 130.0), "8": (3, 53.0), "32": (1, 31.0)}
    assert bench.project({"wall_s": 1.0}, workers=2) == {}
