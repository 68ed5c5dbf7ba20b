"""A codebook from a CAQDAS (`codeer codebook import`) and accepted reviews as examples
(`codeer codebook promote`)."""

from __future__ import annotations

import io
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pipeline import config, schema, storage
from pipeline.cli import app
from pipeline.coding import codebook_import as cbi
from pipeline.coding.codebook import load_codebook
from pipeline.errors import CodeerError
from pipeline.export import refiqda
from tests.conftest import CODEBOOK

T0 = datetime(2025, 4, 1, 10, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- import


def test_codeers_own_qdc_comes_back_as_the_same_codebook(tmp_path):
    """The default codebook exported as .qdc and imported: ids, names, themes, colours,
    definitions, include and exclude survive; rules and examples are for the researcher."""
    book, _ = load_codebook(CODEBOOK)
    qdc = tmp_path / "codebook.qdc"
    qdc.write_bytes(refiqda.build_codebook(book))
    out = cbi.import_codebook(qdc, tmp_path / "codebook.yaml", name=book.name)
    back, _ = load_codebook(out)
    assert back.name == book.name
    assert [(t.name, t.color) for t in back.themes] == [(t.name, t.color) for t in book.themes]
    assert [c.id for c in back.codes] == [c.id for c in book.codes]
    for old, new in zip(book.codes, back.codes, strict=True):
        assert new.name == old.name
        assert new.definition == " ".join(old.definition.split())
        assert new.include == old.include and new.exclude == old.exclude
        assert back.color_of(new) == book.color_of(old)
        assert back.theme_of(new).name == book.theme_of(old).name
        assert new.examples == [] and new.rules == []


QDC = """<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="QualCoder 3.6">
<Codes>
<Code guid="{5215CC69-B628-4E02-AFB9-9BEEAEE55808}" name="Bestuur" isCodable="false">
  <Description>Alles over sturing.</Description>
  <Code guid="d7aa29da-519b-4946-9b90-253b6db8fd0a" name="Mandaat" isCodable="true" color="#ff0">
    <Description>Wie mag namens wie besluiten.</Description>
  </Code>
  <Code guid="0dcef2f5-e55c-49da-8c33-9b0803c7aeb4" name="Opdrachtgeverschap" isCodable="true">
    <Code guid="0dcef2f5-e55c-49da-8c33-9b0803c7aeb5" name="Dubbele petten" isCodable="true"
          color="#33cc33"/>
  </Code>
</Code>
<Code guid="9fa9bcb7-5b59-47a9-8c3e-f65cffdc7520" name="R1 Reflectie" isCodable="true"
      color="#999999"/>
<Code guid="7c108712-b650-4892-ac0b-fc9a10190c3b" name="Sfeer" isCodable="true" color="#zzz"/>
</Codes>
</CodeBook>
"""


def test_a_third_party_hierarchy_becomes_themes_and_codes(tmp_path):
    src = tmp_path / "Codebook-project.qdc"
    src.write_text(QDC, encoding="utf-8-sig")  # QualCoder writes a BOM
    out = cbi.import_codebook(src, tmp_path / "codebook.yaml")
    book, _ = load_codebook(out)
    assert book.name == "Codebook-project"
    assert [(t.id, t.name) for t in book.themes] == [("bestuur", "Bestuur"),
                                                     ("overig", "Overige codes")]
    assert book.themes[0].description == "Alles over sturing."
    got = [(c.id, c.name, c.theme, c.color, c.definition) for c in book.codes]
    assert got == [
        ("C1", "Mandaat", "bestuur", "#FFFF00", "Wie mag namens wie besluiten."),
        ("C2", "Opdrachtgeverschap", "bestuur", None, "Opdrachtgeverschap"),
        ("C3", "Dubbele petten", "bestuur", "#33CC33", "Dubbele petten"),
        ("R1", "Reflectie", "overig", "#999999", "Reflectie"),
        ("C4", "Sfeer", "overig", None, "Sfeer"),
    ]
    text = out.read_text(encoding="utf-8")
    assert text.count("# TODO: schrijf een definitie") == 4
    assert book.themes[0].color == "#FFFF00"  # no colour of its own: its first code's


@pytest.mark.parametrize("lang, other, todo, intro", [
    (None, "Overige codes", "# TODO: schrijf een definitie (nu: de naam)",
     "# Codeboekskelet uit a.qdc, gemaakt door codeer"),
    ("en", "Other codes", "# TODO: write a definition (now: the name)",
     "# Codebook skeleton from a.qdc, made by codeer"),
])
def test_the_skeleton_speaks_the_researchers_language(tmp_path, monkeypatch, lang, other, todo,
                                                      intro):
    if lang is None:
        monkeypatch.delenv("CODEER_LANG", raising=False)
    else:
        monkeypatch.setenv("CODEER_LANG", lang)
    src = tmp_path / "a.qdc"
    src.write_text(QDC, encoding="utf-8")
    out = cbi.import_codebook(src, tmp_path / "codebook.yaml")
    text = out.read_text(encoding="utf-8")
    assert text.startswith(intro) and text.count(todo) == 4
    book, _ = load_codebook(out)
    assert [(t.id, t.name) for t in book.themes] == [("bestuur", "Bestuur"), ("overig", other)]


def test_atlas_group_prefixes_become_themes(tmp_path):
    flat = QDC.split("<Codes>")[0] + """<Codes>
<Code guid="0983E32E-6866-431A-BD94-DAC9BB963825" name="Coke::full-fat Coke" isCodable="true"
 color="#966450"><Description>aka regular</Description></Code>
<Code guid="D299EFAE-5779-46DC-9827-A3D1A5D544BC" name="Coke::diet Coke" isCodable="true"
 color="#966450"/>
<Code guid="85D17F60-7BB0-481E-B742-B4861DD669DF" name="happiness" isCodable="true"/>
</Codes></CodeBook>"""
    src = tmp_path / "atlas.qdc"
    src.write_text(flat, encoding="utf-8")
    book, _ = load_codebook(cbi.import_codebook(src, tmp_path / "cb.yaml"))
    assert [(t.id, t.name) for t in book.themes] == [("coke", "Coke"), ("overig", "Overige codes")]
    assert [(c.name, c.theme) for c in book.codes] == [("full-fat Coke", "coke"),
                                                       ("diet Coke", "coke"),
                                                       ("happiness", "overig")]


def test_a_qdpx_project_gives_its_codebook(tmp_path):
    book, _ = load_codebook(CODEBOOK)
    project = io.BytesIO()
    with zipfile.ZipFile(project, "w") as zf:
        zf.writestr("project.qde", '<?xml version="1.0"?><Project xmlns="urn:QDA-XML:project:'
                    '1.0" name="p"><CodeBook>' + refiqda.build_codebook(book).decode()
                    .split("<Codes>", 1)[1].rsplit("</Codes>", 1)[0].join(["<Codes>",
                                                                           "</Codes>"])
                    + "</CodeBook></Project>")
    src = tmp_path / "p.qdpx"
    src.write_bytes(project.getvalue())
    back, _ = load_codebook(cbi.import_codebook(src, tmp_path / "cb.yaml"))
    assert [c.id for c in back.codes] == [c.id for c in book.codes]


def test_import_never_overwrites_without_force(tmp_path):
    src = tmp_path / "a.qdc"
    src.write_text(QDC, encoding="utf-8")
    target = tmp_path / "codebook.yaml"
    target.write_text("# mijn codeboek\n", encoding="utf-8")
    with pytest.raises(CodeerError, match="--force"):
        cbi.import_codebook(src, target)
    assert target.read_text(encoding="utf-8") == "# mijn codeboek\n"
    cbi.import_codebook(src, target, force=True)
    assert load_codebook(target)[0].codes


@pytest.mark.parametrize("data, message", [
    (b"<CodeBook xmlns='urn:QDA-XML:codebook:1.0'><Codes></Codes></CodeBook>",
     "moet minstens één code bevatten. Gevonden: een leeg codeboek"),
    (b"<CodeBook><Codes><Code", "regel 1 moet geldige REFI-QDA-XML zijn"),
    (b"<Project name='x'/>", r"moet een REFI-QDA-codeboek \(CodeBook/Codes\) bevatten"),
    (b"<!DOCTYPE x [<!ENTITY a 'b'>]><CodeBook/>", "mag geen DTD"),
])
def test_bad_codebooks_are_clear_errors(tmp_path, data, message):
    src = tmp_path / "x.qdc"
    src.write_bytes(data)
    with pytest.raises(CodeerError, match=message):
        cbi.import_codebook(src, tmp_path / "cb.yaml")
    assert not (tmp_path / "cb.yaml").exists()


# --------------------------------------------------------------------------- promote


SMALL = """\
# Klein codeboek (flow-stijl), met commentaar dat moet blijven.
version: 1
name: Klein
themes:
  - {id: T1, name: Thema een}
codes:
  - {id: A, name: Alfa, theme: T1, definition: Over alfa.}  # A: flow
  - id: B
    name: Beta
    theme: T1
    definition: Over beta.
    examples:
      - "Een bestaand voorbeeld."   # blijft
    counter_examples: ["Geen beta."]
  - id: C
    name: Gamma
    theme: T1
    definition: >-
      Over gamma, over
      twee regels.
    # geen voorbeelden nog
"""


@pytest.fixture
def reviewed(tmp_path) -> tuple[Path, Path]:
    out = tmp_path / "out"
    segs = pd.DataFrame([
        {"document_id": "d1", "segment_id": f"s{i}", "segment_index": i, "turn_index": 0,
         "speaker": "R", "role": "respondent", "start": 0, "end": len(t), "text": t,
         "lemmas": t.lower(), "time_start": None, "time_end": None}
        for i, t in enumerate(["Hans Verbeek vond alfa belangrijk.", "Beta kwam vaak terug.",
                               "Een bestaand voorbeeld.", "Gamma zagen we overal.",
                               "Geen beta.", "Nog meer alfa."])])
    storage.write_table(segs, out / config.SEGMENTS_FILE, schema.SEGMENTS)
    storage.write_table(pd.DataFrame({
        "document_id": ["d1"], "source_path": ["d1.txt"], "sha256": ["x"], "format": ["txt"],
        "encoding": ["utf-8"], "text": [" ".join(segs["text"])], "n_words": [20]}),
        out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    from pipeline.review import decisions

    for seg, code, decision, minute in [("s0", "A", "accept", 1), ("s5", "A", "add", 2),
                                        ("s1", "B", "accept", 3), ("s2", "B", "accept", 4),
                                        ("s4", "B", "accept", 5), ("s3", "C", "add", 6),
                                        ("s3", "C", "reject", 7), ("s1", "C", "accept", 8)]:
        decisions.record(out, seg, code, decision, "anna",
                         timestamp=T0.replace(minute=minute))
    book = tmp_path / "klein.yaml"
    book.write_text(SMALL, encoding="utf-8")
    return out, book


def test_promote_adds_accepted_passages_and_keeps_comments(reviewed):
    out, book = reviewed
    result = cbi.promote(out, book, pseudonymise=False)
    assert result.output == book.with_name("klein.promoted.yaml")
    assert result.kept_comments
    assert result.added == {"A": ["Hans Verbeek vond alfa belangrijk.", "Nog meer alfa."],
                            "B": ["Beta kwam vaak terug."],  # s2, s4: known already
                            "C": ["Beta kwam vaak terug."]}  # s3: its latest is a reject
    assert book.read_text(encoding="utf-8") == SMALL  # the original is untouched
    text = result.output.read_text(encoding="utf-8")
    for comment in ("# Klein codeboek (flow-stijl)", "# A: flow", "# blijft",
                    "# geen voorbeelden nog"):
        assert comment in text
    new, _ = load_codebook(result.output)
    examples = {c.id: c.examples for c in new.codes}
    assert examples == {"A": result.added["A"],
                        "B": ["Een bestaand voorbeeld.", "Beta kwam vaak terug."],
                        "C": ["Beta kwam vaak terug."]}
    with pytest.raises(CodeerError, match="--force"):
        cbi.promote(out, book, pseudonymise=False)
    cbi.promote(out, book, pseudonymise=False, force=True, max_per_code=1)
    new, _ = load_codebook(result.output)
    assert {c.id: c.examples for c in new.codes}["A"] == ["Nog meer alfa."]  # newest first


def test_promote_on_the_default_codebook_keeps_every_line(reviewed, tmp_path):
    out, _ = reviewed
    book = tmp_path / "codebook.yaml"
    shutil.copy(CODEBOOK, book)
    from pipeline.review import decisions

    decisions.record(out, "s3", "L1", "add", "anna", timestamp=T0.replace(minute=9))
    result = cbi.promote(out, book, pseudonymise=False)
    assert result.kept_comments and result.added == {"L1": ["Gamma zagen we overal."]}
    before = book.read_text(encoding="utf-8").splitlines()
    after = result.output.read_text(encoding="utf-8").splitlines()
    assert len(after) == len(before) + 1
    added = [line for line in after if "Gamma zagen" in line]
    assert added == ['      - "Gamma zagen we overal."']
    old, _ = load_codebook(book)
    new, _ = load_codebook(result.output)
    assert new.codes[0].examples == [*old.codes[0].examples, "Gamma zagen we overal."]


def test_promote_pseudonymises_by_default(reviewed, monkeypatch):
    out, book = reviewed

    class Stub:
        def text(self, text):
            return text.replace("Hans Verbeek", "[PERSOON-1]")

    from pipeline.export import privacy

    seen = {}

    def make(enabled, names):
        seen["enabled"] = enabled
        return Stub()

    monkeypatch.setattr(privacy, "make_pseudonymiser", make)
    result = cbi.promote(out, book)
    assert seen == {"enabled": True}
    assert result.added["A"][0] == "[PERSOON-1] vond alfa belangrijk."
    assert "Hans" not in result.output.read_text(encoding="utf-8")


@pytest.mark.parametrize("text, expected", [
    ("codes:\n  - id: A\n    examples: [\"x\"]\n", {"A": ["x", "nieuw"]}),
    ("codes:\n  - id: A\n    examples: []\n", {"A": ["nieuw"]}),
    ("codes:\n  - id: A\n    examples:\n    - \"x\"\n", {"A": ["x", "nieuw"]}),
    ("codes:\n  - id: A\n    name: a\n", {"A": ["nieuw"]}),
    ("codes:\n  - {id: A}\n", {"A": ["nieuw"]}),
    ("codes:\n  - id: A\n    examples:\n      - |\n        x\n", None),  # block scalar
], ids=["flow", "empty-flow", "block-no-indent", "no-key", "flow-mapping", "block-scalar"])
def test_insert_examples_where_the_yaml_says(text, expected):
    got = cbi.insert_examples(text, {"A": ["nieuw"]})
    if expected is None:
        assert got is None
        return
    data = yaml.safe_load(got)
    assert {c["id"]: c["examples"] for c in data["codes"]} == expected


def test_promote_without_accepted_reviews_says_so(reviewed):
    out, book = reviewed
    (out / config.REVIEWS_FILE).unlink()
    with pytest.raises(CodeerError, match="geen geaccepteerde beoordelingen"):
        cbi.promote(out, book, pseudonymise=False)


def test_codebook_commands(reviewed, tmp_path):
    out, book = reviewed
    runner = CliRunner()
    src = tmp_path / "a.qdc"
    src.write_text(QDC, encoding="utf-8")
    target = tmp_path / "nieuw.yaml"
    ok = runner.invoke(app, ["codebook", "import", str(src), "--output", str(target)])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(app, ["codebook", "import", str(src), "--output", str(target)])
    assert again.exit_code == 2 and "--force" in again.output
    ok = runner.invoke(app, ["codebook", "promote", "--out", str(out), "--codebook", str(book),
                             "--no-pseudonymise"])
    assert ok.exit_code == 0, ok.output
    assert "4 voorbeeld(en) voor A, B, C" in ok.output
