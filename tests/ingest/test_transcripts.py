"""Ingest of transcripts as researchers bring them (issue 14): a Teams export with "Achternaam,
Voornaam" voices, a Word file with a header table and bold names, a hard-wrapped .txt with a
header block and I:/R: labels; annotations in brackets; the preview of speakers and roles.

The fixtures are built here from real Dutch: the Q&A of the Signalen interview (EUPL-1.2, see
tests/data/corpora/SOURCES.md) and sentences of the demo interviews.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import docx
import pytest
from odf.opendocument import OpenDocumentText
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import P
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.ingest import core
from pipeline.ingest.header import find_header, header_metadata, iso_date
from pipeline.ingest.readers import read_file
from pipeline.ingest.turns import parse_turns
from pipeline.nlp import get_nlp
from pipeline.vocab import name_parts, same_person, split_names
from tests.conftest import DEBATES, DEMO_RAW, ROOT, SIGNALEN
from tests.ingest.test_ingest import assert_offsets, documents_of, segments_of

runner = CliRunner()
WIDE = {"COLUMNS": "250"}  # the preview table unfolded, one line per speaker

HEADER = ("Respondent: teamleider Wijkzaken\nDatum: 12 maart 2024\nInterviewer: S. de Wit\n"
          "Locatie: stadskantoor, kamer 4.12\n\n")


def signalen_qa(n: int = 3) -> list[tuple[str, str]]:
    """The first ``n`` questions and answers of the Signalen interview as I/R turns."""
    text = SIGNALEN.read_text(encoding="utf-8")
    blocks = [b.strip() for b in text[text.index("## Interview"):].split("\n\n")[1:]]
    turns: list[tuple[str, str]] = []
    for block in blocks:
        if m := re.match(r"^\d+\. (.+)$", block):
            if len(turns) == 2 * n:
                break
            turns.append(("I", m.group(1)))
        elif turns and turns[-1][0] == "I":
            turns.append(("R", " ".join(block.split())))
    return turns


QA = signalen_qa()


def ingest(raw: Path, out: Path, *args: str):
    return runner.invoke(app, ["ingest", "--raw", str(raw), "--out", str(out), "-q", *args],
                         env=WIDE)


def wrapped_txt(path: Path, turns=QA, width: int = 72, header: str = HEADER) -> None:
    """A .txt as e-mail programs and old editors save it: lines cut at ``width``."""
    body = "\n\n".join(textwrap.fill(f"{name}: {text}", width=width) for name, text in turns)
    path.write_text(header + body + "\n", encoding="utf-8")


def teams_vtt(path: Path, turns) -> None:
    """A Teams transcript: cue ids, "Achternaam, Voornaam" voices, one sentence per cue."""
    lines, t = ["WEBVTT", ""], 0
    for i, (voice, text) in enumerate(turns):
        for k, sentence in enumerate(re.split(r"(?<=[.?!]) (?=[A-Z(\[])", text)):
            lines += [f"3f2a9c1e-7d4b-4e8a-9c61-5b0e2d7a{i:02d}{k:02d}/{i}-{k}",
                      f"00:{t // 60:02d}:{t % 60:02d}.120 --> 00:{(t + 4) // 60:02d}:"
                      f"{(t + 4) % 60:02d}.480", f"<v {voice}>{sentence}</v>", ""]
            t += 5
    path.write_text("\n".join(lines), encoding="utf-8")


def word_with_header(path: Path, turns, header=(("Respondent", "teamleider Wijkzaken"),
                                                ("Datum", "12 maart 2024"),
                                                ("Interviewer", "S. de Wit"),
                                                ("Locatie", "stadskantoor, kamer 4.12"))) -> None:
    """A Word transcript: a title, a header table, then bold speaker names."""
    document = docx.Document()
    document.add_paragraph("Interview Wijkzaken")
    table = document.add_table(rows=0, cols=2)
    for key, value in header:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = key, value
    for name, text in turns:
        paragraph = document.add_paragraph()
        paragraph.add_run(name + ":").bold = True
        paragraph.add_run(" " + text)
    document.save(str(path))


NAMED = [("Sanne de Wit", QA[0][1]), ("Yvonne Bakker", QA[1][1]),
         ("Sanne de Wit", QA[2][1]), ("Yvonne Bakker", QA[3][1])]


# ----------------------------------------------------------------------- header block


def test_header_block_of_a_txt_is_metadata_not_speech(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    wrapped_txt(raw / "wijk.txt")
    result = ingest(raw, out)
    assert result.exit_code == 0, result.output
    segs, docs = segments_of(out), documents_of(out)
    assert set(segs["speaker"]) == {"I", "R"}  # not "Respondent", "Datum", "Interviewer"
    assert not segs["text"].str.contains("teamleider Wijkzaken|stadskantoor|12 maart").any()
    doc = docs.iloc[0]
    assert doc["respondent"] == "teamleider Wijkzaken"
    assert doc["date"] == "2024-03-12"  # as interviews.csv writes dates
    assert doc["interviewer"] == "S. de Wit"
    assert doc["locatie"] == "stadskantoor, kamer 4.12"
    assert set(segs["locatie"]) == {"stadskantoor, kamer 4.12"}  # travels with every segment
    assert doc["text"].startswith(HEADER)  # the header stays in the document text
    assert dict(zip(segs["speaker"], segs["role"], strict=False)) == {
        "I": "interviewer", "R": "respondent"}
    assert_offsets(out)


def test_word_header_table_is_metadata_and_names_the_interviewer(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    word_with_header(raw / "wijkzaken.docx", NAMED)
    read = read_file(raw / "wijkzaken.docx")
    assert read.speakers == {"Sanne de Wit", "Yvonne Bakker"}  # not "Datum", "Locatie"
    result = ingest(raw, out)
    assert result.exit_code == 0, result.output
    segs, docs = segments_of(out), documents_of(out)
    spoken = segs[segs["role"] != "other"]
    assert set(spoken["speaker"]) == {"Sanne de Wit", "Yvonne Bakker"}
    assert not segs["text"].str.contains("teamleider|stadskantoor").any()
    # "Interviewer: S. de Wit" in the header makes the speaker "Sanne de Wit" the interviewer.
    roles = dict(zip(spoken["speaker"], spoken["role"], strict=False))
    assert roles == {"Sanne de Wit": "interviewer", "Yvonne Bakker": "respondent"}
    assert "geen interviewer opgegeven" not in result.output
    assert docs.iloc[0][["respondent", "date", "locatie"]].tolist() == [
        "teamleider Wijkzaken", "2024-03-12", "stadskantoor, kamer 4.12"]
    assert_offsets(out)


def test_odt_header_table_is_metadata(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    document = OpenDocumentText()
    table = Table(name="kop")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for key, value in (("Datum", "3 oktober 2023"), ("Functie", "beleidsadviseur")):
        row = TableRow()
        for cell_text in (key, value):
            cell = TableCell()
            cell.addElement(P(text=cell_text))
            row.addElement(cell)
        table.addElement(row)
    document.text.addElement(table)
    for name, text in QA[:4]:
        document.text.addElement(P(text=f"{name}: {text}"))
    document.save(str(raw / "a.odt"))
    assert ingest(raw, out).exit_code == 0
    doc = documents_of(out).iloc[0]
    assert (doc["date"], doc["respondent_function"]) == ("2023-10-03", "beleidsadviseur")
    assert set(segments_of(out)["speaker"]) == {"I", "R"}


@pytest.mark.parametrize(
    "text",
    [
        # A first turn, not a header: speech, role words, no header key.
        "Interviewer: Goedemorgen.\nRespondent: Goedemorgen.\n\nInterviewer: Hoe gaat het?",
        "I: Welkom.\nR: Dank je.\nI: Kun je jezelf voorstellen?\nR: Ja.",
        # One "Key: value" line is a title (the Signalen meetup report), not a block.
        "Verslag: Signalen Community Meetup\n\nSignalen is het open source initiatief.",
        # Keys used twice are a dialogue.
        "Datum: 12 maart\nDatum: 13 maart\n\nR: Dat was het.",
        # A value that is a spoken sentence.
        "Datum: 12 maart 2024\nAnna: Ik denk dat we dat eerder hadden moeten regelen.\n",
        # Nothing after the block: the whole text would vanish.
        "Datum: 12 maart 2024\nLocatie: stadskantoor\n",
    ],
)
def test_text_that_is_no_header_block(text):
    assert find_header(text) is None


@pytest.mark.parametrize(
    "text, keys",
    [
        (HEADER + "I: Welkom.", ["Respondent", "Datum", "Interviewer", "Locatie"]),
        # After a title; markdown bold keys; no blank line before the first turn.
        ("# Interview 07\n\n**Datum:** 24 mei 2022\n**Functie:** concerncontroller\n"
         "**Interviewer:** Zo, de recorder loopt. Fijn dat je wilde meedoen.",
         ["Datum", "Functie"]),
        ("Interview Wijkzaken\nDuur: 45 minuten\nPlaats: Rotterdam\nI: Welkom.",
         ["Duur", "Plaats"]),
    ],
)
def test_header_blocks_found(text, keys):
    header = find_header(text)
    assert header is not None and [k for k, _, _ in header.entries] == keys
    turns = parse_turns(text, skip=(header.start, header.end))
    assert all(not (header.start <= t.start < header.end) for t in turns)


@pytest.mark.parametrize(
    "value, iso",
    [("12 maart 2024", "2024-03-12"), ("dinsdag 12 maart 2024", "2024-03-12"),
     ("12-03-2024", "2024-03-12"), ("2024-03-12", "2024-03-12"), ("3 okt. 2023", "2023-10-03"),
     ("maart 2024", None), ("stadskantoor", None)],
)
def test_header_dates_become_iso(value, iso):
    assert iso_date(value) == iso


@pytest.mark.parametrize(
    "sheet_date, note",
    [("2024-03-13", True), ("2024-03-12", False)],  # the same day written otherwise: no note
)
def test_sheet_wins_over_the_header_with_a_note(tmp_path, sheet_date, note):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    wrapped_txt(raw / "wijk.txt")
    (raw / "interviews.csv").write_text(
        "interview_id,file,interviewer,date\n"
        f"w2,wijk.txt,Sanne de Wit,{sheet_date}\n", encoding="utf-8")
    result = ingest(raw, out)
    assert result.exit_code == 0, result.output
    doc = documents_of(out).iloc[0]
    assert doc["date"] == sheet_date and doc["interviewer"] == "Sanne de Wit"
    message = ("wijk.txt regel 2: kopregel 'Datum: 12 maart 2024' wijkt af van interviews.csv "
               f"(date = '{sheet_date}'); de waarde uit interviews.csv geldt.")
    assert (message in result.output) is note
    # "S. de Wit" in the header is "Sanne de Wit" in the sheet: no note on the interviewer.
    assert "kopregel 'Interviewer" not in result.output
    assert doc["respondent"] == "teamleider Wijkzaken"  # a column the sheet lacks


def test_header_columns_of_reserved_names_get_a_prefix():
    header = find_header("Tekst: letterlijk uitgewerkt\nDatum: 1 mei 2023\n\nR: Ja.")
    assert header is not None
    assert header_metadata(header)["tekst"][0] == "letterlijk uitgewerkt"
    loaded = core.LoadedFile("a.txt", "0" * 64, _read("Text: letterlijk\nDatum: 1 mei 2023\n\n"
                                                      "I: Hoe ging het?\nR: Goed."))
    plans, columns, _ = core.plan_files([loaded])
    assert "meta_text" in columns and plans[0].metadata["meta_text"] == "letterlijk"


def _read(text: str):
    from pipeline.ingest.readers import ReadResult

    return ReadResult(text, "utf-8")


# ----------------------------------------------------------------------- hard-wrapped lines


def test_wrapped_txt_gives_the_segments_of_the_unwrapped_one(tmp_path):
    """Wrapping at 72 characters changes nothing a researcher sees: the same sentences, with
    the same ids, no line break inside any of them, and exact offsets."""
    outs = {}
    for kind in ("wrapped", "lines"):
        raw = tmp_path / kind / "raw"
        raw.mkdir(parents=True)
        if kind == "wrapped":
            wrapped_txt(raw / "wijk.txt")
        else:
            (raw / "wijk.txt").write_text(HEADER + "\n\n".join(f"{n}: {t}" for n, t in QA),
                                          encoding="utf-8")
        assert ingest(raw, tmp_path / kind / "out").exit_code == 0
        outs[kind] = segments_of(tmp_path / kind / "out")
        assert_offsets(tmp_path / kind / "out")
    wrapped, lines = outs["wrapped"], outs["lines"]
    assert not wrapped["text"].str.contains("\n").any()
    assert wrapped["text"].tolist() == lines["text"].tolist()
    assert wrapped["segment_id"].tolist() == lines["segment_id"].tolist()
    # The old rule cut at every wrapped line that starts with a capital: "... in de gemeente
    # van genoemde" / "Nederlandse stad." would have been two segments.
    raw_text = (tmp_path / "wrapped" / "raw" / "wijk.txt").read_text(encoding="utf-8")
    assert any(line[:1].isupper() and not prev.rstrip().endswith(tuple(".?!:"))
               for prev, line in zip(raw_text.splitlines(), raw_text.splitlines()[1:],
                                     strict=False) if prev and line)


def test_wrapped_text_keeps_its_length_and_real_paragraph_breaks(tmp_path):
    """A line break inside a sentence becomes a space in documents.text (same length, so
    every offset holds); a break made on purpose (a short line, a list item) stays."""
    text = SIGNALEN.read_text(encoding="utf-8")
    answer = text[text.index("De twee grootste uitdagingen"):text.index("5. Toekomst")].strip()
    intro, *items = [" ".join(line.split()) for line in answer.splitlines() if line.strip()]
    assert intro == "De twee grootste uitdagingen waren:" and len(items) == 2
    body = "\n".join([textwrap.fill(f"R: {intro}", 72)] + [textwrap.fill(i, 72) for i in items])
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    wrapped_txt(raw / "a.txt", turns=QA[:4])
    with (raw / "a.txt").open("a", encoding="utf-8") as f:
        f.write("\nI: " + QA[4][1] + "\n\n" + body + "\n")
    original = (raw / "a.txt").read_text(encoding="utf-8")
    assert ingest(raw, out).exit_code == 0
    doc = documents_of(out).iloc[0]["text"]
    assert len(doc) == len(original)
    assert all(a == b or (a, b) == ("\n", " ") for a, b in zip(original, doc, strict=True))
    # The short line before the list and each list item keep their line break.
    assert f"R: {intro}\n{items[0][:20]}" in doc
    segs = segments_of(out)
    assert intro in segs["text"].tolist()
    assert not segs["text"].str.contains("\n").any()
    assert_offsets(out)


def test_wrap_width_is_found_only_in_wrapped_text():
    wrapped = HEADER + "\n\n".join(textwrap.fill(f"{n}: {t}", 72) for n, t in QA)
    assert core.wrap_width(wrapped, parse_turns(wrapped)) in range(60, 73)
    for path in sorted(DEBATES.glob("*.txt"))[:2]:  # a paragraph per line
        debate = path.read_text(encoding="utf-8")
        assert core.wrap_width(debate, parse_turns(debate)) is None
    one_per_line = "R: " + "\n".join(re.split(r"(?<=[.?!]) ", QA[3][1]))  # a sentence per line
    assert core.wrap_width(one_per_line, parse_turns(one_per_line)) is None


class CountingStr(str):
    """A text that counts the characters its slices copy."""

    copied = 0

    def __getitem__(self, key):
        part = str.__getitem__(self, key)
        if isinstance(key, slice):
            CountingStr.copied += len(part)
        return part


@pytest.mark.parametrize("width", [None, 72])
def test_split_blocks_copies_each_line_once(width):
    """Reproduction: a turn of many lines (an unlabelled text) copied the rest of the turn at
    every line break, quadratic in its length; 20,000 lines took seconds, a 4 MB file hours."""
    line = textwrap.fill(QA[3][1], 200).lower().rstrip(".")  # wraps on, never ends a sentence
    text = CountingStr("\n".join([line] * 2_000))
    CountingStr.copied = 0
    blocks = core.split_blocks(text, 0, len(text), width)
    assert blocks == [(0, len(text))]
    assert CountingStr.copied <= 4 * len(text)


# ----------------------------------------------------------------------- annotations


def demo_annotated() -> list[str]:
    """Sentence pairs of the demo interviews with "(lacht)" between them."""
    found = []
    for path in sorted(DEMO_RAW.glob("int0[2367].*")):
        text = path.read_text(encoding="utf-8", errors="replace")
        found += re.findall(r"[A-Z][^.?!\n]{5,80}[.?!]\"? \(lacht\) [A-Z][^.?!\n]{5,80}[.?!]",
                            text)
    return found


@pytest.mark.parametrize(
    "text, sentences",
    [
        ("Dus we zaten allebei met een spookbeeld van elkaar. (lacht) Dat zegt wel iets.",
         ["Dus we zaten allebei met een spookbeeld van elkaar. (lacht)", "Dat zegt wel iets."]),
        ("Als ik maar niet te veel \"eh\" zeg. (lacht)",
         ["Als ik maar niet te veel \"eh\" zeg. (lacht)"]),
        ("Met de ene gaat het goed. [stilte] Met de andere niet.",
         ["Met de ene gaat het goed. [stilte]", "Met de andere niet."]),
        ("Dat was in 2019. (onverstaanbaar) Daarna niet meer.",
         ["Dat was in 2019. (onverstaanbaar)", "Daarna niet meer."]),
        ("Dat was het. (lacht.) Goed.", ["Dat was het. (lacht.)", "Goed."]),
        # A timestamp goes with the sentence it times.
        ("Ik wist het niet. [00:12:03] Toen belde Anouk.",
         ["Ik wist het niet.", "[00:12:03] Toen belde Anouk."]),
        ("Nou ja (lacht) dat was het.", ["Nou ja (lacht) dat was het."]),
    ],
)
def test_annotations_in_brackets_stay_inside_their_sentence(text, sentences):
    assert [s.text for s in get_nlp(sentences=True)(text).sents] == sentences


def test_demo_laughter_is_never_cut():
    pairs = demo_annotated()
    assert len(pairs) >= 5
    for doc in get_nlp(sentences=True).pipe(pairs):
        sents = [s.text for s in doc.sents]
        assert len(sents) == 2 and sents[0].endswith("(lacht)"), sents


def test_no_segment_of_the_demo_starts_or_ends_inside_brackets(tmp_path):
    out = tmp_path / "out"
    assert ingest(DEMO_RAW, out).exit_code == 0
    texts = segments_of(out)["text"]
    assert texts.str.contains(r"\(lacht\)").sum() >= 10
    assert not texts.str.match(r"^[^(]*\)").any()  # "lacht) Dat zegt ..."
    assert not texts.str.contains(r"\([^)]*$").any()  # "... elkaar. ("


# ----------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "label, name, same",
    [
        ("Bakker, Yvonne", "Yvonne Bakker", True),
        ("Vries, Jan de", "Jan de Vries", True),
        ("De Vries, Jan", "Jan de Vries", True),
        ("Vries, Jan de (Gemeente Utrecht)", "Jan de Vries", True),
        ("Amrani, Ahmed El", "Ahmed El Amrani", True),
        ("Sanne de Wit", "S. de Wit", True),
        ("Mevrouw Bakker", "Yvonne Bakker", True),
        ("Lotte Vermeulen", "Lotte", True),
        ("Bakker, Yvonne", "Jeroen Bakker", False),
        ("Bakker, Yvonne", "Yvonne de Vries", False),
        ("Jansen, Marieke", "Jan", False),
        ("Interviewer", "Lotte Vermeulen", False),
    ],
)
def test_same_person_in_either_order(label, name, same):
    assert same_person(label, name) is same and same_person(name, label) is same


def test_name_parts_and_split_names_keep_their_jobs():
    assert name_parts("Vries, Jan de") == name_parts("Jan de Vries") == (("jan",), ("de", "vries"))
    # split_names is for the interviewer column: a comma there separates people.
    assert split_names("Lotte Vermeulen, Ahmed El Amrani") == ["Lotte Vermeulen",
                                                              "Ahmed El Amrani"]


def test_teams_names_match_the_sheet(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    turns = [("Bakker, Yvonne", QA[0][1]), ("Vries, Jan de", QA[1][1] + " (lacht)"),
             ("Bakker, Yvonne", QA[2][1]), ("Vries, Jan de", QA[3][1])]
    teams_vtt(raw / "teams.vtt", turns)
    (raw / "interviews.csv").write_text("interview_id,file,interviewer\n"
                                        "t1,teams.vtt,Yvonne Bakker\n", encoding="utf-8")
    result = ingest(raw, out)
    assert result.exit_code == 0, result.output
    segs = segments_of(out)
    # The label stays one speaker; it is not split at its comma.
    assert dict(zip(segs["speaker"], segs["role"], strict=False)) == {
        "Bakker, Yvonne": "interviewer", "Vries, Jan de": "respondent"}
    assert "geen interviewer opgegeven" not in result.output
    assert segs["time_start"].notna().all()
    assert_offsets(out)


def test_surname_first_labels_in_a_txt(tmp_path):
    text = "\n\n".join(f"{'Bakker, Yvonne' if n == 'I' else 'Vries, Jan de'}: {t}"
                       for n, t in QA)
    turns = parse_turns(text)
    assert [t.speaker for t in turns] == ["Bakker, Yvonne", "Vries, Jan de"] * 3
    roles, reasons, _ = core.assign_roles(turns, text, ["Jan de Vries"], "a.txt")
    assert roles["Vries, Jan de"] == "interviewer"  # as the sheet says, whatever is asked
    assert reasons["Vries, Jan de"] == "kolom interviewer in interviews.csv (Jan de Vries)"


def test_sheet_name_that_matches_no_speaker_is_reported(tmp_path):
    text = "\n\n".join(f"{'Anna' if n == 'I' else 'Bram'}: {t}" for n, t in QA)
    roles, _, issues = core.assign_roles(parse_turns(text), text, ["Yvonne Bakker"], "a.txt")
    assert roles == {"": "other", "Anna": "interviewer", "Bram": "respondent"}
    assert any("kolom interviewer in interviews.csv noemt 'Yvonne Bakker' als interviewer, "
               "maar geen spreker heet zo" in str(i) for i in issues)


# ----------------------------------------------------------------------- preview and run


def three_transcripts(raw: Path) -> None:
    raw.mkdir()
    teams_vtt(raw / "teams.vtt", [("Bakker, Yvonne", QA[0][1]), ("Vries, Jan de", QA[1][1]),
                                  ("Bakker, Yvonne", QA[2][1]), ("Vries, Jan de", QA[3][1])])
    word_with_header(raw / "wijkzaken.docx", NAMED)
    wrapped_txt(raw / "wijk.txt")
    (raw / "vragen.txt").write_text("\n\n".join(f"{'Anna' if n == 'I' else 'Bram'}: {t}"
                                                for n, t in QA), encoding="utf-8")
    (raw / "monoloog.txt").write_text(f"Erik Veerman: {QA[3][1]}\n\nErik Veerman: {QA[5][1]}",
                                      encoding="utf-8")
    (raw / "interviews.csv").write_text(
        "interview_id,file,interviewer\nt1,teams.vtt,Yvonne Bakker\nw1,wijkzaken.docx,\n"
        "w2,wijk.txt,\nv1,vragen.txt,\nm1,monoloog.txt,\n", encoding="utf-8")


def preview_rows(output: str) -> dict[tuple[str, str], list[str]]:
    """``(file, speaker) -> [role, turns, words, reason]`` from the preview table."""
    rows, current = {}, ""
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 5 and cells[-3].isdigit() or len(cells) >= 4 and cells[0].startswith(
                ("(kopblok)", "(header block)")):
            if re.search(r"\.(txt|vtt|docx)$", cells[0]):
                current, cells = cells[0], cells[1:]
            rows[(current, cells[0])] = cells[1:]
    return rows


def test_preview_shows_speakers_roles_and_why_and_writes_nothing(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    three_transcripts(raw)
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    result = ingest(raw, out, "--preview")
    assert result.exit_code == 0, result.output
    assert not out.exists()  # nothing written
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before
    rows = preview_rows(result.stdout)
    expected = {
        ("teams.vtt", "Bakker, Yvonne"): ["interviewer", "2",
                                          "kolom interviewer in interviews.csv (Yvonne Bakker)"],
        ("teams.vtt", "Vries, Jan de"): ["respondent", "2", "andere spreker dan de interviewer"],
        ("wijkzaken.docx", "Sanne de Wit"): ["interviewer", "2",
                                             "kopblok 'Interviewer: S. de Wit'"],
        ("wijk.txt", "I"): ["interviewer", "3", "rolwoord 'I'"],
        ("wijk.txt", "R"): ["respondent", "3", "rolwoord 'R'"],
        ("vragen.txt", "Anna"): ["interviewer", "3", "stelt de meeste vragen (in 3 van 3 "
                                 "spreekbeurten)"],
        ("monoloog.txt", "Erik Veerman"): ["respondent", "2", "enige spreker"],
    }
    for key, (role, turns, reason) in expected.items():
        assert key in rows, (key, result.stdout)
        got = rows[key]
        assert (got[0], got[1], got[-1]) == (role, turns, reason), got
    # Words per speaker are the words of their turns.
    r_words = sum(len(t.split()) for n, t in QA if n == "R")
    assert rows[("wijk.txt", "R")][2] == str(r_words)
    assert "Respondent, Datum, Interviewer, Locatie: metadata van het interview" in result.stdout
    assert "regels afgebroken op" in result.stdout
    assert "er is niets geschreven" in result.stdout


#: The preview of :func:`three_transcripts` per language: Dutch by default, English with
#: CODEER_LANG=en (title, column headings, a reason of every kind, the warning).
PREVIEW_TEXTS = {
    None: {
        "title": "Voorbeeld: sprekers en rollen in 5 bestand(en) in",
        "headings": ["bestand", "spreker", "rol", "spreekbeurten", "woorden", "waarom"],
        "rows": {
            ("monoloog.txt", "Erik Veerman"): "enige spreker",
            ("teams.vtt", "Bakker, Yvonne"): "kolom interviewer in interviews.csv (Yvonne Bakker)",
            ("teams.vtt", "Vries, Jan de"): "andere spreker dan de interviewer",
            ("vragen.txt", "Anna"): "stelt de meeste vragen (in 3 van 3 spreekbeurten)",
            ("wijk.txt", "I"): "rolwoord 'I'",
            ("wijk.txt", "(kopblok)"): "Respondent, Datum, Interviewer, Locatie: metadata van "
                                       "het interview, geen spraak",
            ("wijkzaken.docx", "(vóór de eerste spreker)"): "tekst vóór de eerste spreker (een "
                                                            "titel)",
            ("wijkzaken.docx", "Sanne de Wit"): "kopblok 'Interviewer: S. de Wit'",
        },
        "wrap": "(harde regeleinden)",
        "warning": "waarschuwing: vragen.txt: geen interviewer opgegeven; 'Anna' is als "
                   "interviewer genomen (stelt vragen in 3 van 3 spreekbeurten)",
    },
    "en": {
        "title": "Preview: speakers and roles in 5 file(s) in",
        "headings": ["file", "speaker", "role", "turns", "words", "why"],
        "rows": {
            ("monoloog.txt", "Erik Veerman"): "only speaker",
            ("teams.vtt", "Bakker, Yvonne"): "interviewer column in interviews.csv (Yvonne "
                                             "Bakker)",
            ("teams.vtt", "Vries, Jan de"): "a speaker other than the interviewer",
            ("vragen.txt", "Anna"): "asks the most questions (in 3 of 3 turns)",
            ("wijk.txt", "I"): "role word 'I'",
            ("wijk.txt", "(header block)"): "Respondent, Datum, Interviewer, Locatie: metadata "
                                            "of the interview, not speech",
            ("wijkzaken.docx", "(before the first speaker)"): "text before the first speaker "
                                                              "(a title)",
            ("wijkzaken.docx", "Sanne de Wit"): "header block 'Interviewer: S. de Wit'",
        },
        "wrap": "(hard line breaks)",
        "warning": "warning: vragen.txt: no interviewer given; took 'Anna' as the interviewer "
                   "(asks questions in 3 of 3 turns)",
    },
}


@pytest.mark.parametrize("lang", list(PREVIEW_TEXTS))
def test_preview_speaks_dutch_by_default_and_english_on_request(tmp_path, monkeypatch, lang):
    if lang is None:
        monkeypatch.delenv("CODEER_LANG", raising=False)
    else:
        monkeypatch.setenv("CODEER_LANG", lang)
    raw = tmp_path / "raw"
    three_transcripts(raw)
    result = ingest(raw, tmp_path / "out", "--preview")
    assert result.exit_code == 0, result.output
    texts = PREVIEW_TEXTS[lang]
    lines = result.stdout.splitlines()
    assert lines[0].startswith(texts["title"])
    assert re.split(r"\s{2,}", lines[2].strip()) == texts["headings"]
    rows = preview_rows(result.stdout)
    for key, reason in texts["rows"].items():
        assert rows[key][-1] == reason, (key, rows.get(key))
    assert texts["wrap"] in result.stdout
    assert texts["warning"] in " ".join(result.output.split())


def test_ingest_and_run_log_show_the_same_table(tmp_path):
    raw = tmp_path / "raw"
    three_transcripts(raw)
    preview = ingest(raw, tmp_path / "p", "--preview").stdout
    table = preview.split("\n", 1)[1]  # without the title
    logged = ingest(raw, tmp_path / "out")
    assert logged.exit_code == 0
    assert "Sprekers en rollen per bestand" in logged.output and table in logged.output
    ran = runner.invoke(app, ["run", "--raw", str(raw), "--out", str(tmp_path / "run"), "-q",
                              "--until", "ingest", "--unit", "turn"], env=WIDE)
    assert ran.exit_code == 0, ran.output
    assert table in ran.output
    assert len(segments_of(tmp_path / "run")) < len(segments_of(tmp_path / "out"))  # turns


def test_run_preview_writes_nothing_and_takes_the_speaker_pattern(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    (raw / "a.txt").write_text("\n".join(f"<<{'Anna' if n == 'I' else 'Bram'}>> {t}"
                                         for n, t in QA), encoding="utf-8")
    args = ["run", "--raw", str(raw), "--out", str(out), "-q", "--preview",
            "--speaker-pattern", r"^<<(?P<name>[^>]+)>>\s*"]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert not out.exists()
    rows = preview_rows(result.stdout)
    assert rows[("a.txt", "Anna")][0] == "interviewer" and rows[("a.txt", "Bram")][1] == "3"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_passes_the_ingest_options():
    pattern = r"^<<(?P<name>[^>]+)>>\s*"
    out = subprocess.run(["make", "-n", "run", "UNIT=turn", f"SPEAKER_PATTERN={pattern}",
                          "PREVIEW=1"], capture_output=True, text=True, cwd=ROOT, check=True)
    line = [ln for ln in out.stdout.splitlines() if "codeer run" in ln][-1]
    assert f"--unit turn --speaker-pattern '{pattern}' --preview" in line
    plain = subprocess.run(["make", "-n", "run"], capture_output=True, text=True, cwd=ROOT,
                           check=True).stdout
    assert "--unit" not in plain and "--preview" not in plain


@pytest.mark.parametrize("sheet", [False, True])
def test_a_header_block_does_not_keep_a_file_name_id_in_the_export(tmp_path, sheet):
    """Reproduction: header values filled metadata columns, and the export took any metadata
    value for a row of interviews.csv, so the id "interview_pieter_bakker" (from the file name)
    left codeer un-neutralised. Only the sheet's row counts now (the private "file" column)."""
    from pipeline.export import privacy

    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    wrapped_txt(raw / "Interview Pieter Bakker.txt")
    wrapped_txt(raw / "b.txt")
    if sheet:
        (raw / "interviews.csv").write_text("interview_id,file\nr07,b.txt\n", encoding="utf-8")
    assert ingest(raw, out).exit_code == 0
    docs = documents_of(out)
    assert set(docs["date"]) == {"2024-03-12"}  # header metadata on both
    ids = privacy.exported_ids(docs, words=set())
    if sheet:
        assert ids == {"interview_pieter_bakker": "interview-01", "r07": "r07"}
    else:
        assert ids == {"b": "interview-01", "interview_pieter_bakker": "interview-02"}
    assert "file" not in privacy.metadata_columns(docs)  # never exported
