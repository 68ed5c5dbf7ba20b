"""Stage 3, themes (the pure core): cluster respondent segments with BERTopic, relate to codes.

The stage answers "what do respondents talk about that the codebook does not cover?". It uses
the coder's own vectors of the respondent segments (shared embedding cache, prompt kind
:data:`pipeline.coding.prototypes.KIND`), clusters them (UMAP + HDBSCAN, or KMeans when HDBSCAN
finds too few clusters or the batch is tiny), describes every cluster in Dutch keywords (c-TF-IDF
on the lemmas, refined by KeyBERTInspired and MaximalMarginalRelevance) and compares each
cluster's centroid with the code prototypes. A theme whose best code is not similar enough
is *emerging*.

Everything runs offline: BERTopic never gets a model name, only precomputed embeddings and a
small embedder that reads the same cache (:func:`make_embedder`), so it never downloads.

Outputs in OUT:

* ``themes.parquet`` (:data:`pipeline.schema.THEMES`): one row per selected segment.
* ``theme_info.parquet`` (:data:`pipeline.schema.THEME_INFO`): one row per theme.
* ``theme_spread.parquet`` (:data:`pipeline.schema.THEME_SPREAD`): segment counts per theme
  and interview, and per theme and department / cluster / respondent function when the metadata
  sheet has such a column (see :data:`SPREAD_COLUMNS`). Counted directly with pandas rather than
  with BERTopic's ``topics_per_class``, which would re-run c-TF-IDF per class only to return the
  same counts.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

import numpy as np
import pandas as pd

from pipeline import config, hooks, schema
from pipeline.errors import CodeerError
from pipeline.i18n import _
from pipeline.vocab import ThemeScope

log = logging.getLogger("codeer")

SCOPES = ThemeScope.values()

# Interview and debate fillers on top of spaCy's Dutch stop words. The vectorizer reads the
# ``lemmas`` column, so verbs appear both as spoken ("denk") and as lemma ("denken").
FILLERS = (
    # discourse particles and hesitations
    "eigenlijk", "gewoon", "ja", "nee", "nou", "heel", "echt", "even", "natuurlijk", "zeg",
    "zeggen", "weet", "weten", "denk", "denken", "vind", "vinden", "beetje", "hè", "hé", "hmm",
    "hm", "eh", "ehm", "uh", "uhm", "oké", "okay", "ok", "zo'n", "zo’n", "toch", "dus", "wel",
    "inderdaad", "precies", "allemaal", "sowieso", "best", "soort", "ding", "iets", "goed",
    "graag", "namelijk", "trouwens", "lacht", "lachen", "gaan", "komen", "willen", "zitten",
    "staan", "krijgen", "maken", "zien", "kijken", "laten", "hoor", "één", "ervan", "daarover",
    "daarbij", "daarmee", "daarvan", "daarin", "waarin",
    # forms of address and politeness (interviews, meetings, parliamentary debates)
    "mevrouw", "meneer", "heer", "voorzitter", "minister", "staatssecretaris", "collega",
    "dank", "danken", "bedanken", "interruptie", "sorry", "excuus", "excuses",
)

# Metadata columns (from interviews.csv) that the spread table breaks themes down by.
SPREAD_COLUMNS = ("department", "cluster", "respondent_function")

# Columns of theme_info.csv, in order.
INFO_COLUMNS = (
    "topic", "label", "keywords", "mmr_keywords", "size", "share", "best_code",
    "best_code_similarity", "emerging", "small_talk", "coded_share", "coded_by_code",
    "quote_segment_ids", "interviews", "n_interviews",
)

OUTLIER = -1
OUTLIER_LABEL = "(niet ingedeeld)"
N_QUOTES = 3
N_KEYWORDS = 10
LABEL_WORDS = 3
MIN_TOPICS = 4          # fewer HDBSCAN clusters than this: fall back to KMeans
TINY = 60               # below this many segments: no UMAP/HDBSCAN, KMeans directly
SINGLE_TOPIC = 10       # below this many segments: one theme
QUOTE_MIN_WORDS = 6     # quotes prefer segments at least this long
LABEL_CHARS = 48        # a label stops growing at this length
PHRASE_TOKENS = 4       # a label phrase spans at most this many words (stop words included)
# Below this many respondent segments, or this many per theme, themes say little: warned about.
FEW_SEGMENTS = 300
FEW_PER_THEME = 30
# A theme is small talk (no emerging theme) when at least this share of its segments is.
SMALL_TALK_SHARE = 0.4
SHORT_REPLY_WORDS = 3   # a segment of at most this many words is a short reply
LABEL_SAMPLE = 400      # a label's phrases are read from at most this many segments

# A theme is "emerging" unless some code prototype is similar enough to its centroid. Similarity
# is the cosine *after removing the batch's mean segment vector* from centroid and prototypes
# alike (relate_to_codes). Raw e5 cosines cannot do this: all vectors share one large common
# direction, so raw centroid-to-prototype cosines sat in 0.88-0.96 for every theme, and on the
# five debates of 2018-04-05 a lessons codebook the debates never touch scored *higher* (median
# 0.946) than a codebook written on the debates' own subjects (median 0.924).
# The vectors are the coder's: each segment embedded with its neighbours in the turn. Context
# windows pull segments together, so centred similarities are lower than for single sentences.
# Measured on the demo interviews (22 themes) x codebook.yaml, real model: -0.06 .. 0.44;
# themes about lessons scored 0.19-0.44 (trust and assumptions L3 0.19, meeting agreements L3
# 0.20, who decides with the alderman L8 0.44, roles at the table L1 0.31, difficult questions
# L2 0.43, assignment from the alderman L5 0.27); themes the codebook does not cover scored
# 0.05-0.16 (budgets 0.05, housing numbers 0.07, vacancies 0.10, participation 0.10, DSO
# software 0.09, dashboards 0.14). (With single-sentence vectors the same analysis gave
# -0.38 .. 0.59, and an off-topic lessons codebook reached at most 0.34 on the debates.)
# 0.2 lies between the two groups; borderline themes stay emerging, which only asks the
# researcher to look (the cheaper error). Re-measured with exact kNN and batch size 16
# (24 themes): lesson themes 0.22-0.44 (difficult questions L2 0.44, alderman L8 0.36, roles
# L1 0.30, assignment L5 0.26), meeting agreements L3 0.198 (now just emerging), uncovered
# themes 0.03-0.17 (sport 0.03, budgets 0.07, housing numbers 0.07, vacancies 0.08, DSO 0.09).
# The value depends on the batch only through its mean vector; recheck it when the embedding
# model or the context width changes.
EMERGING_THRESHOLD = 0.2


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Params:
    """Clustering settings derived from the number of segments.

    Attributes:
        method: ``"hdbscan"`` (UMAP + HDBSCAN, KMeans fallback), ``"kmeans"`` or ``"single"``.
        n_neighbors: UMAP neighbourhood size.
        min_cluster_size: HDBSCAN minimum cluster size.
        min_samples: HDBSCAN core-distance neighbours (lower: fewer outliers).
        max_cluster_size: HDBSCAN's largest cluster; without it, excess-of-mass selection on
            sentence segments tends to return one cluster holding ~90 % of the batch.
        k: Number of KMeans clusters (the fallback, or the tiny-input method).
        min_df: Minimum number of *segments* a term must occur in to be a keyword.
    """

    method: str
    n_neighbors: int
    min_cluster_size: int
    min_samples: int
    max_cluster_size: int
    k: int
    min_df: int


def choose_params(n: int) -> Params:
    """Pick UMAP, HDBSCAN, KMeans and vocabulary settings for ``n`` segments.

    Scales with the square root of the batch: ~1,000-2,500 segments (a handful of interviews)
    give clusters of at least 16-25 segments (about 14-21 themes on the demo interviews and the
    debates); tens of thousands give clusters of 80 or more.
    """
    root = math.sqrt(max(n, 1))
    if n < SINGLE_TOPIC:
        return Params("single", 0, 0, 0, 0, 1, 1)
    if n < TINY:
        return Params("kmeans", 0, 0, 0, 0, min(4, max(2, n // 10)), 1)
    mcs = int(np.clip(round(0.5 * root), 8, 150))
    return Params(
        method="hdbscan",
        n_neighbors=int(np.clip(round(root / 3), 10, 30)),
        min_cluster_size=mcs,
        min_samples=max(3, mcs // 3),
        max_cluster_size=max(2 * mcs, n // 8),
        k=int(np.clip(round(root / 2), MIN_TOPICS, 30)),
        min_df=int(np.clip(round(n / 1500), 2, 20)),
    )


def stop_words() -> list[str]:
    """spaCy's Dutch stop words plus :data:`FILLERS`, sorted (lower case)."""
    from spacy.lang.nl.stop_words import STOP_WORDS

    return sorted({w.lower() for w in STOP_WORDS} | set(FILLERS))


