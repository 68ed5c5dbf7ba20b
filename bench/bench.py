"""Benchmark: seconds, CPU seconds and peak memory of every stage on scaled corpora.

``python -m bench --dest bench --scales 1,4,16`` (``make bench``; developer tooling, not part of
the installed package) answers two questions of a team
that re-runs the pipeline many times while refining its codebook: is embedding the segments the
only real cost of a cold run, and does a codebook edit avoid paying the embeddings again?

For every scale ``s`` it builds a corpus of ``s`` copies of the base corpus (:func:`build_corpus`;
copy 0 is the original files, every other copy a plain-text transcript with deterministic small
edits in every sentence, so no text of one copy is a cache hit for another), then runs each step
in a fresh process (``python -c 'from bench.bench import child_main; child_main()' cli
<stage> ...``, which runs the ``codeer`` command line exactly as ``python -m pipeline <stage>``
does, with a listener on the package's timing hooks, :mod:`pipeline.hooks`):

* ``ingest``, ``code`` (cold: empty embedding cache), ``themes`` and ``export``;
* ``embed_only``: the texts the coder embeds (the unique context windows), with the same model
  and batch size and nothing else: the floor of a cold run;
* ``recode_warm``: ``codeer code`` after one codebook example was changed, warm cache;
* ``bertopic_default``: ``BERTopic(embedding_model=None).fit_transform`` with default UMAP and
  HDBSCAN on the embeddings of the themes stage, beside our themes stage.

``e2e_s`` is ingest + code + themes in fresh processes with an empty cache (a cold ``codeer run``
without the export, whose one-off costs are timed separately). Wall seconds come with CPU seconds
and the peak resident memory of each process (``os.wait4`` rusage), and the load average before
and after, so readers can judge the noise of a shared machine.

Once per run (``extras``) it also times ``codeer --help``, sweeps the batch size, compares the
fp32 model with int8 dynamic quantisation (``torch.ao.quantization.quantize_dynamic`` on the
Linear layers; registered through ``hooks.add_transform("model", ...)``) for speed and quality
(the coded share of the 2018 debates and, when ``--seed FILE`` names the seed note, its macro-F1
against the gold of ``bench/seed_gold.py``), and writes everything to ``results.json`` and
``results.md`` in ``dest``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import config, hooks
from pipeline.errors import CodeerError

log = logging.getLogger("codeer")

REPO = Path(__file__).resolve().parents[1]
DEMO_RAW = REPO / "data" / "raw"
DEBATES = REPO / "tests" / "data" / "corpora" / "handelingen-2018-04-05"
# The base corpus: the seven demo interviews plus the shortest debate (~16k words, ~1,150
# respondent segments), so that x16 stays within ~15 minutes of embedding on two cores.
BASE_DEBATES = ("TK_2018-04-05_VAO_Wmo_Mantelzorg_Hulpmiddelenbeleid.txt",)
SEED_GOLD = Path(__file__).resolve().parent / "seed_gold.py"

TIMINGS_ENV = "CODEER_BENCH_TIMINGS"
INT8_ENV = "CODEER_BENCH_INT8"
SPEED_SAMPLE = 256
SWEEP_BATCHES = (8, 16, 32, 64)

# Replacement names for the "name" edit (one per copy; a copy number beyond the list falls back
# to the number edit).
NAMES = ("Noor", "Daan", "Fleur", "Bram", "Lieke", "Thijs", "Sanne", "Jesse", "Iris", "Ruben",
         "Femke", "Milan", "Eva", "Lars", "Anouk", "Sem", "Roos", "Joris", "Lotte", "Stijn",
         "Mila", "Teun", "Julia", "Gijs", "Yara", "Koen", "Nina", "Bas", "Esmee", "Wout")

_SENT_SPLIT = re.compile(r"(?<=[.!?…])(\s+)")
# A speaker label at a line start (optionally after a timestamp), kept out of the edits.
_LABEL = re.compile(r"^(\s*(?:\[?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?\]?\s+)?(?:\*\*)?"
                    r"[^\W\d_][^:\n.?!]{0,60}?\s*:(?:\*\*)?\s+)")
_WORDLIKE = re.compile(r"^[^\W\d_]+$")
_CAPITALISED = re.compile(r"^[A-Z][a-z]{2,}$")
_END_PUNCT = re.compile(r"[.!?…]+[\"'”’)]*$")


# --------------------------------------------------------------------------- corpus scaler


def _edit_sentence(sentence: str, copy: int, key: str) -> str:
    """One deterministic small edit of ``sentence`` for copy ``copy`` (>= 1).

    The edit is chosen per sentence (``key``) among swapping two neighbouring words, replacing a
    capitalised word (a name or place) by a name, and adding the copy number; each is injective
    in ``copy``, so the copies of a sentence differ from each other and from the original.
    """
    words = sentence.split(" ")
    h = zlib.crc32(key.encode())
    op = h % 3
    if op == 0:  # swap two neighbouring inner words (never the first or the last)
        inner = [j for j in range(1, len(words) - 2)
                 if _WORDLIKE.match(words[j]) and _WORDLIKE.match(words[j + 1])
                 and words[j].lower() != words[j + 1].lower()]
        if copy <= len(inner):
            j = inner[(h // 3 + copy - 1) % len(inner)]
            words[j], words[j + 1] = words[j + 1], words[j]
            return " ".join(words)
    elif op == 1:  # change a name
        caps = [j for j in range(1, len(words)) if _CAPITALISED.match(words[j])]
        name = NAMES[copy - 1] if copy <= len(NAMES) else ""
        if caps and name and name not in words:
            words[caps[(h // 3) % len(caps)]] = name
            return " ".join(words)
    # add the copy number (before the closing punctuation)
    end = _END_PUNCT.search(sentence)
    cut = end.start() if end else len(sentence)
    return f"{sentence[:cut]} ({copy}){sentence[cut:]}"


def vary_text(text: str, copy: int, salt: str = "") -> str:
    """A varied copy of a transcript: every sentence gets one small edit; labels stay intact.

    Args:
        text: The transcript text (``Speaker: text`` lines, as the readers return it).
        copy: Copy number; 0 returns ``text`` unchanged.
        salt: Mixed into the per-sentence choice of edit (e.g. the file name).

    Returns:
        The edited text, with the same lines and speaker labels.
    """
    if copy == 0:
        return text
    out_lines = []
    n = 0
    for line in text.split("\n"):
        label = _LABEL.match(line)
        head = label.group(1) if label else ""
        parts = _SENT_SPLIT.split(line[len(head):])
        for i in range(0, len(parts), 2):
            if parts[i].strip() and re.search(r"\w", parts[i]):
                parts[i] = _edit_sentence(parts[i], copy, f"{salt}:{n}")
                n += 1
        out_lines.append(head + "".join(parts))
    return "\n".join(out_lines)


@dataclass
class Corpus:
    """A scaled corpus written by :func:`build_corpus`."""

    raw: Path
    scale: int
    files: list[str] = field(default_factory=list)
    words: int = 0


def default_sources() -> list[Path]:
    """The base corpus: demo interviews (with their ``interviews.csv``) and :data:`BASE_DEBATES`."""
    from pipeline.ingest.command import find_files

    files = find_files(DEMO_RAW) if DEMO_RAW.is_dir() else []
    files += [DEBATES / name for name in BASE_DEBATES if (DEBATES / name).exists()]
    if not files:
        raise CodeerError(f"No benchmark corpus: neither {DEMO_RAW} nor {DEBATES} exists.")
    return files


def _metadata_rows(metadata: Path | None) -> tuple[list[str], list[dict[str, str]]]:
    if metadata is None or not metadata.exists():
        return [], []
    from pipeline.ingest.readers import decode

    text, _, _ = decode(metadata.read_bytes(), metadata)
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def build_corpus(raw: Path, scale: int, sources: Sequence[Path] | None = None,
                 metadata: Path | None = None) -> Corpus:
    """Write ``scale`` copies of the base corpus into ``raw`` (deterministic).

    Copy 0 is the original files, unchanged (every reader is exercised); copies 1.. are UTF-8
    ``.txt`` transcripts made from the reader's text by :func:`vary_text`, with their own rows in
    ``interviews.csv`` (same interviewers, ``interview_id`` suffixed ``_k01``, ``_k02``, ...).

    Args:
        raw: Folder to create (must not exist or be empty).
        scale: Number of copies (>= 1).
        sources: Transcript files; default :func:`default_sources`.
        metadata: The metadata sheet of the sources; default the ``interviews.csv`` beside the
            first source, if any.

    Returns:
        The corpus: folder, file names and whitespace word count of the transcript texts.
    """
    from pipeline.ingest.readers import read_file

    if scale < 1:
        raise CodeerError(f"--scales must be positive integers. Got {scale} instead.")
    sources = list(sources) if sources is not None else default_sources()
    if metadata is None and sources:
        guess = sources[0].parent / config.METADATA_FILES[0]
        metadata = guess if guess.exists() else None
    header, rows = _metadata_rows(metadata)
    by_file = {r.get("file", ""): r for r in rows}
    raw.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(raw, scale)
    out_rows: list[dict[str, str]] = []
    for src in sources:
        text = read_file(src).text
        row = by_file.get(src.name)
        for k in range(scale):
            if k == 0:
                name = src.name
                shutil.copyfile(src, raw / name)
            else:
                name = f"{src.stem}_k{k:02d}.txt"
                (raw / name).write_text(vary_text(text, k, src.name), encoding="utf-8")
            corpus.files.append(name)
            corpus.words += len(text.split())  # approximately: edits add a few words
            if row is not None:
                new = dict(row, file=name)
                if k and new.get("interview_id"):
                    new["interview_id"] = f"{row['interview_id']}_k{k:02d}"
                out_rows.append(new)
    if header:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(out_rows)
        (raw / config.METADATA_FILES[0]).write_text(buf.getvalue(), encoding="utf-8")
    return corpus


# --------------------------------------------------------------------------- child processes

_TIMERS: dict[str, list[float]] = {}


def _record(label: str, seconds: float, n: int, outer: tuple[str, ...]) -> None:
    """A :mod:`pipeline.hooks` listener: seconds per label; a span inside another is also added
    to ``"outer>label"``, so nested time can be taken out of the outer one."""
    for key in (label, *(f"{o}>{label}" for o in outer if o != label)):
        rec = _TIMERS.setdefault(key, [0.0, 0, 0])
        rec[0] += seconds
        rec[1] += 1
        rec[2] += n


def quantize_int8(model: Any) -> Any:
    """Int8 dynamic quantisation of the Linear layers of a loaded SentenceTransformer (in place).

    Weights become int8 with one scale per output channel (per-tensor scales lose more: cosine
    0.981 against 0.989 to the fp32 vectors on the demo windows, at the same speed);
    activations are quantised on the fly. The model stays a SentenceTransformer (tokenizer,
    pooling, normalisation unchanged).
    """
    import warnings

    import torch

    if getattr(model, "codeer_int8", False):
        return model
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(model[0].auto_model, {torch.nn.Linear: qconfig},
                                               dtype=torch.qint8, inplace=True)
    model.codeer_int8 = True
    return model


def _instrument() -> None:
    """Listen to the package's timing hooks; quantise the model when asked to (int8 runs)."""
    hooks.listen(_record)
    if os.environ.get(INT8_ENV):
        hooks.add_transform("model", quantize_int8)


