"""The Dutch catalogue covers every string codeer translates, is compiled, and is what runs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
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
        ids.update(message if isinstance(message, tuple) else (message,))
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
