"""Stage 2, code (the pure core): the codebook applied by rules and contrastive embeddings.

Rules (:mod:`pipeline.coding.rules`) give precise evidence: the matched words. The embedding coder
compares each segment with the code's examples *and* with what the code is not: a segment
gets the code when it is clearly closer to the code's examples than to the codebook's
background of ordinary talk and the code's counter-examples. Raw cosine similarity alone
does not work: e5 scores of unrelated Dutch sentences bunch in 0.77-0.89, and topic
similarity is not lesson similarity (see docs/codebook.md).

Each segment is embedded together with its neighbouring sentences of the same turn (the
codebook's ``defaults.context``, one on each side by default): in interviews a lesson is
rarely carried by one sentence. For each segment ``s`` and code ``c``::

    pos(s, c) = mean of the k highest similarities of s to c's examples
    neg(s, c) = mean of the k highest similarities of s to background + c's counter-examples
    score     = pos - neg

A code is assigned when ``score >= threshold(c)``; when several codes pass, only those within
``margin`` of the best are kept (a segment rarely carries several lessons).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import hooks, schema
from pipeline.coding.codebook import Codebook
from pipeline.coding.prototypes import KIND, code_texts
from pipeline.models.cache import EmbeddingCache

TOP_K = 3


@dataclass
class CodebookVectors:
    """Embedded codebook texts, ready for scoring."""

    code_ids: list[str]
    examples: list[np.ndarray]  # per code: (n_examples, dim)
    example_texts: list[list[str]]
    negatives: list[np.ndarray]  # per code: background + counter-examples


@hooks.timed("embed_codebook")
def embed_codebook(book: Codebook, cache: EmbeddingCache) -> CodebookVectors:
    """Embed every code's positive texts and the shared contrast set (in one encode call)."""
    background = list(book.background)
    codes = [(code, code_texts(code)) for code in book.codes]
    codes = [(code, pos) for code, pos in codes if pos]
    everything = list(dict.fromkeys(
        [t for _, pos in codes for t in pos] + background
        + [t for code, _ in codes for t in code.counter_examples]))
    vectors = dict(zip(everything, cache.encode(everything, kind=KIND), strict=True))
    dim = next(iter(vectors.values())).shape[0] if vectors else 0

    def stack(texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, dim), np.float32)
        return np.stack([vectors[t] for t in texts])

    return CodebookVectors(
        code_ids=[code.id for code, _ in codes],
        examples=[stack(pos) for _, pos in codes],
        example_texts=[pos for _, pos in codes],
        negatives=[stack(background + list(code.counter_examples)) for code, _ in codes],
    )


def _topk_mean(sims: np.ndarray, k: int) -> np.ndarray:
    k = min(k, sims.shape[1])
    if k == 0:
        return np.zeros(sims.shape[0], dtype=np.float32)
    part = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
    return part.mean(axis=1)


@hooks.timed("scoring")
def embedding_scores(
    vectors: np.ndarray, cb: CodebookVectors, k: int = TOP_K
) -> tuple[np.ndarray, np.ndarray]:
    """Contrastive scores of every segment for every code.

    Args:
        vectors: Segment embeddings, L2-normalised, shape ``(n, dim)``.
        cb: The embedded codebook.
        k: How many nearest examples (and negatives) are averaged.

    Returns:
        ``scores`` of shape ``(n, n_codes)`` and ``nearest`` example index per segment and code.
    """
    n = vectors.shape[0]
    scores = np.zeros((n, len(cb.code_ids)), dtype=np.float32)
    nearest = np.zeros((n, len(cb.code_ids)), dtype=np.int64)
    for j, (ex, neg) in enumerate(zip(cb.examples, cb.negatives, strict=True)):
        sims = vectors @ ex.T
        nearest[:, j] = sims.argmax(axis=1)
        pos = _topk_mean(sims, k)
        negs = _topk_mean(vectors @ neg.T, k) if neg.size else 0.0
        scores[:, j] = pos - negs
    return scores, nearest