# A token is two or more characters, starts with a letter and may hold hyphens and apostrophes
# inside ("ggz-cliënt", "zo'n"): Dutch compounds stay whole and bare numbers are no keywords.
TOKEN_PATTERN = r"(?u)\b[^\W\d_][\w'’-]*[^\W_]\b"


def build_vocabulary(lemmas: list[str], min_df: int) -> list[str]:
    """Terms (uni- and bigrams of lemmas, stop words removed) in at least ``min_df`` segments.

    BERTopic fits its vectorizer on one concatenated document per topic, so a ``min_df`` given
    to it would count topics, not segments. The vocabulary is therefore fixed here, on the
    segments, and handed to BERTopic's vectorizer.

    Returns:
        The sorted vocabulary; relaxed to ``min_df=1`` when the stricter one is empty, and empty
        only when no segment has a content word at all.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    for df in dict.fromkeys((min_df, 1)):
        vec = CountVectorizer(ngram_range=(1, 2), stop_words=stop_words(), min_df=df,
                              token_pattern=TOKEN_PATTERN, lowercase=True)
        try:
            vec.fit(lemmas)
        except ValueError:  # empty vocabulary
            continue
        return sorted(vec.vocabulary_)
    return []


# --------------------------------------------------------------------------- embedder


def make_embedder(encode: Callable[[list[str]], np.ndarray], doc_texts: dict[str, str]) -> Any:
    """A BERTopic embedder that never downloads: it calls ``encode`` (the shared cache).

    BERTopic only embeds keywords (KeyBERTInspired, MMR) and representative documents. Its
    documents are lemma strings; ``doc_texts`` maps them back to the segment text so their
    vectors come from the cache instead of being computed anew for the lemmas.

    Args:
        encode: Texts -> L2-normalised vectors, e.g. ``lambda t: cache.encode(t, kind=KIND)``.
        doc_texts: Lemma string -> original segment text.
    """
    from bertopic.backend import BaseEmbedder

    class CacheEmbedder(BaseEmbedder):
        """Embeds through the codeer embedding cache."""

        def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
            texts = [doc_texts.get(d, d) for d in documents]
            if not texts:
                return np.zeros((0, 0), dtype=np.float32)
            # Sorted unique texts: the model sees the same batches whatever the caller's order.
            unique = sorted(set(texts))
            vectors = encode(unique)
            row = {t: i for i, t in enumerate(unique)}
            return vectors[[row[t] for t in texts]]

    return CacheEmbedder()


# --------------------------------------------------------------------------- clustering


class _HdbscanOrKMeans:
    """HDBSCAN on the UMAP space; KMeans on the same space when HDBSCAN finds too few clusters.

    BERTopic calls ``fit`` and reads ``labels_`` and ``probabilities_``, so the fallback costs
    no second UMAP run.
    """

    def __init__(self, params: Params, seed: int):
        self.params = params
        self.seed = seed
        self.method = "hdbscan"
        self.labels_: np.ndarray | None = None
        self.probabilities_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: Any = None) -> _HdbscanOrKMeans:
        from hdbscan import HDBSCAN

        p = self.params
        model = HDBSCAN(min_cluster_size=p.min_cluster_size, min_samples=p.min_samples,
                        max_cluster_size=p.max_cluster_size, metric="euclidean",
                        cluster_selection_method="eom")
        model.fit(X)
        labels = np.asarray(model.labels_)
        if len(set(labels.tolist()) - {OUTLIER}) >= MIN_TOPICS:
            self.labels_, self.probabilities_ = labels, np.asarray(model.probabilities_, float)
            return self
        self.method = "kmeans-fallback"
        self.labels_ = _kmeans(X, p.k, self.seed)
        self.probabilities_ = np.ones(len(X))
        return self


def exact_knn(vectors: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine distance, for UMAP's ``precomputed_knn``.

    UMAP otherwise builds a pynndescent index from 4,096 points on, and pynndescent's numba
    functions are compiled anew in every process: measured on 4,611 segments (2 cores), 46 s
    of compiling for a search that takes 0.4 s as blocked matrix products here. The result is
    exact rather than approximate, and each point is its own first neighbour, as UMAP expects.

    Args:
        vectors: L2-normalised rows.
        k: Neighbours per point, the point itself included.
        block: Rows per matrix product (memory: ``block * len(vectors)`` floats).

    Returns:
        ``(indices, distances)``, both of shape ``(n, k)``, nearest first; distance is
        ``1 - cosine`` (never negative).
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    k = min(k, n)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        sims = x[rows] @ x.T
        sims[np.arange(len(rows)), rows] = np.inf  # self first, even among duplicates
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        part_sims = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-part_sims, axis=1, kind="stable")
        indices[rows] = np.take_along_axis(part, order, axis=1)
        best = np.take_along_axis(part_sims, order, axis=1)
        best[:, 0] = 1.0
        distances[rows] = np.clip(1.0 - best, 0.0, 2.0)
    return indices, distances


def _cache_umap_compilation() -> None:
    """Keep UMAP's numba-compiled functions on disk, so only the first process compiles them.

    UMAP's graph and layout functions are jitted without ``cache=True``, so every process spent
    ~8 s compiling them (measured on the x4 bench corpus; the same UMAP call took 12.1 s, then
    7.5 s once cached, with identical output). numba's own ``enable_caching`` is what
    ``cache=True`` does at decoration time; numba keys the cache by source file and signature,
    so a UMAP upgrade recompiles. Without numba's API (a future change) nothing is cached.
    """
    try:
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
        from umap import layouts, umap_
    except ImportError:
        return
    for module in (umap_, layouts):
        for obj in list(vars(module).values()):
            if isinstance(obj, Dispatcher) and isinstance(getattr(obj, "_cache", None),
                                                          NullCache):
                try:
                    obj.enable_caching()
                except Exception:  # noqa: BLE001 - caching is an optimisation only
                    return


def _kmeans(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    k = max(1, min(k, len(np.unique(X, axis=0))))
    return KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(X)


@dataclass
class Clustering:
    """Topics of the selected segments and their keywords.

    Attributes:
        topics: Topic per segment (-1: outlier).
        probabilities: Per segment; see :func:`fit_topics`.
        keywords: Topic -> KeyBERTInspired keywords (best first).
        mmr_keywords: Topic -> MaximalMarginalRelevance keywords over the c-TF-IDF words.
        method: ``hdbscan``, ``kmeans-fallback``, ``kmeans`` or ``single``.
        n_reassigned: Outliers moved into a topic by outlier reduction.
    """

    topics: np.ndarray
    probabilities: np.ndarray
    keywords: dict[int, list[str]]
    mmr_keywords: dict[int, list[str]]
    method: str
    n_reassigned: int = 0


@hooks.timed("bertopic_fit")
def fit_topics(docs: list[str], embeddings: np.ndarray, embedder: Any, seed: int = config.SEED,
               params: Params | None = None) -> Clustering:
    """Cluster segments and describe the clusters with BERTopic (no I/O of its own).

    Segments are clustered by UMAP + HDBSCAN (KMeans on the UMAP space when HDBSCAN finds fewer
    than :data:`MIN_TOPICS` clusters); the remaining outliers go to the topic with the most
    similar centroid (``reduce_outliers(strategy="embeddings")``) and the keywords are computed
    on the final topics (``update_topics``). Tiny inputs skip UMAP/HDBSCAN (:func:`choose_params`).

    Args:
        docs: Lemma string per segment (the vectorizer's input).
        embeddings: L2-normalised vector per segment, in the same order.
        embedder: From :func:`make_embedder`; embeds keywords for KeyBERTInspired and MMR.
        seed: Seed for UMAP and KMeans.
        params: Settings; default :func:`choose_params` of ``len(docs)``.

    Returns:
        The clustering. ``probabilities`` holds HDBSCAN's membership strength (its
        ``probabilities_``) for segments HDBSCAN put in a cluster, 1.0 for KMeans assignments,
        and 0.0 for outliers *and* for outliers that outlier reduction attached to a topic
        afterwards (HDBSCAN gave them no membership).
    """
    n = len(docs)
    params = params or choose_params(n)
    topics = None
    if params.method == "single":
        topics = np.zeros(n, dtype=int)
    elif params.method == "kmeans":
        topics = _kmeans(embeddings, params.k, seed)
    vocabulary = build_vocabulary(docs, params.min_df)
    if not vocabulary:  # nothing but stop words: no keywords, cluster on embeddings only
        if topics is None:
            topics = _kmeans(embeddings, params.k, seed)
        return Clustering(topics, np.ones(n), {}, {}, f"{params.method}-no-keywords")

    from bertopic import BERTopic
    from bertopic.dimensionality import BaseDimensionalityReduction
    from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance
    from bertopic.vectorizers import ClassTfidfTransformer
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    _cache_umap_compilation()
    def parts() -> dict[str, Any]:
        return {
            "vectorizer_model": CountVectorizer(ngram_range=(1, 2), vocabulary=vocabulary,
                                                stop_words=stop_words(),
                                                token_pattern=TOKEN_PATTERN, lowercase=True),
            "ctfidf_model": ClassTfidfTransformer(reduce_frequent_words=True),
        }

    bt_logger = logging.getLogger("BERTopic")
    quiet = _DropCustomTopicsWarning()
    bt_logger.addFilter(quiet)  # update_topics warns about the (intended) custom topic list
    try:
        method, n_reassigned = params.method, 0
        if topics is None:
            cluster = _HdbscanOrKMeans(params, seed)
            model = BERTopic(
                embedding_model=embedder,
                umap_model=UMAP(n_neighbors=params.n_neighbors, n_components=5, min_dist=0.0,
                                metric="cosine", random_state=seed,
                                precomputed_knn=exact_knn(embeddings, params.n_neighbors)),
                hdbscan_model=cluster, calculate_probabilities=False, top_n_words=N_KEYWORDS,
                **parts(),
            )
            with warnings.catch_warnings():
                # We never call transform, so UMAP needs no search index for new points.
                warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
                # A fixed seed makes UMAP single-threaded; reproducibility is the point.
                warnings.filterwarnings("ignore", message=r"n_jobs value")
                found = np.asarray(model.fit_transform(docs, embeddings=embeddings)[0])
            method = cluster.method
            probs = np.where(found == OUTLIER, 0.0,
                             np.asarray(model.probabilities_, dtype=float))
            topics = found
            if (found == OUTLIER).any() and (found != OUTLIER).any():
                topics = np.asarray(model.reduce_outliers(
                    docs, found.tolist(), strategy="embeddings", embeddings=embeddings))
                n_reassigned = int(((found == OUTLIER) & (topics != OUTLIER)).sum())
        else:  # topics given (tiny input): BERTopic only describes them
            model = BERTopic(
                embedding_model=embedder, umap_model=BaseDimensionalityReduction(),
                hdbscan_model=_Given(topics), calculate_probabilities=False,
                top_n_words=N_KEYWORDS, **parts(),
            )
            model.fit_transform(docs, embeddings=embeddings)
            topics = np.asarray(model.topics_)
            probs = np.ones(n)
        model.update_topics(
            docs, topics=topics.tolist(), top_n_words=N_KEYWORDS, **parts(),
            representation_model={
                "Main": KeyBERTInspired(top_n_words=N_KEYWORDS, nr_repr_docs=5,
                                        nr_candidate_words=30, random_state=seed),
                "MMR": MaximalMarginalRelevance(diversity=0.3, top_n_words=N_KEYWORDS),
            },
        )
    finally:
        bt_logger.removeFilter(quiet)
    return Clustering(
        topics=topics.astype(int),
        probabilities=probs.astype(float),
        keywords=_words(model.topic_representations_),
        mmr_keywords=_words(model.topic_aspects_.get("MMR")),
        method=method,
        n_reassigned=n_reassigned,
    )


def _words(rep: dict[int, list[tuple[str, float]]] | None) -> dict[int, list[str]]:
    """Keywords per topic, best first; equal scores in word order, so that the order does not
    depend on set iteration inside BERTopic (which changes with PYTHONHASHSEED)."""
    return {int(t): [w for w, _ in sorted(words, key=lambda ws: (-round(float(ws[1]), 6), ws[0]))
                     if w][:N_KEYWORDS]
            for t, words in (rep or {}).items()}


class _DropCustomTopicsWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "custom list of topic assignments" not in record.getMessage()


class _Given:
    """A 'clustering model' that returns fixed labels (for tiny inputs clustered beforehand)."""

    def __init__(self, labels: np.ndarray):
        self.labels_ = np.asarray(labels)

    def fit(self, X: np.ndarray, y: Any = None) -> _Given:
        return self


# --------------------------------------------------------------------------- description


def has_content(lemmas: list[str]) -> np.ndarray:
    """Whether each lemma string holds a word that is no stop word or filler.

    Segments without one ("Dank u wel, voorzitter.", "Ja, precies.") carry no theme: they are
    not clustered and stay outliers (topic -1) instead of forming a "ja · nee" theme.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    analyze = CountVectorizer(stop_words=stop_words(), token_pattern=TOKEN_PATTERN,
                              lowercase=True).build_analyzer()
    return np.array([bool(analyze(text or "")) for text in lemmas], dtype=bool)


