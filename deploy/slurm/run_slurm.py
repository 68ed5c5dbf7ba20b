"""Run codeer on a SLURM cluster: start Dask workers as SLURM jobs, run codeer against them.

Usage (on a login node, or better inside a small batch job, see codeer.sbatch)::

    DASK_CONFIG=deploy/slurm python deploy/slurm/run_slurm.py --jobs 32 -- \
        run --raw /project/codeer/raw --out /project/codeer/coded

Everything after ``--`` is a codeer command line; ``--scheduler`` is added. The scheduler runs
in this process, the workers in SLURM jobs configured by ``jobqueue.yaml``. Needs
``pip install dask-jobqueue`` beside codeer (docs/scale.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=8, help="SLURM jobs (= Dask workers)")
    parser.add_argument("--wait", type=int, default=1,
                        help="workers to wait for before codeer starts (others join later)")
    parser.add_argument("codeer", nargs=argparse.REMAINDER, help="-- then a codeer command")
    args = parser.parse_args(argv)
    command = [a for a in args.codeer if a != "--"]
    if not command:
        parser.error("a codeer command must follow --, e.g. -- run --raw RAW --out OUT")

    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster

    with SLURMCluster(config_name="slurm") as cluster:
        cluster.scale(jobs=args.jobs)
        with Client(cluster) as client:
            client.wait_for_workers(args.wait)
            print(f"dask: scheduler {cluster.scheduler_address}, dashboard "
                  f"{cluster.dashboard_link}", file=sys.stderr)
            return subprocess.call(["codeer", *command, "--scheduler",
                                    cluster.scheduler_address])


if __name__ == "__main__":
    sys.exit(main())
