"""Stage 2, code (the pure core): a classifier per code decides, rules and examples are evidence.

Each in-scope segment is scored for every code by :mod:`pipeline.coding.learner`: a probability
that a researcher accepts the code on it, learned from the codebook and from every review
decision in the batch. A segment gets a code when the probability reaches the code's threshold
(the codebook's ``threshold``, default :data:`DEFAULT_THRESHOLD`; ``OUT/calibration.yaml`` may
override it), so a passage can carry more than one code when the evidence supports each.

Evidence stays readable: the words a rule matched in the segment (:mod:`pipeline.coding.rules`),
the codebook example the segment in context resembles most, and how many review decisions the
code learned from. A rule hit is a feature the classifier weighs; it no longer codes on its own,
because on real text that nobody wrote for codeer rules alone coded too much ordinary talk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import hooks, schema
from pipeline.coding import learner
from pipeline.coding.codebook import Codebook
from pipeline.coding.prototypes import KIND, context_windows
from pipeline.models.cache import EmbeddingCache
from pipeline.vocab import QUEUE_NOTE, CodeScope, Role

#: Probability a code needs when neither the codebook nor a calibration sets another.
DEFAULT_THRESHOLD = 0.5


def select_scope(segments: pd.DataFrame, scope: str) -> pd.DataFrame:
    """The segments a coder looks at: respondent segments, or every spoken segment."""
    if scope == CodeScope.ALL:
        return segments[segments["role"] != Role.OTHER].reset_index(drop=True)
    return segments[segments["role"] == Role.RESPONDENT].reset_index(drop=True)


# --------------------------------------------------------------------------- text units


def paragraph_ids(segments: pd.DataFrame, documents: pd.DataFrame) -> pd.Series:
    """A paragraph id per segment: the block of sentences of one turn between line breaks.

    Args:
        segments: Segments of the batch (any order).
        documents: The documents, for the text between two segments.

    Returns:
        ``"<document>|<n>"`` per segment, indexed like ``segments``.
    """
    texts = dict(zip(documents["document_id"], documents["text"], strict=True))
    ordered = segments.sort_values(["document_id", "segment_index"])
    out = {}
    prev_doc, prev_turn, prev_end, n = None, None, 0, 0
    for idx, doc, turn, start, end in zip(ordered.index, ordered["document_id"],
                                          ordered["turn_index"], ordered["start"],
                                          ordered["end"], strict=True):
        if doc != prev_doc:
            n = 0
        elif turn != prev_turn or "\n" in texts.get(doc, "")[prev_end:start]:
            n += 1
        out[idx] = f"{doc}|{n}"
        prev_doc, prev_turn, prev_end = doc, turn, end
    return pd.Series(out).reindex(segments.index)


def _joined(ids: pd.Series, values: pd.Series) -> dict[str, str]:
    return values.groupby(ids.to_numpy(), sort=False).agg(" ".join).to_dict()


@dataclass
class Units:
    """The texts the learner sees for each target segment (rows aligned with ``target``)."""

    windows: list[str]
    window_lemmas: list[str]
    paragraphs: list[str]
    paragraph_lemmas: list[str]
    paragraph_of: list[str]


def text_units(target: pd.DataFrame, segments: pd.DataFrame, documents: pd.DataFrame,
               width: int = 1) -> Units:
    """Context windows and paragraphs, as text and as lemma strings, of every target segment."""
    windows = context_windows(target, segments, width)
    lemma_of = dict(zip(segments["segment_id"], segments["lemmas"].astype(str), strict=True))
    as_lemmas = segments.assign(text=segments["segment_id"].map(lemma_of))
    window_lemmas = context_windows(target, as_lemmas, width)
    para = paragraph_ids(segments, documents)
    texts = _joined(para, segments["text"].astype(str))
    lemmas = _joined(para, segments["lemmas"].astype(str))
    para_of = dict(zip(segments["segment_id"], para, strict=True))
    keys = [para_of[s] for s in target["segment_id"]]
    return Units(windows, window_lemmas, [texts[k] for k in keys], [lemmas[k] for k in keys],
                 keys)


# --------------------------------------------------------------------------- rules


def rule_hits(texts: list[str], book: Codebook) -> list[dict[str, list[str]]]:
    """The codes whose rules fire on each text, with the matched words as evidence."""
    from pipeline.coding.rules import RuleMatcher
    from pipeline.nlp import get_nlp

    rules = {c.id: c.parsed_rules for c in book.codes if c.rules}
    if not rules or not texts:
        return [{} for _ in texts]
    nlp = get_nlp(sentences=False)
    matcher = RuleMatcher(rules, nlp.vocab)
    return matcher.match_all(nlp.pipe(texts, batch_size=256))


def rule_matrix(hits: list[dict[str, list[str]]], code_ids: list[str]) -> np.ndarray:
    """0/1 matrix ``(n, n_codes)`` of :func:`rule_hits`."""
    out = np.zeros((len(hits), len(code_ids)), dtype=np.float64)
    col = {c: j for j, c in enumerate(code_ids)}
    for i, fired in enumerate(hits):
        for code in fired:
            if code in col:
                out[i, col[code]] = 1.0
    return out


# --------------------------------------------------------------------------- learning


@dataclass
class Prepared:
    """A batch ready for the learner: features of the batch and of the codebook."""

    code_ids: list[str]
    space: learner.FeatureSpace
    batch_rows: object  # scipy.sparse.csr_matrix
    book_rows: object
    book_texts: learner.CodebookTexts
    book_vectors: np.ndarray
    window_vectors: np.ndarray
    units: Units


@hooks.timed("prepare")
def prepare(target: pd.DataFrame, segments: pd.DataFrame, documents: pd.DataFrame,
            book: Codebook, cache: EmbeddingCache, progress: bool = False,
            settings: learner.Settings = learner.SETTINGS) -> Prepared:
    """Embed what the learner needs (through the cache) and build the feature rows."""
    from pipeline.nlp import get_nlp, lemma_string

    code_ids = [c.id for c in book.codes]
    units = text_units(target, segments, documents, book.defaults.context)
    with hooks.span("segment_vectors", len(units.windows)):
        windows = cache.encode(units.windows, kind=KIND, progress=progress)
    unique_paras = list(dict.fromkeys(units.paragraphs))
    para_vectors = dict(zip(unique_paras, cache.encode(unique_paras, kind=KIND),
                            strict=True)) if unique_paras else {}
    paragraphs = (np.stack([para_vectors[p] for p in units.paragraphs]) if units.paragraphs
                  else np.zeros_like(windows))
    texts = learner.codebook_texts(book)
    book_vectors = cache.encode(texts.texts, kind=KIND)
    nlp = get_nlp(sentences=False)
    book_lemmas = [lemma_string(doc) for doc in nlp.pipe(texts.texts, batch_size=256)]
    space, book_scores = learner.fit_space(
        texts, book_vectors, code_ids, units.window_lemmas + units.paragraph_lemmas,
        book_lemmas, settings)
    batch_inputs = learner.Inputs(windows, paragraphs, units.window_lemmas,
                                  units.paragraph_lemmas,
                                  rule_matrix(rule_hits(units.windows, book), code_ids))
    book_inputs = learner.Inputs(book_vectors, book_vectors, book_lemmas, book_lemmas,
                                 np.zeros((len(texts.texts), len(code_ids))))
    return Prepared(code_ids, space, space.rows(batch_inputs), space.rows(book_inputs,
                    book_scores), texts, book_vectors, windows, units)


def decision_rows(target: pd.DataFrame, decisions: pd.DataFrame,
                  code_ids: list[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Review decisions as training rows of ``target``, and the implicit negatives.

    A document counts as read when it has a decision that did not come from the review queue
    (its note does not start with :data:`pipeline.vocab.QUEUE_NOTE`): coding a document in
    full, here or in a CAQDAS, says that what was left uncoded is not the code. Answers to the
    queue only say something about the passages asked: the rest of their documents was not
    read, and counting it as "not coded" taught the coder that every unread lesson is none
    (measured: kappa 0.22 -> 0.03 after 25 queue answers).

    Args:
        target: The in-scope segments (row order of the feature rows).
        decisions: The latest decision per (segment, code) (``segment_id``, ``code_id``,
            ``decision``, optionally ``note``).
        code_ids: The codebook's codes.

    Returns:
        ``row, code_id, label`` per usable decision, and per code the rows of every in-scope
        segment of a read document as implicit negatives.
    """
    row_of = {s: i for i, s in enumerate(target["segment_id"])}
    d = decisions[decisions["segment_id"].isin(row_of) & decisions["code_id"].isin(code_ids)]
    rows = pd.DataFrame({
        "row": d["segment_id"].map(row_of).astype("int64"),
        "code_id": d["code_id"].astype(str),
        "label": d["decision"].isin(["accept", "add"]).astype("int64"),
    }).reset_index(drop=True)
    notes = d["note"].fillna("").astype(str) if "note" in d.columns else \
        pd.Series("", index=d.index)
    read = d[~notes.str.startswith(QUEUE_NOTE)]
    read_docs = set(target.loc[read["segment_id"].map(row_of).to_numpy(), "document_id"]) \
        if len(read) else set()
    read_rows = np.flatnonzero(target["document_id"].isin(read_docs).to_numpy())
    return rows, {c: read_rows for c in code_ids}


