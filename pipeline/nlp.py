"""Dutch tokenisation, sentences and lemmas without a trained pipeline.

No trained Dutch spaCy pipeline can be installed offline, so codeer uses ``spacy.blank("nl")``
(Dutch tokenizer exceptions such as "Dhr." and "Mevr."), the rule-based ``sentencizer``, and
simplemma's Dutch lemmas as a spaCy component: without POS tags, simplemma gets verb and plural
forms right (bespraken -> bespreken, afspraken -> afspraak) where spaCy's lookup table does not.
"""

from __future__ import annotations

from functools import lru_cache

import simplemma
import spacy
from spacy.language import Language
from spacy.tokens import Doc

from pipeline import hooks

LANG = "nl"


@lru_cache(maxsize=200_000)
def lemma_of(word: str) -> str:
    """Return the lower-cased simplemma lemma of one Dutch word (cached: words repeat)."""
    lower = word.lower()
    if not any(ch.isalpha() for ch in lower):
        return lower
    # simplemma writes separable verbs as "vast_leggen"; researchers write "vastleggen".
    return simplemma.lemmatize(lower, lang=LANG).lower().replace("_", "")


@Language.component("simplemma_lemmatizer")
def simplemma_lemmatizer(doc: Doc) -> Doc:
    """Set ``token.lemma_`` from simplemma for every token of ``doc``."""
    for token in doc:
        if not token.is_space:
            token.lemma_ = lemma_of(token.text)
    return doc


@hooks.timed("spacy_load")
@lru_cache(maxsize=2)
def get_nlp(sentences: bool = True) -> Language:
    """Return the shared Dutch pipeline (blank tokenizer, sentencizer, simplemma lemmas).

    Args:
        sentences: Include the sentencizer (the coder only needs tokens and lemmas).
    """
    nlp = spacy.blank(LANG)
    if sentences:
        nlp.add_pipe("sentencizer")
    nlp.add_pipe("simplemma_lemmatizer")
    return nlp


def lemma_string(doc: Doc) -> str:
    """Space-joined lemmas of the word tokens of ``doc`` (punctuation and spaces left out)."""
    return " ".join(t.lemma_ for t in doc if not (t.is_punct or t.is_space))
