"""Export stage: tables agree with the codings, workbook, figures, report, REFI-QDA, privacy."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from pipeline import config, schema, storage
from pipeline.coding.codebook import Codebook
from pipeline.errors import CodeerError
from pipeline.export import command as export_command
from pipeline.export import core as export_core
from pipeline.export import privacy, refiqda, tables, workbook
from pipeline.ingest import command as ingest
from tests.conftest import DEMO_RAW

BOOK_DATA = {
    "name": "Integrerend werken (test)",
    "themes": [
        {"id": "T1", "name": "Aan tafel", "color": "#0072B2",
         "description": "Wat er aan tafel gebeurt."},
        {"id": "T2", "name": "In het etablissement", "color": "#D55E00"},
    ],
    "codes": [
        {"id": "L1", "name": "Helderheid over rollen", "theme": "T1",
         "definition": "Wie zit er aan tafel en met welke rol."},
        {"id": "L2", "name": "Competenties aan tafel", "theme": "T1", "color": "#56B4E9",
         "definition": "Vaardigheden die de rol vraagt."},
        {"id": "L5", "name": "Duidelijke opdracht", "theme": "T2",
         "definition": "Een heldere opdracht en opdrachtgevers."},
        {"id": "L6", "name": "Thema's op de snijvlakken", "theme": "T2", "color": "#E69F00",
         "definition": "Werken met thema's die sectoren verbinden."},
    ],
}
BOOK = Codebook.model_validate(BOOK_DATA)
SPEAKERS = ("Sanne de Wit", "Lotte Vermeulen", "Ahmed El Amrani")
FIGURES = ("codes", "code_interview", "cooccurrence", "methods", "themes")


def _write_codebook(path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(BOOK_DATA, allow_unicode=True), encoding="utf-8")
    return path


def _codings(segments: pd.DataFrame) -> pd.DataFrame:
    """A dozen codings on respondent segments: every method, two co-occurrences, one reject."""
    resp = segments[(segments["role"] == "respondent")
                    & (segments["text"].str.split().str.len() >= 8)]
    picks = []
    for doc in ("int02", "int03"):
        mine = resp[resp["document_id"] == doc]
        # two segments of one turn first (turn co-occurrence), then four others
        turn = mine.groupby("turn_index").filter(lambda g: len(g) >= 2)["turn_index"].iloc[0]
        same = mine[mine["turn_index"] == turn]["segment_id"].tolist()[:2]
        rest = mine[mine["turn_index"] != turn]["segment_id"].tolist()[:4]
        picks.append(same + rest)
    a, b = picks
    rows = [
        (a[0], "L1", "both", 0.45, "accepted"), (a[0], "L2", "embedding", 0.30, "auto"),
        (a[1], "L5", "rule", 0.12, "auto"), (a[2], "L1", "rule", 0.05, "auto"),
        (a[3], "L2", "embedding", 0.33, "auto"), (a[4], "L6", "human", 1.0, "accepted"),
        (a[5], "L1", "embedding", 0.28, "rejected"),
        (b[0], "L5", "both", 0.41, "auto"), (b[1], "L6", "embedding", 0.22, "auto"),
        (b[2], "L2", "rule", 0.10, "accepted"), (b[3], "L1", "embedding", 0.36, "auto"),
        (b[3], "L5", "both", 0.50, "auto"),
    ]
    return pd.DataFrame(
        [{"segment_id": s, "code_id": c, "method": m, "score": sc,
          "evidence": "regel L1: rol" if m in ("rule", "both") else "lijkt op: voorbeeld",
          "status": st, "codebook_sha256": "0" * 64, "model_id": "test"}
         for s, c, m, sc, st in rows]
    )


def _themes(out: Path, segments: pd.DataFrame) -> None:
    resp = segments[segments["role"] == "respondent"].reset_index(drop=True)
    topics = [i % 4 - 1 for i in range(len(resp))]  # -1, 0, 1, 2
    themes = pd.DataFrame({"segment_id": resp["segment_id"], "topic": topics,
                           "probability": 0.8})
    storage.write_table(themes, out / config.THEMES_FILE, schema.THEMES)
    doc_of = dict(zip(resp["segment_id"], resp["document_id"], strict=True))
    rows = []
    for topic, group in themes.groupby("topic"):
        docs = sorted({doc_of[s] for s in group["segment_id"]})
        rows.append({
            "topic": topic, "label": "(niet ingedeeld)" if topic < 0
            else f"{topic}_wonen_sanne_wijk", "keywords": ["wonen", "sanne", "energie", "wijk"],
            "mmr_keywords": ["wonen", "wijk"], "size": len(group), "share": 0.25,
            "best_code": "L1" if topic != 1 else "L5", "best_code_similarity": 0.81,
            "emerging": topic == 1, "coded_share": 0.1, "coded_by_code": ["L1:1"],
            "quote_segment_ids": list(group["segment_id"].head(3)),
            "interviews": docs, "n_interviews": len(docs),
        })
    storage.write_table(pd.DataFrame(rows), out / config.THEME_INFO_FILE, schema.THEME_INFO)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """int02.txt (I:/R: labels) and int03.vtt (named voices) ingested, with a metadata sheet."""
    root = tmp_path_factory.mktemp("export")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy(DEMO_RAW / "int02.txt", raw)
    shutil.copy(DEMO_RAW / "int03.vtt", raw)
    meta = pd.read_csv(DEMO_RAW / "interviews.csv", dtype=str)
    meta[meta["interview_id"].isin(["int02", "int03"])].to_csv(raw / "interviews.csv",
                                                                index=False)
    out = root / "out"
    result = ingest.run(raw, out, progress=False)
    storage.write_table(_codings(result.segments), out / config.CODINGS_FILE, schema.CODINGS)
    _write_codebook(root / "codebook.yaml")
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def exported(ingested, tmp_path_factory) -> tuple[Path, export_core.Export]:
    """One export with themes, pseudonymisation off."""
    out = _copy(ingested, tmp_path_factory.mktemp("exported") / "out")
    _themes(out, storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS))
    result = export_command.run(out, ingested.parent / "codebook.yaml", pseudonymise=False,
                        progress=False)
    return out, result


@pytest.fixture
def quick_figures(monkeypatch):
    """Skip rendering (seconds per export) in tests that are not about the figures."""
    from pipeline.export import figures

    def fake(book, tables, counted=None, unit="segmenten"):
        names = [n for n in FIGURES if n != "themes" or "themes" in tables]
        return {n: (b"\x89PNG fake", b"<svg/>") for n in names}

    monkeypatch.setattr(figures, "build_figures", fake)


def _read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / config.TABLES_DIR / f"{name}.csv", encoding="utf-8")


def _counted(out: Path) -> pd.DataFrame:
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    kept = codings[codings["status"] != "rejected"]
    return kept.merge(segments[["segment_id", "document_id", "turn_index"]], on="segment_id")


# --------------------------------------------------------------------------- tables


def test_every_table_has_its_columns_in_order(exported):
    out, result = exported
    assert list(result.tables) == list(tables.TABLES)
    for name in tables.TABLES:
        df = _read(out, name)
        assert list(df.columns) == tables.columns(name), name
        assert len(df) or name == "memos", name  # memos: only when someone wrote one


def test_code_document_counts_agree_with_codings(exported):
    out, _ = exported
    kept = _counted(out)
    cd = _read(out, "code_document")
    assert len(cd) == len(BOOK.codes) * 2  # every code x interview, zeros included
    assert cd["n_segments"].sum() == len(kept) == 11  # the rejected one left out
    # No two codings of one code are adjacent in one turn here: a passage per coding.
    assert cd["n_passages"].sum() == 11 and (cd["n_passages"] <= cd["n_segments"]).all()
    got = cd.groupby(["code_id", "document_id"])["n_segments"].sum()
    want = kept.groupby(["code_id", "document_id"]).size()
    assert got[got > 0].sort_index().to_dict() == want.sort_index().to_dict()
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    resp = (segments["role"] == "respondent").groupby(segments["document_id"]).sum()
    for row in cd.itertuples():
        assert row.respondent_segments == resp[row.document_id]
        assert row.share == pytest.approx(row.n_segments / row.respondent_segments, abs=1e-4)


def test_code_department_sums_per_grouping(exported):
    out, _ = exported
    kept = _counted(out)
    cdep = _read(out, "code_department")
    assert set(cdep["grouping"]) == {"department", "cluster", "respondent_function"}
    for grouping, part in cdep.groupby("grouping"):
        assert part["n_segments"].sum() == len(kept), grouping
        per_code = part.groupby("code_id")["n_segments"].sum().to_dict()
        want = kept.groupby("code_id").size().to_dict()
        assert {k: v for k, v in per_code.items() if v} == want
    # int02 and int03 share a cluster: one group with both interviews
    cluster = cdep[cdep["grouping"] == "cluster"]
    assert set(cluster["group"]) == {"Stadsontwikkeling"}
    assert set(cluster["interviews_in_group"]) == {2}


def test_cooccurrence_tables(exported):
    out, _ = exported
    kept = _counted(out)
    seg = _read(out, "cooccurrence_passage")
    turn = _read(out, "cooccurrence_turn")
    assert len(seg) == len(turn) == len(BOOK.codes) ** 2
    m = seg.pivot(index="code_id_a", columns="code_id_b", values="n_passages")
    assert (m.values == m.values.T).all()
    for code, n in kept.groupby("code_id")["segment_id"].nunique().items():
        assert m.loc[code, code] == n
    assert m.loc["L1", "L2"] == 1  # a[0] carries L1 and L2: one passage with both codes
    assert m.loc["L1", "L5"] == 1  # b[3] carries L1 and L5
    t = turn.pivot(index="code_id_a", columns="code_id_b", values="n_turns")
    turns = kept.assign(unit=kept["document_id"] + kept["turn_index"].astype(str))
    for code, n in turns.groupby("code_id")["unit"].nunique().items():
        assert t.loc[code, code] == n
    # a[0] (L1, L2) and a[1] (L5) are in one turn: L1-L5 together in a turn, not a segment
    assert t.loc["L2", "L5"] >= 1 and m.loc["L2", "L5"] == 0


def test_excerpts_keep_rejected_with_status_and_context(exported):
    out, _ = exported
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    ex = _read(out, "excerpts")
    assert len(ex) == len(codings)
    assert (ex["status"] == "rejected").sum() == 1
    assert set(ex["method"]) == {"rule", "embedding", "both", "human"}
    assert ex["theme"].isin(["Aan tafel", "In het etablissement"]).all()
    assert ex["department"].notna().all() and ex["respondent_function"].notna().all()
    for row in ex.itertuples():
        assert f"»{row.text}«" in row.text_in_context
        assert len(row.text_in_context) > len(row.text) + 2  # some context around it
    # context from another turn is marked with the role, never the speaker's name
    assert ex["text_in_context"].str.contains(r"\[(?:interviewer|respondent)\]").any()


def test_interviews_table(exported):
    out, _ = exported
    iv = _read(out, "interviews")
    kept = _counted(out)
    assert list(iv["document_id"]) == ["int02", "int03"]
    # a passage with two codes (a[0]: L1 and L2) counts once
    assert iv["n_passages"].sum() == kept["segment_id"].nunique() == 9
    assert "interviewer" not in iv.columns


# --------------------------------------------------------------------------- workbook, figures


def test_workbook_has_every_sheet_and_explains_every_column(exported):
    from openpyxl import load_workbook

    out, _ = exported
    wb = load_workbook(out / config.WORKBOOK_FILE, read_only=True)
    assert wb.sheetnames == [workbook.NOTES_SHEET, *tables.TABLES]
    notes = [tuple(r) for r in wb[workbook.NOTES_SHEET].iter_rows(values_only=True)]
    assert notes[0] == ("blad", "kolom", "kolom in het CSV-bestand", "toelichting")
    explained = {(sheet, shown, col) for sheet, shown, col, text in notes[1:] if col and text}
    for name in tables.TABLES:
        header = next(wb[name].iter_rows(max_row=1, values_only=True))
        csv_header = list(pd.read_csv(out / config.TABLES_DIR / f"{name}.csv", nrows=0).columns)
        assert csv_header == tables.columns(name)  # the CSV keeps its machine-readable names
        assert len(set(header)) == len(header), name  # plain words, still one per column
        # every header is explained, next to the CSV column it stands for
        assert {(name, h, c) for h, c in zip(header, csv_header, strict=True)} <= explained
    excerpts = next(wb["excerpts"].iter_rows(max_row=1, values_only=True))
    assert {"kans op acceptatie", "hoe gecodeerd", "reviewstatus", "rol", "tekst"} <= \
        set(excerpts)
    general = " ".join(t for sheet, _, _, t in notes if sheet == "(algemeen)")
    assert "Engelse, machineleesbare kolomnamen" in general and "codeer import" in general
    rows = list(wb["code_document"].iter_rows(min_row=2, values_only=True))
    assert sum(r[tables.columns("code_document").index("n_passages")] for r in rows) == 11
    all_text = " ".join(str(v) for ws in wb for row in ws.iter_rows(values_only=True)
                        for v in row if v is not None)
    assert "embedding" not in all_text.replace("'embedding' voor 'model'", "")
    assert "score" not in all_text


def test_workbook_shows_vocabulary_values_in_dutch_and_csv_keeps_them(exported):
    from openpyxl import load_workbook

    out, _ = exported
    wb = load_workbook(out / config.WORKBOOK_FILE, read_only=True)
    rows = list(wb["excerpts"].iter_rows(values_only=True))
    sheet = pd.DataFrame(rows[1:], columns=rows[0])
    csv = pd.read_csv(out / config.TABLES_DIR / "excerpts.csv")
    assert set(csv["method"]) <= {"rule", "embedding", "both", "human"}
    assert set(csv["status"]) <= {"auto", "accepted", "rejected"}
    names = {"rule": "regel", "embedding": "model", "both": "regel én model",
             "human": "handmatig", "auto": "automatisch", "accepted": "geaccepteerd",
             "rejected": "afgewezen", "respondent": "respondent", "interviewer": "interviewer"}
    for col, shown in (("method", "hoe gecodeerd"), ("status", "reviewstatus"),
                       ("role", "rol")):
        assert list(sheet[shown]) == [names[v] for v in csv[col]], col


def test_workbook_in_english_for_contributors(exported, monkeypatch):
    from openpyxl import load_workbook

    out, result = exported
    monkeypatch.setenv("CODEER_LANG", "en")
    wb = load_workbook(io.BytesIO(workbook.workbook_bytes(result.tables, result.notes)),
                       read_only=True)
    rows = list(wb["excerpts"].iter_rows(values_only=True))
    sheet = pd.DataFrame(rows[1:], columns=rows[0])
    csv = pd.read_csv(out / config.TABLES_DIR / "excerpts.csv")
    assert list(sheet["how coded"]) == list(csv["method"])
    assert next(wb[workbook.NOTES_SHEET].iter_rows(max_row=1, values_only=True))[2] == \
        "column in the CSV file"


def test_every_figure_as_png_300_dpi_and_svg(exported):
    out, result = exported
    assert list(result.figures) == list(FIGURES)
    for name in FIGURES:
        png = (out / config.FIGURES_DIR / f"{name}.png").read_bytes()
        svg = (out / config.FIGURES_DIR / f"{name}.svg").read_text(encoding="utf-8")
        assert png.startswith(b"\x89PNG")
        width = struct.unpack(">I", png[16:20])[0]
        assert width == pytest.approx(16 / 2.54 * 300, abs=3)  # 16 cm at 300 dpi
        assert "<svg" in svg


# --------------------------------------------------------------------------- report


def test_report_has_a_section_per_theme_and_code_with_quotes(exported):
    out, _ = exported
    md = (out / config.REPORT_MD).read_text(encoding="utf-8")
    kept = _counted(out)
    for theme in BOOK.themes:
        assert f"\n## {theme.name}\n" in md
    sections = re.split(r"\n(?=### )", md)
    for code in BOOK.codes:
        body = next(s for s in sections if s.startswith(f"### {code.id} "))
        n = int((kept["code_id"] == code.id).sum())  # one passage per coding here
        assert f"**{n} passage" in body
        assert body.count("> „") >= 1  # at least one quote
        assert "— *int0" in body
    assert "## Opkomende thema's" in md and "### Thema 1:" in md
    assert "](figures/codes.png)" in md
    assert "Methode" in md and "2 interviews" in md


def test_report_quotes_prefer_accepted_both(exported):
    out, result = exported
    ex = result.tables["excerpts"]
    best = ex[(ex["code_id"] == "L1") & (ex["status"] == "accepted")]["text"].iloc[0]
    md = (out / config.REPORT_MD).read_text(encoding="utf-8")
    l1 = md.split("### L1 ")[1].split("\n### ")[0]
    first = l1.split("> „")[1].split("”")[0]
    # The quote is the coded passage in bold, within its turn.
    assert "**" + best[:30].replace("*", "\\*").replace("_", "\\_") in first
    rejected = ex[ex["status"] == "rejected"]["text"].iloc[0]
    assert "**" + rejected[:40] not in md  # never quoted (it may be another quote's context)


def test_html_report_is_self_contained(exported):
    out, _ = exported
    page = (out / config.REPORT_HTML).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'lang="nl"' in page
    assert 'src="figures/' not in page
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "<h2>Aan tafel</h2>" in page


# --------------------------------------------------------------------------- REFI-QDA


def test_refi_qda_files_validate(exported):
    out, _ = exported
    with zipfile.ZipFile(out / refiqda.PROJECT_FILE) as zf:
        qde = zf.read("project.qde")
    assert refiqda.validate(qde, "project") == []
    assert refiqda.validate((out / refiqda.CODEBOOK_FILE).read_bytes(), "codebook") == []
    back = refiqda.read_project((out / refiqda.PROJECT_FILE).read_bytes())
    assert len(back) == 11  # rejected coding left out
    # the interviewer column is no variable (speaker cases name the role "interviewer")
    assert b'name="interviewer"' not in qde.split(b"<Sources")[0].split(b"<Variables")[-1]


# --------------------------------------------------------------------------- without themes


def test_without_themes_tables_are_left_out_with_a_note(exported, tmp_path, quick_figures):
    from openpyxl import load_workbook

    out = _copy(exported[0], tmp_path / "out")
    (out / config.THEME_INFO_FILE).unlink()
    book = _write_codebook(tmp_path / "codebook.yaml")
    result = export_command.run(out, book, pseudonymise=False, progress=False)
    assert "themes" not in result.tables and "themes" not in result.figures
    assert not (out / config.TABLES_DIR / "themes.csv").exists()  # stale file removed
    assert not (out / config.FIGURES_DIR / "themes.png").exists()
    wb = load_workbook(out / config.WORKBOOK_FILE, read_only=True)
    assert "themes" not in wb.sheetnames
    notes = " ".join(str(r[3]) for r in wb[workbook.NOTES_SHEET].iter_rows(values_only=True))
    assert "codeer themes" in notes
    md = (out / config.REPORT_MD).read_text(encoding="utf-8")
    assert "## Opkomende thema's" in md and "niet gedraaid" in md


# --------------------------------------------------------------------------- errors


def test_no_codings_names_codeer_code(ingested, tmp_path, quick_figures):
    out = _copy(ingested, tmp_path / "out")
    (out / config.CODINGS_FILE).unlink()
    with pytest.raises(CodeerError, match="codeer code"):
        export_command.run(out, ingested.parent / "codebook.yaml", pseudonymise=False,
                           progress=False)


def test_codes_outside_the_codebook_are_refused(ingested, tmp_path, quick_figures):
    out = _copy(ingested, tmp_path / "out")
    book = dict(BOOK_DATA, codes=BOOK_DATA["codes"][:2])
    import yaml

    (tmp_path / "small.yaml").write_text(yaml.safe_dump(book), encoding="utf-8")
    with pytest.raises(CodeerError, match="niet in het codeboek"):
        export_command.run(out, tmp_path / "small.yaml", pseudonymise=False, progress=False)


def test_unwritable_target_leaves_earlier_export_intact(exported, tmp_path, quick_figures):
    out = _copy(exported[0], tmp_path / "out")
    book = _write_codebook(tmp_path / "codebook.yaml")
    # A folder where the report should go: the rename onto it fails, like a locked file.
    (out / config.REPORT_HTML).unlink()
    (out / config.REPORT_HTML).mkdir()
    (out / config.REPORT_HTML / "keep.txt").write_text("earlier", encoding="utf-8")
    tables = {p: p.stat().st_ino for p in (out / config.TABLES_DIR).glob("*.csv")}
    qdpx = (out / refiqda.PROJECT_FILE).stat().st_ino
    with pytest.raises(CodeerError, match=r"report\.html") as err:
        export_command.run(out, book, pseudonymise=False, progress=False)
    assert "de vorige versie is onveranderd gebleven" in err.value.message
    assert (out / config.REPORT_HTML / "keep.txt").read_text(encoding="utf-8") == "earlier"
    # files due after the failing one were not replaced (same inode), nor were the REFI files
    assert {p: p.stat().st_ino for p in tables} == tables
    assert (out / refiqda.PROJECT_FILE).stat().st_ino == qdpx
    assert not [p for p in out.rglob("*.tmp")], "temporary files left behind"


def test_locked_workbook_stops_before_anything_is_replaced(exported, tmp_path, quick_figures):
    out = _copy(exported[0], tmp_path / "out")
    book = _write_codebook(tmp_path / "codebook.yaml")
    (out / config.TABLES_DIR / "excerpts.csv").write_text("earlier\n", encoding="utf-8")
    (out / config.WORKBOOK_FILE).unlink()
    (out / config.WORKBOOK_FILE).mkdir()
    (out / config.WORKBOOK_FILE / "x").write_text("x", encoding="utf-8")
    before = {p: p.stat().st_ino for p in out.rglob("*") if p.is_file()}
    with pytest.raises(CodeerError, match=r"codeer\.xlsx"):
        export_command.run(out, book, pseudonymise=False, progress=False)
    assert (out / config.TABLES_DIR / "excerpts.csv").read_text(encoding="utf-8") == "earlier\n"
    assert {p: p.stat().st_ino for p in out.rglob("*") if p.is_file()} == before


# --------------------------------------------------------------------------- names


def test_extra_names_are_speaker_names_and_interviewers_not_roles(ingested):
    documents = storage.read_table(ingested / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(ingested / config.SEGMENTS_FILE, schema.SEGMENTS)
    names = privacy.extra_names(documents, segments)
    assert {"Sanne de Wit", "Lotte Vermeulen", "Ahmed El Amrani"} <= set(names)
    assert not {"I", "R", "Interviewer", "Respondent", ""} & set(names)
    both = pd.DataFrame({"interviewer": ["Lotte Vermeulen;Ahmed El Amrani"]})
    assert privacy.interviewer_names(both) == ["Lotte Vermeulen", "Ahmed El Amrani"]
    labels = pd.DataFrame({"speaker": ["Spreker 2", "De voorzitter", "Jan (VVD)", "R", "I"]})
    assert privacy.speaker_names(labels) == ["Jan (VVD)", "Jan"]


@dataclass
class StubPseudonymiser:
    """Replaces the given names by placeholders of another length, with exact offset maps."""

    names: tuple[str, ...]
    enabled: bool = True
    found: dict[str, str] = field(default_factory=dict)

    def _sub(self, text: str) -> tuple[str, list[tuple[int, int, int, int]]]:
        pattern = re.compile("|".join(re.escape(n) for n in self.names))
        parts, spans, pos, new = [], [], 0, 0
        for m in pattern.finditer(text):
            ph = self.found.setdefault(m.group(), f"[PERSOON-{len(self.found) + 1}]")
            parts.append(text[pos:m.start()])
            new += m.start() - pos
            spans.append((m.start(), m.end(), new, new + len(ph)))
            parts.append(ph)
            new += len(ph)
            pos = m.end()
        parts.append(text[pos:])
        return "".join(parts), spans

    def documents(self, texts):
        from pipeline.export.pseudonymise import PseudoDoc

        return {k: PseudoDoc(*self._sub(v)) for k, v in texts.items()}

    def text(self, text):
        return self._sub(text)[0]

    def key_table(self):
        return pd.DataFrame({"placeholder": list(self.found.values()),
                             "original": list(self.found), "category": "PERSOON",
                             "occurrences": 1})

    def originals(self):
        return set(self.found)


def test_pseudonymised_excerpts_and_refi_sources_follow_the_offset_map(ingested, quick_figures):
    documents = storage.read_table(ingested / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(ingested / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(ingested / config.CODINGS_FILE, schema.CODINGS)
    # Code a segment right after a name, so offsets after a replacement are exercised.
    named = segments[segments["text"].str.contains("Sanne|Hans", regex=True)]
    extra = pd.DataFrame([{**codings.iloc[0].to_dict(), "segment_id": named["segment_id"].iloc[0]}])
    codings = pd.concat([codings, extra], ignore_index=True)
    stub = StubPseudonymiser(("Sanne de Wit", "Lotte Vermeulen", "Hans Verbeek", "Hans"))
    result = export_core.build_export(documents, segments, codings, BOOK, stub)
    ex = result.tables["excerpts"]
    for row in ex.itertuples():
        original = segments.loc[segments["segment_id"] == row.segment_ids, "text"].iloc[0]
        assert row.text == stub.text(original).strip()
    back = refiqda.read_project(result.project)
    kept = ex[ex["status"] != "rejected"]
    assert sorted(b["text"].strip() for b in back) == sorted(kept["text"])
    with zipfile.ZipFile(io.BytesIO(result.project)) as zf:
        sources = [zf.read(n).decode() for n in zf.namelist() if n.startswith("sources/")]
    assert all(n not in s for s in sources for n in stub.names)
    assert "[PERSOON-1]" in "".join(sources)
    assert list(result.key.columns) == list(privacy.KEY_COLUMNS)


# --------------------------------------------------------------------------- real pseudonymiser


def _exported_texts(out: Path) -> dict[str, str]:
    from openpyxl import load_workbook

    texts = {str(p): p.read_text(encoding="utf-8")
             for p in [*(out / config.TABLES_DIR).glob("*.csv"), out / config.REPORT_MD,
                       out / config.REPORT_HTML]}
    wb = load_workbook(out / config.WORKBOOK_FILE, read_only=True)
    for ws in wb:
        texts[f"xlsx:{ws.title}"] = "\n".join(
            str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None)
    with zipfile.ZipFile(out / refiqda.PROJECT_FILE) as zf:
        for name in zf.namelist():
            texts[f"qdpx:{name}"] = zf.read(name).decode("utf-8")
    texts["qdc"] = (out / refiqda.CODEBOOK_FILE).read_text(encoding="utf-8")
    return texts


@pytest.mark.slow
def test_real_pseudonymisation_leaves_no_original_in_any_export(ingested, tmp_path,
                                                               quick_figures):
    out = _copy(ingested, tmp_path / "out")
    _themes(out, storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS))
    book = _write_codebook(tmp_path / "codebook.yaml")
    result = export_command.run(out, book, pseudonymise=True, progress=False)
    key_path = out / config.PRIVATE_DIR / config.KEY_FILE
    key = pd.read_csv(key_path, dtype=str)
    assert list(key.columns) == list(privacy.KEY_COLUMNS) and len(key) >= 3
    assert result.key is not None
    originals = set(key["original"]) | set(SPEAKERS) | {"Sanne", "Lotte Vermeulen"}
    texts = _exported_texts(out)
    leaks = []
    for where, text in texts.items():
        assert config.KEY_FILE not in text, where
        for original in originals:
            if re.search(rf"(?<!\w){re.escape(original)}(?!\w)", text):
                leaks.append((where, original))
    assert leaks == []
    assert "[PERSOON-" in texts[str(out / config.TABLES_DIR / "excerpts.csv")]
    # theme keywords are lemmas: a lower-case name in them is replaced too
    themes = _read(out, "themes")
    assert not themes["label"].str.contains("sanne", case=False).any()
    assert not themes["keywords"].str.contains("sanne", case=False).any()
    assert themes["keywords"].str.contains(r"\[PERSOON-\d+\]").all()
    with zipfile.ZipFile(out / refiqda.PROJECT_FILE) as zf:
        assert refiqda.validate(zf.read("project.qde"), "project") == []
    # the date metadata is pseudonymised, functions and departments stay
    iv = _read(out, "interviews")
    assert list(iv["department"]) == ["Duurzaamheid", "Ruimte, Wonen en Milieu"]
    assert "2022-03-22" not in texts["qdpx:project.qde"]

    # --no-pseudonymise: no key table written by that run, and names come back
    key_path.unlink()
    export_command.run(out, book, pseudonymise=False, progress=False)
    assert not key_path.exists()
    assert "Sanne de Wit" in _exported_texts(out)["qdpx:project.qde"] + "".join(
        t for w, t in _exported_texts(out).items() if w.startswith("qdpx:sources"))


# --------------------------------------------------------------------------- issue 15: ids, private

PIETER = (
    "I: Fijn dat je tijd had, Pieter. Kun je jezelf even voorstellen?\n"
    "R: Ja. Ik ben Pieter Bakker, wijkregisseur in Kralingen. Bel me gerust op +31 10 123 4567; "
    "declaraties gaan naar NL91ABNA0417164300.\n"
    "I: Hoe ging de samenwerking met de projectleider?\n"
    "R: Hans zei in april al dat meneer Verbeek de opdracht had. Hans Verbeek was de "
    "projectleider en daar was iedereen het over eens. De auto met kenteken 12-ABC-3 stond "
    "elke week voor het wijkcentrum.\n"
)


@pytest.fixture(scope="module")
def file_named(tmp_path_factory) -> Path:
    """int02.txt with a metadata row and "Interview Pieter Bakker.txt" without one."""
    root = tmp_path_factory.mktemp("file_named")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy(DEMO_RAW / "int02.txt", raw)
    (raw / "Interview Pieter Bakker.txt").write_text(PIETER, encoding="utf-8")
    meta = pd.read_csv(DEMO_RAW / "interviews.csv", dtype=str)
    meta[meta["interview_id"] == "int02"].to_csv(raw / "interviews.csv", index=False)
    out = root / "out"
    result = ingest.run(raw, out, progress=False)
    segs = result.segments[result.segments["role"] == "respondent"]
    picks = segs.groupby("document_id").head(3)["segment_id"]
    codings = pd.DataFrame({"segment_id": picks, "code_id": "L1", "method": "rule",
                            "score": 0.1, "evidence": "regel L1: rol", "status": "auto",
                            "codebook_sha256": "0" * 64, "model_id": "test"})
    storage.write_table(codings, out / config.CODINGS_FILE, schema.CODINGS)
    _write_codebook(root / "codebook.yaml")
    return out


def _shared_files(out: Path) -> dict[str, str]:
    """Every file in OUT meant to be shared (not private/, not the stage outputs), as text."""
    texts = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if not path.is_file() or rel.parts[0] == config.PRIVATE_DIR or path.suffix == ".parquet":
            continue
        if path.suffix in (".xlsx", ".qdpx", ".qdc"):
            if path.suffix == ".qdc":
                texts[str(rel)] = path.read_text(encoding="utf-8")
                continue
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    texts[f"{rel}:{name}"] = zf.read(name).decode("utf-8", errors="replace")
        elif path.suffix != ".png":
            texts[str(rel)] = path.read_text(encoding="utf-8")
    return texts


@pytest.mark.slow
def test_no_name_leaks_through_a_file_name_id_or_a_missed_detector(file_named, tmp_path):
    """Issue 15: "Interview Pieter Bakker.txt" without a row became the id
    ``interview_pieter_bakker`` in every export; the demo e-mail stayed in the .qdpx source;
    the key was world-readable."""
    out = _copy(file_named, tmp_path / "out")
    book = file_named.parent / "codebook.yaml"
    old = os.umask(0o000)
    try:
        result = export_command.run(out, book, pseudonymise=True, progress=False)
    finally:
        os.umask(old)
    texts = _shared_files(out)
    assert any(k.startswith("figures/code_interview.svg") for k in texts)
    assert any(k.startswith("project.qdpx:sources/") for k in texts)
    leaks = [(where, word) for where, text in texts.items()
             for word in ("pieter", "bakker", "verbeek", "kralingen", "@gemeente.example",
                          "123 4567", "NL91", "12-ABC-3", "r.schouten")
             if word.lower() in text.lower()]
    assert leaks == []
    assert "interview-01" in texts["tables/interviews.csv"]
    assert "int02" in texts["tables/interviews.csv"]  # the researcher's own id stays
    # One person, one placeholder: "Hans", "Hans Verbeek" and "meneer Verbeek".
    key = pd.read_csv(out / config.PRIVATE_DIR / config.KEY_FILE, dtype=str)
    verbeek = key[key["original"].isin(["Hans", "Hans Verbeek", "Verbeek"])]
    assert len(verbeek) == 3 and verbeek["placeholder"].nunique() == 1
    ids = key[key["category"] == privacy.DOCUMENT_CATEGORY]
    assert dict(zip(ids["original"], ids["placeholder"], strict=True)) == {
        "interview_pieter_bakker": "interview-01"}
    # The overview: every replacement with where and why, in private/ only.
    overview = pd.read_csv(out / config.PRIVATE_DIR / config.OVERVIEW_FILE, dtype=str,
                           keep_default_na=False)
    assert list(overview.columns) == list(privacy.OVERVIEW_COLUMNS)
    assert len(overview) == len(result.overview) > 10
    mine = overview[overview["document_id"] == "interview_pieter_bakker"]
    assert set(mine["exported_id"]) == {"interview-01"}
    assert {"IBAN", "KENTEKEN", "TELEFOONNUMMER", "LOCATIE", "PERSOON"} <= set(mine["category"])
    assert (mine["reason"] != "").all() and (mine["sentence"] != "").all()
    # Owner-only, even with umask 000.
    private = out / config.PRIVATE_DIR
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    for name in (config.KEY_FILE, config.OVERVIEW_FILE):
        assert stat.S_IMODE((private / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((out / config.REPORT_MD).stat().st_mode) == 0o666
    for text in texts.values():
        assert config.OVERVIEW_FILE not in text and config.KEY_FILE not in text
    # The next export keeps the neutral id (read back from the key).
    again = export_command.run(out, book, pseudonymise=True, progress=False)
    assert "interview-01" in set(again.tables["interviews"]["document_id"])


@pytest.mark.slow
def test_export_reads_the_researchers_settings(file_named, tmp_path, quick_figures):
    from typer.testing import CliRunner

    from pipeline.cli import app

    out = _copy(file_named, tmp_path / "out")
    settings = tmp_path / "mijn-pseudonimisering.yaml"
    settings.write_text("wijken: behouden\nlosse_maanden: vervangen\n"
                        "verwijderen:\n  plaatsen: [Bospolder-Tussendijken]\n",
                        encoding="utf-8")
    result = CliRunner().invoke(app, ["export", "--out", str(out), "--codebook",
                                      str(file_named.parent / "codebook.yaml"),
                                      "--pseudonymisation", str(settings), "-q"])
    assert result.exit_code == 0, result.output
    sources = "".join(t for w, t in _shared_files(out).items() if ":sources/" in w)
    assert "in Kralingen" in sources  # districts kept, as configured
    assert "Bospolder" not in sources  # ... except what the researcher lists to remove
    assert "in april" not in sources  # month names alone replaced, as configured
    assert "Pieter" not in sources and "Verbeek" not in sources