def _dump(extra: dict[str, Any] | None = None, t_start: float | None = None) -> None:
    import resource

    path = os.environ.get(TIMINGS_ENV)
    if not path:
        return
    data = {
        "timers": {k: {"s": round(v[0], 4), "calls": int(v[1]), **({"n": int(v[2])} if v[2]
                   else {})} for k, v in _TIMERS.items()},
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **(extra or {}),
    }
    if t_start is not None:
        data["in_process_s"] = round(time.perf_counter() - t_start, 4)
    parallel = sys.modules.get("pipeline.parallel")
    if parallel is not None and parallel.LAST_STATS:  # a --workers run: what the cluster did
        data["parallel"] = dict(parallel.LAST_STATS)
    Path(path).write_text(json.dumps(data, indent=1), encoding="utf-8")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _child_cli(argv: list[str]) -> None:
    t0 = time.perf_counter()
    _instrument()
    from pipeline.cli import app

    try:
        app(args=argv, prog_name="codeer")
    finally:
        _dump(t_start=t0)


def _load_for_encoding(int8: bool) -> Any:
    from pipeline.models import runtime

    model = runtime.load_model()
    if int8:
        with hooks.span("quantize"):
            model = quantize_int8(model)
    return model


def _child_embed(argv: list[str]) -> None:
    """``embed TEXTS.json [int8]``: load the model and encode the texts, nothing else."""
    t0 = time.perf_counter()
    from pipeline.coding.prototypes import KIND
    from pipeline.models import runtime

    hooks.listen(_record)
    texts = _read_json(Path(argv[0]))
    model = _load_for_encoding("int8" in argv[1:])
    runtime.encode(model, texts, kind=KIND, batch_size=config.embed_batch_size())
    _dump(t_start=t0)


def _child_speed(argv: list[str]) -> None:
    """``speed TEXTS.json OUT.npy [int8]``: sentences/s per batch size, unsorted, vectors."""
    import numpy as np

    from pipeline.coding.prototypes import KIND
    from pipeline.models import runtime as models

    t0 = time.perf_counter()
    hooks.listen(_record)
    texts = _read_json(Path(argv[0]))
    int8 = "int8" in argv[2:]
    model = _load_for_encoding(int8)
    models.encode(model, texts[:16], kind=KIND)  # warm-up (first-call allocations)
    rates: dict[str, float] = {}
    vectors = None
    onnx = config.embed_backend() == "onnx"
    default_bs = config.embed_batch_size()
    for bs in (default_bs,) if int8 else SWEEP_BATCHES:
        t = time.perf_counter()
        emb = models.encode(model, texts, kind=KIND, batch_size=bs)
        rates[f"bs{bs}"] = len(texts) / (time.perf_counter() - t)
        if bs == default_bs:
            vectors = emb
    if not (int8 or onnx):  # batches in input order: the gain of length sorting
        bs = config.EMBED_BATCH_SIZE
        t = time.perf_counter()
        for i in range(0, len(texts), bs):
            models.encode(model, texts[i:i + bs], kind=KIND, batch_size=bs)
        rates[f"bs{bs}_unsorted"] = len(texts) / (time.perf_counter() - t)
    if onnx:
        tokens = [len(e.ids) for e in model.tokenizer.encode_batch(texts)]
    else:
        tokens = [len(ids) for ids in model.tokenizer(texts)["input_ids"]]
    np.save(argv[1], vectors)
    _dump({"rates": {k: round(v, 2) for k, v in rates.items()}, "n": len(texts),
           "mean_tokens": round(float(np.mean(tokens)), 1), "max_tokens": int(max(tokens))},
          t_start=t0)


def _child_bertopic(argv: list[str]) -> None:
    """``bertopic OUT [CODEBOOK]``: BERTopic's default pipeline on the themes' embeddings.

    The embeddings are the ones the themes stage clusters (the coder's context windows of the
    respondent segments, from the cache); the documents are the segment texts.
    """
    import numpy as np

    from pipeline import schema, storage
    from pipeline.coding.codebook import load_codebook
    from pipeline.coding.prototypes import KIND, context_windows
    from pipeline.models.cache import EmbeddingCache
    from pipeline.themes.core import select_segments

    t0 = time.perf_counter()
    out = Path(argv[0])
    book, _ = load_codebook(Path(argv[1]) if len(argv) > 1 else REPO / "codebook.yaml")
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    selected = select_segments(segments, None, "respondent")
    texts = selected["text"].astype(str).tolist()
    cache = EmbeddingCache(_cache_dir(out))
    embeddings = cache.encode(context_windows(selected, segments, book.defaults.context),
                              kind=KIND)
    t1 = time.perf_counter()
    from bertopic import BERTopic

    t2 = time.perf_counter()
    model = BERTopic(embedding_model=None)
    topics = np.asarray(model.fit_transform(texts, embeddings=embeddings)[0])
    t3 = time.perf_counter()
    _dump({"timers": {"read_embeddings": {"s": round(t1 - t0, 4)},
                      "bertopic_import": {"s": round(t2 - t1, 4)},
                      "bertopic_fit": {"s": round(t3 - t2, 4)}},
           "cache_misses": cache.misses, "n": len(texts),
           "topics": int(len(set(topics.tolist()) - {-1})),
           "outlier_share": round(float((topics == -1).mean()), 4)}, t_start=t0)


def _cache_dir(out: Path) -> Path:
    func = getattr(config, "cache_dir", None)
    return func(out) if func else out / config.CACHE_DIR


