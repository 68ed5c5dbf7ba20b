"""Where the full themes fit stops fitting this machine, and what the sampled fit costs the themes.

``python -m bench.themes_scale --dest bench --sizes 10000,20000,40000,80000,160000,320000``
(developer tooling) measures, each in a fresh process (wall and CPU seconds, peak memory from
``os.wait4``, the load average before), :func:`pipeline.themes.core.fit_topics` on every segment
(``full``) and :func:`pipeline.themes.scale.fit_sampled` (``sampled``) on corpora of the given
sizes, and compares the two where both ran: the adjusted Rand index of the assignments and the
overlap of the keyword sets. Results go to ``themes_scale.json`` and a section of
``results.md`` is printed (``bench/results.md`` holds the one of record).

The corpora are synthetic but made of real vectors: the context windows of every segment with a
content word in the demo interviews and the test corpora (debates, governance blogs, an
interview: ~5,000 segments of real Dutch text), embedded with the real model, then replicated
with Gaussian noise (each copy has cosine ~0.93 to its original, about the similarity of a
segment to its nearest real neighbour, so copies mix with their neighbourhood instead of forming
islands as the benchmark's edited copies do) and paired with their original's lemmas.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NOISE_COSINE = 0.93
TIMEOUT_S = 1200
SOURCES = (REPO / "data" / "raw", REPO / "tests" / "data" / "corpora" / "handelingen-2018-04-05",
           REPO / "tests" / "data" / "corpora" / "governance",
           REPO / "tests" / "data" / "corpora" / "signalen")

log = logging.getLogger("codeer")


def base_vectors(work: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Lemmas, window texts and vectors of every content segment of :data:`SOURCES` (cached)."""
    done = work / "base.npz"
    if done.exists():
        with np.load(done, allow_pickle=False) as data:
            return data["lemmas"].tolist(), data["texts"].tolist(), data["vectors"]
    from pipeline import config, schema, storage
    from pipeline.coding.prototypes import KIND, context_windows
    from pipeline.ingest import command as ingest
    from pipeline.models.cache import EmbeddingCache
    from pipeline.themes.core import has_content

    lemmas: list[str] = []
    texts: list[str] = []
    for i, raw in enumerate(SOURCES):
        out = work / f"ingest-{i}"
        ingest.run(raw, out, progress=False)
        segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
        keep = segments[has_content(segments["lemmas"].fillna("").astype(str).tolist())]
        lemmas += keep["lemmas"].astype(str).tolist()
        texts += context_windows(keep.reset_index(drop=True), segments, 1)
    cache = EmbeddingCache(work / "cache")
    vectors = cache.encode(texts, kind=KIND)
    cache.save()
    np.savez(done, lemmas=np.array(lemmas), texts=np.array(texts), vectors=vectors)
    return lemmas, texts, vectors


