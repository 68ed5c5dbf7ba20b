"""The learning coder: codebook roles, features, learning from reviews, caching, evidence."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pipeline import config, schema, storage
from pipeline.coding import coder, learner
from pipeline.coding import command as code
from pipeline.coding.codebook import load_codebook
from pipeline.models.cache import EmbeddingCache
from pipeline.review import decisions as review
from tests.conftest import DEBATES

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

# A small codebook on the real debates: motions (M) and thanks to the chair (D).
BOOK = """\
version: 1
name: Proef
themes:
  - {id: T1, name: Debat, color: "#0072B2"}
codes:
  - id: M
    name: Moties
    theme: T1
    definition: Een Kamerlid dient een motie in en verzoekt de regering iets te doen.
    include: [De Kamer verzoekt de regering om iets te onderzoeken.]
    rules: ['verzoekt NEAR/3 regering']
    examples:
      - verzoekt de regering om in overleg met gemeenten te onderzoeken
      - en gaat over tot de orde van de dag
    counter_examples:
      - Ik dank de minister voor de antwoorden.
  - id: D
    name: Dank
    theme: T1
    definition: De spreker bedankt de voorzitter of de minister.
    examples:
      - Dank u wel, voorzitter.
      - Ik dank de minister voor haar brief.
background:
  - Het woord is aan de minister.
  - Dat is een goede vraag.