def child_main(argv: list[str] | None = None) -> None:
    """Entry point of the benchmark's child processes (``cli``, ``embed``, ``speed``, ...)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config.model_offline_env()
    modes = {"cli": _child_cli, "embed": _child_embed, "speed": _child_speed,
             "bertopic": _child_bertopic}
    if not argv or argv[0] not in modes:
        raise SystemExit(f"usage: child_main {{{','.join(modes)}}} ...")
    modes[argv[0]](argv[1:])


# --------------------------------------------------------------------------- running jobs


@dataclass
class Job:
    """One step of the benchmark, run in a fresh process by a :data:`Runner`."""

    name: str
    argv: list[str]  # child_main arguments: mode first
    log: Path
    int8: bool = False
    backend: str = "torch"


Runner = Callable[[Job], dict[str, Any]]

_CHILD = "from bench.bench import child_main; child_main()"


def _env(timings: Path | None = None, int8: bool = False,
         backend: str = "torch") -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    env.pop(INT8_ENV, None)
    env.pop("CODEER_CACHE_DIR", None)  # a shared cache would let one scale hit another's
    env["CODEER_BACKEND"] = backend
    # Every run records the same time for its codings (codings.coded_at), so that "same
    # outputs" compares codes, not the minute each run happened to start.
    env.setdefault("SOURCE_DATE_EPOCH", "1767225600")
    if int8:
        env[INT8_ENV] = "1"
    if timings is not None:
        env[TIMINGS_ENV] = str(timings)
    else:
        env.pop(TIMINGS_ENV, None)
    return env


def _spawn(argv: list[str], log_path: Path, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run ``argv``; return wall and CPU seconds and peak memory of that one process."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "maxrss_mb": round(usage.ru_maxrss / 1024, 1),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "returncode": proc.returncode,
    }


def subprocess_runner(job: Job) -> dict[str, Any]:
    """Run ``job`` in a fresh Python process; fail with the tail of its log on a non-zero exit."""
    timings = job.log.with_suffix(".json")
    timings.unlink(missing_ok=True)
    # cwd: the repository, as for `make bench`.
    result = _spawn([sys.executable, "-c", _CHILD, *job.argv], job.log,
                    _env(timings, job.int8, job.backend), REPO)
    if result["returncode"] != 0:
        tail = job.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise CodeerError(f"bench: step '{job.name}' failed (exit {result['returncode']}); "
                          f"see {job.log}:\n" + "\n".join(tail))
    if timings.exists():
        result.update(_read_json(timings))
    return result


# --------------------------------------------------------------------------- the benchmark


def _t(stage: dict[str, Any], name: str) -> float:
    return float(stage.get("timers", {}).get(name, {}).get("s", 0.0))


def _n(stage: dict[str, Any], name: str) -> int:
    return int(stage.get("timers", {}).get(name, {}).get("n", 0))


def code_split(stage: dict[str, Any]) -> dict[str, float]:
    """Where the seconds of a ``code`` run went (from its timers; ``other`` is the rest)."""
    load, emb = _t(stage, "model_load"), _t(stage, "embedding")
    spacy_load, scoring = _t(stage, "spacy_load"), _t(stage, "scoring")
    rules = max(_t(stage, "code_segments") - spacy_load - scoring, 0.0)
    io_s = _t(stage, "parquet_read") + _t(stage, "parquet_write")
    cache_s = _t(stage, "cache_load") + _t(stage, "cache_save")
    split = {"model_load": load, "embedding": emb, "spacy_load": spacy_load,
             "rules_and_rows": rules, "scoring": scoring, "parquet_io": io_s,
             "cache_io": cache_s}
    split["start_imports_other"] = max(stage.get("wall_s", 0.0) - sum(split.values()), 0.0)
    return {k: round(v, 3) for k, v in split.items()}


def _fit_and_io(stage: dict[str, Any]) -> dict[str, float]:
    """The themes and I/O parts of a split; embedding inside BERTopic's fit (keyword
    candidates) and a model load there are left to the ``embedding``/``model_load`` parts."""
    return {"bertopic_fit_excl_embedding": max(
                _t(stage, "bertopic_fit") - _t(stage, "bertopic_fit>embedding")
                - _t(stage, "bertopic_fit>model_load"), 0.0),
            "describe_and_spread": _t(stage, "describe") + _t(stage, "spread"),
            "parquet_io": _t(stage, "parquet_read") + _t(stage, "parquet_write"),
            "cache_io": _t(stage, "cache_load") + _t(stage, "cache_save")}


def _with_rest(stage: dict[str, Any], split: dict[str, float]) -> dict[str, float]:
    split["start_imports_other"] = max(stage.get("wall_s", 0.0) - sum(split.values()), 0.0)
    return {k: round(v, 3) for k, v in split.items()}


def run_split(stage: dict[str, Any]) -> dict[str, float]:
    """Where the seconds of the one-process ``codeer run --until themes`` went."""
    scoring = _t(stage, "scoring")
    return _with_rest(stage, {
        "ingest": _t(stage, "read_files") + _t(stage, "segment_lemmatise"),
        "model_load": _t(stage, "model_load"), "embedding": _t(stage, "embedding"),
        "rules_and_rows": max(_t(stage, "code_segments") - scoring, 0.0), "scoring": scoring,
        **_fit_and_io(stage)})


def themes_split(stage: dict[str, Any]) -> dict[str, float]:
    """Where the seconds of a ``themes`` run went.

    The segment vectors are cache hits (the coder's); what the stage embeds is BERTopic's
    keyword candidates (KeyBERTInspired, MMR) inside ``fit_topics``.
    """
    return _with_rest(stage, {"model_load": _t(stage, "model_load"),
                              "embedding": _t(stage, "embedding"), **_fit_and_io(stage)})


def export_split(stage: dict[str, Any]) -> dict[str, float]:
    """Where the seconds of an ``export`` run went (its steps, as named by the export stage)."""
    split = {k.split(":", 1)[1]: v["s"] for k, v in stage.get("timers", {}).items()
             if k.startswith("export_step:")}
    split["parquet_io"] = _t(stage, "parquet_read") + _t(stage, "parquet_write")
    split["write_files"] = _t(stage, "write_files")
    split["start_imports_other"] = max(stage.get("wall_s", 0.0) - sum(split.values()), 0.0)
    return {k: round(v, 3) for k, v in split.items()}


def corpus_stats(out: Path, codebook: Path) -> dict[str, Any]:
    """Words, documents, segments and the coder's unique context windows of an ingested corpus."""
    from pipeline import schema, storage
    from pipeline.coding.codebook import load_codebook
    from pipeline.coding.coder import select_scope
    from pipeline.coding.prototypes import context_windows

    book, _ = load_codebook(codebook)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    target = select_scope(segments, book.defaults.scope)
    windows = list(dict.fromkeys(context_windows(target, segments, book.defaults.context)))
    return {
        "words": int(documents["n_words"].sum()),
        "documents": len(documents),
        "segments": len(segments),
        "respondent_segments": int((segments["role"] == "respondent").sum()),
        "unique_windows": len(windows),
        "window_words_mean": round(sum(len(w.split()) for w in windows) / max(len(windows), 1),
                                   1),
        "windows": windows,
    }


def edit_codebook(src: Path, dest: Path) -> str:
    """Copy the codebook with one example of the first code changed; return what changed."""
    import yaml

    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    for code in data.get("codes") or []:
        examples = code.get("examples") or []
        if examples:
            examples[0] = f"{examples[0].rstrip()} Dat hebben we later ook zo afgesproken."
            dest.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                            encoding="utf-8")
            return f"{code.get('id')}: first example extended by one sentence"
    raise CodeerError(f"{src} has no code with examples to edit for the recode benchmark.")


def _cli(*args: Any) -> list[str]:
    return ["cli", *(str(a) for a in args), "--quiet"]