def corpus(lemmas: list[str], vectors: np.ndarray, n: int, seed: int = 0
           ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``n`` segments: the originals first, then noisy copies (cosine ~NOISE_COSINE)."""
    rng = np.random.default_rng(seed)
    base = len(vectors)
    origin = np.concatenate([np.arange(min(n, base)), rng.integers(0, base, max(n - base, 0))])
    x = vectors[origin].astype(np.float32).copy()
    copies = np.arange(len(origin)) >= base
    # |noise| / |x| = tan(arccos(c)) gives cosine c between a copy and its original.
    scale = np.tan(np.arccos(NOISE_COSINE)) / np.sqrt(vectors.shape[1])
    x[copies] += rng.normal(0.0, scale, size=(int(copies.sum()), vectors.shape[1])).astype(
        np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return [lemmas[i] for i in origin], x, origin


def _child(argv: list[str]) -> None:
    """``child WORK N full|sampled OUT.json``: one fit, its topics and keywords to OUT.json."""
    work, n, mode, dest = Path(argv[0]), int(argv[1]), argv[2], Path(argv[3])
    from pipeline.coding.prototypes import KIND
    from pipeline.models.cache import EmbeddingCache
    from pipeline.themes import scale
    from pipeline.themes.core import fit_topics, make_embedder

    lemmas, texts, vectors = base_vectors(work)
    docs, x, origin = corpus(lemmas, vectors, n)
    cache = EmbeddingCache(work / "cache")
    embedder = make_embedder(lambda t: cache.encode(t, kind=KIND), dict(zip(lemmas, texts,
                                                                            strict=True)))
    t0 = time.perf_counter()
    if mode == "full":
        clustering = fit_topics(docs, x, embedder)
    else:
        clustering = scale.fit_sampled(docs, x, embedder)
    seconds = time.perf_counter() - t0
    cache.save()
    dest.write_text(json.dumps({
        "fit_s": round(seconds, 2), "method": clustering.method,
        "topics": clustering.topics.tolist(),
        "keywords": {str(k): v for k, v in clustering.keywords.items()}}), encoding="utf-8")


def measure(work: Path, n: int, mode: str) -> dict[str, Any]:
    """One fit in a fresh process: wall and CPU seconds, peak memory, its result."""
    dest = work / f"{mode}-{n}.json"
    dest.unlink(missing_ok=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(work / f"{mode}-{n}.log", "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "bench.themes_scale", "child", str(work),
                                 str(n), mode, str(dest)], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=REPO)
        deadline = time.monotonic() + TIMEOUT_S
        while True:  # wait4 (not Popen.wait): the child's own rusage
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.5)
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    row: dict[str, Any] = {"n": n, "mode": mode, "wall_s": round(time.perf_counter() - t0, 1),
                           "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                           "maxrss_mb": round(usage.ru_maxrss / 1024),
                           "load_before": round(load, 2)}
    if dest.exists() and code == 0:
        result = json.loads(dest.read_text(encoding="utf-8"))
        row.update(fit_s=result["fit_s"], method=result["method"],
                   themes=len(set(result["topics"]) - {-1}))
    elif row["wall_s"] >= TIMEOUT_S:
        row["failed"] = f"killed at the {TIMEOUT_S:,} s time limit"
    else:
        row["failed"] = f"exit {code} (out of memory or an error: see {mode}-{n}.log)"
    return row


def compare(work: Path, n: int) -> dict[str, float]:
    """Adjusted Rand index and keyword overlap of the full and the sampled fit at size ``n``."""
    from sklearn.metrics import adjusted_rand_score

    full = json.loads((work / f"full-{n}.json").read_text(encoding="utf-8"))
    samp = json.loads((work / f"sampled-{n}.json").read_text(encoding="utf-8"))
    a, b = np.array(full["topics"]), np.array(samp["topics"])
    kw_full = [set(v) for v in full["keywords"].values() if v]
    kw_samp = [set(v) for v in samp["keywords"].values() if v]
    best = [max((len(s & f) / len(s | f) for f in kw_full), default=0.0) for s in kw_samp]
    all_full, all_samp = set().union(*kw_full), set().union(*kw_samp)
    return {"ari": round(float(adjusted_rand_score(a, b)), 3),
            "keyword_jaccard_best_match_mean": round(float(np.mean(best)), 3) if best else 0.0,
            "keyword_vocabulary_overlap": round(len(all_full & all_samp)
                                                / max(len(all_full | all_samp), 1), 3),
            "themes_full": len(kw_full), "themes_sampled": len(kw_samp)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "child":
        _child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.themes_scale", description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("/tmp/codeer-themes-scale"))
    parser.add_argument("--sizes", default="10000,20000,40000,80000,160000,320000")
    parser.add_argument("--compare", default="40000", help="sizes where both are compared")
    parser.add_argument("--modes", default="full,sampled")
    parser.add_argument("--dest", type=Path, default=None,
                        help="also add the results to DEST/results.json and results.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    base_vectors(args.work)
    from pipeline.themes.scale import SAMPLE_SIZE

    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "runs": [],
                               "compare": {}, "sample_size": SAMPLE_SIZE}
    path = args.work / "themes_scale.json"
    if path.exists():
        results = json.loads(path.read_text(encoding="utf-8"))
    stopped: set[str] = set()
    for n in (int(s) for s in args.sizes.split(",")):
        for mode in args.modes.split(","):
            if mode in stopped:
                continue
            row = measure(args.work, n, mode)
            log.info("themes_scale: %s", row)
            results["runs"].append(row)
            if "failed" in row or row["wall_s"] > TIMEOUT_S / 2:
                stopped.add(mode)  # the next size would not fit either
            path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    for n in (int(s) for s in args.compare.split(",") if s):
        if (args.work / f"full-{n}.json").exists() and (args.work / f"sampled-{n}.json").exists():
            results["compare"][str(n)] = compare(args.work, n)
            log.info("themes_scale: compare %d %s", n, results["compare"][str(n)])
    path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    if args.dest is not None:
        from bench.bench import write_results

        merged = json.loads((args.dest / "results.json").read_text(encoding="utf-8")) \
            if (args.dest / "results.json").exists() else {}
        merged["themes_scale"] = results
        write_results(merged, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