# Words that say nothing about a theme on their own, though they are no stop words: they may
# be keywords (they separate clusters of answers) but never make a label.
LABEL_SKIP = frozenset({
    "daarvoor", "daarna", "daardoor", "meteen", "deels", "eerlijk", "nemen", "hoog", "groot",
    "klein", "leuk", "prima", "oef", "goeie", "rustig", "uiteindelijk", "wisselend", "nodig",
    "belangrijk", "genoeg", "tegelijk", "blijken", "volgen", "vraag", "vragen", "woord",
    "aantal", "meerdere", "twintig", "drie", "twee", "vier", "vijf", "nummer", "example",
    "mail", "minuut", "uur", "week", "jaar", "maand",
    # dates are no theme (and a pseudonymised export would show "[DATUM-1]")
    "januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
    "oktober", "november", "december", "maandag", "dinsdag", "woensdag", "donderdag",
    "vrijdag", "zaterdag", "zondag", "voorjaar", "najaar", "zomer", "winter",
})


@dataclass(frozen=True)
class Phrase:
    """How a keyword (lemmas) is written in the theme's segments.

    Attributes:
        text: The most frequent spelling, from its first to its last word (stop words between
            them included: "opgroeien in de stad" for the keyword "opgroeien stad"); lower case
            except acronyms.
        name: Written with a capital where no sentence starts: a name or a place, which a
            label leaves out (the export would have to replace it anyway).
    """

    text: str
    name: bool


