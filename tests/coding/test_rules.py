"""Rule wildcards: linear-time matching and a cap on what one rule may expand to (issue 15)."""

from __future__ import annotations

import fnmatch

import pytest

from pipeline.coding.rules import MAX_PATTERNS, RuleMatcher, parse_rule, wildcard_match
from pipeline.errors import CodeerError
from pipeline.nlp import get_nlp
from tests.conftest import DEBATES

WORDS = ["opdrachtgever", "opdrachtnemer", "opdracht", "wethouder", "houder", "mantelzorg",
         "mantelzorger", "zorg", "cliëntondersteuning", "coördinatie", "aa", "a"]
PATTERNS = ["opdracht*", "*houder", "*zorg*", "w*d*r", "*", "**", "a*a", "*a*a*",
            "cli*ond*ing", "co*rd*", "zorg", "*ë*", "m*z*g*r"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_wildcard_match_agrees_with_fnmatch(pattern):
    for word in WORDS:
        assert wildcard_match(pattern, word) == fnmatch.fnmatchcase(word, pattern), word


def nlp_docs(texts):
    return list(get_nlp(sentences=False).pipe(texts))


def test_many_stars_on_a_long_word_do_not_backtrack():
    """Reproduction: '*a*a*a*a*a*a*a*a*a*a*a*a*b' with one 60-letter word in a transcript hung
    (the regular expression backtracked exponentially)."""
    word = "a" * 60
    docs = nlp_docs([f"De wethouder sprak het woord {word} uit.",
                     f"De wethouder sprak het woord {word}b uit."])
    rule = parse_rule("*a*a*a*a*a*a*a*a*a*a*a*a*b")
    hits = RuleMatcher({"L1": [rule]}, docs[0].vocab).match_all(docs)
    assert hits[0] == {}
    assert hits[1] == {"L1": [f"*a*a*a*a*a*a*a*a*a*a*a*a*b: {word}b"]}


def test_a_phrase_of_broad_wildcards_is_refused_with_the_rule():
    """Reproduction: '"*e* *e* *e*"' ran out of memory (the product of three expansions)."""
    text = (DEBATES / "TK_2018-04-05_VAO_Wmo_Mantelzorg_Hulpmiddelenbeleid.txt").read_text(
        encoding="utf-8")
    docs = nlp_docs([p for p in text.split("\n\n") if p.strip()][:40])
    assert len({t.lemma_ for d in docs for t in d if "e" in t.lemma_}) ** 3 > MAX_PATTERNS
    matcher = RuleMatcher({"L1": [parse_rule("mantelzorg"), parse_rule('"*e* *e* *e*"')]},
                          docs[0].vocab)
    with pytest.raises(CodeerError) as info:
        matcher.match_all(docs)
    assert info.value.exit_code == 2
    assert str(info.value).startswith("code 'L1' zoekregel 2 ('\"*e* *e* *e*\"') levert in "
                                      "deze segmenten ")
    assert "geef ze meer letters" in str(info.value)
    # one broad wildcard in a phrase is fine: "verschillende loketten"
    fine = RuleMatcher({"L1": [parse_rule('"*e* loket"')]}, docs[0].vocab)
    assert {"L1": ['"*e* loket": verschillende loketten']} in fine.match_all(docs)
