"""Export of hostile text (issue 15): nothing from a transcript, the sheet or the codebook runs
in a spreadsheet or a browser, characters XML cannot hold do not stop the export, and the
workbook is the same bytes on every run."""

from __future__ import annotations

import html.parser
import io
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import config, schema, storage
from pipeline.export import command as export_command
from pipeline.export import tables, workbook
from pipeline.ingest import command as ingest
from tests.export.test_export import BOOK_DATA, quick_figures  # noqa: F401 (fixture)
from tests.ingest.test_ingest import TURNS

# What an attacker puts in a transcript: formulas (DDE, a hyperlink to click, arithmetic, an
# @-function), Python-Markdown attribute lists, raw HTML, and U+FFFE/U+FFFF.
HOSTILE = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://example.org/x","klik hier")',
    "+1+1 telt mee, zei de wethouder.",
    "@SUM(1) was het antwoord.",
    "=SUM(A1:A9) stemmen voor het voorstel.",
    '\tkolom verschoven {: onclick="alert(1)"}',
    'Het loket was dicht. {: onmouseover="alert(2)" }',
    '<img src=x onerror="alert(3)"> en <a href="javascript:alert(4)">link</a>.',
    "Het kwam neer op \ufffe één loket\uffff voor iedereen.",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def hostile_book(path: Path) -> Path:
    data = {**BOOK_DATA,
            "themes": [{**BOOK_DATA["themes"][0],
                        "name": 'Aan tafel {: onmouseover="alert(5)"}'}, BOOK_DATA["themes"][1]],
            "codes": [{**BOOK_DATA["codes"][0],
                       "name": 'Helderheid {: onclick="alert(6)"}',
                       "definition": "=1+1 {: onfocus=\"alert(7)\"} <b onclick=x>rol</b>"},
                      *BOOK_DATA["codes"][1:]]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def hostile_export(tmp_path, quick_figures):  # noqa: F811
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = []
    for (_, question), answer in zip(TURNS, HOSTILE, strict=False):
        lines += [f"I: {question}", f"R: {answer}"]
    lines += [f"R: {answer}" for answer in HOSTILE[len(TURNS):]]
    (raw / "aanval.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    (raw / "interviews.csv").write_text(
        "interview_id,file,respondent_function,department\n"
        "int01,aanval.txt,=HYPERLINK(\"http://x\"),-2+3 Zorg\uffff en welzijn\n", encoding="utf-8")
    out = tmp_path / "out"
    result = ingest.run(raw, out, progress=False)
    resp = result.segments[result.segments["role"] == "respondent"]
    codings = pd.DataFrame([
        {"segment_id": s, "code_id": "L1", "method": "rule", "score": -0.25,
         "evidence": "=regel L1: rol", "status": "auto", "codebook_sha256": "0" * 64,
         "model_id": "test"} for s in resp["segment_id"]])
    storage.write_table(codings, out / config.CODINGS_FILE, schema.CODINGS)
    book = hostile_book(tmp_path / "codebook.yaml")
    export_command.run(out, book, pseudonymise=False, progress=False)
    return out


def test_hostile_text_is_exported_and_cannot_run_in_a_spreadsheet(hostile_export):
    """Reproductions: transcript and sheet text reached tables/*.csv raw ('=cmd|...',
    '=HYPERLINK(...)', '+1+1', '@SUM(1)'); U+FFFE/U+FFFF crashed the export before anything
    was written."""
    out = hostile_export
    excerpts = pd.read_csv(out / config.TABLES_DIR / "excerpts.csv", dtype=str,
                           keep_default_na=False)
    texts = set(excerpts["text"])
    for answer in HOSTILE[:5]:
        assert "'" + answer in texts, answer  # the apostrophe spreadsheet users know
    assert "Het kwam neer op \ufffd één loket\ufffd voor iedereen." in texts
    for path in (out / config.TABLES_DIR).glob("*.csv"):
        for row in pd.read_csv(path, dtype=str, keep_default_na=False).itertuples(index=False):
            for cell in row:
                assert not cell.startswith(FORMULA_START) or re.fullmatch(r"-[\d.]+", cell), \
                    (path.name, cell)
    # Numbers stay numbers: the negative probability is not quoted.
    assert set(pd.read_csv(out / config.TABLES_DIR / "excerpts.csv")["probability"]) == {-0.25}
    interviews = pd.read_csv(out / config.TABLES_DIR / "interviews.csv", dtype=str)
    assert interviews["respondent_function"].tolist() == ["'=HYPERLINK(\"http://x\")"]
    assert interviews["department"].tolist() == ["'-2+3 Zorg\ufffd en welzijn"]


def test_xlsx_keeps_hostile_text_as_plain_strings(hostile_export):
    from openpyxl import load_workbook

    wb = load_workbook(hostile_export / config.WORKBOOK_FILE)
    sheet = wb["excerpts"]
    header = [c.value for c in sheet[1]]
    cells = [row[header.index("tekst")] for row in sheet.iter_rows(min_row=2)]
    values = {c.value for c in cells}
    for answer in HOSTILE[:5]:
        assert answer in values, answer  # the text as it is, no apostrophe needed
    assert {c.data_type for c in cells} == {"s"}  # never a formula


class _Attributes(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.found += [(tag, k, v) for k, v in attrs]


def test_no_event_attribute_or_script_url_reaches_the_html(hostile_export):
    """Reproduction: a code name with Python-Markdown's attribute syntax ('{: onclick=...}')
    became an onclick on a heading of report.html."""
    page = (hostile_export / config.REPORT_HTML).read_text(encoding="utf-8")
    parser = _Attributes()
    parser.feed(page)
    assert [a for a in parser.found if a[1].startswith("on")] == []
    assert [a for a in parser.found if (a[2] or "").strip().lower().startswith("javascript")] \
        == []
    assert "Helderheid {: onclick=" in html.unescape(page)  # shown as text, not dropped
    assert "&lt;img src=x onerror=" in page  # transcript HTML stays escaped


def test_csv_text_quotes_formulas_but_not_numbers():
    df = pd.DataFrame({
        "text": ["=1+1", "+31 10 123 4567", "-2+3", "@SUM(1)", "\tx", "-12", "+0,5",
                 "gewoon", None],
        "score": [-1.5, 0.0, 1.0, -2.0, 3.0, -0.25, 1.0, 2.0, 3.0],
    })
    back = pd.read_csv(io.StringIO(tables.csv_text(df)), dtype={"text": str},
                       keep_default_na=False)
    assert back["text"].tolist() == ["'=1+1", "'+31 10 123 4567", "'-2+3", "'@SUM(1)", "'\tx",
                                     "-12", "+0,5", "gewoon", ""]
    assert back["score"].tolist() == df["score"].tolist()
    assert tables.safe_cell("\rx") == "'\rx"  # (ingest turns every CR into a newline)


def test_workbook_is_the_same_bytes_on_every_run():
    """Reproduction: codeer.xlsx differed between identical runs (core properties' and zip
    entries' timestamps)."""
    sheets = {"excerpts": pd.DataFrame({"text": [t for _, t in TURNS], "score": [0.1] * 4})}
    first = workbook.workbook_bytes(sheets, ["toelichting"])
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert {i.date_time for i in zf.infolist()} == {(2000, 1, 1, 0, 0, 0)}
        core = zf.read("docProps/core.xml").decode()
    assert core.count("2000-01-01T00:00:00Z") == 2  # created and modified
    assert workbook.workbook_bytes(sheets, ["toelichting"]) == first