def surface_phrases(texts: list[str], keywords: list[str]) -> dict[str, Phrase]:
    """How each keyword (a lemma or two, as the vectorizer sees them) is written in ``texts``.

    The texts are tokenised and lemmatised as ingest does (:mod:`pipeline.nlp`); a keyword's
    words must follow each other once stop words are left out, as in the vectorizer, within one
    sentence and spanning at most :data:`PHRASE_TOKENS` words. Keywords that no text writes that
    way (pieces of an e-mail address or a web address) get no phrase.

    Returns:
        Keyword -> :class:`Phrase`, for the keywords found.
    """
    from collections import Counter

    from pipeline.nlp import get_nlp, lemma_of

    wanted = {tuple(k.split()) for k in keywords if k}
    if not wanted or not texts:
        return {}
    pattern = re.compile(TOKEN_PATTERN)
    stops = set(stop_words())
    found: dict[tuple[str, ...], Counter] = {}
    capital: dict[tuple[str, ...], list[bool]] = {}
    for doc in get_nlp(sentences=False).pipe(texts, batch_size=256):
        # The vectorizer's tokens: word tokens whose lemma is one token of TOKEN_PATTERN and no
        # stop word; a token it would cut in pieces (an e-mail address) ends the sequence.
        seq: list[tuple[str, int]] = []  # (lemma, token index)
        runs: list[list[tuple[str, int]]] = [seq]
        for tok in doc:
            if tok.is_space:
                continue
            if tok.is_punct:
                if tok.text not in ("-", "'", "’"):
                    seq = []
                    runs.append(seq)
                continue
            lemma = lemma_of(tok.text)
            pieces = pattern.findall(lemma)
            if len(pieces) != 1 or pieces[0] != lemma:
                if len(pieces) > 1:
                    seq = []
                    runs.append(seq)
                continue
            if lemma not in stops:
                seq.append((lemma, tok.i))
        for run in runs:
            for size in (1, 2):
                for k in range(len(run) - size + 1):
                    gram = tuple(lemma for lemma, _ in run[k:k + size])
                    if gram not in wanted:
                        continue
                    first, last = run[k][1], run[k + size - 1][1]
                    if last - first + 1 > PHRASE_TOKENS:
                        continue
                    words = doc[first:last + 1]
                    found.setdefault(gram, Counter())[
                        " ".join(t.text if t.text.isupper() and len(t.text) > 1 else
                                 t.text.lower() for t in words)] += 1
                    starts = [t for t in words if t.text[:1].isalpha()]
                    capital.setdefault(gram, []).extend(
                        t.text[:1].isupper() and not t.text.isupper()
                        for t in starts if t.i > 0)
    out = {}
    for gram, counts in found.items():
        text = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        seen = capital.get(gram, [])
        out[" ".join(gram)] = Phrase(text, bool(seen) and all(seen))
    return out


