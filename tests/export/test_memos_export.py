"""Memos and review notes through the whole export: table, workbook sheet, report appendix and
REFI-QDA notes, pseudonymised; speakers as cases and VTT cue times in the project."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from lxml import etree

from pipeline import config, schema, storage
from pipeline.export import core as export_core
from pipeline.export import refiqda, tables, workbook
from pipeline.review import decisions, memos
from tests.export.test_export import (  # noqa: F401  (fixtures)
    BOOK,
    SPEAKERS,
    StubPseudonymiser,
    ingested,
    quick_figures,
)

NS = {"q": refiqda.PROJECT_NS}
T0 = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def exported(ingested, tmp_path_factory):  # noqa: F811
    """The two demo interviews exported with four memos and a review note, names replaced."""
    import shutil

    out = tmp_path_factory.mktemp("memos") / "out"
    shutil.copytree(ingested, out)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    sanne = segments[segments["text"].str.contains("senior planoloog")].iloc[0]
    coded = codings[codings["status"] == "auto"].iloc[0]
    memos.add(out, "Sanne de Wit is hier stellig.", "Renate", "passage", sanne["segment_id"],
              timestamp=T0)
    memos.add(out, "Het gesprek met Sanne de Wit liep uit.", "Renate", "document", "int03",
              timestamp=T0)
    memos.add(out, "L1 en L2 overlappen.", "Bram", "code", "L1", {"L1", "L2"}, timestamp=T0)
    memos.add(out, "Eerste ronde klaar.", "Bram", timestamp=T0)
    decisions.record(out, coded["segment_id"], coded["code_id"], "accept", "Renate",
                     note="Lotte Vermeulen vraagt hier door.", timestamp=T0)
    stub = StubPseudonymiser(SPEAKERS)
    result = export_core.build_export(
        documents, segments, codings, BOOK, stub, reviews=decisions.read_reviews(out),
        memos=memos.read_memos(out), coded_at=datetime(2025, 5, 1, tzinfo=UTC))
    return result, sanne, segments


def test_memos_table_and_sheet(exported, quick_figures):  # noqa: F811
    from openpyxl import load_workbook

    result, sanne, _ = exported
    # the workbook's general notes stay text (the REFI-QDA notes are another list)
    assert result.notes and all(isinstance(n, str) for n in result.notes)
    table = result.tables["memos"]
    assert list(table.columns) == tables.columns("memos")
    assert list(table["about"]) == ["passage", "document", "code", "project"]
    row = table.iloc[0]
    assert row["segment_id"] == sanne["segment_id"] and row["document_id"] == "int03"
    assert "[PERSOON-" in row["text"] and "Sanne" not in row["text"]
    assert "senior planoloog" in row["passage"]
    assert list(table["document_id"])[1] == "int03" and list(table["code_id"])[2] == "L1"
    wb = load_workbook(io.BytesIO(result.workbook), read_only=True)
    assert "memos" in wb.sheetnames
    sheet = [r for r in wb["memos"].iter_rows(values_only=True)]
    assert sheet[0] == tuple(tables.label(c) for c in tables.columns("memos"))
    assert len(sheet) == 5
    assert [r[sheet[0].index("over")] for r in sheet[1:]] == \
        ["passage", "interview", "code", "project"]  # "document" shown as "interview"
    notes = [r for r in wb[workbook.NOTES_SHEET].iter_rows(values_only=True)
             if r[0] == "memos"]
    assert {r[2] for r in notes if r[2]} == set(tables.columns("memos"))


def test_report_appendix_lists_the_memos(exported):
    result, _, _ = exported
    md = result.report_md
    appendix = md[md.index("## Bijlage: memo's"):]
    for heading in ("### Over het project", "### Over een interview", "### Over een code",
                    "### Over een passage"):
        assert heading in appendix
    assert "Eerste ronde klaar." in appendix and "L1 en L2 overlappen." in appendix
    assert "Sanne" not in appendix and "[PERSOON-" in appendix
    assert "senior planoloog" in appendix  # the passage is quoted
    assert "Eerste ronde klaar." in result.report_html


def test_project_carries_notes_speakers_and_cue_times(exported):
    result, sanne, segments = exported
    with zipfile.ZipFile(io.BytesIO(result.project)) as zf:
        qde = zf.read("project.qde")
    assert refiqda.validate(qde, "project") == []
    for name in SPEAKERS:
        assert name.encode() not in qde
    root = etree.fromstring(qde)
    texts = sorted(n.findtext("q:PlainTextContent", namespaces=NS)
                   for n in root.iterfind("q:Notes/q:Note", NS))
    assert len(texts) == 5 and all("Sanne" not in t and "Lotte" not in t for t in texts)
    assert any(t.endswith("vraagt hier door.") for t in texts)  # the review note
    # one case per speaker of each interview, named with the pseudonymised label
    cases = {c.get("name"): c for c in root.iterfind(".//q:Case", NS)}
    speaker_cases = [n for n in cases if n.startswith("int03: ")]
    assert len(speaker_cases) == 2 and all("[PERSOON-" in n for n in speaker_cases)
    roles = {c.findtext("q:VariableValue/q:TextValue", namespaces=NS)
             for n, c in cases.items() if n.startswith("int03: ")}
    assert roles == {"interviewer", "respondent"}
    assert {n for n in cases if n.startswith("int02: ")} == {"int02: I", "int02: R"}
    # VTT cue times in the descriptions of int03's codings
    int03 = root.find(".//q:TextSource[@name='int03']", NS)
    descriptions = [d.text for d in int03.iterfind(".//q:Description", NS)]
    assert descriptions and all(" | tijd 00:" in d for d in descriptions)
    # automatic codings carry the recorded run time, the source its interview date
    auto = [s for s in int03.iterfind("q:PlainTextSelection", NS)
            if ", automatisch |" in (s.findtext("q:Description", namespaces=NS) or "")]
    assert auto and {s.get("creationDateTime") for s in auto} == {"2025-05-01T00:00:00Z"}
    assert int03.get("creationDateTime") == "2022-04-05T00:00:00Z"
    memo_sel = root.find(f".//q:PlainTextSelection[@guid='"
                         f"{refiqda.guid('memo-selection', 'int03', sanne['segment_id'])}']", NS)
    assert memo_sel is not None and memo_sel.find("q:NoteRef", NS) is not None
