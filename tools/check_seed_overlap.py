"""Check that a text (the codebook) shares no run of n consecutive words with reference texts.

The default codebook must be written in its own words: it may not copy the seed note
(``../shared/seed/``) nor the test corpora (``../shared/corpora/``). This tool compares word
n-grams (default n = 8): text is lower-cased and split into tokens, a token being a run of
Unicode letters or digits (punctuation, quotes, hyphens and line breaks only separate tokens).

Usage::

    python tools/check_seed_overlap.py                      # codebook.yaml against the seed note
    python tools/check_seed_overlap.py codebook.yaml --against ../shared/seed ../shared/corpora
    python tools/check_seed_overlap.py FILE -n 6 --against OTHER.txt

Exit status: 0 when no n-gram is shared, 1 when any is (each hit is printed with the line in
the checked file and the file and line where it occurs in the reference), 2 on bad arguments.

From Python::

    from tools.check_seed_overlap import shared_ngrams
    shared_ngrams(text_a, text_b, n=8)   # -> ['wie de pen ...', ...]
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

_TOKEN = re.compile(r"[^\W_]+")  # runs of Unicode letters or digits
# PDF extractions break words at line ends ("weer-\nstand"); references are also checked joined.
_SOFT_HYPHEN = re.compile(r"(?<=[^\W\d_])-[ \t]*\r?\n[ \t]*(?=[^\W\d_])")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT / "codebook.yaml"
SEED_NOTE = ROOT.parent / "shared" / "seed" / "integrerend-werken-omgevingsvisie-rotterdam.txt"
DEFAULT_AGAINST = [SEED_NOTE]
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
    parser.add_argument("--against", nargs="+", type=Path, default=DEFAULT_AGAINST,
                        help="reference files or folders (default: the seed note)")
    parser.add_argument("-n", type=int, default=8, help="n-gram length in words (default 8)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"-n must be at least 1. Got {args.n} instead")
    if not args.file.is_file():
        parser.error(f"{args.file} does not exist")
    try:
        refs = _reference_files(args.against)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    text = args.file.read_text(encoding="utf-8", errors="replace")
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