def make_label(keywords: list[str], mmr_keywords: list[str], n: int = LABEL_WORDS,
               phrases: dict[str, Phrase] | None = None) -> str:
    """A short Dutch label: up to ``n`` keywords, as written, that share no word.

    Keywords both KeyBERTInspired and MMR chose come first (in KeyBERT order), then the two
    lists alternate. A keyword that repeats a word ("eerlijk eerlijk"), holds a word of
    :data:`LABEL_SKIP`, or repeats a word of one chosen before is left out; so is, when
    ``phrases`` are given (:func:`surface_phrases`), a keyword no segment writes as a phrase
    or that is a name. The label stops growing at :data:`LABEL_CHARS` characters. Example:
    KeyBERT ``["mantelzorger", "respijtzorg", "gemeente"]`` and MMR ``["respijtzorg",
    "mantelzorger ondersteuning", "wmo"]`` give ``"respijtzorg · mantelzorger · gemeente"``.

    Args:
        keywords: KeyBERTInspired keywords (lemmas), best first.
        mmr_keywords: MaximalMarginalRelevance keywords (lemmas).
        n: At most this many parts.
        phrases: Keyword -> how the segments write it; without it the lemmas are the label.
    """
    both = [w for w in keywords if w in set(mmr_keywords)]
    alternate = [w for pair in zip_longest(keywords, mmr_keywords) for w in pair if w]
    chosen: list[str] = []
    used: set[str] = set()
    for word in dict.fromkeys(both + alternate):
        parts = word.split()
        if not parts or len(set(parts)) < len(parts) or set(parts) & (used | LABEL_SKIP):
            continue
        if phrases is not None:
            phrase = phrases.get(word)
            if phrase is None or phrase.name:
                continue
            text = phrase.text
        else:
            text = word
        if chosen and len(" · ".join([*chosen, text])) > LABEL_CHARS:
            continue
        chosen.append(text)
        used |= set(parts)
        if len(chosen) == n:
            break
    return " · ".join(chosen)