@dataclass
class Scores:
    """The learner's output for one batch."""

    code_ids: list[str]
    probabilities: np.ndarray  # (n_target, n_codes)
    nearest: list[list[str]]  # per target row and code: the most similar positive text
    model: learner.Model


@hooks.timed("scoring")
def score(prepared: Prepared, target: pd.DataFrame, decisions: pd.DataFrame,
          cache_dir=None, settings: learner.Settings = learner.SETTINGS) -> Scores:
    """Train (or reuse) the classifiers and score every target segment for every code."""
    rows, implicit = decision_rows(target, decisions, prepared.code_ids)
    data = learner.training_data(prepared.space, prepared.batch_rows, prepared.book_rows,
                                 prepared.book_texts, rows, implicit, settings)
    model = learner.fit(data, prepared.code_ids, settings, cache_dir)
    probs = model.probabilities(prepared.batch_rows)
    nearest = []
    sims = prepared.window_vectors @ prepared.book_vectors.T
    positives = {c: prepared.book_texts.labels(c) for c in prepared.code_ids}
    best = {}
    for c, (idx, y) in positives.items():
        pos = idx[y == 1]
        pos = pos[np.array([prepared.book_texts.codes[i] == c for i in pos], dtype=bool)] \
            if len(pos) else pos
        best[c] = pos[sims[:, pos].argmax(axis=1)] if len(pos) else None
    for i in range(len(target)):
        nearest.append([prepared.book_texts.texts[best[c][i]] if best[c] is not None else ""
                        for c in prepared.code_ids])
    return Scores(prepared.code_ids, probs, nearest, model)


