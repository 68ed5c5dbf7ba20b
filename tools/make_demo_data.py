#!/usr/bin/env python
"""Generate the FICTIONAL demo interviews in ``data/raw/``.

The seven interviews are invented for the codeer project. Their speech lives as plain
UTF-8 text in ``tools/demo_sources/intNN.txt`` (one turn per paragraph, prefixed ``I:``,
``I2:`` or ``R:``); speaker names, metadata and the output format of every interview are
defined in ``INTERVIEWS`` below. Running this script rewrites every file in ``data/raw/``
(the transcripts, ``interviews.csv`` and ``README.md``) byte for byte identically:
timestamps are derived deterministically from word counts, and docx/odt archives get
fixed core-property dates and fixed zip-entry timestamps.

Usage::

    python tools/make_demo_data.py                  # (re)write data/raw/
    python tools/make_demo_data.py --check          # parse outputs back, print a table
    python tools/make_demo_data.py --check --seed PATH/TO/seed-note.txt
                                                    # ... plus the 8-gram overlap check

``data/raw/`` is immutable input for the pipeline: change the sources here and regenerate,
never edit the generated files by hand.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import re
import sys
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC_DIR = Path(__file__).resolve().parent / "demo_sources"
OUT_DIR = ROOT / "data" / "raw"

FIXED_DATETIME = dt.datetime(2022, 6, 1, 9, 0, 0, tzinfo=dt.UTC)
ZIP_DATE = (2022, 6, 1, 9, 0, 0)
UUID_NS = uuid.UUID("6f1c2a52-5b1e-4c55-9a0e-3d2f8e6b7c10")

CSV_COLUMNS = [
    "interview_id",
    "file",
    "interviewer",
    "respondent_function",
    "department",
    "cluster",
    "date",
    "duration_min",
]


@dataclass
class Interview:
    id: str
    fmt: str  # docx | txt_ir | vtt | odt | srt | txt_cp1252 | md
    file: str
    interviewers: list[str]  # I, I2
    respondent: str
    function: str
    department: str
    cluster: str
    date: str
    title: str
    turns: list[tuple[str, str]] = field(default_factory=list)  # (key, text)

    def speaker(self, key: str) -> str:
        if key == "R":
            return self.respondent
        return self.interviewers[0 if key == "I" else 1]


INTERVIEWS = [
    Interview(
        id="int01",
        fmt="docx",
        file="int01.docx",
        interviewers=["Lotte Vermeulen"],
        respondent="Marloes Hoekstra",
        function="procesregisseur",
        department="Kernteam Omgevingsvisie",
        cluster="Stadsontwikkeling",
        date="2022-03-15",
        title="Interview 01 – Kernteam Omgevingsvisie (fictief transcript)",
    ),
    Interview(
        id="int02",
        fmt="txt_ir",
        file="int02.txt",
        interviewers=["Ahmed El Amrani"],
        respondent="Ruben Schouten",
        function="beleidsadviseur energietransitie",
        department="Duurzaamheid",
        cluster="Stadsontwikkeling",
        date="2022-03-22",
        title="Interview 02 – Duurzaamheid",
    ),
    Interview(
        id="int03",
        fmt="vtt",
        file="int03.vtt",
        interviewers=["Lotte Vermeulen"],
        respondent="Sanne de Wit",
        function="senior planoloog",
        department="Ruimte, Wonen en Milieu",
        cluster="Stadsontwikkeling",
        date="2022-04-05",
        title="Interview 03 – Ruimte, Wonen en Milieu",
    ),
    Interview(
        id="int04",
        fmt="odt",
        file="int04.odt",
        interviewers=["Ahmed El Amrani"],
        respondent="Bram Mulder",
        function="adviseur ruimtelijke ontwikkeling",
        department="Ruimtelijke Ontwikkeling",
        cluster="Maatschappelijke Ontwikkeling",
        date="2022-04-12",
        title="Interview 04 – Ruimtelijke Ontwikkeling (fictief transcript)",
    ),
    Interview(
        id="int05",
        fmt="srt",
        file="int05.srt",
        interviewers=["Lotte Vermeulen", "Ahmed El Amrani"],
        respondent="Esther van Leeuwen",
        function="beleidsadviseur sport en bewegen",
        department="Directie Sport, Onderwijs en Cultuur",
        cluster="Maatschappelijke Ontwikkeling",
        date="2022-04-20",
        title="Interview 05 – Sport, Onderwijs en Cultuur",
    ),
    Interview(
        id="int06",
        fmt="txt_cp1252",
        file="int06.txt",
        interviewers=["Lotte Vermeulen"],
        respondent="Marieke Jansen",
        function="strategisch adviseur mobiliteit",
        department="Mobiliteit / Verkeer",
        cluster="Stadsbeheer",
        date="2022-05-10",
        title="Interview 06 – Mobiliteit / Verkeer",
    ),
    Interview(
        id="int07",
        fmt="md",
        file="int07.md",
        interviewers=["Ahmed El Amrani"],
        respondent="Jeroen Bakker",
        function="concerncontroller",
        department="Financiën / Concerncontrol",
        cluster="Bestuurs- en Concernondersteuning",
        date="2022-05-24",
        title="Interview 07 – Financiën / Concerncontrol (fictief transcript)",
    ),
]

FORMAT_DESC = {
    "docx": ("Word (.docx), python-docx", "—", "bold run `Interviewer:` / `Respondent:` + text"),
    "txt_ir": ("plain text", "UTF-8, LF", "`I:` / `R:`"),
    "vtt": ("WebVTT (Teams-style)", "UTF-8", "`<v Naam>…</v>` voice tags"),
    "odt": ("OpenDocument Text (.odt), odfpy", "—", "`Interviewer:` / `Respondent:`"),
    "srt": ("SubRip (.srt, Whisper-style cues)", "UTF-8", "`Naam:` at first cue of a turn"),
    "txt_cp1252": ("plain text", "Windows-1252 (cp1252), CRLF", "`[hh:mm:ss] Naam:`"),
    "md": ("Markdown", "UTF-8, LF", "`**Interviewer:**` / `**Naam:**`"),
}


# --------------------------------------------------------------------------- sources


def load_turns(iv: Interview) -> None:
    text = (SRC_DIR / f"{iv.id}.txt").read_text(encoding="utf-8")
    turns = []
    for block in re.split(r"\n\s*\n", text.strip()):
        block = " ".join(block.split())
        m = re.match(r"^(I2|I|R):\s+(.*)$", block)
        if not m:
            raise ValueError(f"{iv.id}: cannot parse turn: {block[:60]!r}")
        turns.append((m.group(1), m.group(2)))
    iv.turns = turns


def seeded(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode("utf-8"))


# ------------------------------------------------------------------------- timeline

SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(ÉÖ0-9])")


def sentences(text: str) -> list[str]:
    parts = SENT_SPLIT.split(text)
    out: list[str] = []
    for p in parts:
        if out and len(p.split()) < 3:  # glue "(lacht)" and fragments to the previous one
            out[-1] = f"{out[-1]} {p}"
        else:
            out.append(p)
    return out


def cues_for_turn(iv_id: str, t_index: int, text: str) -> list[str]:
    """Group sentences into cues of 1-3 sentences (deterministic), max ~45 words."""
    sents = sentences(text)
    cues: list[str] = []
    i = 0
    k = 0
    while i < len(sents):
        size = 1 + seeded(iv_id, t_index, k) % 3
        chunk = [sents[i]]
        i += 1
        while len(chunk) < size and i < len(sents):
            if len(" ".join(chunk + [sents[i]]).split()) > 45:
                break
            chunk.append(sents[i])
            i += 1
        cues.append(" ".join(chunk))
        k += 1
    return cues


@dataclass
class Cue:
    turn: int
    index_in_turn: int
    key: str
    text: str
    start_ms: int
    end_ms: int


def build_timeline(iv: Interview) -> tuple[list[Cue], list[int]]:
    """Return cues with times and the start time (ms) of every turn."""
    t = 2000 + seeded(iv.id, "start") % 3000
    cues: list[Cue] = []
    turn_starts: list[int] = []
    for ti, (key, text) in enumerate(iv.turns):
        t += 500 + seeded(iv.id, ti, "gap") % 1800
        turn_starts.append(t)
        wps = 2.45 if key == "R" else 2.75  # words per second
        for ci, ctext in enumerate(cues_for_turn(iv.id, ti, text)):
            n = len(ctext.split())
            dur = int(n / wps * 1000) + 400 + seeded(iv.id, ti, ci) % 600
            cues.append(Cue(ti, ci, key, ctext, t, t + dur))
            t += dur + seeded(iv.id, ti, ci, "pause") % 250
    return cues, turn_starts


def duration_min(iv: Interview) -> int:
    cues, _ = build_timeline(iv)
    return round((cues[-1].end_ms + 4000) / 60000)


def ts(ms: int, sep: str = ".") -> str:
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms_ = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms_:03d}"


# -------------------------------------------------------------------------- writers


def normalize_zip(data: bytes) -> bytes:
    """Rewrite a zip archive with fixed entry timestamps (keeps order & compression)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            new = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            new.compress_type = info.compress_type
            new.external_attr = 0o644 << 16
            new.create_system = 3
            dst.writestr(new, src.read(info.filename))
    return buf.getvalue()


