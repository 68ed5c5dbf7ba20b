"""Memos: the append-only log, its targets, `codeer memo` and the notebook's memo box."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline import config, schema, storage
from pipeline.cli import app
from pipeline.errors import CodeerError
from pipeline.review import memos
from pipeline.review import notebook as nb
from tests.review.test_notebooks import small  # noqa: F401  (fixture)

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def data(small):  # noqa: F811
    """The notebooks' tiny output folder, with its documents written too."""
    storage.write_table(small.documents, small.out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    return small


def _lines(out: Path) -> list[str]:
    return (out / config.MEMOS_FILE).read_text(encoding="utf-8").splitlines()


def test_memos_about_each_target(data):
    out = data.out
    memos.add(out, "Het project loopt.", "anna", timestamp=T0)
    memos.add(out, "Veel over wonen.", "anna", "document", "d1", timestamp=T0)
    memos.add(out, "A en B overlappen.", "bram", "code", "A", {"A", "B"}, timestamp=T0)
    memos.add(out, "Mooi citaat.", "bram", "passage", "s2", timestamp=T0)
    row = memos.add(out, "Ook deze.", "bram", "passage", "tweede  ZIN", timestamp=T0)
    assert row["target"] == "s2"  # text of one segment, whitespace and case ignored
    log = memos.read_memos(out)
    assert list(zip(log["about"], log["target"], log["text"], strict=True)) == [
        ("project", "", "Het project loopt."), ("document", "d1", "Veel over wonen."),
        ("code", "A", "A en B overlappen."), ("passage", "s2", "Mooi citaat."),
        ("passage", "s2", "Ook deze.")]
    assert _lines(out)[0] == ",".join(memos.COLUMNS)
    assert _lines(out)[1] == "2025-03-01T09:30:00+00:00,anna,project,,Het project loopt."


@pytest.mark.parametrize("about, target, message", [
    ("document", "d9", "--document moet een van"),
    ("code", "Z", "--code moet een van"),
    ("passage", "zin.", "tekst die in 6 segmenten staat"),
    ("passage", "staat nergens", "in geen enkel segment staat"),
    ("verhaal", "", "about moet een van"),
])
def test_unknown_targets_are_refused(data, about, target, message):
    with pytest.raises(CodeerError, match=message):
        memos.add(data.out, "x", "anna", about, target, {"A", "B"})
    assert not (data.out / config.MEMOS_FILE).exists()


def test_empty_memo_or_author_is_refused(data):
    with pytest.raises(CodeerError, match="moet tekst hebben"):
        memos.add(data.out, "  ", "anna")
    with pytest.raises(CodeerError, match="--author"):
        memos.add(data.out, "tekst", " ")


def test_the_log_is_only_appended_to(data):
    out = data.out
    memos.add(out, "Eerste, met \"aanhalingstekens\"\nen twee regels.", "anna", timestamp=T0)
    first = (out / config.MEMOS_FILE).read_bytes()
    memos.add(out, "Tweede.", "anna", timestamp=T0)
    second = (out / config.MEMOS_FILE).read_bytes()
    assert second.startswith(first)
    # An editor saved the file without its last newline: the next memo gets its own line.
    (out / config.MEMOS_FILE).write_bytes(second.rstrip(b"\n"))
    memos.add(out, "Derde.", "anna", timestamp=T0)
    log = memos.read_memos(out)
    assert list(log["text"]) == ["Eerste, met \"aanhalingstekens\"\nen twee regels.", "Tweede.",
                                 "Derde."]
    assert _lines(out).count(",".join(memos.COLUMNS)) == 1


def test_unusable_rows_are_reported_with_their_line(data, caplog):
    path = data.out / config.MEMOS_FILE
    path.write_text(",".join(memos.COLUMNS) + "\n"
                    "2025-03-01T09:30:00,anna,project,,Goed.\n"
                    "gisteren,anna,project,,Tijd kapot.\n"
                    "2025-03-01T09:30:00,anna,roman,,Verkeerd soort.\n", encoding="utf-8")
    log = memos.read_memos(data.out)
    assert list(log["text"]) == ["Goed."]
    messages = [r.getMessage() for r in caplog.records]
    assert any("memos.csv regel 3: timestamp moet ISO 8601 zijn" in m for m in messages)
    assert any("memos.csv regel 4: about moet een van" in m for m in messages)


def test_add_many_skips_memos_already_held_also_pseudonymised(data):
    out = data.out
    memos.add(out, "Hans Verbeek twijfelt hier.", "anna", "passage", "s1", timestamp=T0)
    rows = [
        {"timestamp": T0.isoformat(), "author": "anna", "about": "passage", "target": "s1",
         "text": "[PERSOON-1] twijfelt hier."},  # the same memo, as exported
        {"timestamp": T0.isoformat(), "author": "anna", "about": "passage", "target": "s2",
         "text": "[PERSOON-1] twijfelt hier."},  # another passage: new
        {"timestamp": T0.isoformat(), "author": "anna", "about": "passage", "target": "s1",
         "text": "[PERSOON-1] is zeker."},  # other text: new
    ]
    added, skipped = memos.add_many(out, rows)
    assert skipped == 1 and [(r["target"], r["text"]) for r in added] == [
        ("s2", "[PERSOON-1] twijfelt hier."), ("s1", "[PERSOON-1] is zeker.")]
    assert memos.add_many(out, rows) == ([], 3)


def test_two_processes_starting_the_log_write_one_header(data):
    out = data.out
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            for i in range(20):
                memos.append_rows(out / config.MEMOS_FILE, memos.COLUMNS,
                                  [{"timestamp": T0.isoformat(), "author": "kind",
                                    "about": "project", "target": "", "text": f"k{i}"}])
        finally:
            os._exit(0)
    for i in range(20):
        memos.append_rows(out / config.MEMOS_FILE, memos.COLUMNS,
                          [{"timestamp": T0.isoformat(), "author": "ouder", "about": "project",
                            "target": "", "text": f"o{i}"}])
    os.waitpid(pid, 0)
    assert _lines(out).count(",".join(memos.COLUMNS)) == 1
    assert len(memos.read_memos(out)) == 40


# --------------------------------------------------------------------------- command line


def test_memo_command_adds_and_lists(data):
    runner = CliRunner()
    args = ["--out", str(data.out), "--codebook", str(data.codebook)]
    ok = runner.invoke(app, ["memo", "add", "Let op deze zin.", "--author", "anna",
                             "--passage", "Derde zin", *args])
    assert ok.exit_code == 0, ok.output
    ok = runner.invoke(app, ["memo", "add", "A is te breed.", "--author", "anna", "--code", "A",
                             *args])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["memo", "add", "x", "--author", "anna", "--code", "Q", *args])
    assert bad.exit_code == 2 and "--code moet een van" in bad.output
    both = runner.invoke(app, ["memo", "add", "x", "--author", "anna", "--code", "A",
                               "--document", "d1", *args])
    assert both.exit_code == 2 and "moet over één ding gaan" in both.output
    listing = runner.invoke(app, ["memo", "list", "--out", str(data.out)])
    assert listing.exit_code == 0
    assert "passage s3" in listing.output and "Let op deze zin." in listing.output
    assert "code A" in listing.output
    only = runner.invoke(app, ["memo", "list", "--out", str(data.out), "--about", "code"])
    assert "Let op deze zin." not in only.output and "A is te breed." in only.output


# --------------------------------------------------------------------------- notebook


def test_memo_box_writes_a_memo(data):
    import ipywidgets as widgets

    box = nb.memo_box(data, data.out, "anna")
    parts = [w for w in _walk(box)]
    about = next(w for w in parts if isinstance(w, widgets.Dropdown))
    target = next(w for w in parts if isinstance(w, widgets.Text))
    text = next(w for w in parts if isinstance(w, widgets.Textarea))
    save = next(w for w in parts if isinstance(w, widgets.Button))
    about.value, target.value, text.value = "passage", "s4", "Vierde zin valt op."
    save.click()
    about.value, target.value, text.value = "document", "bestaat-niet", "Mis."
    save.click()  # refused, shown in the box, nothing written
    log = memos.read_memos(data.out)
    assert list(zip(log["about"], log["target"], log["text"], log["author"], strict=True)) == \
        [("passage", "s4", "Vierde zin valt op.", "anna")]
    shown = " ".join(w.value for w in parts if isinstance(w, widgets.HTML))
    # The widget speaks Dutch (issue 14); the command line's message is tested above.
    assert "Vierde zin valt op." in shown and "Bij een interview moet Welke een van" in shown


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)
