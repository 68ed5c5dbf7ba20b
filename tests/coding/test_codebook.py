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
     ["regel 11", "code 'L1' definitoin: onbekend veld"]),
    ("      - rol NEAR/5 onduidelijk", "      - rol NEAR/0 onduidelijk",
     ["regel 13: code 'L1' zoekregel 1: 'NEAR' heeft een afstand tussen 1 en 50 nodig. "
      "Gevonden: 0."]),
    ("    theme: T1\n", "    theme: T9\n",
     ["regel 10: code 'L1' theme: noemt 'T9', maar dat thema bestaat niet"]),
    ('    color: "#0072B2"', '    color: "blauw"', ["regel 6", "thema 'T1' color",
                                                   "moet een kleur zijn zoals '#0072B2'"]),
    ("  - id: L1\n", "  - id: L1\n    name: Dubbel\n",
     ["regel 10: het veld 'name' staat twee keer in hetzelfde blok"]),
    ("      - '\"wie de pen\"'", "      - '(wie|wat'", ["zoekregel 2", "zonder sluitende ')'"]),
    ("    definition: Duidelijkheid over wie welke rol heeft.\n    rules:\n"
     "      - rol NEAR/5 onduidelijk\n      - '\"wie de pen\"'\n", "    definition: ''\n",
     ["code 'L1'", "heeft een definitie of minstens één zoekregel (rules) nodig"]),
    ("codes:\n", "codes: [\n", ["fout in de YAML-opmaak"]),
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
    with pytest.raises(CodeerError, match="code-id 'L1' komt twee keer voor"):
        load_codebook(path)


