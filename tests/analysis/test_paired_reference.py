"""The paired bootstrap against an independent plain-numpy implementation of the same resampling
scheme (indices drawn with numpy's default_rng(seed).integers(0, n, (resamples, n)), both
configurations scored on the same draw, percentile interval), and its corner cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from speechbudget.paired import pair_items, paired_difference
from speechbudget.records import ItemResult


def asr(errors, n_ref):
    return [ItemResult(f"u{i:03d}", True, errors=e, n_ref=n)
            for i, (e, n) in enumerate(zip(errors, n_ref))]


def ser(preds, refs):
    return [ItemResult(f"c{i:03d}", True, prediction=p, reference=r, errors=int(p != r), n_ref=1)
            for i, (p, r) in enumerate(zip(preds, refs))]


def reference_ci(ea, eb, n, labels=None, level=0.95, resamples=2000, seed=0):
    """Plain numpy: (low, high, standard error) of error(A) - error(B)."""
    ea, eb, n = (np.asarray(v, float) for v in (ea, eb, n))
    idx = np.random.default_rng(seed).integers(0, len(ea), (resamples, len(ea)))
    if labels is None:
        den = np.maximum(n[idx].sum(axis=1), 1.0)   # a resample without words: one word
        stat = (ea[idx].sum(axis=1) - eb[idx].sum(axis=1)) / den
    else:
        labels = np.asarray(labels)
        stat = np.empty(resamples)
        for r, row in enumerate(idx):
            lab = labels[row]
            ua = [np.mean([e[row][lab == c].mean() for c in np.unique(lab)]) for e in (ea, eb)]
            stat[r] = ua[0] - ua[1]
    a = (1 - level) / 2
    return (float(np.percentile(stat, 100 * a)), float(np.percentile(stat, 100 * (1 - a))),
            float(stat.std(ddof=1)))


@pytest.mark.parametrize("seed", range(6))
def test_wer_ci_matches_the_plain_numpy_bootstrap(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 60))
    n = rng.integers(1, 30, k)
    ea, eb = rng.binomial(n, 0.2), rng.binomial(n, 0.15)
    d = paired_difference(pair_items(asr(ea, n), asr(eb, n), "wer"))
    lo, hi, se = reference_ci(ea, eb, n)
    assert d.diff == pytest.approx(ea.sum() / n.sum() - eb.sum() / n.sum())
    assert (d.ci_low, d.ci_high, d.se) == pytest.approx((lo, hi, se), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_ua_ci_matches_the_plain_numpy_bootstrap(seed):
    rng = np.random.default_rng(100 + seed)
    k = int(rng.integers(4, 40))
    refs = rng.choice(["ang", "hap", "neu", "sad"], k)
    pa = np.where(rng.random(k) < 0.6, refs, "neu")
    pb = np.where(rng.random(k) < 0.5, refs, "sad")
    p = pair_items(ser(pa, refs), ser(pb, refs), "ua")
    d = paired_difference(p)
    lo, hi, se = reference_ci(pa != refs, pb != refs, np.ones(k), labels=refs)  # ids in order
    assert (d.ci_low, d.ci_high, d.se) == pytest.approx((lo, hi, se), rel=1e-9, abs=1e-12)


def test_zero_word_references_keep_the_ci_finite():
    # u000 has no reference words (A inserted 2 words there): a quarter of the resamples of two
    # items draw it twice, whose corpus WER was 0/0 or 2/0, and the CI came out nan
    # (at 40%: at 95% two differing items are too few for any test, and the CI is unbounded)
    ea, eb, n = [2, 0], [0, 1], [0, 10]
    d = paired_difference(pair_items(asr(ea, n), asr(eb, n), "wer"), level=0.4)
    assert math.isfinite(d.ci_low) and math.isfinite(d.ci_high) and math.isfinite(d.se)
    assert (d.ci_low, d.ci_high, d.se) == pytest.approx(reference_ci(ea, eb, n, level=0.4),
                                                        rel=1e-9)
    assert d.diff == pytest.approx(0.1)      # the point estimate: 2/10 - 1/10


def test_a_difference_of_exactly_zero_with_differing_items():
    ea, eb, n = [1, 0, 2, 0], [0, 1, 0, 2], [10] * 4
    d = paired_difference(pair_items(asr(ea, n), asr(eb, n), "wer"))
    assert d.diff == 0 and d.ci_low < 0 < d.ci_high and not d.significant
    assert d.items_needed(d.diff) is None and d.p_value == 1.0
    wide = paired_difference(pair_items(asr(ea, n), asr(eb, n), "wer"), level=0.8)
    assert (wide.ci_low, wide.ci_high) == pytest.approx(reference_ci(ea, eb, n, level=0.8)[:2],
                                                        rel=1e-9)


def test_a_heavily_skewed_item_matches_the_reference():
    ea, eb, n = [100] + [0] * 49, [0] * 50, [100] + [10] * 49
    d = paired_difference(pair_items(asr(ea, n), asr(eb, n), "wer"))
    # one item carries the whole difference: no test can tell (the bootstrap CI, which
    # matched the reference, contained 0 as well)
    assert not d.significant and d.ci_low == -math.inf and d.n_differ == 1
    assert d.ci_text() == "unbounded (1 item differs: too few to tell)"  # was '1 item differ'


def test_a_few_items_each_a_little_worse_are_no_evidence():
    """Racing eliminated a configuration after 2 items each one error worse (zero bootstrap
    spread: CI [d, d], p = 0); the exact sign-flip test gives p = 1/2 there. Since no paired
    test on k differing items can give p below 2 / 2**k, the CI is unbounded until that floor
    is below 1 - level, and p-values never go below it."""
    ea, eb = [3, 3] + [1] * 18, [2, 2] + [1] * 18
    d = paired_difference(pair_items(asr(ea, [10] * 20), asr(eb, [10] * 20), "wer"))
    assert d.n_differ == 2 and not d.significant and d.p_value == 1.0
    assert d.ci_text() == "unbounded (2 items differ: too few to tell)"
    ea = [3] * 6 + [1] * 14
    eb = [2] * 6 + [1] * 14
    d = paired_difference(pair_items(asr(ea, [10] * 20), asr(eb, [10] * 20), "wer"))
    assert d.significant and d.p_value >= 2 / 2 ** 6 and d.ci_low > 0


def test_one_item_cannot_show_a_difference():
    # the bootstrap of one item repeats it: zero spread, which said "significant" (CI [0.2, 0.2],
    # p = 0) from a single utterance
    d = paired_difference(pair_items(asr([2], [10]), asr([0], [10]), "wer"))
    assert d.diff == pytest.approx(0.2) and d.n_items == 1
    assert d.ci_low == -math.inf and d.ci_high == math.inf and not d.significant
    assert d.p_value == 1.0 and d.non_inferiority_p(0.01) == 1.0
    assert d.worse_by_more_than_p(0.0) == 1.0 and d.items_needed(0.2) is None
    same = paired_difference(pair_items(asr([2], [10]), asr([2], [10]), "wer"))
    assert (same.diff, same.ci_low, same.ci_high, same.p_value) == (0, 0, 0, 1.0)


@pytest.mark.parametrize("field,value", [("errors", None), ("errors", math.nan),
                                         ("errors", math.inf), ("errors", -1),
                                         ("n_ref", None), ("n_ref", math.nan)])
def test_a_scored_item_without_a_usable_count_is_named(field, value):
    # errors None was read as 0 errors (and n_ref None as 0 words): a silently perfect item;
    # nan or inf made every number nan
    bad = asr([1, 2, 0], [10, 10, 10])
    setattr(bad[1], field, value)
    with pytest.raises(ValueError, match=rf"item u001: scored \(ok\) with {field}="):
        pair_items(bad, asr([0, 1, 0], [10, 10, 10]), "wer")


def test_one_sided_p_values_have_the_sign_flip_floor():
    # 8 items each one error worse: zero spread, so the normal approximation gave p = 0; the
    # exact one-sided sign-flip test gives 1 / 2**8
    d = paired_difference(pair_items(asr([3] * 8, [10] * 8), asr([2] * 8, [10] * 8), "wer"))
    assert d.se < 1e-12 and d.worse_by_more_than_p(0.0) == pytest.approx(0.5 ** 8)
    assert d.non_inferiority_p(0.01) == pytest.approx(0.5 ** 8)
    assert d.p_value == pytest.approx(2 / 2 ** 8)
    # with spread, the floor binds only where the normal approximation goes below it
    ea, eb = [3] * 8 + [1] * 12, [2] * 8 + [1] * 12
    d = paired_difference(pair_items(asr(ea, [10] * 20), asr(eb, [10] * 20), "wer"))
    assert d.worse_by_more_than_p(0.0) >= 0.5 ** 8 and d.p_value >= 2 / 2 ** 8


@pytest.mark.parametrize("seed", range(8))
def test_the_ci_is_scipys_paired_bootstrap_bit_for_bit(seed):
    # paired_difference computes scipy.stats.bootstrap(paired=True)'s resamples from draw
    # counts (fast: the report tests thousands of pairs); the same draws, the same numbers
    from scipy.stats import bootstrap

    from speechbudget.paired import PairedItems, corpus_error
    rng = np.random.default_rng(seed)
    k = int(rng.integers(8, 200))
    if seed % 2:
        labels = rng.integers(0, 4, k).astype(float)
        ea, eb, n, metric = (rng.random(k) < 0.4) * 1.0, (rng.random(k) < 0.5) * 1.0, \
            np.ones(k), "ua"
    else:
        labels, metric = None, "wer"
        n = rng.integers(0, 30, k).astype(float)
        ea, eb = rng.binomial(n.astype(int), 0.2) * 1.0, rng.binomial(n.astype(int), 0.15) * 1.0
    p = PairedItems(metric, tuple(map(str, range(k))), ea, eb, n, labels)
    d = paired_difference(p, seed=seed)

    def stat(a, b, n, *lab, axis=-1):
        if lab:
            return corpus_error(a, n, lab[0], axis) - corpus_error(b, n, lab[0], axis)
        return (np.sum(a, axis=axis) - np.sum(b, axis=axis)) / np.maximum(np.sum(n, axis=axis), 1)

    data = (ea, eb, n) + (() if labels is None else (labels,))
    res = bootstrap(data, stat, paired=True, vectorized=True, n_resamples=2000,
                    confidence_level=0.95, method="percentile", rng=np.random.default_rng(seed))
    assert (d.ci_low, d.ci_high, d.se) == (float(res.confidence_interval.low),
                                           float(res.confidence_interval.high),
                                           float(res.standard_error))


def test_counts_that_are_not_whole_numbers_still_get_scipys_interval():
    from speechbudget.paired import PairedItems
    rng = np.random.default_rng(3)
    k = 40
    n = rng.integers(1, 20, k).astype(float)
    ea, eb = rng.random(k) * n * 0.3, rng.random(k) * n * 0.2
    d = paired_difference(PairedItems("wer", tuple(map(str, range(k))), ea, eb, n))
    lo, hi, se = reference_ci(ea, eb, n)
    assert (d.ci_low, d.ci_high, d.se) == pytest.approx((lo, hi, se), rel=1e-9, abs=1e-12)
