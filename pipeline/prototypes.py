"""Code prototypes: what each code 'looks like' in embedding space.

Shared by the coder (scores) and the themes stage (which code a theme resembles).
"""

from __future__ import annotations

import numpy as np

from pipeline.codebook import Code, Codebook
from pipeline.embed import EmbeddingCache

# e5 is trained with "query: " on both sides for symmetric similarity; codeer uses it for
# segments and codebook texts alike, so the segment vectors are shared by every stage.
KIND = "query"


def code_texts(code: Code) -> list[str]:
    """Texts that describe a code positively: its definition, inclusion criteria, examples."""
    texts = [code.definition] if code.definition.strip() else []
    return texts + list(code.include) + list(code.examples)


def code_prototypes(book: Codebook, cache: EmbeddingCache) -> dict[str, np.ndarray]:
    """One L2-normalised mean vector per code, from :func:`code_texts`."""
    out = {}
    for code in book.codes:
        texts = code_texts(code) or [code.name]
        vectors = cache.encode(texts, kind=KIND)
        mean = vectors.mean(axis=0)
        out[code.id] = (mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32)
    return out