def bench_scale(scale: int, work: Path, codebook: Path, runner: Runner,
                sources: Sequence[Path] | None = None, with_onnx: bool = False
                ) -> dict[str, Any]:
    """All steps on one scaled corpus; returns its figures (see the module docstring)."""
    base = work / f"x{scale}"
    if base.exists():
        shutil.rmtree(base)
    raw, out, logs = base / "raw", base / "out", base / "logs"
    build_corpus(raw, scale, sources)
    load_start = os.getloadavg()

    def step(name: str, argv: list[str], int8: bool = False,
             backend: str = "torch") -> dict[str, Any]:
        res = runner(Job(name, argv, logs / f"{name}.log", int8, backend))
        log.info("bench x%d: %-16s %8.1f s wall %8.1f s cpu %7.0f MB", scale, name,
                 res.get("wall_s", 0.0), res.get("cpu_s", 0.0), res.get("maxrss_mb", 0.0))
        return res

    stages: dict[str, dict[str, Any]] = {}
    stages["ingest"] = step("ingest", _cli("ingest", "--raw", raw, "--out", out))
    stats = corpus_stats(out, codebook)
    windows = stats.pop("windows")
    texts_file = base / "windows.json"
    texts_file.write_text(json.dumps(windows, ensure_ascii=False), encoding="utf-8")
    stages["code"] = step("code", _cli("code", "--out", out, "--codebook", codebook))
    stages["embed_only"] = step("embed_only", ["embed", str(texts_file)])
    # The cold run a researcher starts: one process, empty cache, export left out.
    stages["run_e2e"] = step("run_e2e", _cli("run", "--raw", raw, "--out", base / "out-run",
                                             "--codebook", codebook, "--until", "themes"))
    stages["themes"] = step("themes", _cli("themes", "--out", out, "--codebook", codebook))
    stages["export"] = step("export", _cli("export", "--out", out, "--codebook", codebook))
    edited = base / "codebook-edited.yaml"
    stats["codebook_edit"] = edit_codebook(codebook, edited)
    stages["recode_warm"] = step("recode_warm", _cli("code", "--out", out, "--codebook", edited))
    stages["bertopic_default"] = step("bertopic_default", ["bertopic", str(out), str(codebook)])
    if with_onnx:  # the same cold run, floor and recode on ONNX Runtime (same vectors)
        onnx_out = base / "out-run-onnx"
        stages["embed_only_onnx"] = step("embed_only_onnx", ["embed", str(texts_file)],
                                         backend="onnx")
        stages["run_e2e_onnx"] = step("run_e2e_onnx", _cli(
            "run", "--raw", raw, "--out", onnx_out, "--codebook", codebook, "--until", "themes"),
            backend="onnx")
        stages["recode_warm_onnx"] = step("recode_warm_onnx", _cli(
            "code", "--out", onnx_out, "--codebook", edited), backend="onnx")

    words = stats["words"]
    stages_sum = sum(stages[s]["wall_s"] for s in ("ingest", "code", "themes"))
    e2e = stages["run_e2e"]["wall_s"]
    e2e_cpu = stages["run_e2e"]["cpu_s"]
    embed_only = stages["embed_only"]["wall_s"]
    recode = stages["recode_warm"]["wall_s"]
    onnx: dict[str, Any] = {}
    if with_onnx:
        o_e2e, o_embed = stages["run_e2e_onnx"]["wall_s"], stages["embed_only_onnx"]["wall_s"]
        o_recode = stages["recode_warm_onnx"]["wall_s"]
        onnx = {"e2e_s": o_e2e, "embed_only_s": o_embed, "recode_warm_s": o_recode,
                "e2e_over_embed_only": round(o_e2e / o_embed, 3) if o_embed else None,
                "recode_over_e2e": round(o_recode / o_e2e, 3) if o_e2e else None,
                "recode_split": code_split(stages["recode_warm_onnx"])}
    return {
        "scale": scale,
        **stats,
        "onnx": onnx,
        "stages": stages,
        "e2e_s": round(e2e, 3),
        "e2e_cpu_s": round(e2e_cpu, 3),
        "stages_sum_s": round(stages_sum, 3),
        "stages_sum_over_embed_only": round(stages_sum / embed_only, 3) if embed_only else None,
        "embed_only_s": embed_only,
        "recode_warm_s": recode,
        "export_s": stages["export"]["wall_s"],
        "e2e_over_embed_only": round(e2e / embed_only, 3) if embed_only else None,
        "e2e_cpu_over_embed_only_cpu": round(e2e_cpu / stages["embed_only"]["cpu_s"], 3)
        if stages["embed_only"]["cpu_s"] else None,
        "recode_over_e2e": round(recode / e2e, 3) if e2e else None,
        "words_per_s": {name: round(words / st["wall_s"], 1) if st["wall_s"] else None
                        for name, st in stages.items()} | {"e2e": round(words / e2e, 1)},
        "peak_rss_mb": max(st.get("maxrss_mb", 0.0) for st in stages.values()),
        "run_split": run_split(stages["run_e2e"]),
        "code_split": code_split(stages["code"]),
        "recode_split": code_split(stages["recode_warm"]),
        "themes_split": themes_split(stages["themes"]),
        "embedded_texts": {name: _n(st, "embedding") for name, st in stages.items()
                           if _n(st, "embedding")},
        "load_avg_start": [round(x, 2) for x in load_start],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
    }


