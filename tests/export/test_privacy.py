"""What may leave codeer: the researcher's settings file, neutral document ids, private files.

Issue 15: terms to keep and names to remove are user-editable (``pseudonimisering.yaml``,
validated like the codebook), a file name never leaks through a document id, and the key and
the overview in ``OUT/private/`` are readable by their owner only.
"""

from __future__ import annotations

import os
import re
import stat

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import config, storage
from pipeline.cli import app
from pipeline.errors import CodeerError
from pipeline.export import privacy
from pipeline.export.pseudo_settings import Settings, load_settings
from tests.conftest import CODEBOOK, ROOT

runner = CliRunner()


# --------------------------------------------------------------------------- settings file


def _docs_example() -> str:
    text = (ROOT / "docs" / "pseudonimisering.md").read_text(encoding="utf-8")
    return re.search(r"```yaml\n(.*?)```", text, re.S).group(1)


def test_the_documented_example_is_valid(tmp_path):
    path = tmp_path / config.PSEUDONYMISATION_FILE
    path.write_text(_docs_example(), encoding="utf-8")
    assert load_settings(path) == Settings(
        keep=("Nieuwe Maas", "Kernteam Omgevingsvisie"),
        remove=(("PERSOON", "Pietje Puk"), ("LOCATIE", "Het Nieuwe Instituut"),
                ("INSTELLING", "Laurens"), ("INSTELLING", "Woonstad")),
        replace_districts=True, extra_districts=("Oud-Crooswijk",), standalone_months=False,
        source=path,
    )


@pytest.mark.parametrize(("text", "expected"), [
    ("", Settings()),
    ("# alleen commentaar\n", Settings()),
    ("behouden:\nverwijderen:\n", Settings()),
    ("verwijderen:\n  - Hans Verbeek\n  - 'Bakker'\n",
     Settings(remove=(("PERSOON", "Hans Verbeek"), ("PERSOON", "Bakker")))),
    ("wijken: Behouden\nlosse_maanden: vervangen\n",
     Settings(replace_districts=False, standalone_months=True)),
])
def test_settings_values(tmp_path, text, expected):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_settings(path) == Settings(**{**expected.__dict__, "source": path})


BAD = [
    ("unknown key", "behouden: [Zonnedak]\nwijk: behouden\n", 2,
     "onbekende sleutel 'wijk'. Gebruik een van"),
    ("list expected", "behouden: Zonnedak\n", 1, "behouden moet een lijst van termen zijn"),
    ("number item", "behouden:\n  - Zonnedak\n  - 2021\n", 3,
     "behouden item 2 moet een tekst zijn. Gevonden: '2021'"),
    ("one letter", "verwijderen:\n  - R\n", 2,
     "verwijderen item 1 moet minstens 2 letters bevatten"),
    ("unknown group", "verwijderen:\n  dieren: [Rex]\n", 2,
     "verwijderen: onbekende groep 'dieren'"),
    ("bad choice", "wijken: soms\n", 1,
     "wijken moet 'vervangen' of 'behouden' zijn. Gevonden: 'soms'"),
    ("both", "behouden: [Laurens]\nverwijderen:\n  instellingen: [Laurens]\n", 3,
     "'Laurens' moet onder 'behouden' of onder 'verwijderen' staan"),
    ("twice", "behouden: [A1, B2]\nbehouden: [C3]\n", 2,
     "sleutel 'behouden' staat er twee keer in"),
    ("alias", "a: &x [Zonnedak]\nbehouden: *x\n", 1, "YAML-ankers en -aliassen"),
    ("billion laughs", "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nbehouden: *c\n", 1,
     "YAML-ankers en -aliassen"),
    ("python tag", "behouden: !!python/name:os.system\n", 1, "YAML-tags zoals"),
    ("syntax", "behouden: [Zonnedak\n", 2, "fout in de YAML-opmaak"),
    ("not a mapping", "- Zonnedak\n", 1, "moet een blok met sleutels zijn"),
    ("complex key", "? [a, b]\n: c\n", 1, "onbekende sleutel"),
]


