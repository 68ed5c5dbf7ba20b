"""The themes stage: contracts, tiny and empty inputs, codebook relation, determinism.

The full UMAP + HDBSCAN path costs ~20 s of numba compilation per process, so it runs only in
the two fresh subprocesses of the determinism check (started in parallel by an autouse fixture
while the cheap tests run); the contract tests read those runs' outputs.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import config, schema, storage
from pipeline.errors import CodeerError
from pipeline.themes import command as themes_command
from pipeline.themes import core as themes
from tests.conftest import DEBATES, fake_vectors

ROOT_DIR = Path(__file__).resolve().parents[2]
FIXTURE_FILES = (
    "TK_2018-04-05_VAO_Wmo_Mantelzorg_Hulpmiddelenbeleid.txt",
    "TK_2018-04-05_VAO_Wlz_Pgb_ggz.txt",
)
CODEBOOK_YAML = """\
version: 1
name: Testcodeboek zorg
themes:
  - {id: Z, name: Zorg}
codes:
  - id: PGB
    name: Persoonsgebonden budget
    theme: Z
    definition: Het persoonsgebonden budget, zorgkantoren en fraude met zorggeld.
    examples: ["Fraude met het pgb moet harder worden aangepakt."]
  - id: MZ
    name: Mantelzorg
    theme: Z
    definition: Ondersteuning van mantelzorgers en hun belasting.
    examples: ["Gemeenten moeten mantelzorgers beter ondersteunen."]
  - id: GGZ
    name: Ggz in de Wlz
    theme: Z
    definition: Toegang van ggz-cliënten tot de Wet langdurige zorg.
    examples: ["Mensen met een psychische aandoening moeten toegang krijgen tot de Wlz."]
"""

# Runs the stage in a fresh interpreter with the conftest stand-in embedder.
RUN_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.conftest import FakeModel, fake_vectors
from pipeline.models import cache, runtime
from pipeline.themes import command
runtime.load_model = lambda name=None, backend=None: FakeModel()
runtime.encode = lambda model, texts, kind="query", batch_size=32, show_progress=False: \\
    fake_vectors(list(texts))
cache.model_key = lambda name=None, backend=None: "fake-bow"
command.run(Path(sys.argv[1]), codebook=Path(sys.argv[2]), progress=False)
"""


def _ingest(files: tuple[str, ...], tmp: Path) -> Path:
    from pipeline.ingest import command as ingest

    raw = tmp / "raw"
    raw.mkdir(parents=True)
    for name in files:
        shutil.copy(DEBATES / name, raw / name)
    out = tmp / "out"
    ingest.run(raw=raw, out=out, progress=False)
    return out


def _fake_codings(segments: pd.DataFrame) -> pd.DataFrame:
    """PGB on segments that mention the pgb, MZ on mantelzorg; one of each is rejected."""
    rows = []
    for code, word in (("PGB", "pgb"), ("MZ", "mantelzorg")):
        hits = segments[segments["lemmas"].str.contains(word, regex=False)]
        for i, sid in enumerate(hits["segment_id"]):
            rows.append({"segment_id": sid, "code_id": code, "method": "rule", "score": 1.0,
                         "evidence": word, "status": "rejected" if i == 0 else "auto",
                         "codebook_sha256": "x", "model_id": "fake-bow"})
    return pd.DataFrame(rows, columns=list(schema.CODINGS.columns))


