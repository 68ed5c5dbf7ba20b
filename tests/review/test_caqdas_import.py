"""codeer import: a REFI-QDA project edited in a CAQDAS comes back as review decisions and memos.

The round trip exports with codeer's own :func:`refiqda.build_project`, edits ``project.qde`` with
lxml as a CAQDAS would (remove one coding, add one on another passage, move one to another
sentence) and checks that the decisions are exactly those edits (every other exported coding
kept, so accepted). Hand-written QualCoder- and ATLAS.ti-style projects show the tolerance:
BOM and CRLF in the source text, ``sources/`` and ``Sources/``, positions counted as code points
of the stored text or of the text with single-character line ends, GUIDs in other spellings,
and notes in each tool's place.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml
from lxml import etree

from pipeline import config, schema, storage
from pipeline.errors import CodeerError
from pipeline.export import refiqda
from pipeline.ingest import command as ingest
from pipeline.review import agreement, caqdas_import, decisions, memos
from tests.conftest import GOVERNANCE, SIGNALEN
from tests.export.test_refiqda import ALIAS, BOOK, NAME, _pseudonymise

LOGIUS = GOVERNANCE / "nlds_blog_2024-07-01_logius-meerdere-producten.txt"
NS = refiqda.PROJECT_NS
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
EDITED = "2025-05-01T10:00:00Z"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Two real Dutch texts ingested, five codings (four automatic, one added by Renate)."""
    root = tmp_path_factory.mktemp("caqdas")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy(SIGNALEN, raw / "signalen.txt")
    shutil.copy(LOGIUS, raw / "logius.txt")
    (raw / "interviews.csv").write_text(
        "interview_id,file,department,date\nint01,signalen.txt,Stadsbeheer,2021-06-21\n"
        "int02,logius.txt,Logius,2024-07-01\n", encoding="utf-8")
    out = root / "out"
    result = ingest.run(raw, out, progress=False)
    segs = result.segments
    rows = [
        _coding(segs, "int01", "één Signalen branche", "S1", "embedding", 0.412),
        _coding(segs, "int01", "creëren", "S1", "rule", 1.0),
        _coding(segs, "int01", "technologieën", "S2", "both", 0.5),
        _coding(segs, "int02", "Aline vertelt", "S2", "embedding", 0.31),
        _coding(segs, "int02", "collega’s een design system", "S1", "human", None, "accepted"),
    ]
    storage.write_table(pd.DataFrame(rows), out / config.CODINGS_FILE, schema.CODINGS)
    (root / "codebook.yaml").write_text(
        yaml.safe_dump(json.loads(BOOK.model_dump_json()), allow_unicode=True), encoding="utf-8")
    return out


@pytest.fixture
def out(base, tmp_path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(base, copy)
    shutil.copy(base.parent / "codebook.yaml", tmp_path / "codebook.yaml")
    return copy


def _seg(segments: pd.DataFrame, doc: str, needle: str) -> pd.Series:
    hits = segments[(segments["document_id"] == doc)
                    & segments["text"].str.contains(needle, regex=False)]
    assert len(hits), needle
    return hits.iloc[0]


def _coding(segs, doc, needle, code, method, score, status="auto") -> dict:
    return {"segment_id": _seg(segs, doc, needle)["segment_id"], "code_id": code,
            "method": method, "score": float("nan") if score is None else score,
            "evidence": "", "status": status, "reviewer": "Renate" if method == "human" else None,
            "reviewed_at": "2025-01-10T12:00:00" if method == "human" else None,
            "codebook_sha256": "0" * 64, "model_id": "m"}


def _frames(out: Path):
    return (storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS),
            storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS),
            storage.read_table(out / config.CODINGS_FILE, schema.CODINGS))


def _export(out: Path, pseudonymise: bool = False) -> bytes:
    documents, segments, codings = _frames(out)
    kwargs = {}
    if pseudonymise:
        texts, offsets = _pseudonymise(documents)
        kwargs = {"texts": texts, "offsets": offsets}
        key = out / config.PRIVATE_DIR / config.KEY_FILE
        key.parent.mkdir(exist_ok=True)
        key.write_text(f"placeholder,original,category,occurrences\n{ALIAS},{NAME},PERSOON,9\n",
                       encoding="utf-8")
    return refiqda.build_project(documents, segments, codings, BOOK, reviewers=("Renate",),
                                 **kwargs)


