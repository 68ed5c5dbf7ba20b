"""Coding: rules on lemmas, contrastive embeddings, cache, bad input, and quality on real text."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import config, schema, storage
from pipeline.cli import app
from pipeline.coding import command as code
from pipeline.coding.codebook import load_codebook
from pipeline.coding.rules import RuleMatcher, parse_rule
from pipeline.nlp import get_nlp
from pipeline.review.agreement import agreement, gold_labels, predicted_labels, read_gold
from tests.conftest import CODEBOOK, DEBATES, ROOT

runner = CliRunner()

# (rule, sentence, fires) on short real-style Dutch excerpts.
RULE_CASES = [
    ("(rol|taak) NEAR/5 onduidelijk", "De rollen aan tafel bleven lang onduidelijk.", True),
    ("(rol|taak) NEAR/2 onduidelijk", "De rollen aan tafel bleven lang erg onduidelijk.", False),
    ("onduidelijk NEAR/5 rol", "Onduidelijk was vooral wie welke rol had.", True),
    ('"hete aardappel"', "We hebben de hete aardappels te lang laten liggen.", True),
    ('"hete aardappel"', "De aardappels waren heet.", False),
    ("opdrachtgever*", "Er was gedeeld opdrachtgeverschap tussen twee directies.", True),
    ("escaleren NOT rechter", "Toen zijn we gaan escaleren naar de directie.", True),
    ("escaleren NOT rechter", "Het conflict escaleerde tot bij de rechter.", False),
    ("wethouder AND achterban", "De wethouder moest zijn achterban meekrijgen.", True),
    ("mandaat", "Ze had geen mandaten om namens de afdeling te spreken.", True),
]


@pytest.mark.parametrize("rule, sentence, fires", RULE_CASES)
def test_rules_on_lemmas(rule, sentence, fires):
    nlp = get_nlp(sentences=False)
    matcher = RuleMatcher({"X": [parse_rule(rule)]}, nlp.vocab)
    hits = matcher.match(nlp(sentence))
    assert ("X" in hits) == fires
    if fires:
        assert hits["X"][0].startswith(rule + ": ")


@pytest.fixture
def small_out(tmp_path):
    """Two real debates ingested into tmp_path/out."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("TK_2018-04-05_VAO_Wmo_Mantelzorg_Hulpmiddelenbeleid.txt",
                 "TK_2018-04-05_VAO_Wlz_Pgb_ggz.txt"):
        shutil.copy(DEBATES / name, raw / name)
    result = runner.invoke(app, ["ingest", "--raw", str(raw), "--out", str(tmp_path / "out"),
                                 "-q"])
    assert result.exit_code == 0, result.output
    return tmp_path / "out"


SMALL_BOOK = """\
version: 1
name: Proef
defaults: {threshold: 0.05}
themes:
  - {id: T1, name: Aan tafel, color: "#0072B2"}
codes:
  - id: M
    name: Moties en verzoeken
    theme: T1
    definition: Een Kamerlid dient een motie in en verzoekt de regering iets te doen.
    rules: ['verzoekt NEAR/3 regering']
    examples:
      - verzoekt de regering om in overleg met gemeenten te onderzoeken
      - en gaat over tot de orde van de dag
      - De Kamer, gehoord de beraadslaging, constaterende dat
    counter_examples:
      - Ik dank de minister voor de antwoorden.
background:
  - Dank u wel, voorzitter.
  - Het woord is aan de minister.
"""


def test_code_segments_rules_and_embeddings(small_out, tmp_path, fake_embedder):
    book_path = tmp_path / "codebook.yaml"
    book_path.write_text(SMALL_BOOK, encoding="utf-8")
    codings = code.run(small_out, book_path, progress=False)
    stored = storage.read_table(small_out / config.CODINGS_FILE, schema.CODINGS)
    pd.testing.assert_frame_equal(codings, stored)
    assert set(codings["method"]) <= {"rule", "embedding", "both"}
    assert "rule" in set(codings["method"]) or "both" in set(codings["method"])
    assert (codings["status"] == "auto").all()
    _, sha = load_codebook(book_path)
    assert (codings["codebook_sha256"] == sha).all()
    segments = storage.read_table(small_out / config.SEGMENTS_FILE, schema.SEGMENTS)
    texts = dict(zip(segments["segment_id"], segments["text"], strict=True))
    for row in codings.itertuples():
        assert row.evidence
        if row.method in ("rule", "both"):
            assert "verzoekt" in texts[row.segment_id].lower()
            assert "regel verzoekt NEAR/3 regering: " in row.evidence
        if row.method in ("embedding", "both"):
            assert "lijkt op:" in row.evidence and np.isfinite(row.score)
    roles = dict(zip(segments["segment_id"], segments["role"], strict=True))
    assert {roles[s] for s in codings["segment_id"]} == {"respondent"}