def test_cli_exits_2_without_traceback_on_broken_codebook(tmp_path):
    path = tmp_path / "codebook.yaml"
    path.write_text(GOOD.replace("NEAR/5", "NEAR/99"), encoding="utf-8")
    result = runner.invoke(app, ["code", "--out", str(tmp_path), "--codebook", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "codebook.yaml regel 13: code 'L1' zoekregel 1: 'NEAR' heeft een afstand tussen 1 " \
           "en 50 nodig. Gevonden: 99." in result.output


# --------------------------------------------------------------------- hostile YAML (issue 15)


def billion_laughs(levels: int = 9) -> str:
    """A few hundred bytes that expand to 9**9 strings when aliases are followed."""
    lines = ["background:", '  - &l0 ["ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha"]']
    for i in range(1, levels):
        lines.append(f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


HOSTILE = [
    # (name, file text, line, fragment): each reproduction ran into a hang or exit 3
    ("billion laughs", GOOD + billion_laughs(), 18, "ankers en aliassen ('&name', '*name') "
     "mogen niet in een codeboek staan"),
    ("recursive alias", GOOD + "background: &lus [*lus]\n", 17, "ankers en aliassen"),
    ("python tag", GOOD.replace("name: Proef", "name: !!python/name:os.system"), 2,
     "de tag '!!python/name:os.system' mag niet in een codeboek staan"),
    ("float tag", GOOD.replace("name: Proef", "name: Proef\ndefaults: {threshold: !!float abc}"),
     3, "'abc' moet een geldige !!float-waarde zijn"),
    ("complex key", GOOD + "? [rol, taak]\n: onduidelijk\n", 17,
     "een veldnaam moet een gewoon woord zijn"),
    ("noncharacter", GOOD.replace("Duidelijkheid", "Duidelijkheid\ufffe"), 11,
     "het teken U+FFFE mag niet in YAML staan"),
]


@pytest.mark.parametrize("name, text, line, fragment", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_yaml_is_one_line_with_file_and_line_exit_2(tmp_path, name, text, line,
                                                            fragment):
    path = tmp_path / "codebook.yaml"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size < 1000
    result = runner.invoke(app, ["code", "--out", str(tmp_path), "--codebook", str(path)])
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("fout:")]
    assert errors == [ln for ln in result.output.splitlines() if ln.strip()], result.output
    assert errors[0].startswith(f"fout: codebook.yaml regel {line}: {fragment}"), errors[0]


def test_codebook_that_is_not_utf8_is_refused_with_line_and_byte(tmp_path):
    """Reproduction: a Windows-1252 codebook was accepted with U+FFFD for every accent."""
    path = tmp_path / "codebook.yaml"
    path.write_bytes(GOOD.replace("Duidelijkheid over", "Duidelijkheid (één) over")
                     .encode("cp1252"))
    with pytest.raises(CodeerError) as info:
        load_codebook(path)
    assert info.value.exit_code == 2
    assert str(info.value).startswith("codebook.yaml regel 11: moet UTF-8-tekst zijn. Gevonden: "
                                      "byte 0xe9")
    assert "Sla het codeboek op als UTF-8" in str(info.value)


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
def test_docs_show_the_real_errors(tmp_path, monkeypatch, name, mutate):
    """docs/codebook.md quotes what load_codebook really says about these mistakes (the docs
    are in English, so in English)."""
    monkeypatch.setenv("CODEER_LANG", "en")
    path = tmp_path / name
    path.write_text(mutate(CODEBOOK.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(CodeerError) as err:
        load_codebook(path)
    docs = (CODEBOOK.parent / "docs" / "codebook.md").read_text(encoding="utf-8")
    for line in err.value.message.splitlines():
        assert line in docs, line


# --------------------------------------------------------------------------- Dutch by default


BILINGUAL = [
    # (name, replace this, with this, Dutch message (the default), English message)
    ("bounds and choices", "name: Proef",
     "name: Proef\ndefaults: {threshold: 1.5, scope: iedereen}",
     "codebook.yaml regel 3: defaults threshold: moet kleiner zijn dan 1. Gevonden: 1.5\n"
     "codebook.yaml regel 3: defaults scope: moet 'respondent' of 'all' zijn. Gevonden: "
     "'iedereen'",
     "codebook.yaml line 3: defaults threshold: must be less than 1. Got 1.5 instead\n"
     "codebook.yaml line 3: defaults scope: must be 'respondent' or 'all'. Got 'iedereen' "
     "instead"),
    ("rule syntax", "NEAR/5", "NEAR/0",
     "codebook.yaml regel 13: code 'L1' zoekregel 1: 'NEAR' heeft een afstand tussen 1 en 50 "
     "nodig. Gevonden: 0.",
     "codebook.yaml line 13: code 'L1' rule 1: 'NEAR' needs a distance between 1 and 50. Got 0 "
     "instead."),
    ("empty example", "      - Het was niet duidelijk wie de pen had.", "      - ''",
     "codebook.yaml regel 16: code 'L1' voorbeeld 1: mag niet leeg zijn",
     "codebook.yaml line 16: code 'L1' example 1: must not be empty"),
    ("unknown theme", "    theme: T1", "    theme: T9",
     "codebook.yaml regel 10: code 'L1' theme: noemt 'T9', maar dat thema bestaat niet. Gebruik "
     "een van ['T1'].",
     "codebook.yaml line 10: code 'L1' theme: names 'T9', which does not exist. Use one of "
     "['T1']."),
    ("anchor", "name: Proef", "name: &n Proef",
     "codebook.yaml regel 2: ankers en aliassen ('&name', '*name') mogen niet in een codeboek "
     "staan. Schrijf de tekst voluit op elke plek waar die nodig is.",
     "codebook.yaml line 2: anchors and aliases ('&name', '*name') are not allowed in a "
     "codebook. Write the text out in full where it is needed."),
]


@pytest.mark.parametrize("name, old, new, dutch, english", BILINGUAL,
                         ids=[b[0] for b in BILINGUAL])
def test_codebook_errors_are_dutch_by_default_and_english_on_request(tmp_path, monkeypatch, name,
                                                                     old, new, dutch, english):
    assert old in GOOD
    path = tmp_path / "codebook.yaml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    for lang, expected in ((None, dutch), ("en", english)):
        if lang is None:
            monkeypatch.delenv("CODEER_LANG", raising=False)
        else:
            monkeypatch.setenv("CODEER_LANG", lang)
        with pytest.raises(CodeerError) as info:
            load_codebook(path)
        assert info.value.exit_code == 2
        assert str(info.value) == expected