@hooks.timed("code_segments")
def code_segments(
    segments: pd.DataFrame,
    book: Codebook,
    codebook_sha256: str,
    vectors: np.ndarray | None,
    cb: CodebookVectors | None,
    model_id: str = "",
    thresholds: dict[str, float] | None = None,
    scope: str | None = None,
) -> pd.DataFrame:
    """Code segments by rules and, when vectors are given, by embeddings (the pure core).

    Args:
        segments: Segments as written by ingest.
        book: The validated codebook.
        codebook_sha256: Hash of the codebook file, recorded with every coding.
        vectors: Embeddings of the in-scope segments (same order), or None for rules only.
        cb: The embedded codebook (needed with ``vectors``).
        model_id: Id of the embedding model, recorded with every coding.
        thresholds: Per-code thresholds that override the codebook (from calibration).
        scope: ``"respondent"`` or ``"all"``; default from the codebook.

    Returns:
        A frame conforming to :data:`pipeline.schema.CODINGS`, one row per (segment, code),
        ``status`` ``auto``.
    """
    from pipeline.coding.rules import RuleMatcher
    from pipeline.nlp import get_nlp

    target = select_scope(segments, scope or book.defaults.scope)
    nlp = get_nlp(sentences=False)
    matcher = RuleMatcher({c.id: c.parsed_rules for c in book.codes if c.rules}, nlp.vocab)
    rule_hits: dict[tuple[str, str], str] = {}
    docs = nlp.pipe(target["text"].tolist(), batch_size=256)
    for seg_id, fired in zip(target["segment_id"], matcher.match_all(docs), strict=True):
        for code_id, evidence in fired.items():
            rule_hits[(seg_id, code_id)] = "; ".join(evidence)

    emb_hits: dict[tuple[str, str], tuple[float, str]] = {}
    all_scores: dict[tuple[str, str], float] = {}
    if vectors is not None and cb is not None and len(target):
        scores, nearest = embedding_scores(vectors, cb)
        limits = np.array([
            (thresholds or {}).get(cid, book.threshold_of(_code(book, cid))) for cid in cb.code_ids
        ], dtype=np.float32)
        best = scores.max(axis=1, keepdims=True)
        passed = (scores >= limits) & (scores >= best - book.defaults.margin)
        seg_ids = target["segment_id"].tolist()
        row_of = {sid: i for i, sid in enumerate(seg_ids)}
        for i, j in zip(*np.nonzero(passed), strict=True):
            example = cb.example_texts[j][nearest[i, j]]
            emb_hits[(seg_ids[i], cb.code_ids[j])] = (float(scores[i, j]), example)
        for (seg_id, code_id) in rule_hits:
            if code_id in cb.code_ids:
                i, j = row_of[seg_id], cb.code_ids.index(code_id)
                all_scores[(seg_id, code_id)] = float(scores[i, j])

    rows = []
    for key in sorted(set(rule_hits) | set(emb_hits), key=lambda k: (k[0], k[1])):
        seg_id, code_id = key
        in_rule, in_emb = key in rule_hits, key in emb_hits
        method = "both" if in_rule and in_emb else ("rule" if in_rule else "embedding")
        evidence = []
        if in_rule:
            evidence.append(f"regel {rule_hits[key]}")
        if in_emb:
            evidence.append(f"lijkt op: \u201c{emb_hits[key][1]}\u201d")
        score = emb_hits[key][0] if in_emb else all_scores.get(key, float("nan"))
        rows.append({
            "segment_id": seg_id, "code_id": code_id, "method": method, "score": score,
            "evidence": " | ".join(evidence), "status": "auto",
            "codebook_sha256": codebook_sha256, "model_id": model_id,
        })
    df = pd.DataFrame(rows, columns=list(schema.CODINGS.columns))
    return schema.CODINGS.conform(df)


def _code(book: Codebook, code_id: str):
    return next(c for c in book.codes if c.id == code_id)


def select_scope(segments: pd.DataFrame, scope: str) -> pd.DataFrame:
    """The segments a coder looks at: respondent segments by default, or all."""
    if scope == "all":
        return segments[segments["role"] != "other"].reset_index(drop=True)
    return segments[segments["role"] == "respondent"].reset_index(drop=True)
