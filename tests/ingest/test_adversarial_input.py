"""Ingest under hostile or damaged input: every finding of the adversarial run of issue 15 as a
regression test, built from its reproduction on real Dutch text.

Each damaged file is a problem of that file, named in the message; the batch goes on.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import docx
import pytest
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from odf.opendocument import OpenDocumentText
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import P, Section

from pipeline.ingest import core
from pipeline.ingest.readers import ReadError, read_file
from tests.conftest import DEBATES
from tests.ingest.test_ingest import (
    TURNS,
    WMO,
    WRITERS,
    assert_offsets,
    documents_of,
    ingest_dir,
    segments_of,
    write_docx,
)

WMO_TEXT = WMO.read_text(encoding="utf-8")
# A real turn with accents ("één loket voor cliënten").
DIJKSMA = next(line for line in WMO_TEXT.splitlines() if "cliënten" in line)


def raw_with_good_file(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    WRITERS[".txt"](raw / "goed.txt", TURNS)
    return raw


def rezip(path: Path, replace: dict[str, bytes]) -> None:
    """Rewrite a zip package with some members replaced (deflated like Word does)."""
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members.update(replace)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


# ----------------------------------------------------------------------- crashes and hangs


def test_cut_off_docx_is_a_problem_of_that_file(tmp_path):
    """Reproduction: a .docx whose document.xml breaks off stopped the whole ingest with
    'unexpected XMLSyntaxError', exit 3, no file named."""
    raw = raw_with_good_file(tmp_path)
    write_docx(raw / "afgebroken.docx", TURNS)
    with zipfile.ZipFile(raw / "afgebroken.docx") as zf:
        xml = zf.read("word/document.xml")
    rezip(raw / "afgebroken.docx", {"word/document.xml": xml[: len(xml) // 2]})
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "afgebroken.docx: het Word-bestand is beschadigd" in result.output
    assert "unexpected" not in result.output
    assert set(documents_of(tmp_path / "out")["source_path"]) == {"goed.txt"}


def test_a_line_of_more_than_a_million_characters_is_cut_not_fatal(tmp_path):
    """Reproduction: one line over 1,000,000 characters stopped the ingest (spaCy's E088)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    words = re.sub(r"[^\w\s]", "", DIJKSMA.split(": ", 1)[1]).lower().split()
    line = " ".join(words * (1_050_000 // len(" ".join(words)) + 1))
    assert len(line) > 1_000_000 and "\n" not in line
    (raw / "lang.txt").write_text(f"R: {line}\n", encoding="utf-8")
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert re.search(r"lang\.txt regel 1: een passage van 1\.0\d\d\.\d{3} tekens", result.output)
    segs = segments_of(tmp_path / "out")
    assert segs["text"].str.len().max() <= core.MAX_BLOCK_CHARS
    assert sum(segs["text"].str.len()) >= len(line) - len(segs)  # only the cut spaces are gone
    assert_offsets(tmp_path / "out")


def test_cut_long_cuts_at_spaces_and_keeps_every_character():
    text = DIJKSMA * 40
    pieces = core.cut_long(text, 0, len(text), limit=1000)
    assert all(e - s <= 1000 for s, e in pieces)
    assert "".join(text[s:e] for s, e in pieces) == text
    assert all(text[e] == " " for _, e in pieces[:-1])  # no word cut in two


def bomb_xml(inner: str, wrapper: tuple[str, str], size: int) -> bytes:
    """A valid XML part of ``size`` bytes: one real paragraph repeated."""
    n = size // len(inner) + 1
    return (wrapper[0] + inner * n + wrapper[1]).encode()


W_OPEN = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w='
          '"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>')


def test_docx_zip_bomb_is_refused_from_its_directory(tmp_path):
    """Reproduction: a 546 KB .docx holding 150 MB of XML ran past 300 s at 3.2 GB."""
    raw = raw_with_good_file(tmp_path)
    write_docx(raw / "bom.docx", TURNS)
    paragraph = f"<w:p><w:r><w:t>{DIJKSMA}</w:t></w:r></w:p>"
    rezip(raw / "bom.docx", {"word/document.xml": bomb_xml(
        paragraph, (W_OPEN, "</w:body></w:document>"), 40 * 2**20)})
    assert (raw / "bom.docx").stat().st_size < 2**20
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert re.search(r"bom\.docx: onderdeel 'word/document\.xml' pakt uit tot 40 MB",
                     result.output)
    assert set(documents_of(tmp_path / "out")["source_path"]) == {"goed.txt"}


def write_odt(path: Path, paragraphs: list[str]) -> None:
    document = OpenDocumentText()
    for text in paragraphs:
        document.text.addElement(P(text=text))
    document.save(str(path))


def test_odt_with_an_extreme_compression_ratio_is_refused(tmp_path):
    """Reproduction: a 438 KB .odt gave 2.7 million segments in 4 min 48 s at 4.5 GB."""
    path = tmp_path / "bom.odt"
    write_odt(path, ["Ja."])
    with zipfile.ZipFile(path) as zf:
        content = zf.read("content.xml").decode()
    head, tail = content.split("<text:p>Ja.</text:p>")
    rezip(path, {"content.xml": bomb_xml("<text:p>Ja.</text:p>", (head, tail), 8 * 2**20)})
    with pytest.raises(ReadError, match=r"bom\.odt: onderdeel 'content\.xml' pakt uit tot 8 MB "
                                        r"uit \d+ KB \(verhouding \d+:1\)"):
        read_file(path)


def short_real_sentences() -> list[str]:
    """The short sentences of the debates ("Dank u wel.", "Ja.")."""
    turns = [t for path in sorted(DEBATES.glob("*.txt")) for t in re.findall(
        r"^[^:\n]{2,60}: (.+)$", path.read_text(encoding="utf-8"), flags=re.M)]
    return sorted({t for t in turns if len(t) <= 30 and t.endswith((".", "?", "!"))})


def test_a_file_of_more_segments_than_any_interview_is_refused(tmp_path):
    raw = raw_with_good_file(tmp_path)
    sentences = short_real_sentences()
    assert len(sentences) >= 3
    lines = [f"R: {sentences[i % len(sentences)]}" for i in range(50_010)]
    (raw / "veel.txt").write_text("\n".join(lines), encoding="utf-8")
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "veel.txt: geeft meer dan 50.000 segmenten" in result.output
    assert set(documents_of(tmp_path / "out")["source_path"]) == {"goed.txt"}


def test_a_file_of_more_characters_than_any_interview_is_refused(tmp_path):
    path = tmp_path / "groot.txt"
    paragraph = DIJKSMA + "\n\n"
    path.write_text(paragraph * (4_000_000 // len(paragraph) + 1), encoding="utf-8")
    with pytest.raises(ReadError, match=r"groot\.txt: bevat 4\.0\d\d\.\d{3} tekens, meer dan "
                                        r"de 4\.000\.000"):
        read_file(path)


@pytest.mark.parametrize("char", ["\ufffe", "\uffff", "\x1b"])
def test_characters_xml_cannot_hold_are_replaced_with_a_warning(tmp_path, char):
    """Reproduction: U+FFFE or U+FFFF in a transcript crashed the export before anything was
    written (openpyxl/lxml refuse them); ingest now replaces them, offsets unchanged."""
    path = tmp_path / "a.txt"
    text = f"I: Hoe was het loket?\n\n{DIJKSMA[:80]}{char}{DIJKSMA[80:]}\n"
    path.write_text(text, encoding="utf-8")
    result = read_file(path)
    assert char not in result.text and len(result.text) == len(text)
    assert any(w.startswith("a.txt regel 3: 1 teken(s) die tekst niet kan bevatten") and
               f"U+{ord(char):04X}" in w for w in result.warnings)


def test_sheet_cells_with_noncharacters_are_cleaned(tmp_path):
    raw = raw_with_good_file(tmp_path)
    (raw / "interviews.csv").write_text(
        "interview_id,file,department\nint01,goed.txt,Zorg\ufffe en welzijn\n", encoding="utf-8")
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "interviews.csv regel 2: 1 teken(s) die tekst niet kan bevatten (U+FFFE)" \
        in result.output
    assert documents_of(tmp_path / "out")["department"].tolist() == ["Zorg\ufffd en welzijn"]


# ----------------------------------------------------------------------- text dropped silently


def _run_with(paragraph, tag: str, text: str, bold: bool = False):
    """Append ``<tag><w:r><w:t>text</w:t></w:r></tag>`` to a python-docx paragraph."""
    wrapper = OxmlElement(tag)
    if tag == "w:ins":
        wrapper.set(qn("w:id"), "1")
        wrapper.set(qn("w:author"), "Redactie")
    run = OxmlElement("w:r")
    if bold:
        props = OxmlElement("w:rPr")
        props.append(OxmlElement("w:b"))
        run.append(props)
    t = OxmlElement("w:t")
    t.text = text
    t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    run.append(t)
    if tag == "w:sdt":
        content = OxmlElement("w:sdtContent")
        content.append(run)
        wrapper.append(content)
    else:
        wrapper.append(run)
    paragraph._p.append(wrapper)
    return wrapper


def test_docx_insertions_content_controls_and_links_are_read(tmp_path):
    """Reproduction: tracked insertions (w:ins), content controls (w:sdt) and a hyperlink after
    a bold speaker label were dropped without a word."""
    (name, first), (name2, second) = TURNS[0], TURNS[1]
    document = docx.Document()
    p = document.add_paragraph()
    p.add_run(f"{name}:").bold = True
    p.add_run(" " + first[:40])
    _run_with(p, "w:ins", first[40:80])  # a tracked insertion
    deleted = _run_with(p, "w:del", " VERWIJDERDE TEKST")  # a tracked deletion: not read
    deleted.set(qn("w:id"), "2")
    deleted.set(qn("w:author"), "Redactie")
    deleted[0][0].tag = qn("w:delText")
    p2 = document.add_paragraph()
    p2.add_run(f"{name2}:").bold = True
    _run_with(p2, "w:hyperlink", " " + second[:60])  # the link right after the label
    p3 = document.add_paragraph()
    _run_with(p3, "w:sdt", "Locatie: gemeentehuis")  # an inline content control
    block = OxmlElement("w:sdt")  # a block-level content control with a paragraph inside
    content = OxmlElement("w:sdtContent")
    inner = document.add_paragraph(DIJKSMA.split(": ", 1)[1][:70])
    content.append(inner._p)
    block.append(content)
    document.element.body.insert(len(document.element.body) - 1, block)
    document.save(str(tmp_path / "a.docx"))

    result = read_file(tmp_path / "a.docx")
    lines = result.text.split("\n")
    assert lines[0] == f"{name}: {first[:80]}".rstrip()
    assert "VERWIJDERDE" not in result.text
    assert lines[1] == f"{name2}: {second[:60].strip()}"
    assert lines[2] == "Locatie: gemeentehuis"
    assert lines[3] == DIJKSMA.split(": ", 1)[1][:70]
    assert {name, name2} <= result.speakers


def test_odt_sections_and_tables_are_read(tmp_path):
    """Reproduction: paragraphs inside an odt section and table rows were dropped."""
    document = OpenDocumentText()
    document.text.addElement(P(text="Interview over de Wmo"))
    section = Section(name="Deel1")
    section.addElement(P(text=f"{TURNS[0][0]}: {TURNS[0][1]}"))
    document.text.addElement(section)
    table = Table(name="Gesprek")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for name, text in TURNS[1:3]:
        row = TableRow()
        for cell_text in (name, text):
            cell = TableCell()
            cell.addElement(P(text=cell_text))
            row.addElement(cell)
        table.addElement(row)
    document.text.addElement(table)
    document.save(str(tmp_path / "a.odt"))
    result = read_file(tmp_path / "a.odt")
    lines = result.text.split("\n")
    assert lines == ["Interview over de Wmo"] + [f"{n}: {t}" for n, t in TURNS[:3]]
    assert {TURNS[1][0], TURNS[2][0]} <= result.speakers


def test_broken_odt_is_a_problem_and_prints_nothing(tmp_path, capfd):
    """Reproduction: an odt with broken XML was read up to the break without a warning, and
    odfpy printed the raw XML to stdout."""
    path = tmp_path / "kapot.odt"
    write_odt(path, [f"{n}: {t}" for n, t in TURNS])
    with zipfile.ZipFile(path) as zf:
        content = zf.read("content.xml")
    cut = content.index(TURNS[2][1][:20].encode())
    rezip(path, {"content.xml": content[:cut] + b"<text:span>" + content[cut:]})
    with pytest.raises(ReadError, match=r"kapot\.odt: het OpenDocument-bestand is beschadigd "
                                        r"\(content\.xml breekt af op regel \d+"):
        read_file(path)
    out, _ = capfd.readouterr()
    assert out == ""


def test_one_stray_windows_1252_byte_spoils_only_its_own_line(tmp_path):
    """Reproduction: one stray Windows-1252 byte made a UTF-8 file decode as Windows-1252
    everywhere ("coÃ¶rdinatie")."""
    path = tmp_path / "a.txt"
    good = DIJKSMA.encode("utf-8")
    stray = "R: Het café gaf de doorslag.".encode("cp1252")
    path.write_bytes(good + b"\n\n" + stray + b"\n\n" + good + b"\n")
    result = read_file(path)
    assert result.text.split("\n") == [DIJKSMA, "", "R: Het café gaf de doorslag.", "",
                                        DIJKSMA, ""]
    assert "Ã" not in result.text and "café" in result.text
    assert result.encoding == "utf-8+cp1252"
    assert len(result.warnings) == 1 and result.warnings[0].startswith("a.txt regel 3: geen UTF-8")


def test_utf16_text_as_word_saves_it_is_read(tmp_path):
    """Reproduction: Word's "Unicode text" (UTF-16 with BOM) was rejected as binary."""
    path = tmp_path / "a.txt"
    text = "\r\n\r\n".join(f"{n}: {t}" for n, t in TURNS) + "\r\n"
    path.write_bytes(text.encode("utf-16"))
    result = read_file(path)
    assert result.encoding == "utf-16"
    assert result.text == text.replace("\r\n", "\n")


# ----------------------------------------------------------------------- misleading


@pytest.mark.parametrize("inside", ["out_in_raw", "raw_in_out", "same"])
def test_out_and_raw_must_not_hold_each_other(tmp_path, inside):
    """Reproduction: OUT inside RAW was accepted; the next ingest read report.md as an
    interview."""
    top = raw_with_good_file(tmp_path)
    if inside == "out_in_raw":
        raw, out = top, top / "coded"
    elif inside == "raw_in_out":
        raw, out = top, tmp_path
    else:
        raw, out = top, top
    result = ingest_dir(raw, out)
    assert result.exit_code == 2
    assert re.search(r"fout: --(out|raw) moet een map buiten de (map met transcripten|uitvoermap)"
                     r" .* zijn", result.output)
    assert not (out / "segments.parquet").exists()


def test_two_sheet_rows_for_one_file_are_reported(tmp_path):
    """Reproduction: with two rows of interviews.csv for one file, the second won silently."""
    raw = raw_with_good_file(tmp_path)
    (raw / "interviews.csv").write_text(
        "interview_id,file,department\nint01,goed.txt,Zorg\nint02,goed.txt,Wonen\n",
        encoding="utf-8")
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "interviews.csv regel 3: noemt 'goed.txt', net als regel 2" in result.output
    docs = documents_of(tmp_path / "out")
    assert docs[["document_id", "department"]].values.tolist() == [["int01", "Zorg"]]


@pytest.mark.parametrize("header, ok", [("file", True), ("bestand", False)])
def test_one_column_sheet(tmp_path, header, ok):
    """Reproduction: a one-column sheet gave "Got ['fi', 'e']" (the sniffer split on 'l')."""
    raw = raw_with_good_file(tmp_path)
    (raw / "interviews.csv").write_text(f"{header}\ngoed.txt\n", encoding="utf-8")
    result = ingest_dir(raw, tmp_path / "out")
    if ok:
        assert result.exit_code == 0, result.output
        assert "staat niet in interviews.csv" not in result.output
    else:
        assert result.exit_code == 2
        assert "regel 1: de kolomnamen moeten een kolom 'file' hebben" in result.output
        assert "Gevonden: ['bestand']" in result.output


def test_semicolon_sheet_of_dutch_excel(tmp_path):
    raw = raw_with_good_file(tmp_path)
    (raw / "interviews.csv").write_bytes(
        "\ufeffinterview_id;file;department\r\nint01;goed.txt;Zorg, welzijn\r\n".encode())
    assert ingest_dir(raw, tmp_path / "out").exit_code == 0
    assert documents_of(tmp_path / "out")["department"].tolist() == ["Zorg, welzijn"]


def test_terminal_escapes_in_file_names_are_escaped(tmp_path):
    """Reproduction: escape sequences in file names were printed raw to the terminal."""
    raw = raw_with_good_file(tmp_path)
    (raw / "leeg\x1b[2J\x1b[31m.txt").write_text("", encoding="utf-8")
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 0
    assert "\x1b" not in result.output
    assert "leeg\\x1b[2J\\x1b[31m.txt: het bestand bevat geen tekst" in result.output


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX links")
def test_links_out_of_raw_are_not_followed_and_folder_links_reported(tmp_path):
    """Reproduction: symlinked folders were skipped silently while a link to a file outside
    RAW was followed."""
    raw = raw_with_good_file(tmp_path)
    elsewhere = tmp_path / "elders"
    elsewhere.mkdir()
    WRITERS[".txt"](elsewhere / "geheim.txt", TURNS[:2])
    (raw / "geheim.txt").symlink_to(elsewhere / "geheim.txt")
    (raw / "map").symlink_to(elsewhere, target_is_directory=True)
    (raw / "ook-goed.txt").symlink_to(raw / "goed.txt")
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "geheim.txt: is een koppeling naar een bestand buiten de map met transcripten; niet " \
        "gelezen" in result.output
    assert "map: is een koppeling naar een map; codeer volgt geen koppelingen naar mappen" \
        in result.output
    assert set(documents_of(tmp_path / "out")["source_path"]) == {"goed.txt", "ook-goed.txt"}


def test_sheet_paths_never_read_outside_raw(tmp_path):
    """Held in the adversarial run and must keep holding: interviews.csv cannot make ingest
    read a file outside RAW."""
    raw = raw_with_good_file(tmp_path)
    elsewhere = tmp_path / "elders"
    elsewhere.mkdir()
    WRITERS[".txt"](elsewhere / "geheim.txt", TURNS[:2])
    (raw / "interviews.csv").write_text(
        "interview_id,file\nint01,goed.txt\nint02,../elders/geheim.txt\n"
        f"int03,{elsewhere / 'geheim.txt'}\n", encoding="utf-8")
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "interviews.csv regel 3: noemt '../elders/geheim.txt', dat niet in de map met " \
        "transcripten staat" in result.output
    assert set(documents_of(tmp_path / "out")["source_path"]) == {"goed.txt"}
