"""REFI-QDA export: schema validity, round trip of coded text, determinism, users, zip layout."""

from __future__ import annotations

import io
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from pipeline.coding.codebook import Codebook
from pipeline.errors import CodeerError
from pipeline.export import refiqda
from pipeline.ingest import command as ingest
from tests.conftest import GOVERNANCE, SIGNALEN

LOGIUS = GOVERNANCE / "nlds_blog_2024-07-01_logius-meerdere-producten.txt"
NS = {"q": refiqda.PROJECT_NS}
NAME, ALIAS = "Aline", "[PERSOON-1]"

BOOK = Codebook.model_validate(
    {
        "name": "Samenwerking tussen gemeenten",
        "themes": [
            {
                "id": "samen",
                "name": "Samenwerken",
                "color": "#0072B2",
                "description": "Hoe organisaties samen bouwen.",
            },
            {"id": "systeem", "name": "Systemen", "color": "#D55E00"},
        ],
        "codes": [
            {
                "id": "S1",
                "name": "Gemeenschap",
                "theme": "samen",
                "definition": "Samenwerking met andere gemeenten of een community.",
                "include": ["community", "andere gemeenten"],
                "rules": ["gemeente"],
            },
            {
                "id": "S2",
                "name": "Replicatie",
                "theme": "samen",
                "definition": "Een bestaande oplossing overnemen in plaats van zelf bouwen.",
                "color": "#009E73",
            },
            {
                "id": "Y1",
                "name": "Integratie",
                "theme": "systeem",
                "definition": "Koppelingen met andere applicaties.",
            },
        ],
    }
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two real Dutch texts ingested with a metadata sheet (é, ë, ’ and a person's name)."""
    root = tmp_path_factory.mktemp("refi")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy(SIGNALEN, raw / "signalen.txt")
    shutil.copy(LOGIUS, raw / "logius.txt")
    (raw / "interviews.csv").write_text(
        "interview_id,file,department,date\n"
        "int01,signalen.txt,Stadsbeheer,2021-06-21\n"
        "int02,logius.txt,Logius – UX,2024-07-01\n",
        encoding="utf-8",
    )
    result = ingest.run(raw, root / "out", progress=False)
    return result.documents, result.segments


def _segment(segments: pd.DataFrame, doc: str, needle: str) -> pd.Series:
    hits = segments[
        (segments["document_id"] == doc) & segments["text"].str.contains(needle, regex=False)
    ]
    assert len(hits), f"no segment of {doc} contains {needle!r}"
    return hits.iloc[0]


def _row(seg, code, method, status, score=float("nan"), evidence="") -> dict:
    return {
        "segment_id": seg["segment_id"],
        "code_id": code,
        "method": method,
        "score": score,
        "evidence": evidence,
        "status": status,
        "codebook_sha256": "0" * 64,
        "model_id": "m",
    }


@pytest.fixture(scope="module")
def codings(corpus):
    _, segs = corpus
    rows = [
        _row(
            _segment(segs, "int01", "één Signalen branche"),
            "S1",
            "embedding",
            "auto",
            0.412,
            "lijkt op: samen met andere gemeenten",
        ),
        _row(_segment(segs, "int01", "creëren"), "S1", "rule", "auto", 1.0, "gemeente"),
        _row(_segment(segs, "int01", "technologieën"), "S2", "both", "accepted", 0.5, "replic"),
        _row(_segment(segs, "int01", "integratie met andere applicaties"), "Y1", "human", "auto"),
        _row(_segment(segs, "int01", "KMS"), "Y1", "embedding", "rejected", 0.2, "KMS"),
        _row(_segment(segs, "int02", "collega’s een design system"), "S1", "human", "accepted"),
        _row(_segment(segs, "int02", "Aline vertelt"), "S2", "embedding", "auto", 0.31, "DigiD"),
    ]
    return pd.DataFrame(rows)


def _kept(codings: pd.DataFrame) -> pd.DataFrame:
    return codings[codings["status"] != "rejected"]


def _qde(qdpx: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(qdpx)) as zf:
        return zf.read("project.qde")


def _build(corpus, codings, **kwargs) -> bytes:
    documents, segments = corpus
    kwargs.setdefault("reviewers", ("Renate",))
    kwargs.setdefault("metadata_columns", ("department", "date"))
    return refiqda.build_project(documents, segments, codings, BOOK, **kwargs)


def _pseudonymise(documents: pd.DataFrame):
    """A fake pseudonymiser: every NAME becomes ALIAS, with the matching offsets map."""
    texts = {
        d: t.replace(NAME, ALIAS)
        for d, t in zip(documents["document_id"], documents["text"], strict=True)
    }
    starts = {
        d: [i for i in range(len(t)) if t.startswith(NAME, i)]
        for d, t in zip(documents["document_id"], documents["text"], strict=True)
    }
    shift = len(ALIAS) - len(NAME)

    def offsets(doc: str, start: int, end: int) -> tuple[int, int]:
        def move(pos: int) -> int:
            return pos + shift * sum(1 for s in starts[doc] if s + len(NAME) <= pos)

        return move(start), move(end)

    return texts, offsets


# --------------------------------------------------------------------------- schema


def test_xsd_files_ship_with_the_package():
    """The schemas are package data (MIT, see xsd/README.md): no folder outside codeer."""
    from importlib import resources

    shipped = resources.files("pipeline.export") / "xsd"
    assert refiqda.xsd_dir() == Path(str(shipped))
    for name in ("Project.xsd", "Codebook.xsd"):
        root = etree.parse(str(refiqda.xsd_dir() / name)).getroot()
        assert root.get("targetNamespace").startswith("urn:QDA-XML:")
    assert "MIT" in (refiqda.xsd_dir() / "README.md").read_text(encoding="utf-8")


def test_project_and_codebook_validate(corpus, codings):
    assert refiqda.validate(_qde(_build(corpus, codings)), "project") == []
    assert refiqda.validate(refiqda.build_codebook(BOOK), "codebook") == []


def test_validate_reports_errors():
    bad = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
        b'<Code guid="x" name="a"/></Codes></CodeBook>'
    )
    errors = refiqda.validate(bad, "codebook")
    assert any("isCodable" in e for e in errors)
    assert any("guid" in e for e in errors)
    assert refiqda.validate(b"<nope", "project")[0].startswith("not well-formed")
    with pytest.raises(CodeerError):
        refiqda.validate(bad, "graph")


def test_xsd_folder_override(monkeypatch, tmp_path):
    monkeypatch.setenv(refiqda.XSD_ENV, str(tmp_path))
    assert refiqda.xsd_dir() == tmp_path
    with pytest.raises(CodeerError, match="CODEER_REFI_XSD"):
        refiqda.validate(b"<a/>", "project")


# --------------------------------------------------------------------------- round trip


def test_round_trip_recovers_segment_text(corpus, codings):
    _, segments = corpus
    got = refiqda.read_project(_build(corpus, codings))
    kept = _kept(codings)
    assert len(got) == len(kept)
    seg_text = dict(zip(segments["segment_id"], segments["text"], strict=True))
    seg_doc = dict(zip(segments["segment_id"], segments["document_id"], strict=True))
    expected = sorted(
        (seg_doc[s], seg_text[s], BOOK_NAMES[c])
        for s, c in zip(kept["segment_id"], kept["code_id"], strict=True)
    )
    actual = sorted((g["source_name"], g["text"], g["code_name"]) for g in got)
    assert actual == expected
    texts = " ".join(g["text"] for g in got)
    for ch in "éë’":  # positions are code points, so accented text round-trips exactly
        assert ch in texts
    assert all(g["code_guid"] == refiqda.guid("code", BOOK_IDS[g["code_name"]]) for g in got)


BOOK_NAMES = {c.id: refiqda.code_name(c) for c in BOOK.codes}
BOOK_IDS = {refiqda.code_name(c): c.id for c in BOOK.codes}


def test_round_trip_through_pseudonymised_text(corpus, codings):
    documents, segments = corpus
    texts, offsets = _pseudonymise(documents)
    qdpx = _build(corpus, codings, texts=texts, offsets=offsets)
    assert refiqda.validate(_qde(qdpx), "project") == []
    got = refiqda.read_project(qdpx)
    seg_text = dict(zip(segments["segment_id"], segments["text"], strict=True))
    expected = sorted(seg_text[s].replace(NAME, ALIAS) for s in _kept(codings)["segment_id"])
    assert sorted(g["text"] for g in got) == expected
    assert any(ALIAS in g["text"] for g in got)
    with zipfile.ZipFile(io.BytesIO(qdpx)) as zf:
        for name in zf.namelist():
            assert NAME.encode() not in zf.read(name), name


def test_pseudonymised_text_needs_offsets_and_every_document(corpus, codings):
    documents, _ = corpus
    texts, _ = _pseudonymise(documents)
    with pytest.raises(CodeerError, match="offsets"):
        _build(corpus, codings, texts=texts)
    with pytest.raises(CodeerError, match="int02"):
        _build(corpus, codings, texts={"int01": texts["int01"]})


def test_rejected_codings_are_absent(corpus, codings):
    got = refiqda.read_project(_build(corpus, codings))
    rejected = codings[codings["status"] == "rejected"].iloc[0]
    _, segments = corpus
    text = segments.set_index("segment_id").loc[rejected["segment_id"], "text"]
    assert not any(g["text"] == text for g in got)
    assert len(got) == len(codings) - 1


def test_unknown_code_is_an_error(corpus, codings):
    stale = codings.copy()
    stale.loc[0, "code_id"] = "GONE"
    with pytest.raises(CodeerError, match="GONE"):
        _build(corpus, stale)


# --------------------------------------------------------------------------- determinism


def test_output_is_byte_identical(corpus, codings):
    assert _build(corpus, codings) == _build(corpus, codings)
    shuffled = codings.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert _build(corpus, shuffled) == _build(corpus, codings)
    assert refiqda.build_codebook(BOOK) == refiqda.build_codebook(BOOK)


def test_guids_are_stable_and_valid(corpus, codings):
    root = etree.fromstring(_qde(_build(corpus, codings)))
    guids = [e.get("guid") for e in root.iter() if e.get("guid")]
    assert len(guids) == len(set(guids))
    src = root.find(".//q:TextSource[@name='int01']", NS)
    assert src.get("guid") == refiqda.guid("source", "int01")
    assert src.get("plainTextPath") == f"internal://{src.get('guid')}.txt"


def test_creation_date(corpus, codings):
    qde = _qde(_build(corpus, codings))
    assert b'creationDateTime="2000-01-01T00:00:00Z"' in qde
    dated = codings.assign(reviewed_at=[f"2025-03-0{i + 1}T10:00:00" for i in range(len(codings))])
    root = etree.fromstring(_qde(_build(corpus, dated)))
    assert root.get("creationDateTime") == "2025-03-07T10:00:00Z"  # latest coding date
    given = _build(corpus, codings, created=datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert etree.fromstring(_qde(given)).get("creationDateTime") == "2024-05-01T12:00:00Z"


# --------------------------------------------------------------------------- content


def test_users_are_attributed(corpus, codings):
    got = refiqda.read_project(_build(corpus, codings, reviewers=("Renate", "Sebastian")))
    by_method = {}
    for g, row in zip(
        sorted(got, key=lambda g: g["text"]),
        sorted(_kept(codings).to_dict("records"), key=lambda r: _text(corpus, r)),
        strict=True,
    ):
        by_method.setdefault((row["method"], row["status"]), set()).add(g["user"])
    assert by_method[("embedding", "auto")] == {refiqda.AUTOMATIC_USER}
    assert by_method[("rule", "auto")] == {refiqda.AUTOMATIC_USER}
    assert by_method[("both", "accepted")] == {"Renate"}
    assert by_method[("human", "auto")] == {"Renate"}
    assert by_method[("human", "accepted")] == {"Renate"}
    root = etree.fromstring(_qde(_build(corpus, codings, reviewers=("Renate", "Sebastian"))))
    users = [u.get("name") for u in root.iterfind(".//q:User", NS)]
    assert users == ["Renate", refiqda.AUTOMATIC_USER, "Sebastian"]  # 3-3 tie: reviewers first
    auto_only = codings[codings["method"].isin(["rule", "embedding"])]
    root = etree.fromstring(_qde(_build(corpus, auto_only, reviewers=("Renate",))))
    users = [u.get("name") for u in root.iterfind(".//q:User", NS)]
    assert users == [refiqda.AUTOMATIC_USER, "Renate"]  # most codings first (QualCoder)


def test_reviewer_column_and_default_name(corpus, codings):
    named = codings.assign(reviewer=["", "", "Sebastian", "", "", "", ""])
    got = refiqda.read_project(_build(corpus, named, reviewers=()))
    users = {g["user"] for g in got}
    assert users == {refiqda.AUTOMATIC_USER, "Sebastian", refiqda.DEFAULT_REVIEWER}


def _text(corpus, row) -> str:
    _, segments = corpus
    return segments.set_index("segment_id").loc[row["segment_id"], "text"]


def test_descriptions_record_automatic_codings(corpus, codings):
    got = {g["text"]: g for g in refiqda.read_project(_build(corpus, codings))}
    seg = _segment(corpus[1], "int01", "één Signalen branche")
    assert got[seg["text"]]["description"] == (
        "codeer | model, kans op acceptatie 0,412, automatisch | waarom: lijkt op: samen met "
        "andere gemeenten"
    )
    human = _segment(corpus[1], "int02", "collega’s een design system")
    assert got[human["text"]]["description"] == ""


def test_codebook_is_nested_by_theme(corpus, codings):
    for data, ns in (
        (_qde(_build(corpus, codings)), refiqda.PROJECT_NS),
        (refiqda.build_codebook(BOOK), refiqda.CODEBOOK_NS),
    ):
        root = etree.fromstring(data)
        tops = (
            root.find(f"{{{ns}}}Codes")
            if ns == refiqda.CODEBOOK_NS
            else root.find(f"{{{ns}}}CodeBook/{{{ns}}}Codes")
        )
        themes = tops.findall(f"{{{ns}}}Code")
        assert [t.get("name") for t in themes] == ["Samenwerken", "Systemen"]
        assert {t.get("isCodable") for t in themes} == {"false"}
        children = themes[0].findall(f"{{{ns}}}Code")
        # the id leads the name, so it survives a CAQDAS that gives codes new GUIDs
        assert [c.get("name") for c in children] == ["S1 Gemeenschap", "S2 Replicatie"]
        assert [c.get("isCodable") for c in children] == ["true", "true"]
        assert [c.get("color") for c in children] == ["#0072B2", "#009E73"]
        desc = children[0].findtext(f"{{{ns}}}Description")
        assert desc.startswith("Samenwerking met andere gemeenten")
        assert "Wel coderen:\n- community\n- andere gemeenten" in desc


def test_cases_carry_metadata(corpus, codings):
    root = etree.fromstring(_qde(_build(corpus, codings)))
    variables = {v.get("guid"): v.get("name") for v in root.iterfind(".//q:Variable", NS)}
    assert sorted(variables.values()) == ["date", "department", refiqda.SPEAKER_ROLE_VARIABLE]
    assert {v.get("typeOfVariable") for v in root.iterfind(".//q:Variable", NS)} == {"Text"}
    case = root.find(".//q:Case[@name='int02']", NS)
    values = {
        variables[vv.find("q:VariableRef", NS).get("targetGUID")]: vv.findtext(
            "q:TextValue", namespaces=NS
        )
        for vv in case.iterfind("q:VariableValue", NS)
    }
    assert values == {"department": "Logius – UX", "date": "2024-07-01"}
    assert case.find("q:SourceRef", NS).get("targetGUID") == refiqda.guid("source", "int02")


def test_zip_layout_and_encoding(corpus, codings):
    documents, _ = corpus
    with zipfile.ZipFile(io.BytesIO(_build(corpus, codings))) as zf:
        names = zf.namelist()
        assert names[0] == "project.qde"
        assert sorted(names[1:]) == sorted(
            f"sources/{refiqda.guid('source', d)}.txt" for d in documents["document_id"]
        )
        assert {i.date_time for i in zf.infolist()} == {refiqda.ZIP_DATE_TIME}
        for name in names:
            data = zf.read(name)
            assert not data.startswith(b"\xef\xbb\xbf")
            assert b"\r" not in data
        assert zf.read("project.qde").startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        source = zf.read(f"sources/{refiqda.guid('source', 'int01')}.txt").decode("utf-8")
        assert source == documents.set_index("document_id").loc["int01", "text"]


def test_crlf_text_is_normalised_with_positions(corpus, codings):
    documents, segments = corpus
    texts = {
        d: t.replace("\n", "\r\n")
        for d, t in zip(documents["document_id"], documents["text"], strict=True)
    }

    def offsets(doc: str, start: int, end: int) -> tuple[int, int]:
        text = documents.set_index("document_id").loc[doc, "text"]
        return start + text.count("\n", 0, start), end + text.count("\n", 0, end)

    got = refiqda.read_project(_build(corpus, codings, texts=texts, offsets=offsets))
    seg_text = dict(zip(segments["segment_id"], segments["text"], strict=True))
    assert sorted(g["text"] for g in got) == sorted(
        seg_text[s] for s in _kept(codings)["segment_id"]
    )


def test_write_exports(tmp_path, corpus, codings):
    project, book = _build(corpus, codings), refiqda.build_codebook(BOOK)
    refiqda.write_exports(tmp_path / "out", project, book)
    assert (tmp_path / "out" / "project.qdpx").read_bytes() == project
    assert (tmp_path / "out" / "codebook.qdc").read_bytes() == book
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["codebook.qdc", "project.qdpx"]


def test_code_names_keep_their_ids_and_stay_unique():
    data = BOOK.model_dump()
    data["codes"][2]["name"] = "Gemeenschap"  # same name as S1, another theme
    data["codes"][1]["name"] = "S2 Replicatie"  # the id in the name already: not doubled
    data["themes"][1]["name"] = "Samenwerken"  # two themes with one name
    root = etree.fromstring(refiqda.build_codebook(Codebook.model_validate(data)))
    names = [c.get("name") for c in root.iter(f"{{{refiqda.CODEBOOK_NS}}}Code")]
    assert names == [
        "Samenwerken [samen]",
        "S1 Gemeenschap",
        "S2 Replicatie",
        "Samenwerken [systeem]",
        "Y1 Gemeenschap",
    ]


# --------------------------------------------------------------------------- dates


def _attr(root, xpath: str, attr: str = "creationDateTime") -> str:
    return root.find(xpath, NS).get(attr)


def _selection_xpath(seg_id: str, code: str, doc: str = "int01") -> str:
    return f".//q:PlainTextSelection[@guid='{refiqda.guid('selection', doc, seg_id, code)}']"


def test_dates_are_real_and_deterministic(corpus, codings):
    documents, segments = corpus
    dated = codings.assign(reviewed_at=[None, None, "2025-03-04T10:00:00", "2025-03-05T11:00:00",
                                        None, "2025-03-06T12:00:00+01:00", None])
    coded_at = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
    qdpx = _build(corpus, dated, coded_at=coded_at)
    assert qdpx == _build(corpus, dated, coded_at=coded_at)  # no wall clock anywhere
    root = etree.fromstring(_qde(qdpx))
    rows = dated.to_dict("records")
    # automatic codings: the run's recorded time; reviewed ones: their review's time
    assert _attr(root, _selection_xpath(rows[0]["segment_id"], "S1")) == "2025-02-03T04:05:06Z"
    assert _attr(root, _selection_xpath(rows[2]["segment_id"], "S2")) == "2025-03-04T10:00:00Z"
    assert _attr(root, _selection_xpath(rows[5]["segment_id"], "S1", "int02")) == \
        "2025-03-06T11:00:00Z"  # in UTC
    # sources: the interview date from the metadata; the project: the latest date of all
    assert _attr(root, ".//q:TextSource[@name='int01']") == "2021-06-21T00:00:00Z"
    assert _attr(root, ".//q:TextSource[@name='int02']") == "2024-07-01T00:00:00Z"
    assert root.get("creationDateTime") == "2025-03-06T11:00:00Z"
    assert refiqda.validate(_qde(qdpx), "project") == []


def test_a_pseudonymised_interview_date_is_not_leaked_as_the_source_date(corpus, codings):
    documents, segments = corpus
    hidden = documents.assign(date=["[DATUM-1]", "[DATUM-2]"])
    qdpx = refiqda.build_project(hidden, segments, codings, BOOK, metadata_columns=("date",))
    root = etree.fromstring(_qde(qdpx))
    assert {s.get("creationDateTime") for s in root.iterfind(".//q:TextSource", NS)} == \
        {root.get("creationDateTime")}
    assert b"2021-06-21" not in _qde(qdpx) and b"2024-07-01" not in _qde(qdpx)


@pytest.mark.parametrize("value, expected", [
    ("2021-06-21", datetime(2021, 6, 21, tzinfo=UTC)),
    ("21-06-2021", datetime(2021, 6, 21, tzinfo=UTC)),
    ("3/4/2022", datetime(2022, 4, 3, tzinfo=UTC)),  # day first, the Dutch way
    ("2021-06-21T10:30:00", datetime(2021, 6, 21, 10, 30, tzinfo=UTC)),
    ("[DATUM-1]", None),
    ("voorjaar 2021", None),
    ("31-02-2021", None),
    (None, None),
    (float("nan"), None),
])
def test_interview_date(value, expected):
    assert refiqda.interview_date(value) == expected


# --------------------------------------------------------------------------- notes


def test_review_notes_and_memos_become_notes(corpus, codings):
    documents, segments = corpus
    rows = codings.to_dict("records")
    free = _segment(segments, "int01", "Erik Veerman")["segment_id"]  # no coding there
    when = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
    notes = [
        refiqda.Note("Twijfel: gaat dit over gemeenten?", "Renate", "coding",
                     rows[0]["segment_id"], "S1", when, "Beoordeling S1: geaccepteerd"),
        refiqda.Note("Afgewezen: gaat over iets anders.", "Renate", "coding",
                     rows[4]["segment_id"], "Y1", when),  # a rejected coding: no selection
        refiqda.Note("Mooie introductie.", "Sebastian", "passage", free, created=when),
        refiqda.Note("Blog, geen interview.", "Sebastian", "document", "int02", created=when),
        refiqda.Note("Y1 is smal.", "Renate", "code", "Y1", created=when),
        refiqda.Note("Eerste ronde klaar.", "Renate", "project", created=when),
        refiqda.Note("Over een zin die er niet meer is.", "Renate", "passage", "weg",
                     created=when),
    ]
    qdpx = _build(corpus, codings, notes=notes)
    qde = _qde(qdpx)
    assert refiqda.validate(qde, "project") == []
    root = etree.fromstring(qde)
    note_els = root.findall("q:Notes/q:Note", NS)
    assert len(note_els) == 6  # the rejected coding's note has nothing to hang on
    by_text = {n.findtext("q:PlainTextContent", namespaces=NS): n for n in note_els}
    users = {u.get("guid"): u.get("name") for u in root.iterfind(".//q:User", NS)}
    assert users[by_text["Mooie introductie."].get("creatingUser")] == "Sebastian"
    assert by_text["Y1 is smal."].get("creationDateTime") == "2025-04-01T09:00:00Z"

    def refs(el):
        return {by_guid[r.get("targetGUID")] for r in el.findall("q:NoteRef", NS)}

    by_guid = {n.get("guid"): n.findtext("q:PlainTextContent", namespaces=NS) for n in note_els}
    assert refs(root.find(_selection_xpath(rows[0]["segment_id"], "S1"), NS)) == \
        {"Twijfel: gaat dit over gemeenten?"}
    memo_sel = root.find(f".//q:PlainTextSelection[@guid='"
                         f"{refiqda.guid('memo-selection', 'int01', free)}']", NS)
    assert memo_sel.find("q:Coding", NS) is None and refs(memo_sel) == {"Mooie introductie."}
    text = memo_sel.get("name")
    assert "Erik Veerman" in text
    assert refs(root.find(".//q:TextSource[@name='int02']", NS)) == {"Blog, geen interview."}
    y1 = root.find(f".//q:Code[@guid='{refiqda.guid('code', 'Y1')}']", NS)
    assert refs(y1) == {"Y1 is smal."}
    assert refs(root) == {"Eerste ronde klaar.", "Over een zin die er niet meer is."}
    assert len(refiqda.read_project(qdpx)) == len(_kept(codings))  # memo selections: no coding


def test_notes_from_the_logs(corpus, codings):
    from pipeline.review import decisions, memos

    reviews, _ = decisions.parse_reviews(
        "segment_id,code_id,decision,reviewer,timestamp,note\n"
        "s1,S1,accept,Renate,2025-04-01T09:00:00,Aline twijfelt\n"
        "s2,S1,reject,Renate,2025-04-01T09:05:00,\n")
    log, _ = memos.parse_memos("timestamp,author,about,target,text\n"
                               "2025-04-02T10:00:00,Renate,document,int02,Over Aline.\n")
    scrub = str.upper
    assert refiqda.review_notes(reviews, scrub) == [refiqda.Note(
        "ALINE TWIJFELT", "Renate", "coding", "s1", "S1",
        datetime(2025, 4, 1, 9, 0, tzinfo=UTC), "Beoordeling S1: geaccepteerd")]
    assert refiqda.memo_notes(log, scrub) == [refiqda.Note(
        "OVER ALINE.", "Renate", "document", "int02", "",
        datetime(2025, 4, 2, 10, 0, tzinfo=UTC), "Memo (interview: int02)")]