# Small talk: what an interview holds besides its subject. Patterns on the segment text
# (lower case); the first that matches names the kind.
_SMALL_TALK = (
    ("contactgegevens", re.compile(
        r"[\w.+-]+@[\w-]+\.[\w.]+|https?://|www\.|\b0[1-9][\d -]{7,}\d\b|\+31[\d -]{8,}"
        r"|\b\d{4} ?[a-z]{2}\b(?!\w)|\bpostbus\b|\b(?:mijn|zijn|haar|je|jouw) (?:telefoon)?nummer"
        r"|\b(?:e-?mail|mail|bel|app) (?:me|mij|je|hem|haar)\b|\be-?mailadres")),
    ("opname en toestemming", re.compile(
        # "opnemen" alone also means "include" ("in het omgevingsplan opnemen")
        r"\bopname\b|\b(?:mag|mogen|kan|kunnen|zal) (?:ik|we|wij) (?:\w+ ){0,3}opnemen\b"
        r"|\b(?:gesprek|interview) (?:\w+ )?op(?:neem|nemen)\b|\bneemt (?:het |nu )?op\b"
        r"|\brecorder\b|\btoestemming\b"
        r"|\banonie?m|\bgeanonimiseerd|\btranscri|\buitgeschreven\b|\bvertrouwelijk")),
    ("begroeting of afsluiting", re.compile(
        r"\bgoede(?:morgen|middag|navond)\b|\bhallo\b|\bwelkom\b|\bbedankt\b"
        r"|\bdank (?:je|u)\b|\bdankjewel\b|\bdankuwel\b|\bfijn dat (?:je|u)\b"
        r"|\bleuk dat (?:je|u)\b|\btot ziens\b|\bfijne dag\b|\bsucces met\b"
        r"|\bnog (?:iets )?(?:vragen|toevoegen)\b|\bafronden\b|\blaatste vraag\b"
        r"|\bvoorstellen\b|\bstel (?:je|jezelf|u) (?:even )?voor\b")),
    ("kennismaking", re.compile(
        r"\bik ben (?:\w+,? ){0,3}(?:\w*adviseur|planoloog|\w*regisseur|\w*controller"
        r"|\w*manager|teamleider|coördinator|medewerker|projectleider|directeur|wethouder"
        r"|ambtenaar|onderzoeker|specialist|consultant|\w*kundige|jurist|secretaris)\b"
        r"|\bik (?:werk|zit)(?:te)? (?:hier |nu |al |daar |zelf )?(?:sinds|bij de|als)\b"
        r"|\b(?:daarvoor|daarna) (?:werkte|zat|was|heb) ik\b|\bvan origine\b"
        r"|\bik ben (?:hier )?(?:begonnen|aangenomen|gestart|binnengekomen)\b"
        r"|\bsinds (?:19|20)\d\d (?:zit|werk|ben) ik\b|\bik doe (?:nu |zelf )?vooral\b"
        r"|\bmijn (?:functie|achtergrond|naam) is\b"
        r"|\bdat valt onder (?:het cluster|de directie|de afdeling)")),
)
_ANNOTATION = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


def small_talk_kind(text: str) -> str | None:
    """What kind of small talk a segment is, or None for talk about the subject.

    Kinds: ``contactgegevens`` (an e-mail or web address, a phone number, a postcode, "mijn
    nummer"), ``opname en toestemming`` (recording, consent, anonymity, the transcript),
    ``begroeting of afsluiting`` (greetings, thanks, "stel je even voor", closing),
    ``kennismaking`` (the respondent's function and career: "Ik ben beleidsadviseur bij ...",
    "Ik werk hier sinds 2017", "Daarvoor zat ik bij ...") and ``korte reactie`` (at most
    :data:`SHORT_REPLY_WORDS` words: "Goeie vraag.", "Ja hoor, prima.").
    """
    low = " ".join(str(text).lower().split())
    for kind, pattern in _SMALL_TALK:
        if pattern.search(low):
            return kind
    if len(_ANNOTATION.sub(" ", low).split()) <= SHORT_REPLY_WORDS:
        return "korte reactie"
    return None


def small_talk(texts: list[str], share: float = SMALL_TALK_SHARE) -> str | None:
    """Why a theme with these segment texts is small talk, or None when it is not.

    A theme is small talk when at least ``share`` of its segments are
    (:func:`small_talk_kind`); the reason names the kinds, most frequent first, e.g.
    ``"praatjes: korte reacties, begroeting of afsluiting (12 van 17 segmenten)"``.
    """
    kinds = [k for k in (small_talk_kind(t) for t in texts) if k]
    if not texts or len(kinds) < share * len(texts):
        return None
    counts = pd.Series(kinds).value_counts()
    names = [("korte reacties" if k == "korte reactie" else k)
             for k in sorted(counts.index, key=lambda k: (-counts[k], k))[:2]]
    return f"praatjes: {', '.join(names)} ({len(kinds)} van {len(texts)} segmenten)"


def batch_warning(n_segments: int, n_themes: int) -> str | None:
    """A warning (translated) when the batch is too small for themes to mean much, else None.

    Too small: fewer than :data:`FEW_SEGMENTS` respondent segments, or fewer than
    :data:`FEW_PER_THEME` segments per theme on average.
    """
    if n_segments == 0 or n_themes == 0:
        return None
    per = n_segments / n_themes
    if n_segments >= FEW_SEGMENTS and per >= FEW_PER_THEME:
        return None
    return _("{themes} themes from {segments} respondent segments ({per} per theme on "
             "average): too few to build on (themes only say something from about "
             "{few_segments} segments and {few_per_theme} per theme). Read them as a first "
             "exploration, not as a result.").format(
        themes=n_themes, segments=n_segments, per=f"{per:.0f}", few_segments=FEW_SEGMENTS,
        few_per_theme=FEW_PER_THEME)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


def _quotes(vectors: np.ndarray, centroid: np.ndarray, n_words: np.ndarray, ids: np.ndarray,
            k: int = N_QUOTES, talk: np.ndarray | None = None) -> list[str]:
    """Ids of the ``k`` segments nearest to the centroid, preferring segments of
    :data:`QUOTE_MIN_WORDS` words or more that are no small talk (``talk``; ties: earliest
    segment first, so deterministic)."""
    sims = vectors @ centroid
    order = np.lexsort((np.arange(len(sims)), -sims))
    talk = np.zeros(len(sims), dtype=bool) if talk is None else talk
    long = [i for i in order if n_words[i] >= QUOTE_MIN_WORDS and not talk[i]]
    pick = long[:k] if len(long) >= k else (long + [i for i in order if i not in set(long)])[:k]
    return [str(ids[i]) for i in pick]


