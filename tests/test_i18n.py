"""The Dutch catalogue covers every string codeer translates, is compiled, and is what runs."""

from __future__ import annotations

import io
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from babel.messages import extract as babel_extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import pipeline
from pipeline import i18n
from pipeline.errors import CodeerError

PACKAGE = Path(pipeline.__file__).parent
PO = PACKAGE / "locale" / "nl" / "LC_MESSAGES" / "codeer.po"
MO = PO.with_suffix(".mo")


def _catalogue():
    with PO.open("rb") as fh:
        return read_po(fh)


def _used_msgids() -> set[str]:
    """Every string the package passes to ``_()``, ``gettext``, ``ngettext`` or ``N_``,
    extracted the way ``pybabel extract`` does (docs/vertalen.md)."""
    ids = set()
    for _file, _line, message, _comments, _context in babel_extract.extract_from_dir(
        str(PACKAGE), method_map=[("**.py", "python")]
    ):
        ids.add(message[0] if isinstance(message, tuple) else message)  # plurals: by singular
    return ids


def test_every_string_used_has_a_dutch_translation():
    used = _used_msgids()
    assert {"how coded", "Include", "column in the CSV file"} <= used  # extraction finds them
    cat = _catalogue()
    untranslated = sorted(m for m in used if not (cat.get(m) and cat.get(m).string
                                                  and not cat.get(m).fuzzy))
    assert not untranslated, (
        f"No Dutch translation for {untranslated}: run the pybabel commands in docs/vertalen.md")


def test_the_committed_mo_is_the_compiled_po():
    compiled = io.BytesIO()
    write_mo(compiled, _catalogue())
    assert MO.read_bytes() == compiled.getvalue(), (
        "codeer.mo is out of date: run `pybabel compile -d pipeline/locale -D codeer`")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [(None, ("hoe gecodeerd", "Wel coderen", "tijd 00:01-00:02")),
     ("nl", ("hoe gecodeerd", "Wel coderen", "tijd 00:01-00:02")),
     ("nl_NL.UTF-8", ("hoe gecodeerd", "Wel coderen", "tijd 00:01-00:02")),
     ("en", ("how coded", "Include", "time 00:01-00:02"))],
)
def test_language_is_dutch_unless_codeer_lang_says_english(monkeypatch, lang, expected):
    if lang is None:
        monkeypatch.delenv(i18n.ENV, raising=False)
    else:
        monkeypatch.setenv(i18n.ENV, lang)
    got = (i18n._("how coded"), i18n.gettext("Include"),
           i18n._("time {start}-{end}").format(start="00:01", end="00:02"))
    assert got == expected


def test_an_unknown_language_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setenv(i18n.ENV, "fr")
    with pytest.raises(CodeerError, match=r"CODEER_LANG must be one of nl, en. Got 'fr'"):
        i18n._("how coded")



@pytest.mark.parametrize("lang", ["nl", "en"])
def test_codebook_import_reads_codeers_description_in_either_language(monkeypatch, lang):
    """Reproduction: with "Wel coderen:" the include list came back as part of the
    definition, since the reader only knew "Include:"."""
    from pipeline.coding.codebook import Code
    from pipeline.coding.codebook_import import _definition
    from pipeline.export.refiqda import _code_description

    monkeypatch.setenv(i18n.ENV, lang)
    code = Code(id="L1", name="Samenwerking", theme="Aan tafel",
                definition="Samenwerking met andere gemeenten.",
                include=["samen met buurgemeenten", "regionale aanpak"],
                exclude=["samenwerking binnen het team"])
    description = _code_description(code)
    assert ("Wel coderen:" in description) == (lang == "nl")
    monkeypatch.setenv(i18n.ENV, "en" if lang == "nl" else "nl")  # read in the other language
    assert _definition(description) == (
        "Samenwerking met andere gemeenten.", ["samen met buurgemeenten", "regionale aanpak"],
        ["samenwerking binnen het team"])


@pytest.mark.parametrize(
    ("description", "codeers"),
    [("codeer | model, kans op acceptatie 0,412, automatisch | waarom: lijkt op: DigiD", True),
     ("codeer | tijd 00:01:02-00:01:05", True),
     ("method=embedding score=0.310 status=auto evidence=DigiD", True),  # earlier exports
     ("time=00:01:02-00:01:05", True),
     ("Mooi citaat voor hoofdstuk 3, codeer dit ook bij L2.", False)],
)
def test_codeers_selection_descriptions_are_told_from_a_researchers_comment(description,
                                                                           codeers):
    from pipeline.export.refiqda import CODEER_DESCRIPTION

    assert bool(CODEER_DESCRIPTION.match(description)) is codeers


