"""Paired comparison: hand-computed cases and agreement with a permutation test."""
from __future__ import annotations

import math

import numpy as np
import pytest

from speechbudget.analysis.paired import (corpus_error, pair_items, paired_difference,
                                          permutation_pvalue)
from speechbudget.records import ItemResult


def asr(errors, n_ref, ids=None):
    ids = ids or [f"u{i}" for i in range(len(errors))]
    return [ItemResult(i, True, errors=e, n_ref=n) for i, e, n in zip(ids, errors, n_ref)]


def ser(preds, refs):
    return [ItemResult(f"c{i}", True, prediction=p, reference=r, errors=int(p != r), n_ref=1)
            for i, (p, r) in enumerate(zip(preds, refs))]


def test_two_items_by_hand():
    # A: 2 errors on u0, 1 on u1; B: none; 10 words each. Resamples of 2 items:
    # {u0,u0} 4/20 = 0.2 (p 1/4), {u0,u1} 3/20 = 0.15 (p 1/2), {u1,u1} 2/20 = 0.1 (p 1/4)
    # -> diff 0.15, percentile 40% CI [0.15, 0.15], bootstrap se sqrt(0.00125) = 0.0354.
    # (At 95% two differing items are too few for any test: see test_paired_reference.)
    d = paired_difference(pair_items(asr([2, 1], [10, 10]), asr([0, 0], [10, 10]), "wer"),
                          level=0.4, n_resamples=20000)
    assert math.isclose(d.diff, 0.15) and d.error_a == 0.15 and d.error_b == 0.0
    assert d.ci_low == pytest.approx(0.15) and d.ci_high == pytest.approx(0.15)
    assert d.se == pytest.approx(math.sqrt(0.00125), rel=0.03)
    assert d.significant and d.n_differ == 2 and d.p_value >= 0.5   # the sign-flip floor


def test_corpus_wer_is_errors_over_words_not_a_mean_of_rates():
    p = pair_items(asr([1, 0], [2, 8]), asr([0, 0], [2, 8]), "wer")
    d = paired_difference(p)
    assert d.error_a == pytest.approx(0.1)  # 1 / 10, not mean(0.5, 0) = 0.25


def test_the_same_shift_on_every_item_is_exact():
    d = paired_difference(pair_items(asr([3] * 6, [10] * 6), asr([1] * 6, [10] * 6), "wer"))
    assert d.diff == pytest.approx(0.2) and d.ci_low == pytest.approx(0.2)
    assert d.ci_high == pytest.approx(0.2) and d.significant
    assert d.p_value == pytest.approx(2 / 2 ** 6)       # zero spread: the sign-flip test's p
    # 5 items: the sign-flip test's smallest p is 1/16 > 0.05: no CI can exclude 0 at 95%
    d = paired_difference(pair_items(asr([3] * 5, [10] * 5), asr([1] * 5, [10] * 5), "wer"))
    assert d.ci_low == -math.inf and not d.significant and d.p_value == 1.0


def test_identical_results_have_a_zero_width_ci_and_no_items_needed():
    a = asr([1, 2, 3], [5, 5, 5])
    d = paired_difference(pair_items(a, a, "wer"))
    assert (d.diff, d.ci_low, d.ci_high, d.se) == (0, 0, 0, 0) and d.items_needed(0.01) is None


def test_pairs_by_item_id_and_drops_items_not_scored_by_both():
    a = asr([1, 2, 3], [5, 5, 5], ids=["x", "y", "z"])
    b = asr([0, 2], [5, 5], ids=["z", "y"])
    p = pair_items(a, b, "wer")
    assert p.item_ids == ("y", "z") and p.dropped == 1
    assert list(p.errors_a) == [2, 3] and list(p.errors_b) == [2, 0]


def test_balanced_accuracy_by_hand():
    refs = ["a", "a", "a", "b"]
    # A: right on the three a's, wrong on b -> recall a 1, b 0 -> UA 0.5, error 0.5
    # B: wrong on one a, right on b -> recall a 2/3, b 1 -> UA 5/6, error 1/6
    p = pair_items(ser(["a", "a", "a", "a"], refs), ser(["b", "a", "a", "b"], refs), "ua")
    assert float(corpus_error(p.errors_a, p.n_ref, p.labels)) == pytest.approx(0.5)
    d = paired_difference(p)
    assert d.diff == pytest.approx(0.5 - 1 / 6)


def noisy_pair(shift: float, n: int = 120, seed: int = 1):
    rng = np.random.default_rng(seed)
    words = rng.integers(5, 30, n)
    base = rng.binomial(words, 0.1)
    extra = rng.binomial(words, shift) if shift > 0 else np.zeros(n, int)
    noise = rng.binomial(1, 0.3, n) * rng.choice([-1, 1], n)
    b = np.maximum(base + noise, 0)
    return asr(list(base + extra), list(words)), asr(list(b), list(words))


@pytest.mark.parametrize("shift", [0.0, 0.05])
def test_bootstrap_ci_agrees_with_a_permutation_test(shift):
    a, b = noisy_pair(shift)
    p = pair_items(a, b, "wer")
    d = paired_difference(p, seed=3)
    pv = permutation_pvalue(p, seed=3)
    assert d.significant == (pv < 0.05)
    assert d.significant == (shift > 0)


def test_items_needed_scales_with_the_inverse_square_of_the_difference():
    a, b = noisy_pair(0.0)
    d = paired_difference(pair_items(a, b, "wer"))
    n1, n2 = d.items_needed(0.004), d.items_needed(0.002)
    assert n1 is not None and 3.9 <= n2 / n1 <= 4.1


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="share no scored item"):
        paired_difference(pair_items(asr([1], [5], ["x"]), asr([1], [5], ["y"]), "wer"))
    with pytest.raises(ValueError, match="metric 'bleu'"):
        pair_items([], [], "bleu")
