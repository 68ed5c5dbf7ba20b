"""Codebook: the default codebook is valid and original; broken ones fail with line numbers."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.codebook import load_codebook
from pipeline.errors import CodeerError
from tests.conftest import CODEBOOK, SEED

runner = CliRunner()

GOOD = """\
version: 1
name: Proef
themes:
  - id: T1
    name: Aan tafel
    color: "#0072B2"
codes:
  - id: L1
    name: Rollen
    theme: T1
    definition: Duidelijkheid over wie welke rol heeft.
    rules:
      - rol NEAR/5 onduidelijk
      - '"wie de pen"'
    examples:
      - Het was niet duidelijk wie de pen had.
"""


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def test_default_codebook_is_valid_and_maps_the_eight_lessons():
    book, sha = load_codebook(CODEBOOK)
    assert len(sha) == 64
    ids = [c.id for c in book.codes]
    assert ids[:8] == [f"L{i}" for i in range(1, 9)]
    themes = {t.id: t.name for t in book.themes}
    for code in book.codes[:8]:
        expected = "Aan tafel" if int(code.id[1]) <= 4 else "In het etablissement"
        assert themes[code.theme] == expected
        assert code.definition and code.examples and code.counter_examples and code.rules
    assert len(book.background) >= 30


def test_default_codebook_copies_no_sentence_of_the_seed_note():
    seed = ngrams(words(SEED.read_text(encoding="utf-8")), 8)
    shared = seed & ngrams(words(CODEBOOK.read_text(encoding="utf-8")), 8)
    assert not shared, [" ".join(s) for s in sorted(shared)[:5]]


def test_default_codebook_copies_no_corpus_text():
    book = CODEBOOK.read_text(encoding="utf-8")
    grams = ngrams(words(book), 8)
    for path in (SEED.parents[1] / "corpora").rglob("*.txt"):
        assert not grams & ngrams(words(path.read_text(encoding="utf-8")), 8), path.name


BROKEN = [
    # (replace this, with this, expected message fragments)
    ("    definition: Duidelijkheid over wie welke rol heeft.\n", "    definitoin: x\n",
     ["line 11", "code 'L1' definitoin: unknown key"]),
    ("      - rol NEAR/5 onduidelijk", "      - rol NEAR/0 onduidelijk",
     ["line 13: code 'L1' rule 1: 'NEAR' needs a distance between 1 and 50. Got 0 instead"]),
    ("    theme: T1\n", "    theme: T9\n",
     ["line 10: code 'L1' theme: names 'T9', which does not exist"]),
    ('    color: "#0072B2"', '    color: "blauw"', ["line 6", "theme 'T1' color",
                                                   "must be a colour like '#0072B2'"]),
    ("  - id: L1\n", "  - id: L1\n    name: Dubbel\n", ["line 10: key 'name' appears twice"]),
    ("      - '\"wie de pen\"'", "      - '(wie|wat'", ["rule 2", "without its closing ')'"]),
    ("    definition: Duidelijkheid over wie welke rol heeft.\n    rules:\n"
     "      - rol NEAR/5 onduidelijk\n      - '\"wie de pen\"'\n", "    definition: ''\n",
     ["code 'L1'", "needs a definition or at least one rule"]),
    ("codes:\n", "codes: [\n", ["YAML syntax error"]),
]


@pytest.mark.parametrize("old, new, fragments", BROKEN)
def test_broken_codebooks_name_line_and_field(tmp_path, old, new, fragments):
    assert old in GOOD
    path = tmp_path / "codebook.yaml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CodeerError) as info:
        load_codebook(path)
    message = str(info.value)
    assert message.startswith("codebook.yaml")
    for fragment in fragments:
        assert fragment in message, message


def test_duplicate_code_ids(tmp_path):
    path = tmp_path / "codebook.yaml"
    second = GOOD[GOOD.index("  - id: L1"):]
    path.write_text(GOOD + second, encoding="utf-8")
    with pytest.raises(CodeerError, match="code id 'L1' is used twice"):
        load_codebook(path)


def test_cli_exits_2_without_traceback_on_broken_codebook(tmp_path):
    path = tmp_path / "codebook.yaml"
    path.write_text(GOOD.replace("NEAR/5", "NEAR/99"), encoding="utf-8")
    result = runner.invoke(app, ["code", "--out", str(tmp_path), "--codebook", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "codebook.yaml line 13: code 'L1' rule 1: 'NEAR' needs a distance between 1 and 50. " \
           "Got 99 instead" in result.output
