"""Ingest: readers, speaker labels, roles, offsets, stable ids and bad input, on real Dutch."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import docx
import pandas as pd
import pytest
from odf.opendocument import OpenDocumentText
from odf.text import P
from typer.testing import CliRunner

from pipeline import config, schema, storage
from pipeline.cli import app
from pipeline.ingest import core as ingest
from pipeline.ingest.readers import read_file
from pipeline.ingest.turns import parse_turns
from tests.conftest import DEBATES, GOVERNANCE

runner = CliRunner()
WMO = DEBATES / "TK_2018-04-05_VAO_Wmo_Mantelzorg_Hulpmiddelenbeleid.txt"


def real_turns(n: int = 4) -> list[tuple[str, str]]:
    """The first ``n`` (speaker, text) turns of a real debate, first paragraph only."""
    turns = []
    for block in WMO.read_text(encoding="utf-8").split("\n\n"):
        m = re.match(r"^([^#\[][^:\n]{2,60}): (.+)", block)
        if m:
            turns.append((m.group(1), m.group(2).split("\n")[0]))
        if len(turns) == n:
            break
    return turns


TURNS = real_turns()


def ingest_dir(raw: Path, out: Path, *args: str):
    result = runner.invoke(app, ["ingest", "--raw", str(raw), "--out", str(out), "-q", *args])
    return result


def segments_of(out: Path) -> pd.DataFrame:
    return storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)


def documents_of(out: Path) -> pd.DataFrame:
    return storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)


def assert_offsets(out: Path) -> None:
    docs = documents_of(out).set_index("document_id")["text"]
    segs = segments_of(out)
    assert len(segs) > 0
    for row in segs.itertuples():
        assert docs[row.document_id][row.start : row.end] == row.text


# ----------------------------------------------------------------------- label styles

STYLES = {
    "colon": lambda name, text: f"{name}: {text}",
    "timestamp": lambda name, text: f"[00:01:{len(text) % 60:02d}] {name}: {text}",
    "markdown_bold": lambda name, text: f"**{name}:** {text}",
    "teams_copy": lambda name, text: f"{name}   0:{len(text) % 60:02d}\n{text}",
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_label_styles_give_speakers_and_clean_text(style):
    text = "\n\n".join(STYLES[style](name, body) for name, body in TURNS)
    turns = parse_turns(text)
    assert [t.speaker for t in turns] == [name for name, _ in TURNS]
    for turn, (name, body) in zip(turns, TURNS, strict=True):
        spoken = text[turn.start : turn.end].strip()
        assert spoken == body
        assert name not in spoken[: len(name) + 2]
    if style in ("timestamp", "teams_copy"):
        assert all(t.time is not None for t in turns)


@pytest.mark.parametrize(
    "label, expected",
    [
        ("Interviewer", "Interviewer"),
        ("I", "I"),
        ("R", "R"),
        ("Respondent", "Respondent"),
        ("Mevrouw Dijksma (PvdA)", "Mevrouw Dijksma (PvdA)"),
        ("De heer Krol (50PLUS)", "De heer Krol (50PLUS)"),
        ("Minister De Jonge", "Minister De Jonge"),
        ("De voorzitter", "De voorzitter"),
        ("Spreker 2", "Spreker 2"),
    ],
)
def test_single_labels_accepted(label, expected):
    text = f"{label}: Dank u wel, voorzitter. Ik heb één motie.\nDat was het."
    assert [t.speaker for t in parse_turns(text)] == [expected]


@pytest.mark.parametrize(
    "line",
    [
        "Les 1: zorg voor heldere afspraken over rollen",
        "Omgekeerd geldt ook: als het misgaat, merk je dat",
        "Twee: de deadlines zijn niet gehaald",
        "Het lijkt evident, maar gebeurt niet altijd: een opdracht",
        "Dan uw vervolgvraag: hoe zit het met de middelen?",
    ],
)
def test_headings_and_phrases_are_not_speakers(line):
    text = f"Inleiding van de notitie.\n{line}\nEn dan gaat de tekst verder."
    turns = parse_turns(text)
    assert [t.speaker for t in turns] == [""]


def test_unlabelled_paragraphs_continue_previous_speaker():
    (a, ta), (b, tb) = TURNS[:2]
    text = f"{a}: {ta}\n\nNog een alinea zonder label.\n\n{b}: {tb}"
    turns = parse_turns(text)
    assert [t.speaker for t in turns] == [a, b]
    assert "Nog een alinea zonder label." in text[turns[0].start : turns[0].end]


def test_custom_speaker_pattern(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    body = "\n".join(f"<<{name}>> {text}" for name, text in TURNS)
    (raw / "a.txt").write_text(body, encoding="utf-8")
    result = ingest_dir(raw, tmp_path / "out", "--speaker-pattern", r"^<<(?P<name>[^>]+)>>\s*")
    assert result.exit_code == 0, result.output
    assert set(segments_of(tmp_path / "out")["speaker"]) == {n for n, _ in TURNS}


# ----------------------------------------------------------------------- readers


def write_docx(path: Path, turns, bold: bool = True) -> None:
    document = docx.Document()
    document.add_paragraph("Interview over de Wmo")
    for name, text in turns:
        p = document.add_paragraph()
        run = p.add_run(name + (":" if bold else ""))
        run.bold = bold
        p.add_run(" " + text)
    document.save(str(path))


def write_odt(path: Path, turns) -> None:
    document = OpenDocumentText()
    for name, text in turns:
        document.text.addElement(P(text=f"{name}: {text}"))
    document.save(str(path))


def write_vtt(path: Path, turns) -> None:
    cues = ["WEBVTT", ""]
    t = 0
    for name, text in turns:
        for sentence in re.split(r"(?<=[.?!]) ", text):
            stamp = f"00:00:{t:02d}.000 --> 00:00:{t + 2:02d}.500"
            cues += [stamp, f"<v {name}>{sentence}</v>", ""]
            t += 3
    path.write_text("\n".join(cues), encoding="utf-8")


def write_srt(path: Path, turns) -> None:
    cues, n, t = [], 1, 0
    for name, text in turns:
        for k, sentence in enumerate(re.split(r"(?<=[.?!]) ", text)):
            label = f"{name}: " if k == 0 else ""
            cues += [str(n), f"00:00:{t:02d},000 --> 00:00:{t + 2:02d},500", label + sentence, ""]
            n, t = n + 1, t + 3
    path.write_text("\n".join(cues), encoding="utf-8")


WRITERS = {
    ".txt": lambda p, turns: p.write_text(
        "\n\n".join(f"{n}: {t}" for n, t in turns), encoding="utf-8"),
    ".md": lambda p, turns: p.write_text(
        "# Interview\n\n" + "\n\n".join(f"**{n}:** {t}" for n, t in turns), encoding="utf-8"),
    ".docx": write_docx,
    ".odt": write_odt,
    ".vtt": write_vtt,
    ".srt": write_srt,
}


@pytest.mark.parametrize("suffix", sorted(WRITERS))
def test_each_reader_gives_turns_and_offsets(tmp_path, suffix):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    WRITERS[suffix](raw / f"debat{suffix}", TURNS)
    result = ingest_dir(raw, out)
    assert result.exit_code == 0, result.output
    segs = segments_of(out)
    speakers = list(dict.fromkeys(s for s in segs["speaker"] if s))
    assert speakers == list(dict.fromkeys(n for n, _ in TURNS))
    joined = " ".join(segs["text"])
    for name, text in TURNS:
        assert text.split(".")[0] in joined
        assert f"{name}:" not in joined
    assert_offsets(out)
    if suffix in (".vtt", ".srt"):
        assert segs["time_start"].notna().all()
        assert (segs["time_end"] >= segs["time_start"]).all()
        assert "-->" not in documents_of(out)["text"].iloc[0]


def test_docx_bold_names_without_colon(tmp_path):
    path = tmp_path / "a.docx"
    write_docx(path, TURNS, bold=False)
    # Not bold, no colon: nothing marks the names, so there are no turns beyond one text.
    assert read_file(path).speakers == set()
    write_docx(path, TURNS, bold=True)
    assert read_file(path).speakers == {n for n, _ in TURNS}


@pytest.mark.parametrize(
    "data, encoding, warns",
    [
        ("R: Het café in Zuid was één groot succes.".encode(), "utf-8", False),
        (b"\xef\xbb\xbf" + "R: Het café was één succes.".encode(), "utf-8-sig", False),
        ("R: Het café was één succes, zeiden de collega’s.".encode("cp1252"), "cp1252", True),
    ],
)
def test_encodings(tmp_path, data, encoding, warns):
    path = tmp_path / "a.txt"
    path.write_bytes(data)
    result = read_file(path)
    assert result.encoding == encoding
    assert "café" in result.text and not result.text.startswith("\ufeff")
    assert bool(result.warnings) == warns


def test_nfc_and_line_endings(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("R: Cafe\u0301 en ree\u0308el.\r\nI: Ja?\r\n".encode())
    text = read_file(path).text
    assert "Café" in text and "reëel" in text and "\r" not in text


# ----------------------------------------------------------------------- roles and metadata


def test_roles_from_metadata_and_extra_columns(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    (raw / "a.txt").write_text(
        "Lotte Vermeulen: Hoe begon het project?\n\nSanne de Wit: Met een startsessie.\n\n"
        "Lotte Vermeulen: En daarna?\n\nSanne de Wit: Toen liep het vast op de planning.",
        encoding="utf-8")
    (raw / "interviews.csv").write_text(
        "interview_id,file,interviewer,respondent_function,department,date\n"
        "int01,a.txt,Lotte Vermeulen,beleidsadviseur,Duurzaamheid,2022-03-01\n",
        encoding="utf-8")
    assert ingest_dir(raw, out).exit_code == 0
    segs = segments_of(out)
    assert set(segs["document_id"]) == {"int01"}
    roles = dict(zip(segs["speaker"], segs["role"], strict=False))
    assert roles == {"Lotte Vermeulen": "interviewer", "Sanne de Wit": "respondent"}
    assert set(segs["department"]) == {"Duurzaamheid"}
    assert "respondent_function" in documents_of(out).columns


def test_role_inference_warns(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    (raw / "a.txt").write_text(
        "Anna: Hoe ging het?\n\nBram: Goed, we hadden een duidelijke opdracht.\n\n"
        "Anna: Wie had de pen?\n\nBram: Het kernteam schreef de tekst.\n\n"
        "Anna: En wie besliste?\n\nBram: De stuurgroep, uiteindelijk.", encoding="utf-8")
    result = ingest_dir(raw, out)
    assert result.exit_code == 0
    assert "a.txt: geen interviewer opgegeven; 'Anna' is als interviewer genomen (stelt vragen " \
        "in 3 van 3 spreekbeurten)" in result.output
    roles = dict(zip(segments_of(out)["speaker"], segments_of(out)["role"], strict=False))
    assert roles == {"Anna": "interviewer", "Bram": "respondent"}


def test_a_report_box_that_asks_once_is_no_interviewer(tmp_path):
    """Evaluation reports repeat "Titel: tekst" boxes; one with a question mark is not an
    interviewer (whose segments would fall out of the coder's scope)."""
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    (raw / "a.txt").write_text(
        "Conclusie Deliberatie: Is er echt samen gewogen? Deels, de tijd was kort.\n\n"
        "Conclusie Inclusie: De groep was divers.\n\n"
        "Conclusie Deliberatie: De gemeente stuurde bij na de tweede avond.\n\n"
        "Conclusie Inclusie: Jongeren ontbraken.", encoding="utf-8")
    result = ingest_dir(raw, out)
    assert result.exit_code == 0
    assert set(segments_of(out)["role"]) == {"respondent"}


def test_no_labels_one_respondent_with_warning(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    report = GOVERNANCE / "signalen_verslag-community-meetup-2021.txt"
    shutil.copy(report, raw / report.name)
    result = ingest_dir(raw, out)
    assert result.exit_code == 0
    assert "signalen_verslag-community-meetup-2021.txt: geen sprekerlabels gevonden; de hele " \
        "tekst geldt als één respondent" in result.output
    segs = segments_of(out)
    assert set(segs["role"]) == {"respondent"} and set(segs["speaker"]) == {""}
    # A one-off "Word: text" line (the report's title) is a segment, not a speaker label.
    assert (segs["text"] == "Verslag: Signalen Community Meetup").sum() == 1
    assert_offsets(out)


def test_turn_unit(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    WRITERS[".txt"](raw / "a.txt", TURNS)
    assert ingest_dir(raw, out, "--unit", "turn").exit_code == 0
    assert len(segments_of(out)) == len(TURNS)
    assert_offsets(out)


# ----------------------------------------------------------------------- bad input


def bad_batch(raw: Path) -> None:
    raw.mkdir()
    WRITERS[".txt"](raw / "goed.txt", TURNS)
    (raw / "leeg.txt").write_text("", encoding="utf-8")
    (raw / "kapot.docx").write_bytes(b"PK\x03\x04 dit is geen docx")
    (raw / "onleesbaar.txt").write_bytes(b"R: Dit is \x81\x8d\x8f geen tekst.")
    (raw / "notities.pdf").write_bytes(b"%PDF-1.4")
    WRITERS[".txt"](raw / "dubbel.txt", TURNS[:2])
    WRITERS[".txt"](raw / "niet-in-sheet.txt", TURNS[:2])
    (raw / "interviews.csv").write_text(
        "interview_id,file,interviewer\n"
        "int01,goed.txt,De voorzitter\n"
        "int01,dubbel.txt,De voorzitter\n"
        "int09,bestaat-niet.docx,Lotte\n",
        encoding="utf-8")


#: What the bad batch gives, per language: Dutch by default, English with CODEER_LANG=en.
BAD_BATCH_MESSAGES = {
    None: [
        "waarschuwing: leeg.txt: het bestand bevat geen tekst. Verwijder het of vul het aan.",
        "kapot.docx: geen geldig Word .docx-bestand (BadZipFile). Open het in Word of "
        "LibreOffice en sla het opnieuw op als .docx.",
        "onleesbaar.txt regel 1: byte 0x81 is geen UTF-8 en geen Windows-1252. Sla het bestand "
        "opnieuw op als UTF-8",
        "notities.pdf: bestandstype '.pdf' wordt niet ondersteund. codeer leest .docx, .md, "
        ".odt, .srt, .txt, .vtt; zet het bestand om of haal het uit de map met transcripten.",
        "interviews.csv regel 3: interview_id 'int01' staat ook op regel 2; ids moeten uniek "
        "zijn. De rij wordt overgeslagen.",
        "interviews.csv regel 4: noemt 'bestaat-niet.docx', dat niet in de map met transcripten "
        "staat.",
        "niet-in-sheet.txt: staat niet in interviews.csv; de metadata blijven leeg en de rollen "
        "worden afgeleid. Voeg er een rij voor toe.",
        "ingest: 3 documenten,",
    ],
    "en": [
        "warning: leeg.txt: the file holds no text. Remove it or fill it in.",
        "kapot.docx: not a valid Word .docx file (BadZipFile). Open it in Word or LibreOffice "
        "and save it again as .docx.",
        "onleesbaar.txt line 1: byte 0x81 is neither UTF-8 nor Windows-1252. Re-save the file "
        "as UTF-8",
        "notities.pdf: unsupported file type '.pdf'. codeer reads .docx, .md, .odt, .srt, .txt, "
        ".vtt; convert the file or move it out of the raw folder.",
        "interviews.csv line 3: interview_id 'int01' is also used on line 2; ids must be "
        "unique. The row is ignored.",
        "interviews.csv line 4: names 'bestaat-niet.docx', which is not in the raw folder.",
        "niet-in-sheet.txt: not listed in interviews.csv; its metadata is empty and its roles "
        "are inferred. Add a row for it.",
        "ingest: 3 documents,",
    ],
}


@pytest.mark.parametrize("lang", list(BAD_BATCH_MESSAGES))
def test_bad_input_reported_and_batch_goes_on(tmp_path, monkeypatch, lang):
    """Every bad file of a real batch is named with its problem and fix, in Dutch unless
    CODEER_LANG=en; the good files are read all the same."""
    if lang is None:
        monkeypatch.delenv("CODEER_LANG", raising=False)
    else:
        monkeypatch.setenv("CODEER_LANG", lang)
    raw, out = tmp_path / "raw", tmp_path / "out"
    bad_batch(raw)
    before = {p: p.read_bytes() for p in raw.iterdir()}
    result = ingest_dir(raw, out)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the log wraps long lines
    for needle in BAD_BATCH_MESSAGES[lang]:
        assert needle in text, needle
    other = BAD_BATCH_MESSAGES["en" if lang is None else None]
    assert not any(needle in text for needle in other)
    assert "Traceback" not in text
    docs = documents_of(out)
    assert set(docs["source_path"]) == {"goed.txt", "dubbel.txt", "niet-in-sheet.txt"}
    assert {p: p.read_bytes() for p in raw.iterdir()} == before  # raw is never written


def test_strict_exits_1_and_keeps_earlier_output(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    bad_batch(raw)
    good = tmp_path / "good"
    good.mkdir()
    WRITERS[".txt"](good / "goed.txt", TURNS)
    assert ingest_dir(good, out).exit_code == 0
    earlier = (out / config.SEGMENTS_FILE).read_bytes()
    result = ingest_dir(raw, out, "--strict")
    assert result.exit_code == 1
    assert (out / config.SEGMENTS_FILE).read_bytes() == earlier


@pytest.mark.parametrize("case", ["missing", "empty", "unreadable"])
def test_fatal_input_exits_2_with_one_line(tmp_path, case):
    raw = tmp_path / "raw"
    if case != "missing":
        raw.mkdir()
    if case == "unreadable":
        (raw / "a.pdf").write_bytes(b"%PDF")
    result = ingest_dir(raw, tmp_path / "out")
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("fout:")]
    assert len(errors) == 1 and str(raw) in errors[0]


def test_cli_has_no_traceback_in_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "ingest", "--raw", str(tmp_path / "nope"),
         "--out", str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"fout: De map met transcripten {tmp_path / 'nope'} bestaat niet." in proc.stderr


def test_outdated_segments_file_is_recognised(tmp_path):
    path = tmp_path / config.SEGMENTS_FILE
    pd.DataFrame({"segment_id": ["a"], "text": ["x"]}).to_parquet(path)
    with pytest.raises(Exception, match="codeer ingest"):
        storage.read_table(path, schema.SEGMENTS)


# ----------------------------------------------------------------------- real corpus


def test_debates_five_documents_every_speaker(tmp_path):
    out = tmp_path / "out"
    result = ingest_dir(DEBATES, out)
    assert result.exit_code == 0, result.output
    docs, segs = documents_of(out), segments_of(out)
    assert len(docs) == 5
    expected = set()
    for path in DEBATES.glob("*.txt"):
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            m = re.match(r"^([A-Z][^:\n]{2,60}): ", block)
            if m:
                expected.add(m.group(1))
    assert {"De voorzitter", "Minister De Jonge", "Mevrouw Dijksma (PvdA)"} <= expected
    assert set(segs["speaker"]) - {""} == expected
    labels = "|".join(re.escape(s) for s in expected)
    assert not segs["text"].str.match(rf"^(?:{labels}):").any()
    assert_offsets(out)
    words = int(docs["n_words"].sum())
    assert 38_000 < words < 41_000


def test_segment_ids_stable_across_runs(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(WMO, raw / WMO.name)
    ingest_dir(raw, tmp_path / "a")
    ingest_dir(raw, tmp_path / "b")
    a, b = segments_of(tmp_path / "a"), segments_of(tmp_path / "b")
    assert a["segment_id"].tolist() == b["segment_id"].tolist()
    assert a["segment_id"].is_unique
    doc_id = documents_of(tmp_path / "a")["document_id"].iloc[0]
    row = a.iloc[3]
    assert row["segment_id"] == ingest.segment_id(doc_id, row["text"], 0)


def test_segment_ids_survive_edits_elsewhere_and_differ_between_copies(tmp_path):
    """An edit in one sentence changes that sentence's id only; a second copy of the same
    transcript gets ids of its own."""
    raw = tmp_path / "raw"
    raw.mkdir()
    text = WMO.read_text(encoding="utf-8")
    (raw / "wmo.txt").write_text(text, encoding="utf-8")
    (raw / "kopie.txt").write_text(text, encoding="utf-8")
    ingest_dir(raw, tmp_path / "a")
    before = segments_of(tmp_path / "a")
    assert before["segment_id"].is_unique
    wmo = before[before["document_id"] == "wmo"].reset_index(drop=True)
    edited_sentence = wmo["text"].iloc[5]
    changed = edited_sentence[:-1] + " hoor" + edited_sentence[-1]  # one word more, same end
    (raw / "wmo.txt").write_text(text.replace(edited_sentence, changed, 1), encoding="utf-8")
    ingest_dir(raw, tmp_path / "b")
    after = segments_of(tmp_path / "b")
    after = after[after["document_id"] == "wmo"].reset_index(drop=True)
    lost = set(wmo["segment_id"]) - set(after["segment_id"])
    assert len(lost) == 1 and wmo["segment_id"].iloc[5] in lost


def test_run_until_ingest_stops_after_the_segments(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copyfile(WMO, raw / WMO.name)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--raw", str(raw), "--out", str(out), "-q",
                                 "--until", "ingest"])
    assert result.exit_code == 0, result.output
    assert (out / config.SEGMENTS_FILE).exists()
    assert not (out / config.CODINGS_FILE).exists()
    bad = runner.invoke(app, ["run", "--raw", str(raw), "--out", str(out), "--until", "report"])
    assert bad.exit_code == 2
    assert "--until moet een van ingest, code, themes, export zijn. Gevonden: 'report'" \
        in bad.output


def test_an_indented_lettered_list_keeps_its_line_breaks(tmp_path):
    """From the Signalen interview: "waren:" followed by indented "a." / "b." items. The items
    are paragraphs of their own, and the document text keeps its lines (gold files count
    paragraphs by line)."""
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    text = ("De twee grootste uitdagingen waren:\n"
            "     a. Vind een balans tussen ons uitgebreide eisen- en wensenlijstje en de nog "
            "te ontwikkelen onderdelen.\n"
            "     b. Zoveel mogelijk onderdelen geschikt maken voor gebruik in andere "
            "gemeenten.\n")
    (raw / "signalen.txt").write_text(text, encoding="utf-8")
    assert ingest_dir(raw, out).exit_code == 0
    assert documents_of(out)["text"].iloc[0].rstrip("\n").split("\n") == \
        text.rstrip("\n").split("\n")
    segs = segments_of(out)["text"].tolist()
    assert any(s.startswith("a. Vind een balans") for s in segs)
    assert any(s.startswith("b. Zoveel mogelijk") for s in segs)


def test_a_long_text_before_the_first_label_is_content_not_a_title(tmp_path):
    """A report that only later uses "Titel: tekst" lines: its opening paragraphs are coded
    (role respondent); a short title before an interview stays "other"."""
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    opening = ("De G1000 was een burgertop over het centrum van Heerenveen. Inwoners, "
               "ondernemers en ambtenaren spraken een dag lang over wat het centrum nodig heeft. "
               "De gemeente had vooraf toegezegd dat de uitkomsten zouden meewegen in het beleid, "
               "maar wie daarover besliste en wanneer, was voor veel deelnemers niet duidelijk. ")
    (raw / "rapport.txt").write_text(
        opening * 2 + "\n\nConclusie Inclusie: De groep was divers.\n\n"
        "Conclusie Inclusie: Jongeren ontbraken.", encoding="utf-8")
    (raw / "interview.txt").write_text(
        "Interview wijkteam\n\nI: Hoe ging het?\n\nR: Goed.", encoding="utf-8")
    assert ingest_dir(raw, out).exit_code == 0
    segs = segments_of(out)
    report = segs[(segs["document_id"] == "rapport") & (segs["speaker"] == "")]
    assert len(report) > 4 and set(report["role"]) == {"respondent"}
    title = segs[(segs["document_id"] == "interview") & (segs["speaker"] == "")]
    assert set(title["role"]) == {"other"}