# --------------------------------------------------------------------------- codings


@hooks.timed("code_segments")
def code_segments(target: pd.DataFrame, book: Codebook, codebook_sha256: str,
                  scores: Scores | None, model_id: str = "",
                  thresholds: dict[str, float] | None = None) -> pd.DataFrame:
    """Codings of the target segments (the pure core of ``codeer code``).

    Args:
        target: The in-scope segments.
        book: The validated codebook.
        codebook_sha256: Hash of the codebook file, recorded with every coding.
        scores: The learner's scores of ``target``, or None for rules only.
        model_id: Id of the embedding model, recorded with every coding.
        thresholds: Per-code probability thresholds that override the codebook's.

    Returns:
        A frame conforming to :data:`pipeline.schema.CODINGS`, one row per (segment, code),
        status ``auto``; ``score`` is the probability (empty for rule-only codings).
    """
    seg_ids = target["segment_id"].tolist()
    fired = rule_hits(target["text"].astype(str).tolist(), book)
    rows = []
    if scores is None:
        for seg_id, hits in zip(seg_ids, fired, strict=True):
            for code_id, evidence in hits.items():
                rows.append(_row(seg_id, code_id, "rule", float("nan"),
                                 f"regel {'; '.join(evidence)}", codebook_sha256, model_id))
    else:
        limits = np.array([(thresholds or {}).get(c, _threshold(book, c))
                           for c in scores.code_ids])
        passed = scores.probabilities >= limits
        for i, j in zip(*np.nonzero(passed), strict=True):
            code_id = scores.code_ids[j]
            rule = fired[i].get(code_id)
            evidence = [f"regel {'; '.join(rule)}"] if rule else []
            if scores.nearest[i][j]:
                evidence.append(f"lijkt op: \u201c{scores.nearest[i][j]}\u201d")
            learned = int(scores.model.n_decisions[j])
            if learned:
                evidence.append(f"geleerd van {learned} beoordeling"
                                f"{'' if learned == 1 else 'en'}")
            rows.append(_row(seg_ids[i], code_id, "both" if rule else "embedding",
                             float(scores.probabilities[i, j]), " | ".join(evidence),
                             codebook_sha256, model_id))
    df = pd.DataFrame(rows, columns=list(schema.CODINGS.columns))
    df = df.sort_values(["segment_id", "code_id"], kind="stable")
    return schema.CODINGS.conform(df)


def _row(seg_id: str, code_id: str, method: str, score: float, evidence: str, sha: str,
         model_id: str) -> dict:
    return {"segment_id": seg_id, "code_id": code_id, "method": method, "score": score,
            "evidence": evidence, "status": "auto", "codebook_sha256": sha,
            "model_id": model_id}


def _threshold(book: Codebook, code_id: str) -> float:
    code = next(c for c in book.codes if c.id == code_id)
    return book.threshold_of(code)