@pytest.mark.parametrize(("name", "text", "line", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_settings_name_file_and_line(tmp_path, name, text, line, fragment):
    path = tmp_path / config.PSEUDONYMISATION_FILE
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CodeerError) as err:
        load_settings(path)
    assert err.value.exit_code == 2
    assert err.value.message.startswith(f"{config.PSEUDONYMISATION_FILE} regel {line}: "), \
        err.value.message
    assert fragment in err.value.message


def test_settings_not_utf8_or_missing(tmp_path):
    path = tmp_path / config.PSEUDONYMISATION_FILE
    path.write_bytes("behouden:\n  - Caf\xe9 De Unie\n".encode("cp1252"))
    with pytest.raises(CodeerError,
                       match=r"regel 2: het bestand moet UTF-8 zijn\. Gevonden: byte 0xe9"):
        load_settings(path)
    with pytest.raises(CodeerError, match="bestaat niet"):
        load_settings(tmp_path / "nergens.yaml")


def test_cli_run_stops_on_bad_settings_before_any_work(tmp_path):
    bad = tmp_path / "mijn.yaml"
    bad.write_text("behouden:\n  - 12\n", encoding="utf-8")
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    result = runner.invoke(app, ["run", "--raw", str(raw), "--out", str(out), "--codebook",
                                 str(CODEBOOK), "--pseudonymisation", str(bad), "-q"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "fout: mijn.yaml regel 2: behouden item 1 moet een tekst zijn." in result.output
    assert not out.exists()


def test_settings_beside_the_codebook_are_found(tmp_path):
    from pipeline.export.command import pseudonymisation_settings

    book = tmp_path / "codebook.yaml"
    assert pseudonymisation_settings(book) == Settings()  # no file: the defaults
    (tmp_path / config.PSEUDONYMISATION_FILE).write_text("wijken: behouden\n", encoding="utf-8")
    assert pseudonymisation_settings(book).replace_districts is False
    with pytest.raises(CodeerError, match="bestaat niet"):
        pseudonymisation_settings(book, tmp_path / "elders.yaml")


# --------------------------------------------------------------------------- document ids


def _documents(rows: list[tuple[str, str | None]]) -> pd.DataFrame:
    """Documents with an id and a department (None: no row in interviews.csv)."""
    return pd.DataFrame({"document_id": [r[0] for r in rows], "source_path": "x.txt",
                         "text": "tekst", "department": [r[1] for r in rows]})


def test_ids_from_file_names_become_neutral_and_own_ids_stay():
    docs = _documents([("int02", "Duurzaamheid"), ("interview_pieter_bakker", None),
                       ("gesprek_anna", None), ("int_bakker", "Wonen"), ("int03", "")])
    ids = privacy.exported_ids(docs, privacy.name_words(["Jeroen Bakker", "Rotterdam"]))
    # Numbered in sorted order of the original ids; an empty row counts as no row.
    assert ids == {"int02": "int02", "gesprek_anna": "interview-01", "int03": "interview-02",
                   "int_bakker": "interview-03", "interview_pieter_bakker": "interview-04"}
    # Without any metadata sheet every id came from a file name.
    bare = pd.DataFrame({"document_id": ["int01", "int02"], "text": "t"})
    assert privacy.exported_ids(bare, set()) == {"int01": "interview-01",
                                                 "int02": "interview-02"}


def test_neutral_ids_are_stable_between_runs():
    first = privacy.exported_ids(_documents([("piet_jansen", None), ("sara", None)]), set())
    assert first == {"piet_jansen": "interview-01", "sara": "interview-02"}
    key = privacy.id_key_rows(first)
    assert list(key.columns) == list(privacy.KEY_COLUMNS)
    assert set(key["category"]) == {privacy.DOCUMENT_CATEGORY}
    earlier = privacy.previous_ids(key)
    # A new file that sorts first, and one that is gone: the others keep their ids.
    second = privacy.exported_ids(_documents([("anna_de_vries", None), ("sara", None)]),
                                  set(), earlier)
    assert second == {"anna_de_vries": "interview-03", "sara": "interview-02"}
    carried = privacy.id_key_rows(second, earlier)
    assert dict(zip(carried["original"], carried["placeholder"], strict=True)) == {
        "piet_jansen": "interview-01", "sara": "interview-02", "anna_de_vries": "interview-03"}
    assert dict(zip(carried["original"], carried["occurrences"], strict=True))[
        "piet_jansen"] == 0
    # An own id that looks neutral is never given to another interview.
    own = privacy.exported_ids(_documents([("interview-01", "Wonen"), ("bas", None)]), set())
    assert own == {"interview-01": "interview-01", "bas": "interview-02"}


# --------------------------------------------------------------------------- private files


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_private_files_are_owner_only_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        private = tmp_path / "out" / config.PRIVATE_DIR
        storage.write_text(private / config.KEY_FILE, "placeholder,original\n", private=True)
        storage.write_text(tmp_path / "out" / "report.md", "# rapport\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE((private / config.KEY_FILE).stat().st_mode) == 0o600
    # Everything else keeps the ordinary permissions (0666 minus the umask).
    assert stat.S_IMODE((tmp_path / "out" / "report.md").stat().st_mode) == 0o666 & ~umask
    assert (private / config.KEY_FILE).read_text(encoding="utf-8") == "placeholder,original\n"


def test_an_existing_open_private_folder_is_tightened(tmp_path):
    private = tmp_path / config.PRIVATE_DIR
    private.mkdir(mode=0o755)
    os.chmod(private, 0o755)
    (private / config.KEY_FILE).write_text("oud\n", encoding="utf-8")
    os.chmod(private / config.KEY_FILE, 0o644)
    storage.write_text(private / config.KEY_FILE, "nieuw\n", private=True)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE((private / config.KEY_FILE).stat().st_mode) == 0o600
    assert not list(private.glob("*.tmp"))
