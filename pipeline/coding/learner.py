"""The coder that learns: one classifier per code, trained on the codebook and on every review.

Why: on real text that nobody wrote for codeer, a similarity to codebook examples (the earlier
contrastive score) hardly separates lesson talk from ordinary talk; what a researcher decides on
their own batch does (docs/learning.md has the measurements). So each code gets a scikit-learn
``LogisticRegression`` whose output is a probability, "how likely a researcher accepts this".

Features of a segment (one sparse row, the same columns for codebook texts):

* the e5 vector of the segment with its neighbours in the turn (the coder's context window) and
  of its paragraph (the block of sentences of one turn between line breaks), each x2;
* the codebook score: the decision value of a classifier trained on the codebook texts alone
  (cross-validated for the codebook texts themselves, so it is never a training-set score);
* which codes' rules fire on the window (0/1);
* the lemma TF-IDF of the window and of the paragraph (fitted on the batch, no labels).

Training rows per code:

* the codebook: the code's definition, inclusion criteria and examples are positives; the
  background, the code's counter-examples and the other codes' positives are negatives
  (weight :data:`Settings.codebook_weight`);
* the latest review decision per (segment, code): ``accept``/``add`` 1, ``reject`` 0 (weight
  :data:`Settings.decision_weight`). A researcher who codes whole paragraphs (an ``add`` on
  every sentence) gives coarse positives; the paragraph features carry them;
* implicit negatives: every other in-scope segment of a document that has decisions (the
  researcher read it) is a weak negative for the codes it did not get (weight
  :data:`Settings.implicit_weight`).

Positives and negatives carry equal total weight per code. Everything is deterministic (lbfgs,
fixed seed), and the fitted coefficients are cached by a hash of the training data, as NumPy
arrays (no pickle): a re-code after a codebook edit or new decisions refits only what changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from pipeline import config, hooks
from pipeline.coding.codebook import Codebook

log = logging.getLogger("codeer")

POSITIVE_KINDS = ("definition", "include", "example")
CODEBOOK_KINDS = (*POSITIVE_KINDS, "counter", "background")


@dataclass(frozen=True)
class Settings:
    """The learner's settings (measured choices; see docs/learning.md).

    Attributes:
        C: Inverse regularisation strength of every classifier.
        vector_scale: Factor on the e5 vectors (against the TF-IDF and score columns).
        codebook_weight: Weight of one codebook text.
        decision_weight: Weight of one review decision.
        implicit_weight: Weight of one implicit negative.
        min_df: A lemma enters the TF-IDF vocabulary when at least this many texts have it.
        cv_folds: Folds for the codebook texts' own codebook scores.
    """

    C: float = 10.0
    vector_scale: float = 2.0
    codebook_weight: float = 0.3
    decision_weight: float = 1.0
    implicit_weight: float = 0.3
    min_df: int = 2
    cv_folds: int = 5


SETTINGS = Settings()


# --------------------------------------------------------------------------- codebook texts


@dataclass(frozen=True)
class CodebookTexts:
    """The codebook's texts with their role, in a fixed order."""

    texts: list[str]
    kinds: list[str]  # see CODEBOOK_KINDS
    codes: list[str]  # owning code ("" for the background)

    def labels(self, code_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Indices and 0/1 labels of the texts that train ``code_id``'s classifier."""
        idx, y = [], []
        for i, (kind, code) in enumerate(zip(self.kinds, self.codes, strict=True)):
            if code == code_id and kind in POSITIVE_KINDS:
                idx.append(i)
                y.append(1)
            elif kind == "background" or (code == code_id and kind == "counter"):
                idx.append(i)
                y.append(0)
            elif code and code != code_id and kind in (*POSITIVE_KINDS, "counter"):
                idx.append(i)
                y.append(0)
        return np.array(idx, dtype=np.int64), np.array(y, dtype=np.int64)


def codebook_texts(book: Codebook) -> CodebookTexts:
    """Every text of ``book`` with its role (duplicates kept once, first role wins)."""
    rows: dict[str, tuple[str, str]] = {}
    for code in book.codes:
        items = ([(code.definition, "definition")] if code.definition.strip() else []) + \
            [(t, "include") for t in code.include] + [(t, "example") for t in code.examples] + \
            [(t, "counter") for t in code.counter_examples]
        for text, kind in items:
            rows.setdefault(text, (kind, code.id))
    for text in book.background:
        rows.setdefault(text, ("background", ""))
    return CodebookTexts(list(rows), [k for k, _ in rows.values()], [c for _, c in rows.values()])


# --------------------------------------------------------------------------- features


@dataclass
class Inputs:
    """What the learner knows about the texts it codes or learns from (rows aligned).

    Attributes:
        windows: e5 vector of each text in its context window, shape ``(n, dim)``.
        paragraphs: e5 vector of each text's paragraph, ``(n, dim)``.
        window_lemmas: Lemma string of each window.
        paragraph_lemmas: Lemma string of each paragraph.
        rules: Which codes' rules fire on each text, ``(n, n_codes)`` of 0/1.
    """

    windows: np.ndarray
    paragraphs: np.ndarray
    window_lemmas: list[str]
    paragraph_lemmas: list[str]
    rules: np.ndarray

    def __len__(self) -> int:
        return len(self.window_lemmas)


@dataclass
class FeatureSpace:
    """How :class:`Inputs` become feature rows: the codebook scorer and the TF-IDF vocabulary.

    Fitted on the codebook and the batch's own texts (no labels), deterministically.
    """

    code_ids: list[str]
    score_coef: np.ndarray  # (n_codes, dim) of the codebook-only classifiers
    score_intercept: np.ndarray  # (n_codes,)
    vocabulary: dict[str, int]
    idf: np.ndarray
    settings: Settings = field(default_factory=Settings)

    def codebook_scores(self, vectors: np.ndarray) -> np.ndarray:
        """Decision values of the codebook-only classifiers, ``(n, n_codes)``."""
        return vectors @ self.score_coef.T + self.score_intercept

    def tfidf(self, lemmas: list[str]) -> sparse.csr_matrix:
        """L2-normalised sublinear TF-IDF rows over :attr:`vocabulary`."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(vocabulary=self.vocabulary, sublinear_tf=True,
                              token_pattern=r"(?u)\b\w\w+\b")
        vec.idf_ = self.idf
        return vec.transform(lemmas)

    def rows(self, inputs: Inputs, scores: np.ndarray | None = None) -> sparse.csr_matrix:
        """Feature rows of ``inputs``; ``scores`` replaces the codebook scores (codebook texts
        get cross-validated ones)."""
        s = self.settings.vector_scale
        if scores is None:
            scores = (self.codebook_scores(inputs.windows)
                      + self.codebook_scores(inputs.paragraphs)) / 2
        dense = np.hstack([inputs.windows * s, inputs.paragraphs * s, scores / 10.0,
                           inputs.rules]).astype(np.float64)
        return sparse.hstack([sparse.csr_matrix(dense), self.tfidf(inputs.window_lemmas),
                              self.tfidf(inputs.paragraph_lemmas)]).tocsr()

    @property
    def n_features(self) -> int:
        dim = self.score_coef.shape[1]
        return 2 * dim + 2 * len(self.code_ids) + 2 * len(self.vocabulary)


def _fit_lr(X, y: np.ndarray, w: np.ndarray, C: float):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=3000, random_state=config.SEED)
    clf.fit(X, y, sample_weight=w)
    return clf


def _balanced(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weights rescaled so that positives and negatives carry equal total weight."""
    wp, wn = w[y == 1].sum(), w[y == 0].sum()
    if wp == 0 or wn == 0:
        return w
    return np.where(y == 1, w * (wp + wn) / (2 * wp), w * (wp + wn) / (2 * wn))


def _score_models(book_texts: CodebookTexts, vectors: np.ndarray, code_ids: list[str],
                  C: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    coef = np.zeros((len(code_ids), vectors.shape[1]))
    intercept = np.zeros(len(code_ids))
    for j, code in enumerate(code_ids):
        idx, y = book_texts.labels(code)
        if len(idx) == 0 or y.min() == y.max():
            continue
        clf = _fit_lr(vectors[idx], y, _balanced(y, np.ones(len(y))), C)
        coef[j], intercept[j] = clf.coef_[0], clf.intercept_[0]
    return coef, intercept


@hooks.timed("feature_space")
def fit_space(book_texts: CodebookTexts, book_vectors: np.ndarray, code_ids: list[str],
              corpus_lemmas: list[str], book_lemmas: list[str],
              settings: Settings = SETTINGS) -> tuple[FeatureSpace, np.ndarray]:
    """Fit the feature space; also return the codebook texts' cross-validated scores.

    Args:
        book_texts: The codebook's texts (:func:`codebook_texts`).
        book_vectors: Their e5 vectors, same order.
        code_ids: The codes, in codebook order.
        corpus_lemmas: Lemma strings of the batch (windows and paragraphs) for the vocabulary.
        book_lemmas: Lemma strings of the codebook texts.
        settings: Learner settings.

    Returns:
        The feature space, and the codebook scores of the codebook texts ``(n_texts,
        n_codes)`` from classifiers that did not see them.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold

    coef, intercept = _score_models(book_texts, book_vectors, code_ids)
    vec = TfidfVectorizer(min_df=settings.min_df, sublinear_tf=True,
                          token_pattern=r"(?u)\b\w\w+\b")
    try:
        vec.fit(list(corpus_lemmas) + list(book_lemmas))
        vocabulary = {str(k): int(v) for k, v in vec.vocabulary_.items()}
        idf = vec.idf_.astype(np.float64)
    except ValueError:  # no word occurs twice: no TF-IDF columns
        vocabulary, idf = {}, np.zeros(0)
    space = FeatureSpace(code_ids, coef, intercept, vocabulary, idf, settings)
    strata = np.array([c or "_" for c in book_texts.codes])
    cv = space.codebook_scores(book_vectors)  # fallback when a fold cannot be made
    counts = pd.Series(strata).value_counts()
    folds = min(settings.cv_folds, int(counts.min())) if len(counts) else 0
    if folds >= 2:
        cv = np.zeros_like(cv)
        skf = StratifiedKFold(folds, shuffle=True, random_state=config.SEED)
        for train, test in skf.split(book_vectors, strata):
            sub = CodebookTexts([book_texts.texts[i] for i in train],
                                [book_texts.kinds[i] for i in train],
                                [book_texts.codes[i] for i in train])
            c, b = _score_models(sub, book_vectors[train], code_ids)
            cv[test] = book_vectors[test] @ c.T + b
    return space, cv


# --------------------------------------------------------------------------- the model


@dataclass
class Model:
    """Fitted classifiers, one per code (``None`` where a code has nothing to learn from).

    Attributes:
        code_ids: Codes in codebook order.
        coef: ``(n_codes, n_features)``; rows of codes without a classifier are zero.
        intercept: ``(n_codes,)``.
        trained: Whether each code has a classifier.
        n_decisions: Review decisions each code learned from.
        n_positive: Positive decisions (accept/add) each code learned from.
    """

    code_ids: list[str]
    coef: np.ndarray
    intercept: np.ndarray
    trained: np.ndarray
    n_decisions: np.ndarray
    n_positive: np.ndarray

    def probabilities(self, X: sparse.csr_matrix) -> np.ndarray:
        """``(n, n_codes)`` probabilities; 0 for codes without a classifier."""
        z = np.asarray(X @ self.coef.T) + self.intercept
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        return np.where(self.trained, p, 0.0)

    def save(self, path: Path) -> None:
        """Write the coefficients as ``.npz`` (no pickled objects)."""
        from pipeline.storage import atomic_path

        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, coef=self.coef.astype(np.float64), intercept=self.intercept,
                     trained=self.trained, n_decisions=self.n_decisions,
                     n_positive=self.n_positive, code_ids=np.array(json.dumps(self.code_ids)))

    @classmethod
    def load(cls, path: Path) -> Model | None:
        """A saved model, or None when the file is unreadable."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(json.loads(str(data["code_ids"])), data["coef"], data["intercept"],
                           data["trained"].astype(bool), data["n_decisions"],
                           data["n_positive"])
        except (OSError, ValueError, KeyError):
            return None


@dataclass
class TrainingData:
    """Labelled rows per code (feature rows of the batch and of the codebook, stacked)."""

    X: sparse.csr_matrix
    per_code: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # rows, labels, weights
    n_decisions: dict[str, int]
    n_positive: dict[str, int]

    def digest(self, settings: Settings) -> str:
        """Hash of everything the fit depends on (the cache key)."""
        h = hashlib.sha256(repr(settings).encode())
        for arr in (self.X.data, self.X.indices, self.X.indptr):
            h.update(np.ascontiguousarray(arr).tobytes())
        for code in sorted(self.per_code):
            h.update(code.encode())
            for arr in self.per_code[code]:
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:24]