def _edit(qdpx: bytes, edit) -> bytes:
    """Rewrite ``project.qde`` inside a ``.qdpx`` with ``edit(root, sources)``."""
    with zipfile.ZipFile(io.BytesIO(qdpx)) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    root = etree.fromstring(entries["project.qde"])
    texts = {n.split("/")[-1]: d.decode("utf-8") for n, d in entries.items()
             if n.startswith("sources/")}
    edit(root, texts)
    entries["project.qde"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _log(out: Path) -> list[tuple[str, str, str, str]]:
    reviews, issues = decisions.parse_reviews(
        (out / config.REVIEWS_FILE).read_text(encoding="utf-8"))
    assert issues == []
    return sorted(zip(reviews["segment_id"], reviews["code_id"], reviews["decision"],
                      reviews["reviewer"], strict=True))


def _import(out: Path, data: bytes, name: str = "project.qdpx", **kwargs):
    path = out.parent / name
    path.write_bytes(data)
    return caqdas_import.run(path, out, out.parent / "codebook.yaml", now=NOW, **kwargs)


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("pseudonymised", [False, True], ids=["plain", "pseudonymised"])
def test_round_trip_gives_exactly_the_edits(out, pseudonymised):
    documents, segments, codings = _frames(out)
    qdpx = _export(out, pseudonymised)
    removed = _seg(segments, "int01", "één Signalen branche")  # its S1 coding is deleted
    moved = _seg(segments, "int02", "Aline vertelt")  # its S2 coding moves ...
    target = _seg(segments, "int02", "NL Design System community")  # ... to this sentence
    added = _seg(segments, "int01", "integratie met andere applicaties")  # Y1 added here
    texts, _ = _pseudonymise(documents) if pseudonymised else (
        dict(zip(documents["document_id"], documents["text"], strict=True)), None)

    def edit(root, sources):
        def selection(doc, seg, code):
            g = refiqda.guid("selection", doc, seg["segment_id"], code)
            return root.find(f".//{_q('PlainTextSelection')}[@guid='{g}']")

        def span(doc, seg):
            text = sources[f"{refiqda.guid('source', doc)}.txt"]
            exported = seg["text"].replace(NAME, ALIAS) if pseudonymised else seg["text"]
            start = text.index(exported)
            return start, start + len(exported)

        gone = selection("int01", removed, "S1")
        gone.getparent().remove(gone)
        move = selection("int02", moved, "S2")
        start, end = span("int02", target)
        move.set("startPosition", str(start))
        move.set("endPosition", str(end))
        renate = root.find(f".//{_q('User')}[@name='Renate']").get("guid")
        source = root.find(f".//{_q('TextSource')}[@name='int01']")
        start, end = span("int01", added)
        new = etree.Element(_q("PlainTextSelection"), guid="5b2f0c1e-8d4a-4c3b-9e1f-2a6b7c8d9e0f",
                            name=added["text"][:40], startPosition=str(start),
                            endPosition=str(end), creatingUser=renate, creationDateTime=EDITED)
        coding = etree.SubElement(new, _q("Coding"), guid="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                                  creatingUser=renate, creationDateTime=EDITED)
        etree.SubElement(coding, _q("CodeRef"), targetGUID=refiqda.guid("code", "Y1"))
        source.findall(_q("PlainTextSelection"))[-1].addnext(new)

    edited = _edit(qdpx, edit)
    with zipfile.ZipFile(io.BytesIO(edited)) as zf:  # the edit is a valid REFI-QDA project
        assert refiqda.validate(zf.read("project.qde"), "project") == []
    assert texts is not None
    result = _import(out, edited)
    assert result.plan.issues == []

    kept = {(s, c) for s, c in zip(codings["segment_id"], codings["code_id"], strict=True)}
    changed = {(removed["segment_id"], "S1"), (moved["segment_id"], "S2")}
    expected = {(s, c, "accept", "Renate") for s, c in kept - changed}
    expected |= {(removed["segment_id"], "S1", "reject", "Renate"),
                 (moved["segment_id"], "S2", "reject", "Renate"),
                 (target["segment_id"], "S2", "add", "Renate"),
                 (added["segment_id"], "Y1", "add", "Renate")}
    # Renate added the human coding herself (her 'add' is not in this log: the coding came
    # from the codings table); keeping it in the CAQDAS is her accept.
    assert set(_log(out)) == expected
    assert len(_log(out)) == len(expected)
    reviews, _ = decisions.parse_reviews((out / config.REVIEWS_FILE).read_text(encoding="utf-8"))
    when = dict(zip(zip(reviews["segment_id"], reviews["code_id"], strict=True),
                    reviews["timestamp"], strict=True))
    assert when[(added["segment_id"], "Y1")] == "2025-05-01T10:00:00+00:00"  # the selection's
    # Kept and removed codings have no date of their own: the project's creation date (the
    # latest decision codeer exported, Renate's of 2025-01-10), which the work cannot precede.
    assert when[(removed["segment_id"], "S1")] == "2025-01-10T12:00:00+00:00"

    # The same project again: nothing new.
    before = (out / config.REVIEWS_FILE).read_bytes()
    again = _import(out, edited)
    assert again.plan.decisions == [] and again.plan.skipped == len(expected)
    assert (out / config.REVIEWS_FILE).read_bytes() == before

    # The decisions apply: the next `codeer code` would set these statuses.
    applied, _notes = decisions.apply_reviews(codings, reviews, set(segments["segment_id"]))
    status = dict(zip(zip(applied["segment_id"], applied["code_id"], strict=True),
                      applied["status"], strict=True))
    assert status[(removed["segment_id"], "S1")] == "rejected"
    assert status[(target["segment_id"], "S2")] == "accepted"
    assert status[(added["segment_id"], "Y1")] == "accepted"


def test_a_later_decision_in_codeer_is_not_undone_by_importing_again(out):
    _documents, segments, _codings = _frames(out)
    qdpx = _export(out)
    _import(out, qdpx)  # everything kept: accepted by Renate
    seg = _seg(segments, "int01", "creëren")["segment_id"]
    decisions.record(out, seg, "S1", "reject", "Renate")  # later, in codeer: now
    before = (out / config.REVIEWS_FILE).read_bytes()
    result = _import(out, qdpx)
    # The old project still holds the coding, but its accept is in the log already (same
    # reviewer, decision and date), so nothing is added and the reject stays the latest.
    assert result.plan.decisions == []
    assert (out / config.REVIEWS_FILE).read_bytes() == before
    latest = decisions.latest_decisions(decisions.read_reviews(out))
    row = latest[(latest["segment_id"] == seg) & (latest["code_id"] == "S1")].iloc[0]
    assert row["decision"] == "reject"


def test_dry_run_writes_nothing(out):
    result = _import(out, _export(out), dry_run=True)
    assert len(result.plan.decisions) == 5
    assert not (out / config.REVIEWS_FILE).exists() and not (out / config.MEMOS_FILE).exists()


def test_reviewer_option_names_who_kept_codeer_codings(out):
    _import(out, _export(out), reviewer="Bram")
    assert {r[3] for r in _log(out)} == {"Bram"}


def test_project_without_a_user_needs_the_reviewer_option(out):
    documents, segments, codings = _frames(out)
    qdpx = refiqda.build_project(documents, segments, codings[codings["method"] != "human"],
                                 BOOK)  # users: the automatic user and the default reviewer

    def strip_users(root, _sources):
        users = root.find(_q("Users"))
        for u in list(users):
            if u.get("name") != refiqda.AUTOMATIC_USER:
                users.remove(u)

    with pytest.raises(CodeerError, match="--reviewer"):
        _import(out, _edit(qdpx, strip_users))
    _import(out, _edit(qdpx, strip_users), reviewer="Anna")
    assert {r[3] for r in _log(out)} == {"Anna"}


# --------------------------------------------------------------------------- memos round trip


def test_memos_and_review_notes_round_trip_without_duplicates(out):
    _documents, segments, _codings = _frames(out)
    seg = _seg(segments, "int02", "Aline vertelt")["segment_id"]
    memos.add(out, f"{NAME} klinkt hier twijfelend.", "Renate", "passage", seg,
              timestamp=datetime(2025, 3, 1, tzinfo=UTC))
    memos.add(out, "Lang interview, weinig over techniek.", "Renate", "document", "int01",
              timestamp=datetime(2025, 3, 2, tzinfo=UTC))
    memos.add(out, "S2 overlapt met S1.", "Bram", "code", "S2", {"S1", "S2"},
              timestamp=datetime(2025, 3, 3, tzinfo=UTC))
    memos.add(out, "Eerste ronde klaar.", "Bram", timestamp=datetime(2025, 3, 4, tzinfo=UTC))
    decisions.record(out, seg, "S2", "accept", "Renate", note=f"{NAME} noemt DigiD",
                     timestamp=datetime(2025, 3, 5, tzinfo=UTC))
    documents, segments, codings = _frames(out)
    reviews = decisions.read_reviews(out)
    memo_log = memos.read_memos(out)
    texts, offsets = _pseudonymise(documents)

    def scrub(t):
        return t.replace(NAME, ALIAS)

    notes = refiqda.memo_notes(memo_log, scrub) + refiqda.review_notes(reviews, scrub)
    qdpx = refiqda.build_project(documents, segments, codings, BOOK, texts=texts,
                                 offsets=offsets, reviewers=("Renate",), notes=notes)
    with zipfile.ZipFile(io.BytesIO(qdpx)) as zf:
        assert NAME.encode() not in zf.read("project.qde")
    _export(out, pseudonymise=True)  # writes the key
    before = (out / config.MEMOS_FILE).read_bytes()
    result = _import(out, qdpx, reviewer="Renate")  # users Bram and Renate: say who it is
    assert result.memos_added == [] and result.memos_skipped == 4
    assert (out / config.MEMOS_FILE).read_bytes() == before

    # A note written in the CAQDAS on the same passage is new.
    def annotate(root, _sources):
        g = refiqda.guid("selection", "int02", seg, "S2")
        sel = root.find(f".//{_q('PlainTextSelection')}[@guid='{g}']")
        etree.SubElement(sel, _q("NoteRef"), targetGUID="9f1e2d3c-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
        note = etree.SubElement(root.find(_q("Notes")), _q("Note"),
                                guid="9f1e2d3c-4b5a-4c6d-8e7f-0a1b2c3d4e5f", name="Opmerking",
                                creationDateTime=EDITED)
        etree.SubElement(note, _q("PlainTextContent")).text = "Vergelijk met int01."

    result = _import(out, _edit(qdpx, annotate), reviewer="Renate")
    assert [(m["about"], m["target"], m["text"], m["author"]) for m in result.memos_added] == \
        [("passage", seg, "Vergelijk met int01.", "Renate")]


# --------------------------------------------------------------------------- third-party style


def _qualcoder_project(out: Path) -> tuple[bytes, dict]:
    """A minimal project as QualCoder writes it: BOM, CRLF ("MAXQDA line endings"), positions
    counted in QualCoder's own text (one character per line end), new GUIDs everywhere."""
    documents, segments, _ = _frames(out)
    text = documents.set_index("document_id").loc["int01", "text"]
    kept = _seg(segments, "int01", "creëren")
    new = _seg(segments, "int01", "integratie met andere applicaties")
    annotated = _seg(segments, "int01", "technologieën")
    crlf = text.replace("\n", "\r\n")
    journal = "Na drie interviews: replicatie speelt overal."

    def sel(seg, code_guid, guid, memo=""):
        desc = f"<Description>{memo}</Description>\n" if memo else ""
        return (f'<PlainTextSelection guid="{guid}" startPosition="{seg["start"]}" '
                f'endPosition="{seg["end"]}" name="{seg["text"]}" creatingUser="{ANNA}" '
                f'creationDateTime="2025-06-02T08:30:00Z">\n{desc}<Coding guid="{guid[:-4]}c0de" '
                f'creatingUser="{ANNA}" >\n<CodeRef targetGUID="{code_guid}" />\n</Coding>\n'
                "</PlainTextSelection>\n")

    kept_sel = sel(kept, "11111111-2222-4333-8444-555555555502",
                   "22222222-3333-4444-8555-666666660001", "duidelijk een gemeente")
    new_sel = sel(new, "11111111-2222-4333-8444-555555555503",
                  "22222222-3333-4444-8555-666666660002")
    qde = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns:xsd="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="interviews.qda"
 origin="QualCoder 3.6" creatingUserGUID="c4e5d6f7-0000-4000-8000-000000000001"
 creationDateTime="2025-06-01T09:00:00Z" xmlns="urn:QDA-XML:project:1.0">
<Users>
<User guid="{ANNA}" name="Anna" />
</Users>
<CodeBook><Codes>
<Code guid="11111111-2222-4333-8444-555555555501" name="Samenwerken" isCodable="false">
<Code guid="11111111-2222-4333-8444-555555555502" name="S1 Gemeenschap" isCodable="true"
 color="#0072B2"><Description>Samenwerking met andere gemeenten.</Description></Code>
</Code>
<Code guid="11111111-2222-4333-8444-555555555503" name="Integratie" isCodable="true"
 color="#D55E00"/>
</Codes></CodeBook>
<Sources>
<TextSource plainTextPath="internal://aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee.txt"
 creatingUser="{ANNA}" creationDateTime="2025-06-01T09:00:00Z"
 guid="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee" name="signalen.txt">
{kept_sel}{new_sel}<NoteRef targetGUID="33333333-4444-4555-8666-777777770001" />
</TextSource>
</Sources>
<Notes>
<Note guid="44444444-5555-4666-8777-888888880001" creatingUser="{ANNA}"
 creationDateTime="2025-06-03T10:00:00Z" name="Journaal"
 plainTextPath="internal://44444444-5555-4666-8777-888888880001.txt" >
<Description /></Note>
<Note guid="33333333-4444-4555-8666-777777770001" creatingUser="{ANNA}"
 creationDateTime="2025-06-02T09:00:00Z" >
<PlainTextContent>Let op de toon hier.</PlainTextContent>
<PlainTextSelection guid="55555555-6666-4777-8888-999999990001"
 startPosition="{annotated['start']}" endPosition="{annotated['end']}" />
</Note>
</Notes>
<Description>Project memo</Description>
</Project>
"""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("project.qde", qde.encode("utf-8"))
        zf.writestr("sources/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee.txt",
                    crlf.encode("utf-8-sig"))
        zf.writestr("sources/44444444-5555-4666-8777-888888880001.txt",
                    journal.encode("utf-8-sig"))
    return buffer.getvalue(), {"kept": kept, "new": new, "annotated": annotated,
                               "journal": journal}


ANNA = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def test_qualcoder_style_project(out):
    data, parts = _qualcoder_project(out)
    result = _import(out, data, "interviews.qdpx")
    assert result.plan.issues == []
    assert result.plan.sources == {"signalen.txt": "int01"}
    kept, new = parts["kept"]["segment_id"], parts["new"]["segment_id"]
    # Not codeer's project (no trace of codeer in it): nothing is taken as removed.
    assert _log(out) == sorted([(kept, "S1", "accept", "Anna"), (new, "Y1", "add", "Anna")])
    reviews = decisions.read_reviews(out)
    assert set(reviews["timestamp"]) == {"2025-06-02T08:30:00+00:00"}
    got = {(m["about"], m["target"], m["text"]) for m in result.memos_added}
    assert got == {("passage", kept, "duidelijk een gemeente"),
                   ("passage", parts["annotated"]["segment_id"], "Let op de toon hier."),
                   ("project", "", parts["journal"])}
    assert {m["author"] for m in result.memos_added} == {"Anna"}


def _atlas_project(out: Path, move_kept: bool = False) -> tuple[bytes, dict]:
    """A minimal project as ATLAS.ti writes it after opening codeer's export: uppercase GUIDs
    (some in braces), ``Sources/`` with ``.TXT`` files, CRLF counted as two code points, group
    prefixes in code names, a picture source, a document codeer does not know, and codeer's
    user and descriptions kept on the coding it made."""
    documents, segments, _ = _frames(out)
    text = documents.set_index("document_id").loc["int02", "text"].replace("\n", "\r\n")
    crlf_pos = {}
    for key, needle in (("kept", "Aline vertelt"), ("new", "NL Design System community"),
                        ("comment", "collega’s een design system")):
        seg = _seg(segments, "int02", needle)
        start = text.index(seg["text"].replace("\n", "\r\n"))
        crlf_pos[key] = (seg, start, start + len(seg["text"].replace("\n", "\r\n")))
    assert crlf_pos["kept"][1] != crlf_pos["kept"][0]["start"]  # the CRs count

    def sel(key, code, guid, description, user=FM):
        seg, start, end = crlf_pos["new" if move_kept and key == "kept" else key]
        return (f'<PlainTextSelection startPosition="{start}" modifyingUser="{user}" '
                f'modifiedDateTime="2025-07-02T11:00:00Z" creatingUser="{user}" '
                f'creationDateTime="2025-07-01T11:00:00Z" endPosition="{end}" guid="{guid}" '
                f'name="{seg["text"][:40]}"><Description>{description}</Description>'
                f'<Coding creatingUser="{{{user}}}" creationDateTime="2025-07-01T11:00:00Z" '
                f'guid="{guid[:-4]}C0DE"><CodeRef targetGUID="{code}"/></Coding>'
                "</PlainTextSelection>")

    auto = refiqda.guid("user", refiqda.AUTOMATIC_USER).upper()

    s2 = refiqda.guid("code", "S2").upper()
    kept_sel = sel("kept", s2, "4191294A-E287-4510-95B0-69BCE4638E56",
                   "method=embedding score=0.310 status=auto evidence=DigiD", auto)
    new_sel = sel("new", "{0983E32E-6866-431A-BD94-DAC9BB963825}",
                  "B49D7982-BB8E-4335-80AF-DC869CCC3F45", "")
    comment_sel = sel("comment", s2, "63E009F1-5C33-4568-B65D-53A7E28BDBC1",
                      "Waarom noemt ze dit?")
    qde = f"""<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<Project xmlns="urn:QDA-XML:project:1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 origin="ATLAS.ti 24.1.0" creatingUserGUID="{FM}" modifiedDateTime="2025-07-03T17:46:39Z"
 creationDateTime="2025-07-01T09:00:00Z" modifyingUserGUID="{FM}" name="NLDS">
 <Users>
  <User guid="C32A2BD5-537F-4838-8B17-DF9EFBAFDF4B" name="ATLAS.ti"/>
  <User guid="{FM}" name="Fenna"/>
  <User guid="A5DE7584-8296-418B-A322-136F77ADF87B" name="Sebas"/>
  <User guid="{auto}" name="{refiqda.AUTOMATIC_USER}"/>
 </Users>
 <CodeBook>
  <Codes>
   <Code color="#F00082" isCodable="true" name="Samenwerken::S2 Replicatie" guid="{{{s2}}}"/>
   <Code color="#966450" isCodable="true" name="Ontbijt"
    guid="0983E32E-6866-431A-BD94-DAC9BB963825"/>
  </Codes>
 </CodeBook>
 <Sources>
  <TextSource plainTextPath="internal://01106019-2518-43DD-BBD1-8F0252BACB30.txt"
   creatingUser="{FM}" creationDateTime="2025-07-01T09:00:00Z"
   guid="69A4332D-5B31-4915-B520-5275CFC21B40" name="Logius blog.docx">
   {kept_sel}
   {new_sel}
   {comment_sel}
  </TextSource>
  <TextSource plainTextPath="internal://C8A57C71-D156-4A94-8407-2BD2FA57E2A4.txt"
   guid="51AD8E46-427A-4E6B-AFE7-BD96C1EFF0AD" name="Mabel.docx">
   <PlainTextSelection startPosition="0" endPosition="5"
    guid="2F24EA88-C6A7-482B-8F89-893EF66D7A21" name="Ik ben"><Coding
    guid="2284BF5B-8F78-45B6-A6EF-A128D991408B"><CodeRef targetGUID="{s2}"/></Coding>
   </PlainTextSelection>
  </TextSource>
  <PictureSource path="internal://87EAD86F-3112-4537-8A01-01427CAE1C6D.jpg"
   guid="02255470-09E6-400B-9E20-97D71FBEC65D" name="foto.jpg">
   <PictureSelection firstX="1" firstY="1" secondX="9" secondY="9"
    guid="7532038C-670E-471B-AA89-A1098E9A4E33"><Coding
    guid="8205358C-5489-4F75-A86D-C7A3DF1571CE"><CodeRef targetGUID="{s2}"/></Coding>
   </PictureSelection>
  </PictureSource>
 </Sources>
</Project>
"""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("Project.qde", qde.encode("utf-8"))
        zf.writestr("Sources/01106019-2518-43DD-BBD1-8F0252BACB30.TXT", text.encode("utf-8"))
        zf.writestr("Sources/C8A57C71-D156-4A94-8407-2BD2FA57E2A4.TXT",
                    b"Ik ben een alleenstaande moeder.")
    return buffer.getvalue(), {k: v[0] for k, v in crlf_pos.items()}


FM = "AD68FBE7-E1EE-4A82-A279-23CC698C89EB"


def test_atlas_style_project(out):
    _documents, segments, _codings = _frames(out)
    data, segs = _atlas_project(out)
    result = _import(out, data, "NLDS.qdpx")
    assert result.plan.sources == {"Logius blog.docx": "int02"}
    kept, new, comment = (segs[k]["segment_id"] for k in ("kept", "new", "comment"))
    human = _seg(segments, "int02", "collega’s een design system")["segment_id"]
    assert comment == human
    # codeer's user survived in ATLAS.ti, so it is codeer's project: S2 codings of int02 that
    # are gone are rejected (none here); S1 is not in this codebook, so the human S1 coding on
    # the same sentence is left as it is and said so. The coding codeer made is kept by the
    # project's modifying user, Fenna, on the project's date; her own one on its own date.
    assert _log(out) == sorted([(kept, "S2", "accept", "Fenna"),
                                (comment, "S2", "add", "Fenna")])
    assert any("code S1 staat niet in het codeboek van het project" in n
               for n in result.plan.notes)
    reviews = decisions.read_reviews(out)
    assert set(reviews["timestamp"]) == {"2025-07-03T17:46:39+00:00",  # kept: the project's
                                         "2025-07-02T11:00:00+00:00"}  # added: modified
    problems = [str(i) for i in result.plan.issues]
    assert any("Ontbijt" in p and "bij geen enkele code uit het codeboek" in p for p in problems)
    assert any("Mabel.docx" in p and "met geen enkel interview" in p for p in problems)
    assert any("PictureSource" in p for p in problems)
    assert all(p.startswith("NLDS.qdpx: ") for p in problems)
    assert [(m["about"], m["target"], m["text"]) for m in result.memos_added] == \
        [("passage", comment, "Waarom noemt ze dit?")]
    assert new not in {r[0] for r in _log(out)}  # coded only with "Ontbijt": not imported


def test_moved_coding_in_a_project_from_codeer_via_atlas_is_rejected(out):
    """The same ATLAS.ti project, but the kept coding was moved off its sentence."""
    data, segs = _atlas_project(out, move_kept=True)
    result = _import(out, data, "NLDS.qdpx")
    decided = {(d["segment_id"], d["code_id"], d["decision"], d["reviewer"])
               for d in result.plan.decisions}
    assert decided == {(segs["kept"]["segment_id"], "S2", "reject", "Fenna"),
                       (segs["new"]["segment_id"], "S2", "add", "Fenna"),
                       (segs["comment"]["segment_id"], "S2", "add", "Fenna")}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("data, message", [
    (b"not a zip at all", "moet een REFI-QDA-project zijn"),
    (b"PK\x05\x06" + b"\0" * 18, "moet een project.qde bevatten"),
], ids=["no-zip", "empty-zip"])
def test_unreadable_projects_are_clear_errors(out, data, message):
    with pytest.raises(CodeerError, match=message):
        _import(out, data)


def test_broken_xml_names_the_line(out):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("project.qde", b'<?xml version="1.0"?>\n<Project name="x">\n<Users>\n')
    with pytest.raises(CodeerError, match=r"project.qde regel \d+ moet geldige XML zijn"):
        _import(out, buffer.getvalue())


def test_entity_declarations_are_refused(out):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<Project name="&b;"><Users/></Project>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("project.qde", bomb)
    with pytest.raises(CodeerError, match="regel 1 mag geen DTD of entities declareren"):
        caqdas_import.read_qdpx(buffer.getvalue())


def test_zip_bomb_member_is_refused(out):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", b" " * (40 * 1024 * 1024))  # 40 MB of spaces: ratio ~1000
    with pytest.raises(CodeerError, match="hoogstens 200:1 gecomprimeerd"):
        _import(out, buffer.getvalue())


def test_selection_outside_its_text_is_reported(out):
    qdpx = _export(out)

    def stretch(root, _sources):
        sel = root.find(f".//{_q('PlainTextSelection')}")
        sel.set("endPosition", "999999")

    result = _import(out, _edit(qdpx, stretch), dry_run=True)
    assert any("liggen buiten de tekst van" in str(i) for i in result.plan.issues)


# --------------------------------------------------------------------------- pieces


@pytest.mark.parametrize("pseudo, original, hints, expected", [
    ("Gisteren sprak ik [PERSOON-1] in [LOCATIE-1].",
     "Gisteren sprak ik Hans Verbeek in Kralingen.", None,
     [(18, 29, 18, 30), (33, 44, 34, 43)]),
    # Two placeholders with only a space between: without the key the first space wins.
    ("In [LOCATIE-1] [PERSOON-2] zei het.", "In Prins Alexander Hans zei het.", None,
     [(3, 14, 3, 8), (15, 26, 9, 23)]),
    ("In [LOCATIE-1] [PERSOON-2] zei het.", "In Prins Alexander Hans zei het.",
     {"[LOCATIE-1]": ["Prins Alexander"]}, [(3, 14, 3, 18), (15, 26, 19, 23)]),
    ("Geen namen hier.", "Geen namen hier.", None, []),
    ("Een andere tekst.", "Geen namen hier.", None, None),
    ("[PERSOON-1] zei: ja.", "Hans zei: nee.", None, None),
], ids=["two-names", "adjacent-no-key", "adjacent-with-key", "equal", "other-text",
        "changed-outside-placeholder"])
def test_align_pseudonymised_text(pseudo, original, hints, expected):
    assert refiqda.align(pseudo, original, hints) == expected


def test_back_map_moves_positions_inside_a_placeholder_to_its_edges():
    pseudo = "Gisteren sprak ik [PERSOON-1] in [LOCATIE-1]."
    original = "Gisteren sprak ik Hans Verbeek in Kralingen."
    back = refiqda.BackMap(tuple(refiqda.align(pseudo, original)))
    start = pseudo.index("[PERSOON-1]")
    assert (back.start(start), back.end(start + 11)) == (18, 30)
    assert original[back.start(start + 3):back.end(start + 5)] == "Hans Verbeek"
    tail = pseudo.index(" in ")
    assert original[back.start(tail):back.end(len(pseudo))] == " in Kralingen."


def test_covered_segments_follow_the_gold_rule(out):
    _documents, segments, _ = _frames(out)
    mine = segments[segments["document_id"] == "int01"].sort_values("start")
    a, b = mine.iloc[5], mine.iloc[6]
    cases = [
        (int(a["start"]), int(a["end"])),  # exactly one segment
        (int(a["start"]) + 2, int(a["end"]) - 2),  # inside one
        (int(a["start"]), int(b["start"]) + (int(b["end"]) - int(b["start"])) // 2 + 1),  # 1.5
        (int(a["end"]) - 3, int(b["start"]) + 3),  # a sliver of both: inside neither
    ]
    for start, end in cases:
        gold = pd.DataFrame([{"document_id": "int01", "start": start, "end": end,
                              "codes": ["S1"]}])
        expected = sorted(s for s, codes in agreement.gold_labels(segments, gold).items()
                          if codes)
        assert sorted(caqdas_import.covered_segments(segments, "int01", start, end)) == \
            expected, (start, end)


def test_codes_match_by_guid_id_or_name():
    project = caqdas_import.Project(file="p.qdpx", codes=[
        caqdas_import.QCode(refiqda.guid("code", "Y1"), "Iets anders", True, "", "", None, [], 1),
        caqdas_import.QCode("a", "Thema::S2 Replicatie", True, "", "", None, [], 2),
        caqdas_import.QCode("b", "gemeenschap", True, "", "", None, [], 3),
        caqdas_import.QCode("c", "Gemeenschap [S1]", True, "", "", None, [], 4),
        caqdas_import.QCode("d", "Ontbijt", True, "", "", None, [], 5),
        caqdas_import.QCode(refiqda.guid("theme", "samen"), "Samenwerken", False, "", "", None,
                            [], 6),
    ])
    mapping, issues = caqdas_import.match_codes(project, BOOK)
    assert mapping == {refiqda.guid("code", "Y1"): "Y1", "a": "S2", "b": "S1", "c": "S1"}
    assert issues == []


def test_decisions_are_appended_all_or_none(out):
    _documents, segments, _ = _frames(out)
    seg = _seg(segments, "int01", "creëren")["segment_id"]
    rows = [{"segment_id": seg, "code_id": "S1", "decision": "accept", "reviewer": "Renate",
             "timestamp": NOW},
            {"segment_id": "bestaat-niet", "code_id": "S1", "decision": "reject",
             "reviewer": "Renate", "timestamp": NOW}]
    with pytest.raises(CodeerError, match="bestaat-niet"):
        decisions.record_many(out, rows)
    assert not (out / config.REVIEWS_FILE).exists()
    decisions.record_many(out, rows[:1] * 3)
    assert _log(out) == [(seg, "S1", "accept", "Renate")] * 3


# --------------------------------------------------------------------------- command line


def test_import_command(out):
    from typer.testing import CliRunner

    from pipeline.cli import app

    data, _parts = _qualcoder_project(out)
    path = out.parent / "interviews.qdpx"
    path.write_bytes(data)
    args = ["import", str(path), "--out", str(out), "--codebook",
            str(out.parent / "codebook.yaml")]
    runner = CliRunner()
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "zou vastleggen: 1 accept, 0 reject, 1 add" in dry.output
    assert not (out / config.REVIEWS_FILE).exists()
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "vastgelegd: 1 accept, 0 reject, 1 add (0 stonden al in het logboek); 3 memo('s) " \
           "toegevoegd" in done.output
    again = runner.invoke(app, args)
    assert "vastgelegd: 0 accept, 0 reject, 0 add (2 stonden al in het logboek); 0 memo('s) " \
           "toegevoegd (3 waren er al)" in again.output
    path.write_bytes(b"geen zip")
    bad = runner.invoke(app, args)
    assert bad.exit_code == 2 and "moet een REFI-QDA-project zijn" in bad.output


# --------------------------------------------------------------------------- real export


@pytest.mark.slow
def test_round_trip_through_codeers_real_pseudonymised_export(tmp_path):
    """`codeer export` with the real pseudonymiser (deduce), one coding removed in the
    project, `codeer import`: the removed coding is rejected, every other one accepted, and
    every selection maps back through the placeholders without a problem."""
    from pipeline.export import command as export_command
    from tests.conftest import DEMO_RAW
    from tests.export.test_export import _codings, _write_codebook

    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("int02.txt", "int03.vtt"):
        shutil.copy(DEMO_RAW / name, raw)
    meta = pd.read_csv(DEMO_RAW / "interviews.csv", dtype=str)
    meta[meta["interview_id"].isin(["int02", "int03"])].to_csv(raw / "interviews.csv",
                                                                index=False)
    out = tmp_path / "out"
    segments = ingest.run(raw, out, progress=False).segments
    storage.write_table(_codings(segments), out / config.CODINGS_FILE, schema.CODINGS)
    book = _write_codebook(tmp_path / "codebook.yaml")
    export_command.run(out, book, pseudonymise=True, progress=False)
    qdpx = (out / refiqda.PROJECT_FILE).read_bytes()
    with zipfile.ZipFile(io.BytesIO(qdpx)) as zf:
        assert b"Sanne de Wit" not in zf.read(f"sources/{refiqda.guid('source', 'int03')}.txt")
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    exported = codings[codings["status"] != "rejected"]
    gone = exported[exported["method"] != "human"].iloc[-1]
    doc = segments.set_index("segment_id").loc[gone["segment_id"], "document_id"]

    def remove(root, _sources):
        # A passage with several codes is one selection with a Coding per code: remove the
        # Coding (and the selection when it was its only one).
        g = refiqda.guid("coding", doc, gone["segment_id"], gone["code_id"])
        coding = root.find(f".//{_q('Coding')}[@guid='{g}']")
        sel = coding.getparent()
        sel.remove(coding)
        if sel.find(_q("Coding")) is None:
            sel.getparent().remove(sel)

    path = tmp_path / "bewerkt.qdpx"
    path.write_bytes(_edit(qdpx, remove))
    result = caqdas_import.run(path, out, book, reviewer="Renate", now=NOW)
    assert result.plan.issues == []
    assert result.plan.sources == {"int02": "int02", "int03": "int03"}
    expected = {(s, c, "accept") for s, c in zip(exported["segment_id"], exported["code_id"],
                                                 strict=True)}
    expected -= {(gone["segment_id"], gone["code_id"], "accept")}
    expected |= {(gone["segment_id"], gone["code_id"], "reject")}
    assert {r[:3] for r in _log(out)} == expected