def write_docx(iv: Interview, path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading(iv.title, level=0)
    labels = {"I": "Interviewer:", "I2": "Interviewer 2:", "R": "Respondent:"}
    for key, text in iv.turns:
        p = d.add_paragraph()
        p.add_run(labels[key]).bold = True
        p.add_run(" " + text)
    cp = d.core_properties
    cp.author = "codeer demo data (fictief)"
    cp.last_modified_by = "codeer demo data (fictief)"
    cp.title = iv.title
    cp.created = FIXED_DATETIME.replace(tzinfo=None)
    cp.modified = FIXED_DATETIME.replace(tzinfo=None)
    cp.last_printed = FIXED_DATETIME.replace(tzinfo=None)
    cp.revision = 1
    buf = io.BytesIO()
    d.save(buf)
    path.write_bytes(normalize_zip(buf.getvalue()))


def write_odt(iv: Interview, path: Path) -> None:
    from odf import dc, meta, text
    from odf.opendocument import OpenDocumentText

    d = OpenDocumentText()
    d.meta.addElement(dc.Title(text=iv.title))
    d.meta.addElement(meta.CreationDate(text=FIXED_DATETIME.strftime("%Y-%m-%dT%H:%M:%S")))
    d.meta.addElement(dc.Date(text=FIXED_DATETIME.strftime("%Y-%m-%dT%H:%M:%S")))
    d.text.addElement(text.H(outlinelevel=1, text=iv.title))
    labels = {"I": "Interviewer", "I2": "Interviewer 2", "R": "Respondent"}
    for key, t in iv.turns:
        d.text.addElement(text.P(text=f"{labels[key]}: {t}"))
    buf = io.BytesIO()
    d.write(buf)
    path.write_bytes(normalize_zip(buf.getvalue()))


def write_txt_ir(iv: Interview, path: Path) -> None:
    body = "\n\n".join(f"{key}: {t}" for key, t in iv.turns) + "\n"
    path.write_bytes(body.encode("utf-8"))


def write_vtt(iv: Interview, path: Path) -> None:
    cues, _ = build_timeline(iv)
    lines = ["WEBVTT", ""]
    for c in cues:
        guid = uuid.uuid5(UUID_NS, f"{iv.id}-{c.turn}")
        lines.append(f"{guid}/{c.turn + 10}-{c.index_in_turn}")
        lines.append(f"{ts(c.start_ms)} --> {ts(c.end_ms)}")
        lines.append(f"<v {iv.speaker(c.key)}>{c.text}</v>")
        lines.append("")
    path.write_bytes("\n".join(lines).encode("utf-8"))


def write_srt(iv: Interview, path: Path) -> None:
    cues, _ = build_timeline(iv)
    lines = []
    for n, c in enumerate(cues, start=1):
        txt = c.text if c.index_in_turn else f"{iv.speaker(c.key)}: {c.text}"
        lines += [str(n), f"{ts(c.start_ms, ',')} --> {ts(c.end_ms, ',')}", txt, ""]
    path.write_bytes("\n".join(lines).encode("utf-8"))


def write_txt_cp1252(iv: Interview, path: Path) -> None:
    _, starts = build_timeline(iv)
    lines = [f"[{ts(starts[i])[:8]}] {iv.speaker(key)}: {t}" for i, (key, t) in enumerate(iv.turns)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))  # strict: must encode


