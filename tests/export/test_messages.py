"""The export's messages reach the researcher in Dutch by default, in English with CODEER_LANG=en.

Each case is a real bad input (a settings file with a number where a term belongs, one saved
in Windows-1252, codings with a code the codebook lacks, a .qdpx without its project, a broken
key table); the whole message is compared, so file, line and the fix are checked in both
languages.
"""

from __future__ import annotations

import io
import logging
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import config, schema, storage
from pipeline.cli import app
from pipeline.errors import CodeerError
from pipeline.export import command as export_command
from pipeline.export import refiqda
from pipeline.export.pseudo_settings import load_settings
from pipeline.ingest import command as ingest
from tests.conftest import CODEBOOK, DEMO_RAW


@pytest.fixture(scope="module")
def stray_code(tmp_path_factory) -> Path:
    """int02.txt ingested, with one coding under a code id the codebook does not have."""
    root = tmp_path_factory.mktemp("messages")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy(DEMO_RAW / "int02.txt", raw)
    out = root / "out"
    segments = ingest.run(raw, out, progress=False).segments
    seg = segments[segments["role"] == "respondent"]["segment_id"].iloc[0]
    codings = pd.DataFrame([{
        "segment_id": seg, "code_id": "X99", "method": "rule", "score": 0.4,
        "evidence": "regel X99: samenwerking", "status": "auto",
        "codebook_sha256": "0" * 64, "model_id": "test"}])
    storage.write_table(codings, out / config.CODINGS_FILE, schema.CODINGS)
    return out


def _settings(text: str | bytes) -> Callable[[Path], None]:
    def run(tmp: Path) -> None:
        path = tmp / config.PSEUDONYMISATION_FILE
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        load_settings(path)
    return run


