"""The review notebooks: their helpers on small frames (fast), and every notebook executed on
the demo interviews coded with the real model (slow)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from pipeline import config, schema, storage
from pipeline.coding.codebook import load_codebook
from pipeline.review import decisions as review
from pipeline.review import notebook as nb
from tests.conftest import CODEBOOK, DEMO_RAW, ROOT

NOTEBOOKS = ROOT / "notebooks"
NAMES = ("01-overzicht", "02-review", "03-overeenstemming")
DEMO_DECISIONS = {"02-review": 2}  # decisions each notebook records under the demo switch

SMALL_CODEBOOK = """\
version: 1
name: Klein
defaults: {threshold: 0.1}
themes:
  - {id: T1, name: Thema een}
codes:
  - {id: A, name: Alfa, theme: T1, definition: Over alfa., threshold: 0.05}
  - {id: B, name: Beta, theme: T1, definition: Over beta.}
"""


# --------------------------------------------------------------------------- small frames


def _segments() -> pd.DataFrame:
    """Two interviews; turn 1 of d1 has three sentences (s1, s2, s3)."""
    rows = []
    layout = [("d1", 0, "interviewer", ["Hoe ging dat?"]),
              ("d1", 1, "respondent", ["Eerste zin.", "Tweede zin.", "Derde zin."]),
              ("d2", 0, "respondent", ["Vierde zin.", "Vijfde zin.", "Zesde zin."])]
    n = 0
    for doc, turn, role, texts in layout:
        for text in texts:
            rows.append({"document_id": doc, "segment_id": f"s{n}", "segment_index": n,
                         "turn_index": turn, "speaker": role[:4], "role": role, "start": 0,
                         "end": len(text), "text": text, "lemmas": text.lower(),
                         "time_start": np.nan, "time_end": np.nan,
                         "department": "Wonen" if doc == "d1" else "Energie"})
            n += 1
    return schema.SEGMENTS.conform(pd.DataFrame(rows))


def _codings(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame([{"segment_id": s, "code_id": c, "method": m, "score": sc,
                        "evidence": f"bewijs {s}", "status": st, "codebook_sha256": "x",
                        "model_id": "m"} for s, c, m, sc, st in rows])
    return schema.CODINGS.conform(df)


@pytest.fixture
def small(tmp_path) -> nb.Data:
    """A tiny output folder: code A (threshold 0.05) on six segments, code B on one."""
    out = tmp_path / "out"
    book_path = tmp_path / "codebook.yaml"
    book_path.write_text(SMALL_CODEBOOK, encoding="utf-8")
    book, _ = load_codebook(book_path)
    segments = _segments()
    storage.write_table(segments, out / config.SEGMENTS_FILE, schema.SEGMENTS)
    documents = schema.DOCUMENTS.conform(pd.DataFrame({
        "document_id": ["d1", "d2"], "source_path": ["d1.txt", "d2.txt"], "sha256": ["a", "b"],
        "format": ["txt", "txt"], "encoding": ["utf-8", "utf-8"], "text": ["", ""],
        "n_words": [10, 10], "department": ["Wonen", "Energie"]}))
    codings = _codings([
        ("s1", "A", "embedding", 0.25, "auto"),   # distance 0.20
        ("s2", "A", "both", 0.04, "auto"),        # distance 0.01: most uncertain
        ("s3", "A", "rule", np.nan, "auto"),      # no score: last
        ("s4", "A", "embedding", 0.10, "auto"),   # distance 0.05
        ("s5", "A", "embedding", 0.07, "rejected"),  # reviewed in an earlier run
        ("s6", "A", "human", np.nan, "accepted"),    # added by hand: not in the queue
        ("s4", "B", "rule", 0.01, "auto"),
    ])
    return nb.Data(out, book_path, book, documents, segments, codings)


def test_paths_default_to_the_project_root_from_the_notebooks_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("CODEER_OUT", raising=False)
    monkeypatch.delenv("CODEER_CODEBOOK", raising=False)
    assert nb.paths(NOTEBOOKS) == (ROOT / "data" / "coded", ROOT / "codebook.yaml")
    monkeypatch.setenv("CODEER_OUT", "elders/coded")
    monkeypatch.setenv("CODEER_CODEBOOK", str(tmp_path / "boek.yaml"))
    assert nb.paths(NOTEBOOKS) == (ROOT / "elders" / "coded", tmp_path / "boek.yaml")


def test_review_queue_most_uncertain_first_rule_only_last(small):
    queue = nb.review_queue(small, "A")
    assert list(queue.columns) == list(nb.QUEUE_COLUMNS)
    assert queue["segment_id"].tolist() == ["s2", "s4", "s1", "s3"]
    assert (queue["threshold"] == 0.05).all()
    assert nb.review_queue(small, "A", n=2)["segment_id"].tolist() == ["s2", "s4"]
    # The whole turn, the segment itself marked.
    assert queue.loc[0, "turn"] == "Eerste zin. »Tweede zin.« Derde zin."
    assert queue.loc[0, ["document_id", "role"]].tolist() == ["d1", "respondent"]
    assert nb.review_queue(small, "B")["threshold"].tolist() == [0.1]  # codebook default


def test_review_queue_leaves_out_what_is_reviewed(small):
    review.record(small.out, "s2", "A", "reject", "anna")
    review.record(small.out, "s4", "B", "accept", "anna")  # another code: s4 stays for A
    assert nb.review_queue(small, "A")["segment_id"].tolist() == ["s4", "s1", "s3"]
    # A second reviewer still sees what anna decided (an independent double review), and
    # also what an earlier run marked as reviewed.
    assert nb.review_queue(small, "A", reviewer="bram")["segment_id"].tolist() == \
        ["s2", "s5", "s4", "s1", "s3"]
    assert nb.review_queue(small, "A", reviewer="anna")["segment_id"].tolist() == \
        ["s5", "s4", "s1", "s3"]
    sizes = nb.queue_sizes(small)
    assert sizes.set_index("code_id")["to_review"].to_dict() == {"A": 3, "B": 0}


def test_review_queue_unknown_code(small):
    from pipeline.errors import CodeerError

    with pytest.raises(CodeerError, match="code must be one of"):
        nb.review_queue(small, "Z")


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _reviews(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / config.REVIEWS_FILE, dtype=str, keep_default_na=False)


def test_review_widget_buttons_record_decisions(small):
    import ipywidgets as widgets

    box = nb.review_widget(small, small.out, "A", "tester", n=3)
    assert isinstance(box, widgets.VBox)
    parts = list(_walk(box))
    buttons = [w for w in parts if isinstance(w, widgets.Button)]
    accept = [b for b in buttons if b.description == "Accepteren"]
    reject = [b for b in buttons if b.description == "Afwijzen"]
    assert len(accept) == len(reject) == 3
    excerpt = next(w.value for w in parts if isinstance(w, widgets.HTML) and "Tweede" in w.value)
    assert "Eerste zin. <b style='background:#FFF3B0'>»Tweede zin.«</b> Derde zin." in excerpt
    accept[0].click()
    rows = _reviews(small.out)
    assert rows[["segment_id", "code_id", "decision", "reviewer"]].values.tolist() == \
        [["s2", "A", "accept", "tester"]]
    assert accept[0].disabled and reject[0].disabled
    reject[1].click()
    assert _reviews(small.out)[["segment_id", "decision"]].values.tolist() == \
        [["s2", "accept"], ["s5", "reject"]]

    # Add a code the coder missed, by segment id; an unknown id records nothing.
    text = next(w for w in parts if isinstance(w, widgets.Text) and w.description == "Segment:")
    code = next(w for w in parts if isinstance(w, widgets.Dropdown))
    add = next(b for b in buttons if b.description == "Code toevoegen")
    text.value, code.value = "s0", "B"
    add.click()
    text.value = "bestaat-niet"
    add.click()
    rows = _reviews(small.out)
    assert rows.iloc[-1][["segment_id", "code_id", "decision"]].tolist() == ["s0", "B", "add"]
    assert len(rows) == 3
    # The decisions now count: the queue moves on.
    assert nb.review_queue(small, "A", reviewer="tester")["segment_id"].tolist() == \
        ["s4", "s1", "s3"]


def test_decide_is_review_record(small):
    row = nb.decide(small.out, "s1", "A", "accept", "anna", note="duidelijk")
    assert row["note"] == "duidelijk"
    latest = small.reviews("anna")
    assert latest[["segment_id", "decision"]].values.tolist() == [["s1", "accept"]]


def test_overview_and_where_codes_occur(small):
    review.record(small.out, "s1", "A", "accept", "anna")
    table = nb.overview(small).set_index("code_id")
    # s5 is rejected: not counted; s6 (human) is.
    assert table.loc["A", ["segments", "interviews", "embedding", "both", "rule", "human"]] \
        .tolist() == [5, 2, 2, 1, 1, 1]
    assert table.loc["A", ["auto", "accepted", "rejected", "reviewed"]].tolist() == [4, 1, 1, 1]
    assert table.loc["B", "segments"] == 1
    groups = nb.by_group(small, "department")
    assert groups.loc["A"].to_dict() == {"Energie": 2, "Wonen": 3}
    assert nb.by_group(small, "cluster").shape[1] == 0


def test_notebooks_are_saved_without_outputs():
    for name in NAMES:
        book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(book)
        assert book.metadata["kernelspec"]["name"] == "python3"
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


# --------------------------------------------------------------------------- notebooks


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    """The demo interviews ingested and coded with the real model, plus a few decisions.

    Embeddings go to the session's shared cache (``CODEER_CACHE_DIR``, see conftest), so the
    demo is embedded once per test session whichever test codes it first.
    """
    from pipeline.coding import command as code
    from pipeline.ingest import command as ingest
    from pipeline.models import build as models

    config.model_offline_env()
    models.build_model()
    tmp = tmp_path_factory.mktemp("notebooks")
    raw, out = tmp / "raw", tmp / "out"
    shutil.copytree(DEMO_RAW, raw)
    ingest.run(raw, out, progress=False)
    code.run(out, CODEBOOK, progress=False)

    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    counts = codings["code_id"].value_counts()
    assert counts.max() >= 2, "the demo needs a code with two automatic codings"
    top = counts.index[0]
    seg = codings.loc[codings["code_id"] == top, "segment_id"].tolist()
    review.record(out, seg[0], top, "accept", "anna")
    review.record(out, seg[1], top, "reject", "anna")
    review.record(out, seg[0], top, "accept", "bram")
    review.record(out, seg[1], top, "accept", "bram")
    coded = set(zip(codings["segment_id"], codings["code_id"], strict=True))
    other = next(c for c in counts.index[::-1] if c != top)
    missed = next(s for s in segments.loc[segments["role"] == "respondent", "segment_id"]
                  if (s, other) not in coded)
    review.record(out, missed, other, "add", "anna", note="gemist")
    return out


def _execute(name: str) -> nbformat.NotebookNode:
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    assert "python3" in KernelSpecManager().find_kernel_specs(), "ipykernel is not installed"
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(book, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return book


def _outputs(book: nbformat.NotebookNode, kind: str) -> list:
    return [o for c in book.cells if c.cell_type == "code" for o in c.outputs
            if kind in o.get("data", {})]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, demo_out, monkeypatch):
    monkeypatch.setenv("CODEER_OUT", str(demo_out))
    monkeypatch.setenv("CODEER_CODEBOOK", str(CODEBOOK))
    monkeypatch.setenv("CODEER_NOTEBOOK_DEMO_DECISIONS", "1")
    log = demo_out / config.REVIEWS_FILE
    before = log.read_text(encoding="utf-8").count("\n")
    book = _execute(name)
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    assert log.read_text(encoding="utf-8").count("\n") - before == DEMO_DECISIONS.get(name, 0)
    text = "".join(o.get("text", "") for c in book.cells if c.cell_type == "code"
                   for o in c.outputs)
    if name == "01-overzicht":
        assert len(_outputs(book, "image/png")) == 2
    elif name == "02-review":
        assert _outputs(book, "application/vnd.jupyter.widget-view+json")
        demo = review.read_reviews(demo_out)
        assert (demo["reviewer"] == "naam").sum() == 2
    else:
        assert "anna tegenover bram" in text
        assert len(_outputs(book, "image/png")) == 1
