"""Check that a text (the codebook) shares no run of n consecutive words with reference texts.

The default codebook must be written in its own words: it may not copy the seed note (the
Rotterdam reflection note its concepts come from) nor the evaluation corpora. Neither lives in
this repository (their terms do not allow copying all of them), so the repository keeps their
*fingerprints* instead: a hash of every 8-word run of the seed note and of every corpus text,
in ``tests/data/evaluation-8grams.bin`` (8 bytes per n-gram, sorted). Without ``--against``
the tool checks against those fingerprints, so it works in a fresh clone.

This tool compares word n-grams (default n = 8): text is lower-cased and split into tokens, a
token being a run of Unicode letters or digits (punctuation, quotes, hyphens and line breaks
only separate tokens).

Usage::

    python tools/check_seed_overlap.py                      # codebook.yaml against fingerprints
    python tools/check_seed_overlap.py data/raw/int01.md    # any file against fingerprints
    python tools/check_seed_overlap.py FILE -n 6 --against OTHER.txt FOLDER
    python tools/check_seed_overlap.py --write-fingerprints OUT.bin --against SEED CORPORA

Exit status: 0 when no n-gram is shared, 1 when any is (each hit is printed with the line in
the checked file and the file and line where it occurs in the reference), 2 on bad arguments.

From Python::

    from tools.check_seed_overlap import shared_ngrams
    shared_ngrams(text_a, text_b, n=8)   # -> ['wie de pen ...', ...]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

_TOKEN = re.compile(r"[^\W_]+")  # runs of Unicode letters or digits
# PDF extractions break words at line ends ("weer-\nstand"); references are also checked joined.
_SOFT_HYPHEN = re.compile(r"(?<=[^\W\d_])-[ \t]*\r?\n[ \t]*(?=[^\W\d_])")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT / "codebook.yaml"
FINGERPRINTS = ROOT / "tests" / "data" / "evaluation-8grams.bin"
FINGERPRINT_N = 8
TEXT_SUFFIXES = (".txt", ".md", ".yaml", ".yml")


def tokens(text: str) -> list[tuple[str, int]]:
    """Lower-cased tokens of ``text`` with the 1-based line each starts on."""
    out, line, pos = [], 1, 0
    for m in _TOKEN.finditer(text.lower()):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        out.append((m.group(), line))
    return out


def _ngrams(toks: list[tuple[str, int]], n: int) -> dict[str, list[int]]:
    grams: dict[str, list[int]] = {}
    for i in range(len(toks) - n + 1):
        gram = " ".join(t for t, _ in toks[i : i + n])
        grams.setdefault(gram, []).append(toks[i][1])
    return grams


def shared_ngrams(text_a: str, text_b: str, n: int = 8) -> list[str]:
    """The word n-grams that occur in both texts, in order of first occurrence in ``text_a``.

    Args:
        text_a: The text to check (e.g. the codebook).
        text_b: The reference text (e.g. the seed note).
        n: The n-gram length in tokens (runs of letters or digits, lower-cased).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1. Got {n} instead")
    in_b = set(_ngrams(tokens(text_b), n))
    return [g for g in _ngrams(tokens(text_a), n) if g in in_b]


@dataclass(frozen=True)
class Hit:
    """One shared n-gram with where it occurs."""

    ngram: str
    lines_a: tuple[int, ...]
    reference: str
    lines_b: tuple[int, ...]


def find_hits(text_a: str, text_b: str, reference: str, n: int = 8) -> list[Hit]:
    """Shared n-grams with their line numbers; ``text_b`` is also checked with line-end
    hyphenation joined ("weer-\\nstand" -> "weerstand")."""
    grams_a = _ngrams(tokens(text_a), n)
    hits: dict[str, Hit] = {}
    for variant in (text_b, _SOFT_HYPHEN.sub("", text_b)):
        grams_b = _ngrams(tokens(variant), n)
        for gram, lines in grams_a.items():
            if gram in grams_b and gram not in hits:
                hits[gram] = Hit(gram, tuple(lines), reference, tuple(grams_b[gram]))
    return list(hits.values())