def write_md(iv: Interview, path: Path) -> None:
    out = [f"# {iv.title}", ""]
    for key, t in iv.turns:
        label = "Interviewer" if key.startswith("I") else iv.respondent
        out += [f"**{label}:** {t}", ""]
    path.write_bytes("\n".join(out).encode("utf-8"))


WRITERS = {
    "docx": write_docx,
    "odt": write_odt,
    "txt_ir": write_txt_ir,
    "vtt": write_vtt,
    "srt": write_srt,
    "txt_cp1252": write_txt_cp1252,
    "md": write_md,
}


def write_csv(path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for iv in INTERVIEWS:
        w.writerow(
            [
                iv.id,
                iv.file,
                ";".join(iv.interviewers),
                iv.function,
                iv.department,
                iv.cluster,
                iv.date,
                duration_min(iv),
            ]
        )
    path.write_bytes(buf.getvalue().encode("utf-8"))


def speech_words(iv: Interview) -> int:
    return sum(len(t.split()) for _, t in iv.turns)


def write_readme(path: Path) -> None:
    rows = []
    for iv in INTERVIEWS:
        fmt, enc, labels = FORMAT_DESC[iv.fmt]
        rows.append(
            f"| `{iv.file}` | {iv.department} ({iv.cluster}) | {fmt} | {enc} | {labels} "
            f"| {len(iv.turns)} | {speech_words(iv)} |"
        )
    total = sum(speech_words(iv) for iv in INTERVIEWS)
    table = "\n".join(rows)
    text = f"""# data/raw — fictieve demo-interviews / fictional demo interviews

## Nederlands

**Let op: alle interviews in deze map zijn FICTIEF.** Ze zijn geschreven voor het
codeer-project als demo- en testmateriaal. De setting (ambtenaren van de gemeente
Rotterdam over integrerend werken bij de totstandkoming van de Omgevingsvisie) is
gemodelleerd naar een reflectienotitie over dat onderwerp (zeven gesprekken, acht
lessen; niet in deze repository), maar de
respondenten, collega's, citaten, anekdotes, telefoonnummers en e-mailadressen zijn
verzonnen. Eventuele overeenkomsten met echte personen berusten op toeval. De tekst
bevat geen passages uit die notitie (gecontroleerd: 0 gedeelde reeksen van 8 woorden).

Deze map is **onveranderlijke invoer** voor de pijplijn: bewerk de bestanden niet met
de hand. Ze worden deterministisch gegenereerd door `tools/make_demo_data.py` uit de
bronteksten in `tools/demo_sources/`; pas die aan en genereer opnieuw.

## English

**Note: every interview in this directory is FICTIONAL.** They were written for the
codeer project as demo and test material. The setting (civil servants of the
municipality of Rotterdam on integrative working while drafting the Omgevingsvisie)
is modelled on a reflection note on that topic (seven conversations, eight lessons; not
in this repository), but respondents, colleagues,
quotes, anecdotes, phone numbers and e-mail addresses are invented; any resemblance to
real persons is coincidental. No passage of the note is reused (checked: 0 shared
8-word sequences).

`data/raw/` is **immutable input** for the pipeline: never edit these files by hand.
They are generated deterministically by `tools/make_demo_data.py` from the source texts
in `tools/demo_sources/`; change those and regenerate.

## Bestanden / files

Woorden = whitespace-tokens van gesproken tekst, zonder sprekerlabels en tijdcodes /
words = whitespace tokens of speech only, excluding speaker labels and timestamps.

| file | department (cluster) | format | encoding | speaker labels | turns | words |
|---|---|---|---|---|---|---|
{table}

Total: {total} words in {len(INTERVIEWS)} interviews.

`interviews.csv` (UTF-8, comma-separated) holds one row per interview with the columns
`{",".join(CSV_COLUMNS)}`. Interviewers are separated by `;`. The respondent's name is
deliberately not in the CSV (only the function); it does appear as a speaker label in
the vtt, srt, cp1252 txt and md transcripts, and names, phone numbers and e-mail
addresses occur in the speech of several interviews so that pseudonymisation can be
tested. `duration_min` matches the (synthetic) timestamps of the timed formats.
"""
    path.write_bytes(text.encode("utf-8"))


def generate() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for iv in INTERVIEWS:
        WRITERS[iv.fmt](iv, OUT_DIR / iv.file)
    write_csv(OUT_DIR / "interviews.csv")
    write_readme(OUT_DIR / "README.md")


# ---------------------------------------------------------------------------- check


def read_back(iv: Interview) -> list[str]:
    """Parse a generated file and return the speech of each turn (labels removed)."""
    path = OUT_DIR / iv.file
    if iv.fmt == "docx":
        import docx

        paras = docx.Document(str(path)).paragraphs[1:]
        return [re.sub(r"^\S+( \d)?:\s*", "", p.text) for p in paras if p.text.strip()]
    if iv.fmt == "odt":
        from odf import teletype, text
        from odf.opendocument import load

        ps = load(str(path)).getElementsByType(text.P)
        return [re.sub(r"^[^:]+:\s*", "", teletype.extractText(p)) for p in ps]
    if iv.fmt == "txt_ir":
        blocks = path.read_text(encoding="utf-8").strip().split("\n\n")
        return [re.sub(r"^(I2|I|R):\s*", "", b) for b in blocks]
    if iv.fmt == "txt_cp1252":
        lines = path.read_bytes().decode("cp1252").splitlines()
        return [re.sub(r"^\[\d\d:\d\d:\d\d\] [^:]+:\s*", "", ln) for ln in lines if ln]
    if iv.fmt == "md":
        lines = path.read_text(encoding="utf-8").splitlines()
        return [re.sub(r"^\*\*[^*]+:\*\*\s*", "", ln) for ln in lines if ln.startswith("**")]
    if iv.fmt == "vtt":
        import webvtt

        turns: list[str] = []
        prev = None
        for cap in webvtt.read(str(path)):
            m = re.match(r"<v ([^>]+)>(.*)</v>$", cap.raw_text, re.S)
            txt = m.group(2)
            turn_id = cap.identifier.split("/")[1].split("-")[0]
            if turn_id == prev:
                turns[-1] += " " + txt
            else:
                turns.append(txt)
            prev = turn_id
        return turns
    if iv.fmt == "srt":
        import pysrt

        names = [iv.respondent, *iv.interviewers]
        turns = []
        for item in pysrt.open(str(path), encoding="utf-8"):
            txt = item.text
            label = next((n for n in names if txt.startswith(n + ": ")), None)
            if label:
                turns.append(txt[len(label) + 2 :])
            else:
                turns[-1] += " " + txt
        return turns
    raise ValueError(iv.fmt)


def tokens(s: str) -> list[str]:
    return [t for t in re.split(r"[^a-zà-öø-ÿ]+", s.lower()) if t]


def ngrams(toks: list[str], n: int = 8) -> set[tuple[str, ...]]:
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def check(seed: Path | None) -> int:
    seed_grams = ngrams(tokens(seed.read_text(encoding="utf-8"))) if seed else None
    row = "{:<11} {:>6} {:>5} {:>7} {:>9} {:>10}"
    print(row.format("file", "words", "turns", "R-turns", "roundtrip", "8gram-hits"))
    bad = 0
    for iv in INTERVIEWS:
        back = read_back(iv)
        src = [t for _, t in iv.turns]
        ok = [" ".join(b.split()) for b in back] == src
        words = sum(len(b.split()) for b in back)
        hits = "n/a"
        if seed_grams is not None:
            hit_set = ngrams(tokens(" ".join(back))) & seed_grams
            hits = str(len(hit_set))
            for h in sorted(hit_set):
                print("   HIT:", " ".join(h))
            bad += len(hit_set)
        r_turns = sum(1 for k, _ in iv.turns if k == "R")
        print(row.format(iv.file, words, len(back), r_turns, "ok" if ok else "FAIL", hits))
        bad += 0 if ok else 1
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="parse outputs back and report")
    ap.add_argument("--seed", type=Path, help="text file for the 8-gram overlap check")
    args = ap.parse_args(argv)
    for iv in INTERVIEWS:
        load_turns(iv)
    if args.check:
        return check(args.seed)
    generate()
    print(f"wrote {len(INTERVIEWS)} interviews + interviews.csv + README.md to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