def test_translations_keep_the_placeholders_of_their_source():
    """A translation that drops or renames ``{name}`` or ``%s`` breaks ``.format`` or logging
    at the moment a researcher needs the message."""
    fields = string.Formatter()
    bad = []
    for message in _catalogue():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        want = {f for _t, f, _s, _c in fields.parse(ids[-1]) if f is not None}
        want_pct = sorted(re.findall(r"%[sdrf]", ids[-1]))
        for text in filter(None, strings):  # untranslated: the test above
            got = {f for _t, f, _s, _c in fields.parse(text) if f is not None}
            if got - want or (len(ids) == 1 and got != want) \
                    or sorted(re.findall(r"%[sdrf]", text)) != want_pct:
                bad.append((ids[0], text))
    assert not bad, bad


def test_typers_own_texts_are_marked_exactly_as_typer_writes_them():
    """``TYPER_MESSAGES`` only works if each is the very string typer looks up."""
    typer_dir = Path(typer.__file__).parent
    in_typer = set()
    for _f, _l, message, _c, _x in babel_extract.extract_from_dir(
            str(typer_dir), method_map=[("core.py", "python")]):
        in_typer.update(message if isinstance(message, tuple) else (message,))
    assert set(i18n.TYPER_MESSAGES) <= in_typer, set(i18n.TYPER_MESSAGES) - in_typer


def _codeer(*args: str, lang: str | None, **extra_env: str) -> subprocess.CompletedProcess:
    """``codeer ARGS`` as a process, with ``CODEER_LANG=lang`` (unset: None) and ``extra_env``."""
    env = {k: v for k, v in os.environ.items() if k not in (i18n.ENV, "LANGUAGE")}
    env.update(extra_env)
    if lang is not None:
        env[i18n.ENV] = lang
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    ("args", "lang", "code", "expected"),
    [(["--help"], None, 0, ["Gebruik: codeer [OPTIES] OPDRACHT", "Opties:", "Opdrachten:",
                            "Toon deze hulptekst en stop.", "Lees transcripten (txt, md, docx"]),
     (["--help"], "en", 0, ["Usage: codeer [OPTIONS] COMMAND", "Options:", "Commands:",
                            "Show this message and exit.", "Read transcripts (txt, md, docx"]),
     (["review", "--help"], None, 0, ["--reviewer <str>", "je naam of initialen",
                                      "[standaard:", "Je besluit."]),
     (["run", "--unit", "alinea"], None, 2,
      ["Gebruik: codeer run [OPTIES]", "Zie 'codeer run --help' voor hulp.",
       "fout: Ongeldige waarde voor '--unit': --unit moet een van sentence, turn zijn. "
       "Gevonden: 'alinea'."]),
     (["run", "--unit", "alinea"], "en", 2,
      ["Usage: codeer run [OPTIONS]", "error: Invalid value for '--unit': --unit must be one "
       "of sentence, turn. Got 'alinea' instead."]),
     (["run", "--onbekend"], None, 2, ["fout: Onbekende optie: --onbekend"]),
     (["memo", "add"], None, 2, ["fout: Argument 'text' ontbreekt."]),
     (["evaluate", "--gold", "goud.csv", "--reviews"], None, 2,
      ["fout: evaluate moet --gold BESTAND of --reviews krijgen. Gevonden: allebei."]),
     (["evaluate", "--gold", "goud.csv", "--reviews"], "en", 2,
      ["error: evaluate must get either --gold FILE or --reviews. Got both instead."]),
     # An unknown language: help still shows (in Dutch), every command refuses it.
     (["--help"], "fr", 0, ["Gebruik: codeer"]),
     (["memo", "list"], "fr", 2, ["fout: CODEER_LANG must be one of nl, en. Got 'fr' instead."]),
     ],
)
def test_the_command_line_speaks_dutch_unless_told_english(args, lang, code, expected):
    result = _codeer(*args, lang=lang)
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output
    for text in expected:
        assert text in " ".join(output.split()), (text, output)


def test_a_bad_source_date_epoch_is_refused_before_the_command_starts():
    """Reproduction: numpy's import read SOURCE_DATE_EPOCH before codeer's own check and
    failed with "unexpected ValueError" (exit 3)."""
    result = _codeer("code", "--out", "bestaat-niet", lang=None, SOURCE_DATE_EPOCH="abc")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("fout: SOURCE_DATE_EPOCH moet een geheel aantal seconden"), \
        result.stderr
