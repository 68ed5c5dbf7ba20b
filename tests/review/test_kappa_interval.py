"""How sure a kappa is: the bootstrap interval and the Dutch sentence that reads it (issue 14)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from pipeline.review.agreement import bootstrap_kappa, kappa_from_cells, kappa_words
from pipeline.review.notebook import kappa_sentence


def _raters(n: int, agree: float, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    b = np.where(rng.random(n) < agree, a, 1 - a)
    return a, b


def test_interval_around_sklearns_kappa_and_reproducible():
    a, b = _raters(80, 0.8)
    result = bootstrap_kappa(a, b)
    assert result["kappa"] == pytest.approx(cohen_kappa_score(a, b))
    assert result["low"] < result["kappa"] < result["high"]
    assert (result["n"], result["groups"], result["resamples"], result["undefined"]) == \
        (80, 80, 1000, 0)
    assert bootstrap_kappa(a, b) == result  # the fixed seed
    other = bootstrap_kappa(a, b, seed=1)
    assert other["kappa"] == result["kappa"] and other["low"] != result["low"]


def test_kappa_from_cells_is_sklearns_kappa():
    """The bootstrap's fast kappa agrees with scikit-learn's on every kind of table."""
    rng = np.random.default_rng(3)
    tables = [(rng.integers(0, 2, n), rng.integers(0, 2, n)) for n in (2, 5, 17, 60)]
    tables += [(np.ones(6, int), np.zeros(6, int)), (np.ones(6, int), np.array([1, 0] * 3)),
               (np.array([1, 0, 0]), np.array([1, 0, 0]))]
    for a, b in tables:
        cells = np.bincount(2 * a + b, minlength=4)
        assert kappa_from_cells(cells) == pytest.approx(cohen_kappa_score(a, b))
    assert np.isnan(kappa_from_cells(np.array([4, 0, 0, 0])))  # one value only: no kappa
    assert np.isnan(kappa_from_cells(np.array([0, 0, 0, 4])))


def test_more_decisions_narrow_the_interval():
    widths = []
    for n in (40, 160, 640):
        r = bootstrap_kappa(*_raters(n, 0.8))
        widths.append(r["high"] - r["low"])
    assert widths[0] > widths[1] > widths[2]
    # Four times the decisions, about half the width (the promise in the Dutch sentence).
    assert 0.35 < widths[2] / widths[1] < 0.65


def test_groups_are_drawn_whole():
    """Decisions that hang together (three copies of each, one turn) are no extra evidence:
    drawn per group, the interval is that of the single decisions; drawn one by one it is
    too narrow."""
    a, b = _raters(60, 0.75)
    single = bootstrap_kappa(a, b)
    copies = np.repeat(np.arange(60), 3)
    grouped = bootstrap_kappa(a[copies], b[copies], groups=copies)
    loose = bootstrap_kappa(a[copies], b[copies])
    assert grouped["groups"] == 60 and grouped["n"] == 180
    assert (grouped["low"], grouped["high"]) == pytest.approx((single["low"], single["high"]))
    assert loose["high"] - loose["low"] < 0.75 * (single["high"] - single["low"])


@pytest.mark.parametrize("a, b, kappa_nan", [
    ([1, 1, 1, 1], [1, 1, 1, 1], True),   # all the same: no kappa at all
    ([1, 0, 1], [1, 0, 1], False),        # a kappa, but most draws have one value only
])
def test_too_few_decisions_give_no_interval(a, b, kappa_nan):
    result = bootstrap_kappa(np.array(a), np.array(b))
    assert math.isnan(result["kappa"]) == kappa_nan
    assert math.isnan(result["low"]) and math.isnan(result["high"])


@pytest.mark.parametrize("kappa, words", [
    (-0.18, "minder overeenstemming dan toeval"), (0.0, "niet meer overeenstemming dan toeval"),
    (0.15, "nauwelijks meer dan toeval"), (0.35, "zwakke overeenstemming"),
    (0.55, "matige overeenstemming"), (0.7, "goede overeenstemming"),
    (0.9, "(bijna) volledige overeenstemming"), (float("nan"), "niet te berekenen"),
])
def test_kappa_words(kappa, words):
    assert kappa_words(kappa) == words


def _result(kappa, low, high, n=23, groups=11):
    return {"kappa": kappa, "low": low, "high": high, "n": n, "groups": groups,
            "fragmenten": n}


@pytest.mark.parametrize("result, parts", [
    # The case: -0.18 on a small sample.
    (_result(-0.18, -0.52, 0.19), ["Kappa is −0,18 (23 besluiten over 23 fragmenten in 11 "
                                   "spreekbeurten): minder overeenstemming dan toeval.",
                                   "loopt van −0,52 tot 0,19", "omvat 0",
                                   "niet te onderscheiden van toeval", "Het interval is breed"]),
    (_result(-0.5, -0.7, -0.3, n=120, groups=60), ["ook de bovengrens ligt onder 0"]),
    (_result(0.62, 0.51, 0.72, n=400, groups=150),
     ["meer overeenstemming dan toeval, ergens tussen matige overeenstemming en goede "
      "overeenstemming."]),
    (_result(1.0, float("nan"), float("nan"), n=3, groups=3),
     ["Kappa is 1,00 (3 besluiten", "te weinig besluiten"]),
    (_result(float("nan"), float("nan"), float("nan"), n=1, groups=1),
     ["Kappa is niet te berekenen (1 besluit over 1 fragment in 1 spreekbeurt)"]),
])
def test_kappa_sentence(result, parts):
    sentence = kappa_sentence(result)
    for part in parts:
        assert part in sentence
    if "Het interval is breed" not in parts:
        assert "breed" not in sentence or result["high"] - result["low"] > 0.4