class _Runs:
    """Two stage runs in fresh subprocesses (different hash seeds), started in parallel."""

    def __init__(self, base: Path, codebook: Path):
        self.codebook = codebook
        self.outs = []
        self.procs = []
        for i in (1, 2):
            out = base.parent / f"run{i}"
            shutil.copytree(base, out)
            # Each run its own cache: neither may reuse the other's clustering.
            env = {**os.environ, "PYTHONHASHSEED": str(i), "HF_HUB_OFFLINE": "1",
                   "TRANSFORMERS_OFFLINE": "1", "CODEER_CACHE_DIR": str(out / "own-cache")}
            self.procs.append(subprocess.Popen(
                [sys.executable, "-c", RUN_SCRIPT, str(out), str(codebook), str(ROOT_DIR)],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            self.outs.append(out)
        self._done = False

    def wait(self) -> list[Path]:
        if not self._done:
            for proc in self.procs:
                _, err = proc.communicate(timeout=600)
                assert proc.returncode == 0, err[-3000:]
            self._done = True
        return self.outs

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope="module")
def debate_dir(tmp_path_factory) -> Path:
    """OUT with segments (plus a department column) and codings from two short debates."""
    tmp = tmp_path_factory.mktemp("themes")
    out = _ingest(FIXTURE_FILES, tmp)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    segments["department"] = segments["document_id"].map(
        lambda d: "Zorg" if "wmo" in d else "Langdurige zorg")
    storage.write_table(segments, out / config.SEGMENTS_FILE, schema.SEGMENTS)
    storage.write_table(_fake_codings(segments), out / config.CODINGS_FILE, schema.CODINGS)
    (tmp / "codebook.yaml").write_text(CODEBOOK_YAML, encoding="utf-8")
    return out


@pytest.fixture(scope="module", autouse=True)
def debate_runs(debate_dir):
    """Start both subprocess runs at once, so they overlap with the cheap tests."""
    runs = _Runs(debate_dir, debate_dir.parent / "codebook.yaml")
    yield runs
    runs.stop()


def _small_out(debate_dir: Path, tmp_path: Path, rows: slice | None = None,
               role: str = "respondent") -> Path:
    segments = storage.read_table(debate_dir / config.SEGMENTS_FILE, schema.SEGMENTS)
    segments = segments[segments["role"] == role]
    if rows is not None:
        segments = segments.iloc[rows]
    out = tmp_path / "out"
    storage.write_table(segments, out / config.SEGMENTS_FILE, schema.SEGMENTS)
    return out


# --------------------------------------------------------------------------- pure parts


def test_choose_params_scale_with_batch_size():
    assert themes.choose_params(0).method == "single"
    assert themes.choose_params(5).method == "single"
    tiny = themes.choose_params(40)
    assert tiny.method == "kmeans" and 2 <= tiny.k <= 4
    small, large = themes.choose_params(1500), themes.choose_params(40_000)
    assert small.method == large.method == "hdbscan"
    assert small.min_cluster_size < large.min_cluster_size
    assert small.n_neighbors <= large.n_neighbors <= 30
    assert 4 <= small.k <= large.k <= 30
    assert small.k == round(math.sqrt(1500) / 2)
    assert 2 <= small.min_df <= large.min_df
    assert small.min_samples < small.min_cluster_size < small.max_cluster_size


def test_exact_knn_matches_sklearn_brute_force():
    from sklearn.neighbors import NearestNeighbors

    text = (DEBATES / FIXTURE_FILES[0]).read_text(encoding="utf-8")
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", text) if len(s.split()) > 3][:300]
    vectors = fake_vectors(sentences + sentences[:5])  # five exact duplicates
    k = 12
    idx, dist = themes.exact_knn(vectors, k, block=64)  # several blocks
    assert idx.shape == dist.shape == (len(vectors), k)
    assert (idx[:, 0] == np.arange(len(vectors))).all()  # self first, duplicates too
    assert (dist[:, 0] == 0).all() and (np.diff(dist, axis=1) >= -1e-6).all()
    ref_dist, _ = NearestNeighbors(n_neighbors=k, metric="cosine",
                                   algorithm="brute").fit(vectors).kneighbors(vectors)
    np.testing.assert_allclose(np.sort(dist[:, 1:], axis=1), np.sort(ref_dist[:, 1:], axis=1),
                               atol=1e-5)


def test_stop_words_are_spacy_dutch_plus_fillers():
    from spacy.lang.nl.stop_words import STOP_WORDS

    words = set(themes.stop_words())
    assert STOP_WORDS <= words
    assert {"eigenlijk", "gewoon", "nou", "denken", "mevrouw", "voorzitter"} <= words
    assert isinstance(themes.FILLERS, tuple)


def test_vocabulary_counts_segments_and_keeps_compounds():
    lemmas = ["de ggz-cliënt krijgen zorg", "ggz-cliënt en zorg", "eigenlijk gewoon ja",
              "wachtlijst"]
    vocab = themes.build_vocabulary(lemmas, min_df=2)
    assert vocab == ["ggz-cliënt", "ggz-cliënt zorg", "zorg"]
    assert "wachtlijst" in themes.build_vocabulary(lemmas, min_df=1)
    assert themes.build_vocabulary(["ja nee", "nou eigenlijk"], min_df=1) == []


def test_has_content_drops_filler_only_segments():
    mask = themes.has_content(["dank u wel voorzitter", "ja precies", "de wachtlijst", ""])
    assert mask.tolist() == [False, False, True, False]


def test_make_label_prefers_shared_keywords_and_skips_overlap():
    label = themes.make_label(["mantelzorger", "respijtzorg", "gemeente"],
                              ["respijtzorg", "mantelzorger ondersteuning", "wmo"])
    assert label == "respijtzorg · mantelzorger · gemeente"
    assert themes.make_label([], []) == ""


# (segment texts of a theme, KeyBERT keywords, MMR keywords, label): sentences of the demo
# interviews; the keywords are lemmas as BERTopic gave them on the demo (issue 14).
LABEL_CASES = [
    # A bigram of lemmas is shown as the segments write it, stop words between included.
    (["Kinderen die opgroeien in de stad hebben ruimte nodig om te bewegen.",
      "Voor gezinnen die opgroeien in de stad is een sportpark dichtbij belangrijk."],
     ["opgroeien stad", "sportpark"], ["opgroeien stad"], "opgroeien in de stad · sportpark"),
    # "eerlijk eerlijk" repeats a word; "eerlijk" alone says nothing about a theme.
    (["Eerlijk? Eerlijk gezegd niet zulke hoge.",
      "Ik vond het eerlijk gezegd lastig om dat vertrouwen te krijgen.",
      "Het vertrouwen kwam pas later, toen we elkaar beter kenden."],
     ["eerlijk", "vertrouwen", "eerlijk eerlijk"], ["eerlijk eerlijk", "vertrouwen"],
     "vertrouwen"),
    # "gemeente example" and "example" are pieces of an e-mail address, no phrase.
    (["En als je nog iets wilt weten, mail me gerust, r.schouten@gemeente.example.",
      "De opdracht kwam van het college, met één wethouder als portefeuillehouder.",
      "Ik ben eigenlijk de controller voor het fysieke domein."],
     ["gemeente example", "opdracht", "example"], ["controller", "gemeente example"],
     "controller · opdracht"),
    # A name (a capital where no sentence starts) stays out of the label.
    (["In een van de eerste sessies deed Marloes een rondje van: wat vinden de anderen?",
      "Toen zei Marloes dat het vertrouwen er moest komen.",
      "Dat rondje was het begin van het vertrouwen."],
     ["marloes", "vertrouwen"], ["marloes"], "vertrouwen"),
    # "datum" is simplemma's lemma of "data": the label shows the word as spoken.
    (["Alleen, de data zitten overal.",
      "Iedereen heeft de data in een ander format, soms ook een andere wijkindeling."],
     ["datum", "wijkindeling"], [], "data · wijkindeling"),
    (["Dus eigenlijk had ik eerst bij ons op de afdeling het gesprek moeten voeren.",
      "We hebben dat gesprek moeten voeren met de buitendienst."],
     ["gesprek voer", "buitendienst"], [], "gesprek moeten voeren · buitendienst"),
]


@pytest.mark.parametrize("texts, keywords, mmr, label", LABEL_CASES)
def test_labels_are_phrases_without_repeated_or_stop_words(texts, keywords, mmr, label):
    """Reproduction: labels such as "gemeente example · datum" and "eerlijk eerlijk"."""
    phrases = themes.surface_phrases(texts, [*keywords, *mmr])
    got = themes.make_label(keywords, mmr, phrases=phrases)
    assert got == label
    stops = set(themes.stop_words())
    words = [w for part in got.split(" · ") for w in part.split() if w not in stops]
    assert len(words) == len(set(words))  # no word twice
    for part in got.split(" · "):  # a part starts and ends with a word that says something
        assert part.split()[0] not in stops and part.split()[-1] not in stops


# (segment text, kind): real-style lines of the demo interviews and of the issue.
SMALL_TALK_CASES = [
    ("Oké, hij neemt op.", "opname en toestemming"),
    ("Mag ik het opnemen?", "opname en toestemming"),
    ("Vind je het goed dat ik het gesprek opneem? Het wordt daarna anoniem uitgewerkt.",
     "opname en toestemming"),
    ("Als je nog vragen hebt, mijn nummer is 06-19 55 38 02, of gewoon via Teams.",
     "contactgegevens"),
    ("En als je nog iets wilt weten, mail me gerust, r.schouten@gemeente.example.",
     "contactgegevens"),
    ("Het stadskantoor zit op de Coolsingel 40, 3011 AD.", "contactgegevens"),
    ("Fijn dat je tijd had, Pieter. Kun je jezelf even voorstellen?",
     "begroeting of afsluiting"),
    ("Nou, heel erg bedankt voor je tijd.", "begroeting of afsluiting"),
    ("Ik ben beleidsadviseur bij Duurzaamheid, dat valt onder het cluster "
     "Stadsontwikkeling.", "kennismaking"),
    ("Ik werk hier sinds 2017.", "kennismaking"),
    ("Goeie vraag.", "korte reactie"),
    ("Ja hoor, prima. (lacht)", "korte reactie"),
    ("Dan ben je eigenlijk gedwongen om samen iets te bedenken.", None),
    ("Dat moeten we in het omgevingsplan opnemen, vond de wethouder.", None),
    ("De begroting is opgeknipt in programma's, en elke directeur is verantwoordelijk voor zijn "
     "eigen programma.", None),
]


@pytest.mark.parametrize("text, kind", SMALL_TALK_CASES)
def test_small_talk_kinds(text, kind):
    assert themes.small_talk_kind(text) == kind


def test_small_talk_themes_are_not_emerging(fake_embedder):
    """Reproduction: a theme of contact details and introductions counted as emerging."""
    talk = [t for t, k in SMALL_TALK_CASES if k]
    subject = [
        "De begroting is opgeknipt in programma's, en elke directeur is verantwoordelijk.",
        "Als je dan zegt laten we samen iets doen, dan hoort een directeur: straks betaal ik.",
        "Bij de Omgevingsvisie lag de opdracht bij één cluster en zat het budget daar ook.",
        "Geld volgt eigenaarschap, en eigenaarschap volgt geld.",
        "Een gezamenlijk budget, met gezamenlijke opdrachtgevers, zou veel schelen.",
        "Dus mensen houden hun potjes dicht, want niemand wil betalen voor een ander.",
    ]
    texts = talk + subject
    segments = pd.DataFrame({"segment_id": [f"s{i}" for i in range(len(texts))],
                             "document_id": "int07", "text": texts})
    topics = np.array([0] * len(talk) + [1] * len(subject))
    clustering = themes.Clustering(topics, np.ones(len(texts)),
                                   {0: ["nummer", "opnemen"], 1: ["budget", "directeur"]},
                                   {0: [], 1: ["geld"]}, "given")
    info = themes.describe_themes(segments, fake_vectors(texts), clustering, {}, None)
    talk_row, subject_row = info.iloc[0], info.iloc[1]
    assert not talk_row["emerging"] and talk_row["small_talk"].startswith("praatjes: ")
    assert f"van {len(talk)} segmenten" in talk_row["small_talk"]
    assert subject_row["emerging"] and pd.isna(subject_row["small_talk"])
    assert len(subject_row["quote_segment_ids"]) == themes.N_QUOTES  # three quotes each


@pytest.mark.parametrize("n, k, warned", [(115, 8, True), (250, 2, True), (986, 22, False),
                                          (986, 40, True), (0, 0, False)])
def test_batch_warning(n, k, warned):
    warning = themes.batch_warning(n, k)
    assert (warning is not None) == warned
    if warned:
        assert f"{k} thema's uit {n} respondentsegmenten" in warning


#: Messages of the themes stage per language: Dutch by default, English with CODEER_LANG=en.
THEMES_MESSAGES = {
    None: {
        "scope": "--scope moet een van respondent, uncoded zijn. Gevonden: 'coded'.",
        "batch": "8 thema's uit 115 respondentsegmenten (gemiddeld 14 per thema): te weinig om "
                 "op te bouwen (thema's zeggen pas iets vanaf ongeveer 300 segmenten en 30 per "
                 "thema). Lees ze als een eerste verkenning, niet als uitkomst.",
    },
    "en": {
        "scope": "--scope must be one of respondent, uncoded. Got 'coded' instead.",
        "batch": "8 themes from 115 respondent segments (14 per theme on average): too few to "
                 "build on (themes only say something from about 300 segments and 30 per "
                 "theme). Read them as a first exploration, not as a result.",
    },
}


@pytest.mark.parametrize("lang", list(THEMES_MESSAGES))
def test_themes_messages_are_dutch_by_default_and_english_on_request(monkeypatch, lang):
    if lang is None:
        monkeypatch.delenv("CODEER_LANG", raising=False)
    else:
        monkeypatch.setenv("CODEER_LANG", lang)
    segments = pd.DataFrame({"segment_id": ["s1"], "role": ["respondent"]})
    with pytest.raises(CodeerError) as caught:
        themes.select_segments(segments, None, "coded")
    assert caught.value.message == THEMES_MESSAGES[lang]["scope"]
    assert themes.batch_warning(115, 8) == THEMES_MESSAGES[lang]["batch"]


def test_a_small_batch_is_warned_about_in_the_log(debate_dir, tmp_path, fake_embedder, caplog):
    out = _small_out(debate_dir, tmp_path, rows=slice(100, 160))
    with caplog.at_level(logging.WARNING, logger="codeer"):
        result = themes_command.run(out, codebook=debate_dir.parent / "codebook.yaml",
                                    progress=False)
    assert result.n_themes >= 2
    assert "thema's uit 60 respondentsegmenten" in caplog.text and "verkenning" in caplog.text


def test_relate_to_codes_removes_the_common_direction():
    rng = np.random.default_rng(0)
    common = np.zeros(16)
    common[0] = 10.0
    a, b = rng.normal(size=16), rng.normal(size=16)
    unit = themes._unit
    protos = {"A": unit(common + a), "B": unit(common + b)}
    theme_vec = unit(common + a + 0.1 * rng.normal(size=16))
    codes, sims = themes.relate_to_codes(theme_vec, protos, unit(common) * 0.98)
    assert codes == ["A"]
    raw_b = float(theme_vec @ protos["B"])
    assert raw_b > 0.8  # raw cosines are high for any pair ...
    _, sims_b = themes.relate_to_codes(theme_vec, {"B": protos["B"]}, unit(common) * 0.98)
    assert sims[0] > 0.8 and sims_b[0] < 0.5  # ... centred ones tell codes apart


def test_theme_spread_counts_per_interview_and_department():
    segments = pd.DataFrame({"document_id": ["a", "a", "b", "b", "b"],
                             "department": ["X", "X", "Y", "Y", None]})
    spread = themes.theme_spread(segments, np.array([0, 1, 0, 0, -1]), {0: "t0", 1: "t1"})
    assert set(spread["dimension"]) == {"document_id", "department"}
    for _, part in spread.groupby("dimension"):
        assert part["n_segments"].sum() == 5
        assert np.allclose(part.groupby("topic")["share_of_topic"].sum(), 1.0)
    row = spread[(spread["dimension"] == "document_id") & (spread["value"] == "b")
                 & (spread["topic"] == 0)].iloc[0]
    assert row["n_segments"] == 2 and row["label"] == "t0"
    assert "(onbekend)" in set(spread["value"])


# --------------------------------------------------------------------------- small runs


def test_empty_input_writes_empty_outputs(debate_dir, tmp_path, fake_embedder, caplog):
    out = _small_out(debate_dir, tmp_path, role="other")
    with caplog.at_level(logging.WARNING, logger="codeer"):
        result = themes_command.run(out, codebook=debate_dir.parent / "codebook.yaml",
                                    progress=False)
    assert "themes: geen respondentsegmenten binnen scope 'respondent'" in caplog.text
    assert result.n_themes == 0
    assert storage.read_table(out / config.THEMES_FILE, schema.THEMES).empty
    info = storage.read_table(out / config.THEME_INFO_FILE, schema.THEME_INFO)
    assert list(info.columns) == list(themes.INFO_COLUMNS) and info.empty
    assert storage.read_table(out / config.THEME_SPREAD_FILE, schema.THEME_SPREAD).empty


def test_tiny_inputs_never_crash(debate_dir, tmp_path, fake_embedder):
    for i, (rows, n_min, n_max) in enumerate(((slice(100, 101), 1, 1), (slice(100, 105), 1, 1),
                                               (slice(100, 140), 2, 4))):
        out = _small_out(debate_dir, tmp_path / str(i), rows=rows)
        result = themes_command.run(out, codebook=tmp_path / "absent.yaml", progress=False)
        written = storage.read_table(out / config.THEMES_FILE, schema.THEMES)
        segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
        assert sorted(written["segment_id"]) == sorted(segments["segment_id"])
        assert n_min <= result.n_themes <= n_max
        info = storage.read_table(out / config.THEME_INFO_FILE, schema.THEME_INFO)
        themed = info[info["topic"] != -1]
        assert themed["emerging"].all()  # no codebook: all emerging
        assert (themed["best_code"] == "").all()


def test_scope_uncoded_and_bad_scope(debate_dir, tmp_path, fake_embedder):
    out = _small_out(debate_dir, tmp_path, rows=slice(0, 45))
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = _fake_codings(segments.assign(lemmas=["pgb"] * 10 + ["x"] * (len(segments) - 10)))
    storage.write_table(codings, out / config.CODINGS_FILE, schema.CODINGS)
    themes_command.run(out, codebook=debate_dir.parent / "codebook.yaml", scope="uncoded",
               progress=False)
    written = storage.read_table(out / config.THEMES_FILE, schema.THEMES)
    # segment 0's only coding is rejected, so it counts as uncoded; 1-9 are coded
    expected = set(segments["segment_id"]) - set(segments["segment_id"].iloc[1:10])
    assert set(written["segment_id"]) == expected
    with pytest.raises(CodeerError, match=r"^--scope moet een van respondent, uncoded zijn\. "
                                          r"Gevonden: 'coded'\.$"):
        themes_command.run(out, scope="coded", progress=False)


# --------------------------------------------------------------------------- full runs


def test_every_respondent_segment_gets_a_theme_row(debate_runs, debate_dir):
    out = debate_runs.wait()[0]
    written = storage.read_table(out / config.THEMES_FILE, schema.THEMES)
    segments = storage.read_table(debate_dir / config.SEGMENTS_FILE, schema.SEGMENTS)
    respondent = segments[segments["role"] == "respondent"]
    assert written["segment_id"].tolist() == respondent["segment_id"].tolist()
    assert written.loc[written["topic"] != -1, "topic"].nunique() >= 2
    assert written["probability"].between(0, 1).all()
    assert (written.loc[written["topic"] == -1, "probability"] == 0).all()


def test_theme_info_is_consistent(debate_runs, debate_dir):
    out = debate_runs.wait()[0]
    written = storage.read_table(out / config.THEMES_FILE, schema.THEMES)
    info = storage.read_table(out / config.THEME_INFO_FILE, schema.THEME_INFO)
    assert list(info.columns) == list(themes.INFO_COLUMNS)
    themed = info[info["topic"] != -1]
    assert len(themed) >= 2
    by_topic = written.groupby("topic")["segment_id"].apply(set).to_dict()
    assert info["size"].tolist() == [len(by_topic[t]) for t in info["topic"]]
    assert abs(info["share"].sum() - 1) < 1e-3
    codings = storage.read_table(debate_dir / config.CODINGS_FILE, schema.CODINGS)
    coded = set(codings.loc[codings["status"] != "rejected", "segment_id"])
    for row in themed.itertuples():
        quotes = list(row.quote_segment_ids)
        assert 1 <= len(quotes) <= themes.N_QUOTES and set(quotes) <= by_topic[row.topic]
        assert row.label and len(row.label.split(" · ")) <= themes.LABEL_WORDS
        assert row.best_code in {"PGB", "MZ", "GGZ"}
        talk = isinstance(row.small_talk, str)  # small talk is never an emerging theme
        assert row.emerging == (not row.best_code_similarity >= themes.EMERGING_THRESHOLD
                                and not talk)
        members = by_topic[row.topic]
        assert row.coded_share == pytest.approx(len(members & coded) / len(members), abs=1e-4)
        assert all(re.fullmatch(r"[A-Z]+:\d+", c) for c in row.coded_by_code)
        assert row.n_interviews == len(row.interviews)
    spread = storage.read_table(out / config.THEME_SPREAD_FILE, schema.THEME_SPREAD)
    assert set(spread["dimension"]) == {"document_id", "department"}
    assert spread.groupby("dimension")["n_segments"].sum().eq(len(written)).all()


def test_same_input_same_themes_in_fresh_processes(debate_runs):
    first, second = debate_runs.wait()
    for name, contract in ((config.THEMES_FILE, schema.THEMES),
                           (config.THEME_INFO_FILE, schema.THEME_INFO),
                           (config.THEME_SPREAD_FILE, schema.THEME_SPREAD)):
        a, b = (d / name for d in (first, second))
        pd.testing.assert_frame_equal(storage.read_table(a, contract),
                                      storage.read_table(b, contract))
        assert a.read_bytes() == b.read_bytes(), name


# --------------------------------------------------------------------------- real model


@pytest.mark.slow
def test_real_model_on_five_debates(tmp_path):
    from pipeline.models import build, runtime

    if not runtime.model_is_complete(runtime.default_model_dir()):
        build.build_model()
    out = _ingest(tuple(p.name for p in sorted(DEBATES.glob("*.txt"))), tmp_path)
    start = time.perf_counter()
    result = themes_command.run(out, codebook=tmp_path / "absent.yaml", progress=False)
    seconds = time.perf_counter() - start
    print(f"\n{result.n_themes} themes ({result.method}), {result.outlier_share:.1%} outliers, "
          f"{seconds:.0f} s")
    for row in result.info.itertuples():
        print(f"  {row.topic:3d} {row.size:4d}  {row.label}")
    assert result.n_themes >= 4
    assert result.outlier_share <= 0.25


def test_clustering_is_reused_after_a_codebook_edit(debate_dir, tmp_path, fake_embedder,
                                                    monkeypatch):
    """A second run on the same vectors takes the clustering from the cache, same result."""
    out = tmp_path / "out"
    shutil.copytree(debate_dir, out)
    monkeypatch.setenv("CODEER_CACHE_DIR", str(tmp_path / "cache"))
    codebook = debate_dir.parent / "codebook.yaml"
    first = themes_command.run(out, codebook=codebook, progress=False)
    assert list((tmp_path / "cache").glob("themes-*.npz"))
    calls = []
    monkeypatch.setattr(themes_command, "fit_topics", lambda *a, **k: calls.append(a))
    second = themes_command.run(out, codebook=codebook, progress=False)
    assert calls == []
    pd.testing.assert_frame_equal(first.themes, second.themes)
    pd.testing.assert_frame_equal(first.info, second.info)


def test_a_crafted_cache_file_runs_no_code(debate_dir, tmp_path, fake_embedder, monkeypatch):
    """The clustering cache holds no pickles: a file that would run code when unpickled is
    refused (NumPy with allow_pickle=False), the clustering is fitted again, nothing runs."""
    out = tmp_path / "out"
    shutil.copytree(debate_dir, out)
    monkeypatch.setenv("CODEER_CACHE_DIR", str(tmp_path / "cache"))
    codebook = debate_dir.parent / "codebook.yaml"
    first = themes_command.run(out, codebook=codebook, progress=False)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for path in (tmp_path / "cache").glob("themes-*.npz"):
        with open(path, "wb") as fh:
            np.savez(fh, topics=np.array([Exploit()], dtype=object), meta=np.array("{}"))
        assert str(marker).encode() in path.read_bytes()  # the payload is in the file
    second = themes_command.run(out, codebook=codebook, progress=False)
    assert not marker.exists()
    pd.testing.assert_frame_equal(first.themes, second.themes)