def test_recode_after_codebook_edit_embeds_only_the_codebook(small_out, tmp_path,
                                                              fake_embedder, monkeypatch):
    from pipeline.models import runtime as models

    book_path = tmp_path / "codebook.yaml"
    book_path.write_text(SMALL_BOOK, encoding="utf-8")
    code.run(small_out, book_path, progress=False)
    embedded: list[str] = []
    real = models.encode

    def counting(model, texts, **kwargs):
        embedded.extend(texts)
        return real(model, texts, **kwargs)

    monkeypatch.setattr(models, "encode", counting)
    book_path.write_text(SMALL_BOOK.replace("- Dank u wel, voorzitter.",
                                            "- Dank u wel, voorzitter, voor het woord."),
                         encoding="utf-8")
    code.run(small_out, book_path, progress=False)
    assert embedded == ["Dank u wel, voorzitter, voor het woord."]


def test_missing_segments_say_run_ingest(tmp_path):
    result = runner.invoke(app, ["code", "--out", str(tmp_path), "--codebook", str(CODEBOOK)])
    assert result.exit_code == 2
    assert "segments.parquet bestaat niet. Voer eerst `codeer ingest` uit." in result.output


def test_outdated_segments_say_run_ingest(tmp_path):
    pd.DataFrame({"segment_id": ["a"], "text": ["x"]}).to_parquet(tmp_path / "segments.parquet")
    result = runner.invoke(app, ["code", "--out", str(tmp_path), "--codebook", str(CODEBOOK)])
    assert result.exit_code == 2
    assert "codeer ingest" in result.output and "schema" in result.output


def test_missing_model_folder_says_make_models(small_out, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEER_MODEL_DIR", str(tmp_path / "no-model"))
    result = runner.invoke(app, ["code", "--out", str(small_out), "--codebook", str(CODEBOOK),
                                 "-q"])
    assert result.exit_code == 2
    assert "make models" in result.output
    assert "Traceback" not in result.output


def test_code_without_definition_or_rules_is_refused(tmp_path):
    path = tmp_path / "codebook.yaml"
    path.write_text(SMALL_BOOK.replace(
        "    definition: Een Kamerlid dient een motie in en verzoekt de regering iets te doen.\n"
        "    rules: ['verzoekt NEAR/3 regering']\n", ""), encoding="utf-8")
    result = runner.invoke(app, ["code", "--out", str(tmp_path), "--codebook", str(path)])
    assert result.exit_code == 2
    assert "code 'M': heeft een definitie of minstens één zoekregel (rules) nodig" \
        in result.output


# ---------------------------------------------------------------- quality on real text


@pytest.mark.slow
def test_demo_gold_agreement(demo_coded, tmp_path):
    """Plain `codeer ingest` + `codeer code` on the demo interviews, against the hand-made gold
    (tests/data/demo_gold.csv): the coder finds lessons and most of its codes are right."""
    gold_path = ROOT / "tests" / "data" / "demo_gold.csv"
    evaluated = runner.invoke(app, ["evaluate", "--out", str(demo_coded), "--gold",
                                    str(gold_path)])
    assert evaluated.exit_code == 0, evaluated.output
    documents = storage.read_table(demo_coded / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(demo_coded / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(demo_coded / config.CODINGS_FILE, schema.CODINGS)
    respondent = segments[segments["role"] == "respondent"]
    gold = gold_labels(respondent, read_gold(gold_path, documents))
    table, pooled = agreement(gold, predicted_labels(codings), [f"L{i}" for i in range(1, 9)])
    print(table.to_string(), pooled)
    assert pooled["precision"] >= 0.4 and pooled["recall"] >= 0.15
    assert pooled["kappa"] > 0.15


@pytest.mark.slow
def test_debates_coded_share_is_small(tmp_path):
    """On real debates, where few passages carry a lesson, the coder stays precise."""
    out = tmp_path / "out"
    assert runner.invoke(app, ["ingest", "--raw", str(DEBATES), "--out", str(out), "-q"]) \
        .exit_code == 0
    result = runner.invoke(app, ["code", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    respondent = segments[segments["role"] == "respondent"]
    share = codings["segment_id"].nunique() / len(respondent)
    print(f"debates: {share:.1%} of {len(respondent)} segments coded")
    assert 0.002 < share < 0.05