def _qdpx_without_project(tmp: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("sources/int02.txt", "I: Hoe begon de samenwerking met de wijkteams?")
    refiqda.read_project(buf.getvalue())


# (id, the bad input, Dutch message, English message); "{tmp}" is the test's folder.
CASES = [
    ("number as term",
     _settings("behouden:\n  - Kernteam Omgevingsvisie\n  - 2021\n"),
     "pseudonimisering.yaml regel 3: behouden item 2 moet een tekst zijn. Gevonden: '2021'; "
     "zet het tussen aanhalingstekens als het als tekst bedoeld is.",
     "pseudonimisering.yaml line 3: behouden item 2 must be a text. Got '2021' instead; "
     "put it in quotes if it is meant as text."),
    ("not UTF-8",
     _settings("behouden:\n  - Caf\xe9 De Unie\n".encode("cp1252")),
     "pseudonimisering.yaml regel 2: het bestand moet UTF-8 zijn. Gevonden: byte 0xe9; "
     "sla het op als UTF-8.",
     "pseudonimisering.yaml line 2: the file must be UTF-8. Got byte 0xe9 instead; "
     "save it as UTF-8."),
    ("unknown group and key",
     _settings("verwijderen:\n  dieren: [Rex]\nwijk: behouden\n"),
     # every problem at once, the keys first
     "pseudonimisering.yaml regel 3: onbekende sleutel 'wijk'. Gebruik een van: behouden, "
     "verwijderen, wijken, extra_wijken, losse_maanden (zie docs/pseudonimisering.md).\n"
     "pseudonimisering.yaml regel 2: verwijderen: onbekende groep 'dieren'. Gebruik een van: "
     "personen, plaatsen, instellingen.",
     "pseudonimisering.yaml line 3: unknown key 'wijk'. Use one of: behouden, verwijderen, "
     "wijken, extra_wijken, losse_maanden (see docs/pseudonimisering.md).\n"
     "pseudonimisering.yaml line 2: verwijderen: unknown group 'dieren'. Use one of: "
     "personen, plaatsen, instellingen."),
    ("no ingest yet",
     lambda tmp: export_command.run(tmp, CODEBOOK, pseudonymise=False, progress=False),
     "{tmp} bevat geen segments.parquet. Voer eerst `codeer ingest --out {tmp}` en "
     "`codeer code --out {tmp}` uit.",
     "{tmp} holds no segments.parquet. Run `codeer ingest --out {tmp}` and "
     "`codeer code --out {tmp}` first."),
    ("qdpx without project", _qdpx_without_project,
     "Het .qdpx-bestand bevat geen project.qde.",
     "The .qdpx file holds no project.qde."),
]


@pytest.mark.parametrize(("name", "bad", "dutch", "english"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_bad_input_message_in_each_language(tmp_path, monkeypatch, lang, name, bad, dutch,
                                            english):
    if lang == "en":
        monkeypatch.setenv("CODEER_LANG", "en")
    else:
        monkeypatch.delenv("CODEER_LANG", raising=False)  # the default is Dutch
    with pytest.raises(CodeerError) as err:
        bad(tmp_path)
    assert err.value.exit_code == 2
    assert err.value.message == (dutch if lang == "nl" else english).format(tmp=tmp_path)


@pytest.mark.parametrize(("lang", "expected"), [
    (None, "De coderingen gebruiken codes die niet in het codeboek staan: ['X99']. Voer "
           "`codeer code` opnieuw uit met dit codeboek, of exporteer met het codeboek waarmee "
           "ze zijn gemaakt (--codebook FILE)."),
    ("en", "codings use codes that are not in the codebook: ['X99']. Run `codeer code` again "
           "with this codebook, or export with the codebook they were made with "
           "(--codebook FILE)."),
])
def test_code_outside_the_codebook_in_each_language(stray_code, monkeypatch, lang, expected):
    monkeypatch.delenv("CODEER_LANG", raising=False)
    if lang:
        monkeypatch.setenv("CODEER_LANG", lang)
    with pytest.raises(CodeerError) as err:
        export_command.run(stray_code, CODEBOOK, pseudonymise=False, progress=False)
    assert err.value.message == expected


@pytest.mark.parametrize(("lang", "expected"), [
    (None, "fout: {out} bevat geen codings.parquet, dus er is nog niets te exporteren. Voer "
           "eerst `codeer code --out {out}` uit."),
    ("en", "error: {out} holds no codings.parquet, so there is nothing to export yet. Run "
           "`codeer code --out {out}` first."),
])
def test_cli_export_before_coding_in_each_language(stray_code, tmp_path, monkeypatch, lang,
                                                   expected):
    out = tmp_path / "out"
    shutil.copytree(stray_code, out)
    (out / config.CODINGS_FILE).unlink()
    monkeypatch.delenv("CODEER_LANG", raising=False)
    if lang:
        monkeypatch.setenv("CODEER_LANG", lang)
    result = CliRunner().invoke(app, ["export", "--out", str(out), "--codebook", str(CODEBOOK),
                                      "--no-pseudonymise", "-q"])
    assert result.exit_code == 2, result.output
    assert expected.format(out=out) in " ".join(result.output.split())


@pytest.mark.parametrize(("lang", "expected"), [
    (None, "kon niet worden gelezen (Error tokenizing data. C error: EOF inside string "
           "starting at row 1); de document-ids worden opnieuw genummerd."),
    ("en", "could not be read (Error tokenizing data. C error: EOF inside string starting at "
           "row 1); document ids are numbered afresh."),
])
def test_broken_key_table_warns_in_each_language(tmp_path, monkeypatch, lang, expected):
    key = tmp_path / config.PRIVATE_DIR / config.KEY_FILE
    key.parent.mkdir()
    key.write_text('placeholder,original,category,occurrences\n"interview-01,Hans Verbeek',
                   encoding="utf-8")
    monkeypatch.delenv("CODEER_LANG", raising=False)
    if lang:
        monkeypatch.setenv("CODEER_LANG", lang)
    # A handler of its own on codeer's logger: the CLI turns propagation off.
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("codeer")
    logger.addHandler(handler)
    try:
        assert export_command._earlier_ids(tmp_path) == {}
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == [f"{key} {expected}"]