def linearity(scales: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Growth per word relative to the smallest scale: 1.0 is linear, above 1 super-linear."""
    if len(scales) < 2:
        return {}
    first = scales[0]
    out: dict[str, dict[str, float]] = {}
    metrics = {"e2e_s": lambda r: r["e2e_s"], "e2e_cpu_s": lambda r: r["e2e_cpu_s"],
               "embed_only_s": lambda r: r["embed_only_s"],
               "recode_warm_s": lambda r: r["recode_warm_s"], "export_s": lambda r: r["export_s"],
               "peak_rss_mb": lambda r: r["peak_rss_mb"]}
    for stage in ("ingest", "code", "embed_only", "themes"):
        metrics[f"{stage}_cpu_s"] = functools.partial(
            lambda r, s: r["stages"][s].get("cpu_s", 0.0), s=stage)
        metrics[f"{stage}_rss_mb"] = functools.partial(
            lambda r, s: r["stages"][s].get("maxrss_mb", 0.0), s=stage)
    for row in scales[1:]:
        ratio_words = row["words"] / first["words"]
        out[f"x{row['scale']}"] = {
            name: round((get(row) / get(first)) / ratio_words, 3) if get(first) else None
            for name, get in metrics.items()
        }
    return out


# --------------------------------------------------------------------------- a million words

# From this scale on (x61 is ~1,000,000 words) a scale runs only the steps of
# :func:`bench_large`: the full set would embed the corpus seven times.
LARGE_SCALE = 17
CLUSTER_WORKERS = 2
PROJECT_WORKERS = (8, 32, 128)


def project(cluster: dict[str, Any], workers: int,
            targets: Sequence[int] = PROJECT_WORKERS) -> dict[str, Any]:
    """Projected wall seconds of the same run on more workers, from a measured cluster run.

    Measured (``cluster`` is the timings of ``codeer run --workers N``): the seconds the
    workers spent inside the embedding tasks (``worker_s``, model loads included), the number
    of partitions ``P`` and the client's wall seconds of the embedding. Derived: the seconds of
    one partition ``t = worker_s / P``; the scheduling overhead per partition
    ``o = (embedding wall * N - worker_s) / P`` (worker time not spent inside a task: scheduling,
    transfer, the idle tail); the serial rest ``S`` = run wall - embedding wall (interpreter,
    cluster start, ingest, rules, writes, none of it assumed to shrink). On ``W`` workers the
    partitions run in ``ceil(P / W)`` rounds: ``T(W) = S + ceil(P / W) * (t + o)``.

    Assumes workers as fast as the measured ones (one thread each, same CPU, no other load),
    a scheduler and client that keep up (each partition is ~256 texts in, 256 vectors out), the
    model folder and OUT on a file system that serves every worker, and ``o`` independent of
    ``W``.
    """
    par = cluster.get("parallel") or {}
    n_part, worker_s = int(par.get("partitions", 0)), float(par.get("worker_s", 0.0))
    emb_wall = _t(cluster, "embedding")
    if not (n_part and worker_s and emb_wall):
        return {}
    t_part = worker_s / n_part
    overhead = max(emb_wall * workers - worker_s, 0.0) / n_part
    serial = max(float(cluster.get("wall_s", 0.0)) - emb_wall, 0.0)
    rows = {}
    for w in (workers, *targets):
        rounds = -(-n_part // w)
        rows[str(w)] = {"workers": w, "rounds": rounds,
                        "embedding_s": round(rounds * (t_part + overhead), 1),
                        "total_s": round(serial + rounds * (t_part + overhead), 1)}
    return {"partitions": n_part, "texts": int(par.get("texts", 0)),
            "partition_s": round(t_part, 3), "overhead_per_partition_s": round(overhead, 3),
            "serial_s": round(serial, 1), "per_worker_passages_per_s":
            round(int(par.get("texts", 0)) / worker_s, 1), "rows": rows}


def _rate(stage: dict[str, Any]) -> float | None:
    s, n = _t(stage, "embedding"), _n(stage, "embedding")
    return round(n / s, 1) if s else None


def _frames_equal(a: Path, b: Path, names: Sequence[str]) -> dict[str, bool]:
    import pandas as pd

    out = {}
    for name in names:
        try:
            pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name))
            out[name] = True
        except (AssertionError, OSError, ValueError):
            out[name] = False
    return out


def _fresh_scale(base: Path, scale: int, sources: Sequence[Path] | None
                 ) -> tuple[str, Path, Path, Path]:
    """An empty ``base`` with the corpus of ``scale`` in ``base/raw``; returns the default
    backend, ``base``, the raw folder and the log folder."""
    from pipeline.models import runtime as models

    if base.exists():
        shutil.rmtree(base)
    raw, logs = base / "raw", base / "logs"
    build_corpus(raw, scale, sources)
    return models.backend_for(None), base, raw, logs


def bench_large(scale: int, work: Path, codebook: Path, runner: Runner,
                sources: Sequence[Path] | None = None, workers: int = CLUSTER_WORKERS
                ) -> dict[str, Any]:
    """A large scale (x61: a million words): one process against a Dask LocalCluster.

    Three steps on the default backend (onnx where the model folder has its export), each in a
    fresh process with an empty cache: ``ingest``; ``run_1p``, a cold ``codeer run --until
    code`` (ingest, embedding, coding); ``run_cluster``, the same with ``--workers N``. The
    outputs of the two runs are compared, and :func:`project` projects the cluster run onto
    more workers.
    """
    backend, base, raw, logs = _fresh_scale(work / f"x{scale}", scale, sources)
    load_start = os.getloadavg()

    def step(name: str, argv: list[str]) -> dict[str, Any]:
        res = runner(Job(name, argv, logs / f"{name}.log", backend=backend))
        log.info("bench x%d: %-16s %8.1f s wall %8.1f s cpu %7.0f MB (load %s -> %s)", scale,
                 name, res.get("wall_s", 0.0), res.get("cpu_s", 0.0), res.get("maxrss_mb", 0.0),
                 res.get("load_before"), res.get("load_after"))
        return res

    stages: dict[str, dict[str, Any]] = {}
    stages["ingest"] = step("ingest", _cli("ingest", "--raw", raw, "--out", base / "out"))
    stats = corpus_stats(base / "out", codebook)
    stats.pop("windows")
    stages["run_1p"] = step("run_1p", _cli("run", "--raw", raw, "--out", base / "out-1p",
                                           "--codebook", codebook, "--until", "code"))
    stages["run_cluster"] = step("run_cluster", _cli(
        "run", "--raw", raw, "--out", base / "out-cluster", "--codebook", codebook,
        "--until", "code", "--workers", workers))
    identical = _frames_equal(base / "out-1p", base / "out-cluster",
                              (config.DOCUMENTS_FILE, config.SEGMENTS_FILE, config.CODINGS_FILE))
    one, clu = stages["run_1p"], stages["run_cluster"]
    par = clu.get("parallel") or {}
    return {
        "scale": scale, **stats, "backend": backend, "workers": workers, "stages": stages,
        "identical_outputs": identical,
        "run_1p": {"wall_s": one["wall_s"], "cpu_s": one["cpu_s"],
                   "peak_rss_mb": one.get("maxrss_mb"), "embedding_s": _t(one, "embedding"),
                   "passages_per_s": _rate(one), "passages_per_s_per_worker": _rate(one)},
        "run_cluster": {"wall_s": clu["wall_s"], "cpu_s": clu["cpu_s"],
                        "peak_rss_mb_client": clu.get("maxrss_mb"),
                        "peak_rss_mb_worker": par.get("worker_maxrss_mb"),
                        "cluster_start_s": _t(clu, "cluster_start"),
                        "embedding_s": _t(clu, "embedding"), "passages_per_s": _rate(clu),
                        "passages_per_s_per_worker": round(par["texts"] / par["worker_s"], 1)
                        if par.get("worker_s") else None,
                        "partitions": par.get("partitions"),
                        "worker_processes": len(par.get("pids") or [])},
        "projection": project(clu, workers),
        "load_avg_start": [round(x, 2) for x in load_start],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def bench_targets(scale: int, work: Path, codebook: Path, runner: Runner,
                  sources: Sequence[Path] | None = None) -> dict[str, Any]:
    """The two targets on the default backend: cold run against its embedding floor, and a
    re-code after a codebook edit against the cold run (``--targets``).

    Steps, each in a fresh process: ``ingest`` (for the windows), ``embed_only`` (load the model,
    encode the coder's unique windows), ``run_e2e`` (a cold ``codeer run --until themes``, empty
    cache) and ``recode_warm`` (``codeer code`` on that run's OUT after one codebook example
    changed).
    """
    backend, base, raw, logs = _fresh_scale(work / f"targets-x{scale}", scale, sources)
    load_start = os.getloadavg()
    stages: dict[str, dict[str, Any]] = {}

    def step(name: str, argv: list[str]) -> dict[str, Any]:
        res = runner(Job(name, argv, logs / f"{name}.log", backend=backend))
        log.info("bench targets x%d: %-12s %8.1f s wall %8.1f s cpu (load %s)", scale, name,
                 res.get("wall_s", 0.0), res.get("cpu_s", 0.0), res.get("load_before"))
        stages[name] = res
        return res

    step("ingest", _cli("ingest", "--raw", raw, "--out", base / "out"))
    stats = corpus_stats(base / "out", codebook)
    texts_file = base / "windows.json"
    texts_file.write_text(json.dumps(stats.pop("windows"), ensure_ascii=False), encoding="utf-8")
    step("embed_only", ["embed", str(texts_file)])
    step("run_e2e", _cli("run", "--raw", raw, "--out", base / "out-run", "--codebook", codebook,
                         "--until", "themes"))
    edited = base / "codebook-edited.yaml"
    stats["codebook_edit"] = edit_codebook(codebook, edited)
    step("recode_warm", _cli("code", "--out", base / "out-run", "--codebook", edited))
    e2e, floor = stages["run_e2e"]["wall_s"], stages["embed_only"]["wall_s"]
    recode = stages["recode_warm"]["wall_s"]
    return {"scale": scale, **stats, "backend": backend, "stages": stages,
            "e2e_s": e2e, "embed_only_s": floor, "recode_warm_s": recode,
            "e2e_over_embed_only": round(e2e / floor, 3) if floor else None,
            "e2e_cpu_over_embed_only_cpu": round(stages["run_e2e"]["cpu_s"]
                                                 / stages["embed_only"]["cpu_s"], 3)
            if stages["embed_only"]["cpu_s"] else None,
            "recode_over_e2e": round(recode / e2e, 3) if e2e else None,
            "run_split": run_split(stages["run_e2e"]),
            "recode_split": code_split(stages["recode_warm"]),
            "load_avg_start": [round(x, 2) for x in load_start],
            "load_avg_end": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def themes_scale_markdown(data: dict[str, Any]) -> list[str]:
    """The section of ``python -m bench.themes_scale`` (where the full themes fit stops fitting,
    and the sampled fit against it)."""
    if not data or not data.get("runs"):
        return []
    sample = int(data.get("sample_size", 20_000))
    md = ["## Themes at scale (`python -m bench.themes_scale`)", "",
          "`fit_topics` (exact kNN, UMAP, HDBSCAN, BERTopic keywords, outlier reduction) on "
          "every segment (`full`) against `themes.scale.fit_sampled` (the same on a sample of "
          f"{sample:,}, every other segment to the nearest theme centroid: `sampled`), each in a "
          "fresh process with a time limit of 1,200 s; a fit that takes more than half of it "
          "is not tried at the next size. Synthetic corpora of real vectors: the ~5,000 content "
          "segments of the demo and the test corpora, embedded with the real model, replicated "
          "with Gaussian noise (cosine ~0.93 to the original). Measured "
          f"{data.get('date', '')}; the load average is that of the whole machine.", ""]
    md += _table(["segments", "fit", "wall s", "CPU s", "fit s", "peak RSS MB", "themes",
                  "method", "load before"],
                 [[_fmt(r["n"]), r["mode"], _fmt(r["wall_s"]), _fmt(r.get("cpu_s")),
                   _fmt(r.get("fit_s")), _fmt(r.get("maxrss_mb")), _fmt(r.get("themes")),
                   r.get("method") or r.get("failed", ""), r.get("load_before")]
                  for r in data["runs"]])
    for n, c in (data.get("compare") or {}).items():
        md += [f"Sampled ({c.get('sample', sample):,}) against full at {int(n):,} segments: "
               f"adjusted Rand index of the assignments {c['ari']}; keyword sets: mean "
               f"best-match Jaccard {c['keyword_jaccard_best_match_mean']} (each sampled theme "
               f"against the most similar full theme), overlap of all keywords "
               f"{c.get('keyword_vocabulary_overlap', '-')}; {c['themes_full']} themes full, "
               f"{c['themes_sampled']} sampled.", ""]
    md += [line + "\n" for line in data.get("notes", [])]
    return md


def targets_markdown(targets: dict[str, Any]) -> list[str]:
    """The section of :func:`bench_targets` (``--targets``)."""
    if not targets:
        return []
    md = ["## Targets on the default backend (`--targets`)", "",
          "Whole run <= 1.25 x embedding-only (a cold `codeer run --until themes` against one "
          "process that only loads the model and encodes the same windows), and a re-code "
          "after a codebook edit <= 5 % of the cold run.", ""]
    md += _table(["scale", "backend", "windows", "e2e s", "embed_only s", "e2e / embed",
                  "cpu e2e / embed", "recode_warm s", "recode / e2e", "load (1 min)",
                  "measured"],
                 [[k, r["backend"], _fmt(r["unique_windows"]), _fmt(r["e2e_s"]),
                   _fmt(r["embed_only_s"]), _fmt(r["e2e_over_embed_only"], 2),
                   _fmt(r["e2e_cpu_over_embed_only_cpu"], 2), _fmt(r["recode_warm_s"]),
                   _fmt(r["recode_over_e2e"], 3),
                   f"{r['load_avg_start'][0]} -> {r['load_avg_end'][0]}", r["date"]]
                  for k, r in targets.items()])
    for k, r in targets.items():
        md += [f"Split of the {k} cold run and of the re-code (s):", ""]
        md += _table(["part", "cold run", "re-code"],
                     [[part, _fmt(r["run_split"].get(part), 2),
                       _fmt(r["recode_split"].get(part), 2)]
                      for part in dict.fromkeys([*r["run_split"], *r["recode_split"]])])
        if r.get("note"):  # written down after the run
            md += [f"**Read with care ({k}).** {r['note']}", ""]
    return md


# --------------------------------------------------------------------------- once per run


def _help_timing(work: Path, repeats: int = 3) -> dict[str, Any]:
    """Wall seconds of ``codeer --help`` (console script and ``python -m pipeline``)."""
    env = _env()
    commands = {"python -m pipeline --help": [sys.executable, "-m", "pipeline", "--help"]}
    script = Path(sys.executable).parent / "codeer"
    if script.exists():
        commands["codeer --help"] = [str(script), "--help"]
    commands["python -c pass (interpreter floor)"] = [sys.executable, "-c", "pass"]
    result = {}
    for name, argv in commands.items():
        runs = [_spawn(argv, work / "logs" / "help.log", env, REPO)["wall_s"]
                for _ in range(repeats)]
        result[name] = {"min_s": min(runs), "median_s": statistics.median(runs)}
    return result


def _cosine_stats(a_path: Path, b_path: Path) -> dict[str, float]:
    import numpy as np

    a, b = np.load(a_path), np.load(b_path)
    cos = (a * b).sum(axis=1)
    return {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5)}


def _coded_share(out: Path) -> dict[str, Any]:
    from pipeline import schema, storage
    from pipeline.coding.coder import select_scope

    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    n = len(select_scope(segments, "respondent"))
    return {"respondent_segments": n, "codings": len(codings),
            "coded_share": round(codings["segment_id"].nunique() / max(n, 1), 4),
            "pairs": sorted(zip(codings["segment_id"], codings["code_id"], strict=True))}


def _seed_gold_file(raw_file: Path, dest: Path) -> Path | None:
    import importlib.util

    if not SEED_GOLD.exists():
        return None
    spec = importlib.util.spec_from_file_location("codeer_seed_gold", SEED_GOLD)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    text = raw_file.read_text(encoding="utf-8")
    module.write_gold_csv(module.seed_gold(text, raw_file.name), dest)
    return dest


def quality(work: Path, codebook: Path, runner: Runner,
            variants: Sequence[str] = ("fp32", "int8"), seed: Path | None = None
            ) -> dict[str, Any]:
    """fp32 (torch) against int8 and onnx: the debates' coded share and, when ``seed`` names
    the seed note (not in the repository), its macro-F1."""
    result: dict[str, Any] = {}
    base = work / "quality"
    logs = base / "logs"
    corpora = {}
    if seed is not None and seed.is_file():
        seed_raw = base / "seed-raw"
        seed_raw.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed, seed_raw / seed.name)
        corpora["seed"] = seed_raw
    if DEBATES.is_dir():
        corpora["debates"] = DEBATES
    for name, raw in corpora.items():
        ingested = base / f"{name}-ingested"
        runner(Job(f"{name}-ingest", _cli("ingest", "--raw", raw, "--out", ingested),
                   logs / f"{name}-ingest.log"))
        shares = {}
        for variant in variants:
            out = base / f"{name}-{variant}"
            shutil.copytree(ingested, out)
            res = runner(Job(f"{name}-code-{variant}",
                             _cli("code", "--out", out, "--codebook", codebook),
                             logs / f"{name}-code-{variant}.log", int8=variant == "int8",
                             backend="onnx" if variant == "onnx" else "torch"))
            entry: dict[str, Any] = {"code_wall_s": res.get("wall_s"),
                                     "code_cpu_s": res.get("cpu_s"),
                                     "embedding_s": _t(res, "embedding"),
                                     "model_load_s": _t(res, "model_load"),
                                     "texts": _n(res, "embedding")}
            if entry["embedding_s"]:
                entry["texts_per_s"] = round(entry["texts"] / entry["embedding_s"], 1)
            shares[variant] = _coded_share(out)
            entry.update({k: v for k, v in shares[variant].items() if k != "pairs"})
            if name == "seed":
                gold = _seed_gold_file(seed, base / "seed-gold.csv")
                if gold is not None:
                    runner(Job(f"seed-evaluate-{variant}",
                               ["cli", "evaluate", "--out", str(out), "--gold", str(gold),
                                "--codebook", str(codebook), "--json"],
                               logs / f"seed-evaluate-{variant}.log"))
                    pooled = _read_json(out / "evaluation.json")["pooled"]
                    entry["macro_f1"] = pooled.get("macro_f1")
                    entry["micro_f1"] = pooled.get("micro_f1")
            result.setdefault(name, {})[variant] = entry
            log.info("bench quality: %s %s %s", name, variant,
                     {k: v for k, v in entry.items() if k in ("coded_share", "macro_f1",
                                                               "texts_per_s")})
        base_pairs = set(shares["fp32"]["pairs"])
        for other in variants[1:]:
            pairs = set(shares[other]["pairs"])
            result[name][f"codings_jaccard_fp32_{other}"] = round(
                len(base_pairs & pairs) / max(len(base_pairs | pairs), 1), 4)
    return result


def extras(work: Path, codebook: Path, runner: Runner, windows_file: Path | None,
           speed_sample: int = SPEED_SAMPLE, with_onnx: bool = False,
           seed: Path | None = None) -> dict[str, Any]:
    """``codeer --help``, batch-size sweep, fp32 against int8 (speed and quality)."""
    variants = ("fp32", "int8", "onnx") if with_onnx else ("fp32", "int8")
    result: dict[str, Any] = {"cli_help": _help_timing(work)}
    log.info("bench: --help %s", result["cli_help"])
    if windows_file is not None:
        windows = _read_json(windows_file)
        step = max(len(windows) // speed_sample, 1)
        sample = windows[::step][:speed_sample]
        sample_file = work / "speed-sample.json"
        sample_file.write_text(json.dumps(sample, ensure_ascii=False), encoding="utf-8")
        speed = {}
        for variant in variants:
            vec = work / f"speed-{variant}.npy"
            res = runner(Job(f"speed-{variant}", ["speed", str(sample_file), str(vec),
                                                  *(["int8"] if variant == "int8" else [])],
                             work / "logs" / f"speed-{variant}.log",
                             backend="onnx" if variant == "onnx" else "torch"))
            speed[variant] = {k: res.get(k) for k in ("rates", "n", "mean_tokens", "max_tokens",
                                                      "maxrss_mb")}
            speed[variant]["model_load_s"] = _t(res, "model_load")
            speed[variant]["quantize_s"] = _t(res, "quantize")
            log.info("bench speed %s: %s", variant, speed[variant]["rates"])
        for other in variants[1:]:
            if (work / "speed-fp32.npy").exists() and (work / f"speed-{other}.npy").exists():
                speed[f"cosine_fp32_{other}"] = _cosine_stats(work / "speed-fp32.npy",
                                                              work / f"speed-{other}.npy")
        result["speed"] = speed
    result["quality"] = quality(work, codebook, runner, variants, seed)
    return result


def _onnx_ready() -> bool:
    """True if the default model folder has its ONNX export (else the onnx steps are skipped)."""
    from pipeline.models import runtime as models

    if (models.default_model_dir() / models.ONNX_FILE).is_file():
        return True
    log.warning("bench: %s has no %s; the onnx backend is not measured. Run `make models`.",
                models.default_model_dir(), models.ONNX_FILE)
    return False


def _meta(scales: Sequence[int], sources: Sequence[Path], codebook: Path) -> dict[str, Any]:
    import importlib.metadata as md

    def version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return ""

    from pipeline.models.cache import model_key

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": {n: version(n) for n in ("torch", "sentence-transformers", "transformers",
                                             "bertopic", "spacy", "umap-learn", "hdbscan")},
        "model": model_key(None),
        "batch_size": config.EMBED_BATCH_SIZE,
        "scales": list(scales),
        "base_corpus": [_display(p) for p in sources],
        "codebook": _display(codebook),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO.resolve()).as_posix()
    except ValueError:
        return path.name


def run(dest: Path, scales: tuple[int, ...] = (1, 4, 16), *, codebook: Path | None = None,
        sources: Sequence[Path] | None = None, runner: Runner | None = None,
        with_extras: bool = True, work: Path | None = None, seed: Path | None = None,
        targets_only: bool = False) -> dict[str, Any]:
    """Benchmark every stage at every scale; write ``results.json`` and ``results.md`` to dest.

    Scales from :data:`LARGE_SCALE` on (x61: a million words) run only the steps of
    :func:`bench_large` and go under ``"large"`` in the results, which keep the large scales of
    earlier runs; a run of large scales only also keeps the earlier run's small scales, extras
    and meta (``make bench SCALES=61`` adds the million-word row to the x1/x4/x16 figures).

    Args:
        dest: Folder for the results (created).
        scales: Corpus sizes as multiples of the base corpus, e.g. ``(1, 4, 16)``.
        codebook: Codebook file; default ``codebook.yaml`` of the working directory, else of
            the repository.
        sources: Base corpus transcripts; default :func:`default_sources`.
        runner: Runs one :class:`Job`; default :func:`subprocess_runner` (a fresh process).
        with_extras: Also time ``--help``, sweep batch sizes and compare fp32 with int8.
        work: Scratch folder for corpora and outputs; default a temporary folder, removed at
            the end unless ``CODEER_BENCH_KEEP`` is set.
        seed: The seed note (a text file outside the repository) for the quality extras;
            without it the seed macro-F1 is not measured.
        targets_only: Run only :func:`bench_targets` at every scale (under ``"targets"``;
            everything else of the earlier results stays).

    Returns:
        The results (as written to ``results.json``).
    """
    scales = tuple(sorted(set(int(s) for s in scales)))
    if not scales or min(scales) < 1:
        raise CodeerError(f"--scales must be positive integers, e.g. 1,4,16. Got {scales}.")
    codebook = Path(codebook or (config.CODEBOOK_FILE if config.CODEBOOK_FILE.exists()
                                 else REPO / "codebook.yaml")).resolve()
    sources = list(sources) if sources is not None else default_sources()
    runner = runner or subprocess_runner
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    keep = work is not None or bool(os.environ.get("CODEER_BENCH_KEEP"))
    work = Path(work or tempfile.mkdtemp(prefix="codeer-bench-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    small = tuple(s for s in scales if s < LARGE_SCALE and not targets_only)
    large = tuple(s for s in scales if s >= LARGE_SCALE and not targets_only)
    previous: dict[str, Any] = {}
    if (dest / "results.json").exists():
        try:
            previous = _read_json(dest / "results.json")
        except ValueError:
            previous = {}
    if small or not previous:
        results: dict[str, Any] = {"meta": _meta(small or scales, sources, codebook),
                                   "scales": []}
    else:  # large scales only: the small-scale figures of the earlier run stay
        results = {k: v for k, v in previous.items() if k not in ("large", "targets")}
    # Sections measured apart are kept (and updated scale by scale below).
    results["large"] = dict(previous.get("large") or {})
    results["targets"] = dict(previous.get("targets") or {})
    if previous.get("themes_scale"):
        results["themes_scale"] = previous["themes_scale"]
    log.info("bench: scales %s, work folder %s%s", ",".join(map(str, scales)), work,
             "" if keep else " (removed at the end; CODEER_BENCH_KEEP=1 keeps it)")
    t0 = time.perf_counter()
    with_onnx = _onnx_ready()
    try:
        for scale in scales if targets_only else ():
            row = bench_targets(scale, work, codebook, runner, sources)
            results["targets"][f"x{scale}"] = row
            log.info("bench targets x%d: e2e / embed_only %.2f, recode / e2e %.3f", scale,
                     row["e2e_over_embed_only"] or 0.0, row["recode_over_e2e"] or 0.0)
            write_results(results, dest)
        for scale in large:
            row = bench_large(scale, work, codebook, runner, sources)
            results["large"][f"x{scale}"] = row
            log.info("bench x%d: %d words, one process %.1f s, %d workers %.1f s, identical %s",
                     scale, row["words"], row["run_1p"]["wall_s"], row["workers"],
                     row["run_cluster"]["wall_s"], row["identical_outputs"])
            write_results(results, dest)
        for scale in small:
            row = bench_scale(scale, work, codebook, runner, sources, with_onnx)
            results["scales"].append(row)
            log.info("bench x%d: %d words, e2e %.1f s, embed_only %.1f s (ratio %.2f), "
                     "recode %.1f s (ratio %.3f)", scale, row["words"], row["e2e_s"],
                     row["embed_only_s"], row["e2e_over_embed_only"] or 0.0,
                     row["recode_warm_s"], row["recode_over_e2e"] or 0.0)
            write_results(results, dest)  # partial results survive an interrupted run
        if small:
            results["linearity"] = linearity(results["scales"])
        if with_extras and small:
            first = work / f"x{small[0]}" / "windows.json"
            results["extras"] = extras(work, codebook, runner, first if first.exists() else None,
                                       with_onnx=with_onnx, seed=seed)
        if small:
            results["meta"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
            results["meta"]["bench_wall_s"] = round(time.perf_counter() - t0, 1)
        write_results(results, dest)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    log.info("bench: %s and %s", dest / "results.json", dest / "results.md")
    return results


# --------------------------------------------------------------------------- results


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


STAGE_ORDER = ("ingest", "code", "embed_only", "run_e2e", "themes", "export", "recode_warm",
               "bertopic_default", "embed_only_onnx", "run_e2e_onnx", "recode_warm_onnx")


def large_markdown(large: dict[str, Any]) -> list[str]:
    """The section of the large scales (:func:`bench_large`): one process against a cluster,
    and the projection onto more workers."""
    if not large:
        return []
    md = ["## A million words: one process and a Dask LocalCluster", "",
          "A cold `codeer run --until code` (ingest, embedding, coding; empty cache; default "
          "backend) in one process, and the same with `--workers N` (a LocalCluster of N "
          "single-threaded worker processes on the same 2 cores). passages/s per worker: one "
          "process counts as one worker (with 2 intra-op threads); on the cluster, the texts "
          "over the seconds the workers spent inside their tasks. Peak memory: the process; "
          "on the cluster the client and the largest worker.", ""]
    rows = []
    for key, r in large.items():
        one, clu = r["run_1p"], r["run_cluster"]
        same = "yes" if all(r.get("identical_outputs", {}).values()) else "NO"
        rows.append([key, _fmt(r["words"]), _fmt(r["unique_windows"]), r.get("backend", ""),
                     "1 process", _fmt(one["wall_s"]), _fmt(one["cpu_s"]),
                     _fmt(one["embedding_s"]), _fmt(one["peak_rss_mb"], 0),
                     _fmt(one["passages_per_s"]), _fmt(one["passages_per_s_per_worker"]), "–",
                     f"{r['load_avg_start'][0]}", r.get("date", "")])
        rows.append([key, "", "", "", f"{r['workers']} workers", _fmt(clu["wall_s"]),
                     _fmt(clu["cpu_s"]), _fmt(clu["embedding_s"]),
                     f"{_fmt(clu['peak_rss_mb_client'], 0)} + "
                     f"{_fmt(clu['peak_rss_mb_worker'], 0)}/worker",
                     _fmt(clu["passages_per_s"]), _fmt(clu["passages_per_s_per_worker"]), same,
                     f"{r['load_avg_end'][0]}", ""])
    md += _table(["scale", "words", "windows", "backend", "run", "wall s", "CPU s",
                  "embedding s", "peak RSS MB", "passages/s", "passages/s per worker",
                  "same outputs", "load (1 min)", "measured"], rows)
    md += [f"**Read with care ({key}).** {r['note']}\n" for key, r in large.items()
           if r.get("note")]  # what went wrong during a run, written down after it
    for key, r in large.items():
        proj = r.get("projection") or {}
        if not proj:
            continue
        md += [f"Projection from the {key} cluster run ({proj['partitions']} partitions of "
               f"~{proj['texts'] // max(proj['partitions'], 1)} texts, {proj['partition_s']} s "
               f"each on one worker, scheduling overhead {proj['overhead_per_partition_s']} s "
               f"per partition, serial rest {proj['serial_s']} s, "
               f"{proj['per_worker_passages_per_s']} passages/s per worker):", ""]
        md += _table(["workers", "rounds of partitions", "embedding s", "whole run s"],
                     [[v["workers"], v["rounds"], _fmt(v["embedding_s"]), _fmt(v["total_s"])]
                      for v in proj["rows"].values()])
    md += ["Projection: T(W) = S + ceil(P / W) x (t + o), with P partitions, t the measured "
           "seconds of one partition on one worker (model load included), o the measured "
           "worker time per partition spent outside the tasks (scheduling, transfer, idle "
           "tail), S the measured rest of the run (interpreter, cluster start, ingest, rules, "
           "writes; not assumed to shrink). Assumes workers as fast as these (one thread, "
           "same CPU, no other load), a scheduler and client that keep up, and the model folder "
           "and OUT on a file system every worker reads fast; the 2-worker figures were "
           "measured on a shared machine (load average in the table), so t is pessimistic.", ""]
    return md


def render_markdown(results: dict[str, Any]) -> str:
    """The human-readable report of :func:`run`'s results (``results.md``)."""
    meta = results.get("meta", {})
    rows = results.get("scales", [])
    md = ["# codeer benchmark", "",
          f"{meta.get('date', '')}; Python {meta.get('python', '')}, {meta.get('cpu_count')} "
          f"CPUs, torch {meta.get('versions', {}).get('torch', '')}; model "
          f"`{meta.get('model', '')}`, batch size {meta.get('batch_size')}. Load average "
          f"(1/5/15 min) at the start {meta.get('load_avg_start')}, at the end "
          f"{meta.get('load_avg_end')}: on a shared machine a load above the CPU count slows "
          "every figure; the CPU seconds are less sensitive to it than the wall seconds.", "",
          "Base corpus (x1): " + ", ".join(f"`{p}`" for p in meta.get("base_corpus", [])) +
          ". Copy k > 0 of every file is a plain-text transcript with one small edit per "
          "sentence (word swap, name change or copy number), so no copy hits another's cache.",
          ""]
    if meta.get("note"):
        md += [f"Note: {meta['note']}", ""]
    if results.get("x1_first_pass"):
        md += [f"x1 first pass (higher load): {results['x1_first_pass']}.", ""]
    md += ["## Summary", ""]
    md += _table(
        ["scale", "words", "segments (resp.)", "windows", "ingest s", "code s", "themes s",
         "stages sum s", "**e2e s**", "**embed_only s**", "e2e / embed", "cpu e2e / embed",
         "sum / embed", "recode_warm s", "recode / e2e", "export s", "peak RSS MB",
         "e2e words/s"],
        [[f"x{r['scale']}", _fmt(r["words"]), f"{_fmt(r['segments'])} "
          f"({_fmt(r['respondent_segments'])})", _fmt(r["unique_windows"]),
          _fmt(r["stages"]["ingest"]["wall_s"]), _fmt(r["stages"]["code"]["wall_s"]),
          _fmt(r["stages"]["themes"]["wall_s"]), _fmt(r.get("stages_sum_s")), _fmt(r["e2e_s"]),
          _fmt(r["embed_only_s"]),
          _fmt(r["e2e_over_embed_only"], 2), _fmt(r["e2e_cpu_over_embed_only_cpu"], 2),
          _fmt(r.get("stages_sum_over_embed_only"), 2),
          _fmt(r["recode_warm_s"]), _fmt(r["recode_over_e2e"], 3), _fmt(r["export_s"]),
          _fmt(r["peak_rss_mb"], 0), _fmt(r["words_per_s"]["e2e"], 0)] for r in rows])
    md += ["e2e: one cold `codeer run --until themes` process (ingest, code, themes; empty "
           "cache; the export's one-off costs are timed apart). stages sum: the same three "
           "stages as separate commands, each paying its own imports and model load. "
           "embed_only: one process that loads the model and encodes the coder's context "
           "windows with the same batch size, nothing else.", "",
           "Targets: e2e / embed_only <= 1.5 on x4 (aim 1.25); recode_warm / e2e <= 0.1 "
           "(aim 0.05); time and memory linear in words.", ""]
    md += large_markdown(results.get("large") or {})
    md += targets_markdown(results.get("targets") or {})
    md += themes_scale_markdown(results.get("themes_scale") or {})
    for r in rows:
        md += [f"## x{r['scale']}: stages", "",
               f"{_fmt(r['words'])} words, {_fmt(r['documents'])} documents; load average "
               f"{r.get('load_avg_start')} -> {r.get('load_avg_end')}. Texts embedded per step: "
               f"{r.get('embedded_texts')}. Codebook edit for recode_warm: "
               f"{r.get('codebook_edit', '')}.", ""]
        md += _table(["step", "wall s", "CPU s", "peak RSS MB", "words/s", "load before"],
                     [[name, _fmt(st["wall_s"]), _fmt(st.get("cpu_s")),
                       _fmt(st.get("maxrss_mb"), 0), _fmt(r["words_per_s"].get(name), 0),
                       _fmt(st.get("load_before"), 2)]
                      for name in STAGE_ORDER if (st := r["stages"].get(name))])
        splits = {"e2e (one process)": run_split(r["stages"]["run_e2e"])
                  if "run_e2e" in r["stages"] else {},
                  "code (cold)": code_split(r["stages"]["code"]),
                  "recode_warm": code_split(r["stages"]["recode_warm"]),
                  "themes": themes_split(r["stages"]["themes"]),
                  "export": export_split(r["stages"]["export"])}
        for title, split in splits.items():
            if not split:
                continue
            total = sum(split.values()) or 1.0
            md += [f"Split of {title}:", ""]
            md += _table(["part", "s", "share"],
                         [[k, _fmt(v, 2), f"{100 * v / total:.0f}%"] for k, v in split.items()])
        bt = r["stages"].get("bertopic_default", {})
        ours = r["stages"].get("themes", {})
        if bt:
            md += [f"BERTopic default (UMAP + HDBSCAN, c-TF-IDF) on the same embeddings: fit "
                   f"{_fmt(_t(bt, 'bertopic_fit'), 2)} s ({bt.get('topics')} topics, "
                   f"{_fmt(100 * (bt.get('outlier_share') or 0.0), 0)}% outliers), process "
                   f"{_fmt(bt.get('wall_s'))} s; ours: fit_topics "
                   f"{_fmt(_t(ours, 'bertopic_fit'), 2)} s, of which "
                   f"{_fmt(_t(ours, 'embedding') + _t(ours, 'model_load'), 2)} s embedding "
                   f"keyword candidates, stage {_fmt(ours.get('wall_s'))} s.",
                   ""]
    onnx_rows = [r for r in rows if r.get("onnx")]
    if onnx_rows:
        md += ["## The onnx backend (`--backend onnx`, ONNX Runtime on the same weights)", "",
               "The same cold run, floor and recode as above with `CODEER_BACKEND=onnx`; its "
               "vectors equal the torch ones (cosine in the extras below), so its codings do.",
               ""]
        md += _table(["scale", "e2e s", "embed_only s", "e2e / embed", "recode_warm s",
                      "recode / e2e", "recode model load s"],
                     [[f"x{r['scale']}", _fmt(r["onnx"]["e2e_s"]),
                       _fmt(r["onnx"]["embed_only_s"]), _fmt(r["onnx"]["e2e_over_embed_only"], 2),
                       _fmt(r["onnx"]["recode_warm_s"]), _fmt(r["onnx"]["recode_over_e2e"], 3),
                       _fmt(r["onnx"].get("recode_split", {}).get("model_load"), 2)]
                      for r in onnx_rows])
    lin = results.get("linearity") or {}
    if lin:
        names = list(next(iter(lin.values())))
        md += ["## Linearity", "",
               "Seconds (or MB) per word relative to the smallest scale: 1.0 is linear; below 1 "
               "means a fixed part (interpreter, libraries, model load, numba compilation) "
               "still dominates. Wall seconds follow the machine's load; CPU seconds less so.", ""]
        md += _table(["scale", *names], [[k, *(_fmt(v.get(n), 2) for n in names)]
                                         for k, v in lin.items()])
    ext = results.get("extras") or {}
    if ext.get("cli_help"):
        md += ["## `codeer --help`", ""]
        md += _table(["command", "min s", "median s"],
                     [[k, _fmt(v["min_s"], 2), _fmt(v["median_s"], 2)]
                      for k, v in ext["cli_help"].items()])
    speed = ext.get("speed") or {}
    if speed:
        md += ["## Encoding speed (texts/s, a sample of the x1 context windows; fp32 = torch)", ""]
        md += _table(["model", "rates", "mean tokens", "model load s", "quantise s", "RSS MB"],
                     [[k, ", ".join(f"{b} {_fmt(x)}" for b, x in (v.get("rates") or {}).items()),
                       _fmt(v.get("mean_tokens")), _fmt(v.get("model_load_s"), 2),
                       _fmt(v.get("quantize_s"), 2), _fmt(v.get("maxrss_mb"), 0)]
                      for k, v in speed.items() if k in ("fp32", "int8", "onnx")])
        for other in ("int8", "onnx"):
            if speed.get(f"cosine_fp32_{other}"):
                md += [f"Cosine fp32 (torch) vs {other} on the sample: "
                       f"{speed[f'cosine_fp32_{other}']}.", ""]
    ab = ext.get("speed_ab_same_process") or {}
    if ab:
        md += [f"Same-process A/B ({ab.get('note', '')}):", ""]
        md += _table(["model", *ab.get("fp32", {})],
                     [[k, *(" / ".join(_fmt(x) for x in v[b]) for b in v)]
                      for k, v in ab.items() if isinstance(v, dict)])
    qual = ext.get("quality") or {}
    if qual:
        md += ["## Backends and int8: quality", ""]
        md += _table(["corpus", "model", "texts/s (in code)", "code wall s", "coded share",
                      "macro-F1", "codings"],
                     [[name, variant, _fmt(e.get("texts_per_s")), _fmt(e.get("code_wall_s")),
                       _fmt(e.get("coded_share"), 3), _fmt(e.get("macro_f1"), 3),
                       _fmt(e.get("codings"))]
                      for name, d in qual.items() for variant, e in d.items()
                      if isinstance(e, dict)])
        md += ["Jaccard of the (segment, code) pairs against fp32 (torch): "
               + "; ".join(f"{k}: " + ", ".join(f"{j.rsplit('_', 1)[1]} {v}" for j, v in d.items()
                                                 if j.startswith("codings_jaccard_"))
                           for k, d in qual.items())
               + ".", ""]
    return "\n".join(md).rstrip() + "\n"


def write_results(results: dict[str, Any], dest: Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``dest`` atomically."""
    from pipeline.storage import write_text

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    json_path, md_path = dest / "results.json", dest / "results.md"
    write_text(json_path, json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n")
    write_text(md_path, render_markdown(results))
    return json_path, md_path
