"""Past one machine: the heavy stages on a Dask cluster (``--workers N``, ``--scheduler ADDR``).

The command line activates an engine for the duration of a command (:func:`engine`, a context
manager); without ``--workers`` or ``--scheduler`` there is none, nothing here runs and Dask is
never imported. While one is active, two stages hand their per-item work to the cluster and the
stage code itself does not change:

* **Embedding** (:func:`encode`, called by :meth:`pipeline.models.cache.EmbeddingCache.encode`
  for its cache misses): the misses are cut into contiguous partitions of
  :data:`pipeline.config.PARTITION_SIZE` texts in input order (the coder's context windows come
  in document order, so a partition is a run of one or two documents). Each worker process
  loads the model once (:func:`pipeline.models.runtime.load_model` caches it per process) and
  returns the partition's vectors; the client puts them back in input order, the cache merges
  them and only the client writes the cache file, once. Identical vectors: the ONNX Runtime
  backend gives bit-identical rows whatever the batch they are in (padded positions add exact
  zeros) and whatever the thread count; torch rows differ from a one-process run by at most one
  unit in the last place (6e-8), because its attention kernel depends on the padded length.
* **Ingest** (:func:`ingest`): one task per transcript runs the per-file path of
  :func:`pipeline.ingest.command.ingest_file` (reading, turns, sentences, lemmas); the client
  decides everything that spans files (document ids, the metadata sheet, the order of the
  problems) with :func:`pipeline.ingest.core.plan_files`, which does no sentence splitting, and
  assembles the tables in file order.

A worker that dies mid-run loses only its partitions: the scheduler runs them again on another
worker (``distributed.scheduler.allowed-failures``, 3 by default), and a partition that raises
is retried :data:`RETRIES` times. The result does not depend on which worker computed what.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import config, hooks
from pipeline.errors import CodeerError
from pipeline.i18n import _

log = logging.getLogger("codeer")

# A partition that raised (not one whose worker died: the scheduler reschedules those itself)
# is tried this many more times before the run stops.
RETRIES = 2
# Seconds to wait for a remote scheduler to answer.
CONNECT_TIMEOUT = 30
# The scale extra, named in the error when Dask is missing.
INSTALL_HINT = "pip install 'codeer[scale]'"


@dataclass
class Engine:
    """The cluster of the running command.

    Attributes:
        client: The ``distributed.Client``.
        cluster: The ``LocalCluster`` this command started, or None for ``--scheduler``.
        partition_size: Texts per embedding task.
        stats: What the cluster did (for the log and the benchmark): partitions, texts, the
            seconds the workers spent inside the tasks, the processes that ran them.
    """

    client: Any
    cluster: Any | None
    partition_size: int
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_workers(self) -> int:
        """Workers connected now."""
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))


_ENGINE: Engine | None = None
LAST_STATS: dict[str, Any] = {}  # the stats of the last engine, kept after it closed


def active() -> Engine | None:
    """The engine of the running command, or None (then every stage runs in this process)."""
    return _ENGINE


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise CodeerError(_("--workers and --scheduler need Dask, which is not installed. "
                            "Install it with `{command}`, or run without these options.")
                          .format(command=INSTALL_HINT)) from None
    return distributed


def check_options(workers: int | None, scheduler: str | None) -> None:
    """Validate ``--workers`` and ``--scheduler`` before any work.

    Raises:
        CodeerError: Both are given, or ``workers`` is not a positive integer.
    """
    if workers is not None and scheduler:
        raise CodeerError(_("--workers and --scheduler must not be combined: --workers starts a "
                            "cluster on this machine, --scheduler uses a running one. Got both "
                            "instead."))
    if workers is not None and workers < 1:
        raise CodeerError(_("--workers must be a positive integer. Got {workers} instead.")
                          .format(workers=workers))


def _worker_plugin(distributed: Any) -> Any:
    """A worker plugin: every worker process runs the model offline on its own threads."""
    client_pid = os.getpid()

    class CodeerWorker(distributed.WorkerPlugin):
        """Set up a worker process for codeer (offline, one intra-op thread per Dask thread)."""

        name = "codeer"

        def setup(self, worker: Any) -> None:
            if os.getpid() == client_pid:  # a worker thread of this process (tests)
                return
            config.model_offline_env()
            # Each worker is one process with its own thread(s): ONNX Runtime and torch must not
            # each start a thread per core on top of the other workers.
            os.environ[config.THREADS_ENV] = str(max(int(getattr(worker, "nthreads", 1)), 1))

    return CodeerWorker()


@contextlib.contextmanager
def engine(workers: int | None = None, scheduler: str | None = None,
           partition_size: int | None = None, processes: bool = True
           ) -> Iterator[Engine | None]:
    """Run the enclosed stages on a Dask cluster; without options, do nothing.

    Args:
        workers: Start a ``LocalCluster`` of this many single-threaded worker processes.
        scheduler: Connect to the running cluster at this address (``tcp://host:8786``).
        partition_size: Texts per embedding task; default :data:`config.PARTITION_SIZE`.
        processes: Workers are processes (False: threads of this process, for tests).

    Yields:
        The engine, or None when neither option is given (nothing is imported then).

    Raises:
        CodeerError: Bad options, Dask missing, or the scheduler does not answer.
    """
    global _ENGINE
    check_options(workers, scheduler)
    if (workers is None and not scheduler) or _ENGINE is not None:
        yield _ENGINE  # no cluster, or one is active already (run -> stages)
        return
    distributed = _distributed()
    cluster = None
    with hooks.span("cluster_start"):
        if scheduler:
            try:
                client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise CodeerError(_("--scheduler must be the address of a running Dask "
                                    "scheduler, such as tcp://10.0.0.5:8786. Got '{scheduler}' "
                                    "instead, which did not answer within {seconds} s "
                                    "({detail}).").format(scheduler=scheduler,
                                                          seconds=CONNECT_TIMEOUT, detail=exc)
                                  ) from None
        else:
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=processes,
                dashboard_address=None, silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
        client.register_plugin(_worker_plugin(distributed))
    eng = Engine(client, cluster, partition_size or config.PARTITION_SIZE,
                 {"workers_at_start": len(client.scheduler_info(n_workers=-1)["workers"]),
                  "partition_size": partition_size or config.PARTITION_SIZE,
                  "partitions": 0, "texts": 0, "worker_s": 0.0, "pids": [], "files": 0})
    if cluster is not None:
        log.info(_("parallel: LocalCluster, %d worker(s)"), eng.stats["workers_at_start"])
    else:
        log.info(_("parallel: scheduler %s, %d worker(s)"), scheduler,
                 eng.stats["workers_at_start"])
    _ENGINE = eng
    try:
        yield eng
    finally:
        _ENGINE = None
        LAST_STATS.clear()
        LAST_STATS.update(eng.stats, pids=sorted(set(eng.stats["pids"])))
        client.close()
        if cluster is not None:
            cluster.close()


def _gather(eng: Engine, futures: list[Any], what: str, progress: bool) -> list[Any]:
    """The futures' results in their order; a partition that failed for good is a CodeerError.

    ``what`` (already translated) labels the progress bar and the error.
    """
    distributed = _distributed()
    results: list[Any] = [None] * len(futures)
    index = {f.key: i for i, f in enumerate(futures)}
    done = distributed.as_completed(futures, with_results=True, raise_errors=False)
    if progress:
        from rich.progress import track

        done = track(done, total=len(futures), description=what, transient=True)
    for future, result in done:
        if future.status == "error":
            exc = future.exception()
            if isinstance(exc, CodeerError):
                raise exc
            name = type(exc).__name__
            message = _("{what}: partition {n} failed on the cluster ({error}: {detail}).")
            if name == "KilledWorker":
                message += " " + _("A worker process died while running it, more often than "
                                   "the scheduler's allowed-failures; check the workers' memory "
                                   "(docs/scale.md).")
            raise CodeerError(message.format(what=what, n=index[future.key], error=name,
                                             detail=exc), exit_code=3) from None
        results[index[future.key]] = result
    return results


# --------------------------------------------------------------------------- embedding


def partitions(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` of contiguous partitions of ``n`` items, ``size`` each (the last less)."""
    return [(i, min(i + size, n)) for i in range(0, n, max(size, 1))]


def encode_partition(texts: list[str], model: str | None, backend: str, kind: str,
                     batch: int) -> tuple[np.ndarray, str, float, int, float]:
    """Embed one partition on a worker (the model is loaded once per worker process).

    Returns:
        The vectors, the model id the worker loaded, the seconds spent, the worker's pid and
        its peak resident memory so far (MB).
    """
    import resource

    from pipeline.models import runtime

    t0 = time.perf_counter()
    loaded = runtime.load_model(model, backend)
    vectors = runtime.encode(loaded, texts, kind=kind, batch_size=batch)
    return (vectors, runtime.model_id(loaded), time.perf_counter() - t0, os.getpid(),
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def encode(texts: Sequence[str], model: str | Path | None, backend: str, kind: str,
           batch_size: int, model_id: str, progress: bool = False) -> np.ndarray:
    """Embed ``texts`` on the active cluster, partitioned in input order (see the module doc).

    Args:
        texts: The texts (the cache misses, unique, in input order).
        model: Model name or folder as the workers resolve it (None: their default folder,
            ``$CODEER_MODEL_DIR`` on the worker).
        backend: The client's backend; the workers use the same.
        kind: The E5 prompt.
        batch_size: Texts per forward pass.
        model_id: The client's model id: a worker whose model differs stops the run.
        progress: Show a progress bar over the partitions.

    Returns:
        One float32 row per text, in input order.

    Raises:
        CodeerError: No active engine, a worker loaded another model, or a partition failed.
    """
    eng = _ENGINE
    if eng is None:
        raise CodeerError(_("parallel.encode needs an active engine (--workers or "
                            "--scheduler)."))
    texts = list(texts)
    spans = partitions(len(texts), eng.partition_size)
    with hooks.span("embedding", len(texts)):
        futures = eng.client.map(
            encode_partition, [texts[a:b] for a, b in spans],
            # (``batch``: Client.map has a batch_size argument of its own)
            model=None if model is None else str(model), backend=backend, kind=kind,
            batch=batch_size, retries=RETRIES, pure=False)
        results = _gather(eng, futures, _("embedding"), progress)
    for i, (_vectors, found, *_rest) in enumerate(results):
        if found != model_id:
            raise CodeerError(
                _("The cluster's workers must load the client's embedding model {model}. Got "
                  "{found} instead (partition {n}). Point CODEER_MODEL_DIR at the same model "
                  "folder on every machine (docs/scale.md).")
                .format(model=model_id, found=found, n=i))
    eng.stats["partitions"] += len(results)
    eng.stats["texts"] += len(texts)
    eng.stats["worker_s"] = round(eng.stats["worker_s"] + sum(r[2] for r in results), 3)
    eng.stats["pids"] += [r[3] for r in results]
    eng.stats["worker_maxrss_mb"] = round(max([eng.stats.get("worker_maxrss_mb", 0.0),
                                               *(r[4] for r in results)]), 1)
    if not results:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate([r[0] for r in results]).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- ingest


def _ingest_one(path: Path, per_file: Callable[..., tuple[Any, Any]], raw: Path, metadata: Any,
                meta_name: str, unit: str, patterns: tuple[tuple[str, bool], ...]
                ) -> tuple[Any, Any, int]:
    """A worker's task: one transcript through the per-file path, and how many of its problems
    are the plan's (the rest are the segmentation's, which come after them)."""
    from pipeline.ingest.core import plan_files

    item, result = per_file(path, raw, metadata, meta_name, unit, patterns)
    if result is None:
        return item, None, 0
    planned = [str(i) for i in plan_files([item], metadata, meta_name, patterns)[2]]
    n_plan = len(planned)
    if [str(i) for i in result.issues[:n_plan]] != planned:
        n_plan = -1  # the core orders its problems otherwise now: assemble on the client
    return item, result, n_plan


def _same_values(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import pandas as pd

    def same(x: Any, y: Any) -> bool:
        missing_x = x is None or (not isinstance(x, str) and bool(pd.isna(x)))
        missing_y = y is None or (not isinstance(y, str) and bool(pd.isna(y)))
        return missing_x and missing_y or (not missing_x and not missing_y and x == y)

    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


def ingest(per_file: Callable[..., tuple[Any, Any]], paths: list[Path], raw: Path,
           metadata: Any, meta_name: str, unit: str, patterns: tuple[tuple[str, bool], ...],
           progress: bool = False) -> tuple[list[Any], list[Any], Any]:
    """Ingest ``paths`` on the active cluster, one task per transcript.

    Args:
        per_file: :func:`pipeline.ingest.command.ingest_file` (passed in, so that this module
            does not import the stage that calls it): one path to ``(file as read or its
            problem, its tables or None)``.
        paths: The transcripts, in the order of the single-process run.
        raw, metadata, meta_name, unit, patterns: As for that run.
        progress: Show a progress bar over the files.

    Returns:
        The read problems (in path order), the files as read, and the
        :class:`~pipeline.ingest.core.IngestResult` that
        :func:`~pipeline.ingest.core.build_tables` gives for them. When the per-file tables
        cannot simply be put together (two files get the same document id, a metadata row is
        refused because of another file's row), the client builds the tables itself from the
        files the workers read.
    """
    import pandas as pd

    from pipeline import schema
    from pipeline.ingest.core import IngestResult, Issue, build_tables, plan_files

    eng = _ENGINE
    if eng is None:
        raise CodeerError(_("parallel.ingest needs an active engine (--workers or "
                            "--scheduler)."))
    with hooks.span("read_files", len(paths)):
        futures = eng.client.map(_ingest_one, paths, per_file=per_file, raw=raw,
                                 metadata=metadata,
                                 meta_name=meta_name, unit=unit, patterns=patterns,
                                 retries=RETRIES, pure=False)
        per_file = _gather(eng, futures, _("ingest"), progress)
    eng.stats["files"] += len(paths)
    read_issues = [item for item, _res, _n in per_file if isinstance(item, Issue)]
    done = [(item, res, n) for item, res, n in per_file if not isinstance(item, Issue)]
    loaded = [item for item, _res, _n in done]
    if not loaded:
        return read_issues, loaded, None
    plans, columns, issues = plan_files(loaded, metadata, meta_name, patterns)
    composable = all(
        n >= 0 and (not res.plans or (res.plans[0].doc_id == plan.doc_id
                                      and _same_values(res.plans[0].metadata, plan.metadata)))
        for (_item, res, n), plan in zip(done, plans, strict=True))
    if not composable:
        log.info(_("ingest: per-file tables do not compose (shared document ids or metadata "
                   "rows); building the tables on this machine from the files as read."))
        return read_issues, loaded, build_tables(loaded, metadata, meta_name, unit, patterns)
    kept = [(res, plan) for (_item, res, _n), plan in zip(done, plans, strict=True) if res.plans]
    issues = issues + [i for _item, res, n in done for i in res.issues[n:]]
    doc_cols = [*schema.DOCUMENTS.columns, *columns]
    seg_cols = [*schema.SEGMENTS.columns, *columns]

    def table(frames: list[pd.DataFrame], cols: list[str]) -> pd.DataFrame:
        frames = [f.reindex(columns=cols) for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)

    documents = table([res.documents for res, _plan in kept], doc_cols)
    segments = table([res.segments for res, _plan in kept], seg_cols)
    return read_issues, loaded, IngestResult(
        schema.DOCUMENTS.conform(documents), schema.SEGMENTS.conform(segments), issues,
        [plan for _res, plan in kept])
