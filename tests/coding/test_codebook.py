"""Codebook: the default codebook is valid and original; broken ones fail with line numbers."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.coding.codebook import load_codebook
from pipeline.errors import CodeerError
from tests.conftest import CODEBOOK, CORPORA, DEMO_RAW
from tools.check_seed_overlap import fingerprint_hits, read_fingerprints

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


@pytest.mark.parametrize("path", [CODEBOOK, *sorted(
    p for p in DEMO_RAW.iterdir() if p.suffix in (".txt", ".md", ".vtt", ".srt"))],
    ids=lambda p: p.name)
def test_no_text_copies_the_seed_note_or_an_evaluation_corpus(path):
    """No run of 8 words of the codebook or a demo transcript occurs in the seed note or in an
    evaluation corpus (checked against their stored fingerprints; the texts are not in the
    repository)."""
    stored = read_fingerprints()
    assert len(stored) > 50_000  # the seed note and every corpus text
    hits = fingerprint_hits(path.read_text(encoding="utf-8", errors="replace"), stored)
    assert not hits, [h.ngram for h in hits[:5]]


def test_fingerprints_catch_a_copied_sentence():
    """A sentence copied from a corpus text in the repository is caught."""
    corpus = (CORPORA / "signalen").glob("*.txt")
    line = next(ln for ln in next(corpus).read_text(encoding="utf-8").splitlines()
                if len(ln.split()) > 12 and not ln.startswith("#"))
    text = CODEBOOK.read_text(encoding="utf-8") + "\n  - " + line + "\n"
    assert fingerprint_hits(text, read_fingerprints())


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


# --------------------------------------------------------------------- hostile YAML (issue 15)


def billion_laughs(levels: int = 9) -> str:
    """A few hundred bytes that expand to 9**9 strings when aliases are followed."""
    lines = ["background:", '  - &l0 ["ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha"]']
    for i in range(1, levels):
        lines.append(f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


HOSTILE = [
    # (name, file text, line, fragment): each reproduction ran into a hang or exit 3
    ("billion laughs", GOOD + billion_laughs(), 18, "anchors and aliases ('&name', '*name') "
     "are not allowed"),
    ("recursive alias", GOOD + "background: &lus [*lus]\n", 17, "anchors and aliases"),
    ("python tag", GOOD.replace("name: Proef", "name: !!python/name:os.system"), 2,
     "the tag '!!python/name:os.system' is not allowed"),
    ("float tag", GOOD.replace("name: Proef", "name: Proef\ndefaults: {threshold: !!float abc}"),
     3, "'abc' must be a valid !!float value"),
    ("complex key", GOOD + "? [rol, taak]\n: onduidelijk\n", 17, "a key must be a plain word"),
    ("noncharacter", GOOD.replace("Duidelijkheid", "Duidelijkheid\ufffe"), 11,
     "the character U+FFFE is not allowed"),
]


@pytest.mark.parametrize("name, text, line, fragment", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_yaml_is_one_line_with_file_and_line_exit_2(tmp_path, name, text, line,
                                                            fragment):
    path = tmp_path / "codebook.yaml"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size < 1000
    result = runner.invoke(app, ["code", "--out", str(tmp_path), "--codebook", str(path)])
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert errors == [ln for ln in result.output.splitlines() if ln.strip()], result.output
    assert errors[0].startswith(f"error: codebook.yaml line {line}: {fragment}"), errors[0]


def test_codebook_that_is_not_utf8_is_refused_with_line_and_byte(tmp_path):
    """Reproduction: a Windows-1252 codebook was accepted with U+FFFD for every accent."""
    path = tmp_path / "codebook.yaml"
    path.write_bytes(GOOD.replace("Duidelijkheid over", "Duidelijkheid (één) over")
                     .encode("cp1252"))
    with pytest.raises(CodeerError) as info:
        load_codebook(path)
    assert info.value.exit_code == 2
    assert str(info.value).startswith("codebook.yaml line 11: must be UTF-8 text. Got byte 0xe9")
    assert "Save the codebook as UTF-8" in str(info.value)


# --------------------------------------------------------------------------- docs show real output


def _with_field_mistakes(src: str) -> str:
    """threshold 1.5 in defaults, NEAR/0 in rule 5 of L1, colour: instead of color: in L2."""
    text = src.replace("defaults:\n", "defaults:\n  threshold: 1.5\n", 1)
    rules = text.index("    rules:", text.index("  - id: L1"))
    lines, count = text[rules:].split("\n"), 0
    for i, line in enumerate(lines[1:], 1):
        if line.startswith("      - "):
            count += 1
            if count == 5:
                lines[i] = re.sub(r"NEAR/\d+", "NEAR/0", line, count=1)
                break
    text = text[:rules] + "\n".join(lines)
    colour = text.index("    color:", text.index("  - id: L2"))
    return text[:colour] + "    colour:" + text[colour + len("    color:"):]


def _with_unknown_theme(src: str) -> str:
    theme = src.index("    theme: T2", src.index("  - id: L5"))
    return src[:theme] + "    theme: T4" + src[theme + len("    theme: T2"):]


def _with_unclosed_list(src: str) -> str:
    examples = src.index("    examples:\n", src.index("  - id: L3"))
    return src[:examples] + "    examples: [Een open lijst,\n" + \
        src[examples + len("    examples:\n"):]


@pytest.mark.parametrize("name, mutate", [("codebook.yaml", _with_field_mistakes),
                                          ("theme.yaml", _with_unknown_theme),
                                          ("syntax.yaml", _with_unclosed_list)])
def test_docs_show_the_real_errors(tmp_path, name, mutate):
    """docs/codebook.md quotes what load_codebook really says about these mistakes."""
    path = tmp_path / name
    path.write_text(mutate(CODEBOOK.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(CodeerError) as err:
        load_codebook(path)
    docs = (CODEBOOK.parent / "docs" / "codebook.md").read_text(encoding="utf-8")
    for line in err.value.message.splitlines():
        assert line in docs, line