def relate_to_codes(centroids: np.ndarray, prototypes: dict[str, np.ndarray],
                    mean: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Best code and its centred cosine similarity for each theme centroid.

    Both sides are centred on ``mean`` (the batch's mean segment vector) and re-normalised
    before the cosine, which removes the direction all e5 vectors share (see
    :data:`EMERGING_THRESHOLD`). Ties go to the code listed first in the codebook.

    Args:
        centroids: The mean segment vector of each theme (rows; normalised or not: only the
            direction after centring matters, and it is computed from the raw mean).
        prototypes: Code id -> normalised prototype; must not be empty.
        mean: The mean segment vector of the batch.

    Returns:
        The best code id per theme and its similarity (in [-1, 1]).
    """
    ids = list(prototypes)
    protos = np.stack([prototypes[c] for c in ids]).astype(np.float64) - mean
    cents = np.atleast_2d(centroids).astype(np.float64) - mean
    protos /= np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-12)
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
    sims = cents @ protos.T
    best = sims.argmax(axis=1)
    return [ids[j] for j in best], sims[np.arange(len(cents)), best]


@hooks.timed("describe")
def describe_themes(segments: pd.DataFrame, embeddings: np.ndarray, clustering: Clustering,
                    prototypes: dict[str, np.ndarray], codings: pd.DataFrame | None,
                    threshold: float = EMERGING_THRESHOLD) -> pd.DataFrame:
    """One row per theme: label, keywords, size, nearest code, coding coverage, quotes, spread.

    Args:
        segments: The clustered segments (``segment_id``, ``document_id``, ``text``).
        embeddings: Their vectors, in the same order.
        clustering: From :func:`fit_topics`, in the same order.
        prototypes: Code id -> normalised prototype (empty: no codebook).
        codings: The codings table, or None.
        threshold: A theme is emerging unless its best code similarity
            (:func:`relate_to_codes`) reaches this. The similarity is NaN (so the theme is
            emerging) without a codebook, and when there is only one theme: centred on the
            batch mean, a lone theme's centroid is (nearly) the batch mean itself, so the
            similarity says nothing; its best code is then the raw-cosine nearest one.

    Returns:
        A frame with the columns :data:`INFO_COLUMNS`, themes in topic order and the outlier
        row (-1, if any) first.
    """
    topics = clustering.topics
    total = len(topics)
    mean = embeddings.astype(np.float64).mean(axis=0) if total else None
    judge = bool(prototypes) and len(set(topics.tolist()) - {OUTLIER}) >= 2
    coded: dict[str, list[str]] = {}
    if codings is not None and len(codings):
        live = codings[codings["status"].astype(str) != "rejected"]
        coded = live.groupby(live["segment_id"].astype(str))["code_id"] \
            .agg(lambda s: sorted(set(s.astype(str)))).to_dict()
    ids = segments["segment_id"].astype(str).to_numpy()
    docs = segments["document_id"].astype(str).to_numpy()
    texts = segments["text"].astype(str).to_numpy(dtype=object)
    n_words = segments["text"].astype(str).str.split().str.len().to_numpy()
    talk_kind = np.array([small_talk_kind(t) is not None for t in texts], dtype=bool)
    rows = []
    for topic in sorted(set(topics.tolist())):
        mask = topics == topic
        size = int(mask.sum())
        vectors = embeddings[mask]
        raw_mean = vectors.astype(np.float64).mean(axis=0)
        centroid = _unit(raw_mean).astype(np.float32)
        talk = None
        if topic == OUTLIER:
            label, best, best_sim, emerging = OUTLIER_LABEL, "", float("nan"), False
        else:
            kw = clustering.keywords.get(topic, [])
            mmr = clustering.mmr_keywords.get(topic, [])
            # The phrases as written in the segments nearest the centre (a bounded sample).
            near = np.lexsort((np.arange(size), -(vectors @ centroid)))[:LABEL_SAMPLE]
            phrases = surface_phrases([texts[mask][i] for i in near], [*kw, *mmr])
            label = (make_label(kw, mmr, phrases=phrases) or make_label(kw, mmr)
                     or f"thema {topic}")
            talk = small_talk(list(texts[mask]))
            best, best_sim = "", float("nan")
            if judge:
                codes, sims = relate_to_codes(raw_mean, prototypes, mean)
                best, best_sim = codes[0], round(float(sims[0]), 4)
            elif prototypes:
                codes, _sims = relate_to_codes(raw_mean, prototypes, np.zeros_like(raw_mean))
                best = codes[0]
            emerging = not best_sim >= threshold and talk is None
        seg_codes = [coded.get(s, []) for s in ids[mask]]
        counts = pd.Series([c for cs in seg_codes for c in cs], dtype=object).value_counts()
        counts = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        per_doc = pd.Series(docs[mask]).value_counts()
        per_doc = sorted(per_doc.items(), key=lambda kv: (-kv[1], kv[0]))
        quotes = [] if topic == OUTLIER else _quotes(vectors, centroid, n_words[mask], ids[mask],
                                                     talk=talk_kind[mask])
        rows.append({
            "topic": int(topic),
            "label": label,
            "keywords": list(clustering.keywords.get(topic, [])),
            "mmr_keywords": list(clustering.mmr_keywords.get(topic, [])),
            "size": size,
            "share": round(size / total, 4) if total else 0.0,
            "best_code": best,
            "best_code_similarity": best_sim,
            "emerging": emerging,
            "small_talk": talk,
            "coded_share": round(sum(1 for cs in seg_codes if cs) / size, 4),
            "coded_by_code": [f"{c}:{k}" for c, k in counts],
            "quote_segment_ids": list(quotes),
            "interviews": [d for d, _ in per_doc],
            "n_interviews": len(per_doc),
        })
    return _info_frame(rows)


def _info_frame(rows: list[dict]) -> pd.DataFrame:
    return schema.THEME_INFO.conform(pd.DataFrame(rows, columns=list(INFO_COLUMNS)))


@hooks.timed("spread")
def theme_spread(segments: pd.DataFrame, topics: np.ndarray,
                 labels: dict[int, str]) -> pd.DataFrame:
    """Segment counts per theme and interview, and per theme and metadata class.

    Long format, one row per (dimension, value, topic) with at least one segment: ``dimension``
    is ``document_id`` or one of :data:`SPREAD_COLUMNS` present in ``segments``; ``share_of_topic``
    is the share of the theme's segments with that value, ``share_of_value`` the share of that
    value's segments in the theme. Counted directly (not with BERTopic's ``topics_per_class``).
    """
    columns = ["dimension", "value", "topic", "label", "n_segments", "share_of_topic",
               "share_of_value"]
    parts = []
    for dim in ("document_id", *[c for c in SPREAD_COLUMNS if c in segments.columns]):
        values = segments[dim].astype("string").fillna("(onbekend)").to_numpy(dtype=object)
        frame = pd.DataFrame({"value": values, "topic": topics.astype(int)})
        counts = frame.groupby(["value", "topic"]).size().rename("n_segments").reset_index()
        counts["dimension"] = dim
        counts["share_of_topic"] = counts["n_segments"] / counts.groupby("topic")[
            "n_segments"].transform("sum")
        counts["share_of_value"] = counts["n_segments"] / counts.groupby("value")[
            "n_segments"].transform("sum")
        parts.append(counts)
    if not parts or not len(topics):
        return schema.THEME_SPREAD.conform(pd.DataFrame(columns=columns))
    out = pd.concat(parts, ignore_index=True)
    out["label"] = out["topic"].map(labels).fillna("")
    out[["share_of_topic", "share_of_value"]] = out[["share_of_topic", "share_of_value"]].round(4)
    return schema.THEME_SPREAD.conform(out.sort_values(
        ["dimension", "topic", "n_segments", "value"], ascending=[True, True, False, True]
    )[columns])


# --------------------------------------------------------------------------- core


@dataclass
class ThemesResult:
    """Everything the themes stage writes.

    Attributes:
        themes: segment_id, topic, probability (the :data:`pipeline.schema.THEMES` columns).
        info: Theme table (:data:`INFO_COLUMNS`).
        spread: Spread table (see :func:`theme_spread`).
        method: Clustering method used (see :class:`Clustering`).
        n_reassigned: Outliers attached to a theme by outlier reduction.
    """

    themes: pd.DataFrame
    info: pd.DataFrame
    spread: pd.DataFrame
    method: str = "none"
    n_reassigned: int = 0

    @property
    def n_themes(self) -> int:
        """Number of themes, the outlier group not counted."""
        return int((self.info["topic"] != OUTLIER).sum())

    @property
    def outlier_share(self) -> float:
        """Share of segments left in the outlier group (-1)."""
        n = len(self.themes)
        return float((self.themes["topic"] == OUTLIER).sum() / n) if n else 0.0


def select_segments(segments: pd.DataFrame, codings: pd.DataFrame | None,
                    scope: str = ThemeScope.RESPONDENT) -> pd.DataFrame:
    """Respondent segments in scope: ``"respondent"`` (all of them), or ``"uncoded"`` (no
    coding other than rejected).

    Raises:
        CodeerError: Unknown scope.
    """
    if scope not in SCOPES:
        raise CodeerError(_("--scope must be one of {scopes}. Got '{scope}' instead.")
                          .format(scopes=", ".join(SCOPES), scope=scope))
    out = segments[segments["role"].astype(str) == "respondent"]
    if scope == "uncoded" and codings is not None and len(codings):
        live = codings[codings["status"].astype(str) != "rejected"]
        out = out[~out["segment_id"].astype(str).isin(set(live["segment_id"].astype(str)))]
    return out.reset_index(drop=True)


def build_themes(segments: pd.DataFrame, embeddings: np.ndarray, embedder: Any,
                 prototypes: dict[str, np.ndarray], codings: pd.DataFrame | None = None,
                 seed: int = config.SEED, threshold: float = EMERGING_THRESHOLD,
                 fit: Callable[..., Clustering] | None = None) -> ThemesResult:
    """The themes stage without I/O: cluster, describe and relate the given segments.

    Args:
        segments: Segments to cluster (already selected), with ``segment_id``, ``document_id``,
            ``text`` and ``lemmas``; metadata columns feed the spread table.
        embeddings: One L2-normalised vector per segment, in the same order.
        embedder: From :func:`make_embedder`, for keyword embeddings.
        prototypes: Code id -> prototype vector
            (:func:`pipeline.coding.prototypes.code_prototypes`);
            empty when there is no codebook.
        codings: The codings table (for ``coded_share``), or None.
        seed: Seed for every stochastic step.
        threshold: See :data:`EMERGING_THRESHOLD`.
        fit: Replaces :func:`fit_topics` (same arguments), e.g. to reuse a cached clustering.

    Returns:
        The three output tables. Segments without a content word (see :func:`has_content`) are
        outliers with probability 0.
    """
    n = len(segments)
    ids = segments["segment_id"].astype(str).to_numpy() if n else np.array([], dtype=object)
    if n == 0:
        empty = pd.DataFrame({"segment_id": pd.Series([], dtype="string"),
                              "topic": pd.Series([], dtype="int64"),
                              "probability": pd.Series([], dtype="float64")})
        return ThemesResult(empty, _info_frame([]), theme_spread(segments, np.array([]), {}))
    lemmas = segments["lemmas"].fillna("").astype(str).tolist()
    content = has_content(lemmas)
    topics = np.full(n, OUTLIER, dtype=int)
    probs = np.zeros(n, dtype=float)
    sub = np.flatnonzero(content)
    if len(sub):
        clustering = (fit or fit_topics)([lemmas[i] for i in sub], embeddings[sub], embedder,
                                         seed)
        topics[sub] = clustering.topics
        probs[sub] = clustering.probabilities
        method, n_reassigned = clustering.method, clustering.n_reassigned
        keywords, mmr_keywords = clustering.keywords, clustering.mmr_keywords
    else:
        method, n_reassigned, keywords, mmr_keywords = "none", 0, {}, {}
    full = Clustering(topics, probs, keywords, mmr_keywords, method, n_reassigned)
    info = describe_themes(segments, embeddings, full, prototypes, codings, threshold)
    warning = batch_warning(n, int((info["topic"] != OUTLIER).sum()))
    if warning:
        log.warning("themes: %s", warning)
    themes = pd.DataFrame({"segment_id": ids, "topic": topics, "probability": probs.round(6)})
    spread = theme_spread(segments, topics, dict(zip(info["topic"], info["label"], strict=True)))
    return ThemesResult(themes, info, spread, method, n_reassigned)