"""


@pytest.fixture(scope="module")
def debates(tmp_path_factory):
    """Two real debates ingested."""
    from pipeline.ingest import command as ingest

    root = tmp_path_factory.mktemp("learn")
    raw = root / "raw"
    raw.mkdir()
    for name in ("TK_2018-04-05_VAO_Wmo_Mantelzorg_Hulpmiddelenbeleid.txt",
                 "TK_2018-04-05_VAO_Wlz_Pgb_ggz.txt"):
        shutil.copy(DEBATES / name, raw / name)
    ingest.run(raw, root / "out", progress=False)
    (root / "codebook.yaml").write_text(BOOK, encoding="utf-8")
    return root


def _prepared(out, book_path, cache_dir=None):
    book, _ = load_codebook(book_path)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    target = coder.select_scope(segments, "respondent")
    prepared = coder.prepare(target, segments, documents, book, EmbeddingCache(cache_dir))
    return book, target, prepared


def _decisions(rows):
    times = [T0 + timedelta(seconds=i) for i in range(len(rows))]
    return pd.DataFrame({"segment_id": [r[0] for r in rows], "code_id": [r[1] for r in rows],
                         "decision": [r[2] for r in rows], "time": times,
                         "line": range(2, len(rows) + 2)})


def test_codebook_texts_have_their_roles(debates):
    book, _ = load_codebook(debates / "codebook.yaml")
    texts = learner.codebook_texts(book)
    idx, y = texts.labels("M")
    pos = {texts.texts[i] for i, v in zip(idx, y, strict=True) if v}
    neg = {texts.texts[i] for i, v in zip(idx, y, strict=True) if not v}
    assert pos == {book.codes[0].definition, *book.codes[0].include, *book.codes[0].examples}
    # background, M's own counter-example and D's texts teach M what it is not
    assert {"Het woord is aan de minister.", "Ik dank de minister voor de antwoorden.",
            "Dank u wel, voorzitter."} <= neg
    assert not pos & neg


def test_paragraphs_break_at_line_ends_and_turns(debates):
    out = debates / "out"
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    para = coder.paragraph_ids(segments, documents)
    text = dict(zip(documents["document_id"], documents["text"], strict=True))
    ordered = segments.sort_values(["document_id", "segment_index"])
    for (_, a), (_, b) in zip(ordered.iterrows(), ordered.iloc[1:].iterrows(), strict=False):
        if a["document_id"] != b["document_id"]:
            continue
        broken = a["turn_index"] != b["turn_index"] or \
            "\n" in text[a["document_id"]][a["end"]:b["start"]]
        assert (para[a.name] != para[b.name]) == broken


def test_learning_from_reviews_moves_unreviewed_documents(debates, fake_embedder):
    """Decisions on one debate change the probabilities on the OTHER debate in their direction:
    accepted motion sentences raise motion-like sentences there, and rejected sentences lower
    sentences like them."""
    book, target, prepared = _prepared(debates / "out", debates / "codebook.yaml")
    docs = sorted(target["document_id"].unique())
    reviewed, other = target["document_id"] == docs[0], target["document_id"] == docs[1]
    motion = target["text"].str.contains("verzoekt de regering", case=False)
    thanks = target["text"].str.contains("dank", case=False)
    before = coder.score(prepared, target, _decisions([]))
    decisions = _decisions(
        [(s, "M", "accept") for s in target.loc[reviewed & motion, "segment_id"]]
        + [(s, "M", "reject") for s in target.loc[reviewed & thanks, "segment_id"]])
    assert len(decisions) >= 4
    after = coder.score(prepared, target, decisions)
    j = prepared.code_ids.index("M")
    moved = after.probabilities[:, j] - before.probabilities[:, j]
    assert moved[(other & motion).to_numpy()].mean() > 0
    assert moved[(other & thanks & ~motion).to_numpy()].mean() < 0
    assert after.model.n_decisions[j] == len(decisions)
    assert after.model.n_positive[j] == int((reviewed & motion).sum())


def test_implicit_negatives_come_only_from_documents_someone_read(debates, fake_embedder):
    _, target, prepared = _prepared(debates / "out", debates / "codebook.yaml")
    first = target["segment_id"].iloc[0]
    rows, implicit = coder.decision_rows(target, _decisions([(first, "M", "add")]), ["M", "D"])
    assert rows[["code_id", "label"]].values.tolist() == [["M", 1]]
    read = target.iloc[implicit["M"]]
    assert set(read["document_id"]) == {target["document_id"].iloc[0]}
    assert len(read) == int((target["document_id"] == target["document_id"].iloc[0]).sum())


def test_fit_is_deterministic_cached_as_arrays_and_survives_a_broken_cache(debates, tmp_path,
                                                                         fake_embedder):
    _, target, prepared = _prepared(debates / "out", debates / "codebook.yaml")
    decisions = _decisions([(target["segment_id"].iloc[3], "M", "reject")])
    a = coder.score(prepared, target, decisions, tmp_path)
    files = list(tmp_path.glob("learner-*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as data:  # no pickled objects in the cache
        assert set(data.files) >= {"coef", "intercept", "trained"}
    b = coder.score(prepared, target, decisions, tmp_path)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    files[0].write_bytes(b"not a model")
    c = coder.score(prepared, target, decisions, tmp_path)
    np.testing.assert_allclose(a.probabilities, c.probabilities)
    fresh = coder.score(prepared, target, decisions)  # no cache at all
    np.testing.assert_allclose(a.probabilities, fresh.probabilities)
    assert ((a.probabilities >= 0) & (a.probabilities <= 1)).all()


def test_a_segment_can_carry_several_codes_with_evidence(debates):
    """Codes are decided independently: two codes above their thresholds both code."""
    book, _ = load_codebook(debates / "codebook.yaml")
    target = storage.read_table(debates / "out" / config.SEGMENTS_FILE, schema.SEGMENTS)
    target = target[target["text"].str.contains("verzoekt de regering")].head(2)
    model = learner.Model(["M", "D"], np.zeros((2, 1)), np.zeros(2), np.array([True, True]),
                          np.array([3, 0]), np.array([2, 0]))
    scores = coder.Scores(["M", "D"], np.array([[0.9, 0.7], [0.4, 0.2]]),
                          [["verzoekt de regering", "Dank u wel, voorzitter."]] * 2, model)
    codings = coder.code_segments(target, book, "sha", scores, "model")
    first, second = target["segment_id"].tolist()
    assert set(codings.loc[codings["segment_id"] == first, "code_id"]) == {"M", "D"}
    assert not (codings["segment_id"] == second).any()
    m = codings[(codings["segment_id"] == first) & (codings["code_id"] == "M")].iloc[0]
    assert m["method"] == "both" and m["score"] == pytest.approx(0.9)
    assert "regel verzoekt NEAR/3 regering" in m["evidence"]
    assert "lijkt op: \u201cverzoekt de regering\u201d" in m["evidence"]
    assert "geleerd van 3 beoordelingen" in m["evidence"]


def test_codeer_code_learns_from_the_review_log(debates, tmp_path, fake_embedder):
    """Through the command: a reject in reviews.csv is a training row and a status."""
    out = tmp_path / "out"
    shutil.copytree(debates / "out", out)
    book_path = debates / "codebook.yaml"
    first = code.run(out, book_path, progress=False)
    assert len(first) and first["score"].between(0, 1).all()
    row = first.iloc[0]
    review.record(out, row["segment_id"], row["code_id"], "reject", "an", timestamp=T0)
    second = code.run(out, book_path, progress=False)
    status = second[(second["segment_id"] == row["segment_id"])
                    & (second["code_id"] == row["code_id"])]
    assert status["status"].tolist() == ["rejected"] and status["reviewer"].tolist() == ["an"]
    j = [c.id for c in load_codebook(book_path)[0].codes].index(row["code_id"])
    # the learner saw the decision: the evidence of the code's other codings says so
    same_code = second[(second["code_id"] == row["code_id"]) & (second["status"] == "auto")]
    assert j >= 0 and all("geleerd van 1 beoordeling" in e for e in same_code["evidence"])


def test_answers_to_the_queue_do_not_make_their_documents_read(debates, fake_embedder):
    """A queue answer (note 'wachtrij') teaches its own pair only; a decision without that
    note marks its document as read (its other sentences become implicit negatives)."""
    _, target, prepared = _prepared(debates / "out", debates / "codebook.yaml")
    docs = target["document_id"].unique()
    a = target[target["document_id"] == docs[0]]["segment_id"].iloc[0]
    b = target[target["document_id"] == docs[1]]["segment_id"].iloc[0]
    d = _decisions([(a, "M", "reject"), (b, "M", "add")])
    d["note"] = ["wachtrij", ""]
    rows, implicit = coder.decision_rows(target, d, ["M", "D"])
    assert len(rows) == 2
    assert set(target.iloc[implicit["M"]]["document_id"]) == {docs[1]}
    d["note"] = ["wachtrij", "wachtrij: later nog eens bekijken"]
    _, implicit = coder.decision_rows(target, d, ["M", "D"])
    assert len(implicit["M"]) == 0
