"""``python -m bench``: time every stage on scaled corpora (``make bench``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.errors import CodeerError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--dest", type=Path, default=Path("bench"),
                        help="folder for results.json and results.md (default: bench)")
    parser.add_argument("--scales", default="1,4,16",
                        help="corpus sizes as multiples of the base corpus, e.g. 1,4")
    parser.add_argument("--seed", type=Path, default=None,
                        help="the seed note (outside the repository) for the seed macro-F1")
    parser.add_argument("--targets", action="store_true",
                        help="only the targets (cold run / embedding floor, re-code / cold run) "
                             "on the default backend; earlier results stay")
    args = parser.parse_args(argv)
    try:
        scales = tuple(int(s) for s in args.scales.split(",") if s.strip())
    except ValueError:
        parser.error(f"--scales must be integers separated by commas, e.g. 1,4. "
                     f"Got '{args.scales}' instead.")
    if args.seed is not None and not args.seed.is_file():
        parser.error(f"--seed must name the seed note's text file. Got '{args.seed}' instead.")
    log = logging.getLogger("codeer")
    if not log.handlers:
        log.addHandler(logging.StreamHandler(sys.stderr))
        log.setLevel(logging.INFO)
    from bench.bench import run

    try:
        run(args.dest, scales, seed=args.seed, targets_only=args.targets)
    except CodeerError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
