"""Dutch tokenisation, sentences and lemmas without a trained pipeline.

No trained Dutch spaCy pipeline can be installed offline, so codeer uses ``spacy.blank("nl")``
(Dutch tokenizer exceptions such as "Dhr." and "Mevr."), the rule-based ``sentencizer``
followed by a component that keeps transcribers' annotations in brackets whole, and simplemma's
Dutch lemmas as a spaCy component: without POS tags, simplemma gets verb and plural forms right
(bespraken -> bespreken, afspraken -> afspraak) where spaCy's lookup table does not.
"""

from __future__ import annotations

import re
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


# A transcriber's annotation: "(lacht)", "[stilte]", "(onverstaanbaar)", "[00:12:03]", on one line.
_BRACKETED = re.compile(r"\([^()\n]{1,80}\)|\[[^\[\]\n]{1,80}\]")
_TIMESTAMP = re.compile(r"[\[(]\s*\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?\s*[\])]")


@Language.component("bracket_sentences")
def bracket_sentences(doc: Doc) -> Doc:
    """Keep an annotation in brackets inside one sentence (runs after the ``sentencizer``).

    The sentencizer starts a sentence at the first word after a full stop, which cuts
    "... spookbeeld. (lacht) Dat zegt ..." into "... spookbeeld. (" and "lacht) Dat zegt ...".
    Here a sentence start inside an annotation moves out of it: after a non-verbal annotation
    ("(lacht)" goes with the sentence it follows), before a timestamp ("[00:12:03]" goes with
    the sentence it times).
    """
    for match in _BRACKETED.finditer(doc.text):
        span = doc.char_span(match.start(), match.end(), alignment_mode="expand")
        if span is None or len(span) < 2:
            continue
        first, last = span.start, span.end  # tokens first .. last - 1
        if not any(doc[i].is_sent_start for i in range(first + 1, last)):
            continue  # the sentencizer left the annotation whole
        for i in range(first + 1, last):
            doc[i].is_sent_start = False
        if _TIMESTAMP.fullmatch(match.group()):
            doc[first].is_sent_start = True
            continue
        following = next((i for i in range(last, len(doc))
                          if not (doc[i].is_punct or doc[i].is_space)), None)
        for i in range(last, following if following is not None else len(doc)):
            doc[i].is_sent_start = False
        if following is not None:
            doc[following].is_sent_start = True
    return doc


@hooks.timed("spacy_load")
@lru_cache(maxsize=2)
def get_nlp(sentences: bool = True) -> Language:
    """Return the shared Dutch pipeline (blank tokenizer, sentencizer, annotations in brackets
    kept whole, simplemma lemmas).

    Args:
        sentences: Include the sentencizer (the coder only needs tokens and lemmas).
    """
    nlp = spacy.blank(LANG)
    if sentences:
        nlp.add_pipe("sentencizer")
        nlp.add_pipe("bracket_sentences")
    nlp.add_pipe("simplemma_lemmatizer")
    return nlp


def lemma_string(doc: Doc) -> str:
    """Space-joined lemmas of the word tokens of ``doc`` (punctuation and spaces left out)."""
    return " ".join(t.lemma_ for t in doc if not (t.is_punct or t.is_space))