def fingerprint(gram: str) -> bytes:
    """The 8-byte fingerprint of one n-gram (BLAKE2b of its space-joined tokens)."""
    return hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()


def fingerprints_of(texts: list[str], n: int = FINGERPRINT_N) -> bytes:
    """Sorted, unique fingerprints of every n-gram of ``texts`` (hyphenation joined too)."""
    grams: set[bytes] = set()
    for text in texts:
        for variant in (text, _SOFT_HYPHEN.sub("", text)):
            grams.update(fingerprint(g) for g in _ngrams(tokens(variant), n))
    return b"".join(sorted(grams))


def read_fingerprints(path: Path = FINGERPRINTS) -> set[bytes]:
    """The fingerprints stored in ``path`` (see :func:`fingerprints_of`)."""
    data = Path(path).read_bytes()
    if len(data) % 8:
        raise ValueError(f"{path} must hold 8-byte fingerprints. Got {len(data)} bytes instead")
    return {data[i : i + 8] for i in range(0, len(data), 8)}


def fingerprint_hits(text: str, stored: set[bytes], n: int = FINGERPRINT_N) -> list[Hit]:
    """The n-grams of ``text`` whose fingerprint is stored, with their line numbers."""
    return [Hit(gram, tuple(lines), "fingerprints", ())
            for gram, lines in _ngrams(tokens(text), n).items() if fingerprint(gram) in stored]


def _reference_files(paths: list[Path]) -> list[Path]:
    files = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file()
                                and f.suffix.lower() in TEXT_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p} does not exist")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE,
                        help=f"text to check (default {DEFAULT_FILE.name})")
    parser.add_argument("--against", nargs="+", type=Path, default=None,
                        help="reference files or folders (default: the stored fingerprints)")
    parser.add_argument("--write-fingerprints", type=Path, metavar="OUT",
                        help="write the fingerprints of the --against texts to OUT and stop")
    parser.add_argument("-n", type=int, default=FINGERPRINT_N,
                        help=f"n-gram length in words (default {FINGERPRINT_N})")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"-n must be at least 1. Got {args.n} instead")
    if args.write_fingerprints:
        if not args.against or args.n != FINGERPRINT_N:
            parser.error(f"--write-fingerprints needs --against and n = {FINGERPRINT_N}")
        refs = _reference_files(args.against)
        data = fingerprints_of([r.read_text(encoding="utf-8", errors="replace") for r in refs])
        args.write_fingerprints.write_bytes(data)
        print(f"{len(data) // 8} fingerprints of {len(refs)} file(s) -> {args.write_fingerprints}",
              file=sys.stderr)
        return 0
    if not args.file.is_file():
        parser.error(f"{args.file} does not exist")
    text = args.file.read_text(encoding="utf-8", errors="replace")
    if args.against is None:
        if args.n != FINGERPRINT_N:
            parser.error(f"the stored fingerprints are of {FINGERPRINT_N}-grams; pass --against "
                         "to use another n")
        hits = fingerprint_hits(text, read_fingerprints())
        for hit in hits:
            print(f"{args.file}:{','.join(map(str, hit.lines_a))}: '{hit.ngram}' occurs in the "
                  "seed note or an evaluation corpus")
        print(f"{len(hits)} shared {args.n}-gram(s) between {args.file} and the stored "
              "fingerprints", file=sys.stderr)
        return 1 if hits else 0
    try:
        refs = _reference_files(args.against)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    total = 0
    for ref in refs:
        for hit in find_hits(text, ref.read_text(encoding="utf-8", errors="replace"), str(ref),
                             args.n):
            total += 1
            a = ",".join(map(str, hit.lines_a))
            b = ",".join(map(str, hit.lines_b))
            print(f"{args.file}:{a}: shares '{hit.ngram}' with {hit.reference}:{b}")
    print(f"{total} shared {args.n}-gram(s) between {args.file} and {len(refs)} reference file(s)",
          file=sys.stderr)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