def training_data(space: FeatureSpace, batch_rows: sparse.csr_matrix, book_rows: sparse.csr_matrix,
                  book_texts: CodebookTexts, decisions: pd.DataFrame,
                  implicit: dict[str, np.ndarray] | None = None,
                  settings: Settings = SETTINGS) -> TrainingData:
    """Assemble the labelled rows of every code (pure).

    Args:
        space: The feature space.
        batch_rows: Feature rows of the batch's in-scope segments.
        book_rows: Feature rows of the codebook texts.
        book_texts: The codebook texts, same order as ``book_rows``.
        decisions: One row per (segment, code) with ``row`` (index into ``batch_rows``),
            ``code_id`` and ``label`` (1 accept/add, 0 reject): the latest decisions.
        implicit: Per code, batch rows that are implicit negatives (read, not coded).
        settings: Learner settings.
    """
    n = batch_rows.shape[0]
    X = sparse.vstack([batch_rows, book_rows]).tocsr()
    per_code, n_dec, n_pos = {}, {}, {}
    for code in space.code_ids:
        mine = decisions[decisions["code_id"] == code]
        rows = [mine["row"].to_numpy(np.int64)]
        labels = [mine["label"].to_numpy(np.int64)]
        weights = [np.full(len(mine), settings.decision_weight)]
        imp = np.setdiff1d((implicit or {}).get(code, np.zeros(0, np.int64)), rows[0])
        if len(imp) and settings.implicit_weight > 0:
            rows.append(imp)
            labels.append(np.zeros(len(imp), np.int64))
            weights.append(np.full(len(imp), settings.implicit_weight))
        idx, y = book_texts.labels(code)
        rows.append(idx + n)
        labels.append(y)
        weights.append(np.full(len(idx), settings.codebook_weight))
        r, y, w = np.concatenate(rows), np.concatenate(labels), np.concatenate(weights)
        per_code[code] = (r, y, _balanced(y, w.astype(np.float64)))
        n_dec[code] = int(len(mine))
        n_pos[code] = int(mine["label"].sum())
    return TrainingData(X, per_code, n_dec, n_pos)


@hooks.timed("learn")
def fit(data: TrainingData, code_ids: list[str], settings: Settings = SETTINGS,
        cache_dir: Path | None = None) -> Model:
    """One classifier per code; reuses the cached fit when the training data is unchanged."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"learner-{data.digest(settings)}.npz"
        if path.exists():
            cached = Model.load(path)
            if cached is not None and cached.code_ids == list(code_ids):
                return cached
    n_features = data.X.shape[1]
    coef = np.zeros((len(code_ids), n_features))
    intercept = np.zeros(len(code_ids))
    trained = np.zeros(len(code_ids), dtype=bool)
    for j, code in enumerate(code_ids):
        rows, y, w = data.per_code[code]
        if len(y) == 0 or y.min() == y.max():
            continue
        clf = _fit_lr(data.X[rows], y, w, settings.C)
        coef[j], intercept[j], trained[j] = clf.coef_[0], clf.intercept_[0], True
    model = Model(list(code_ids), coef, intercept, trained,
                  np.array([data.n_decisions[c] for c in code_ids]),
                  np.array([data.n_positive[c] for c in code_ids]))
    if path is not None:
        model.save(path)
    return model
