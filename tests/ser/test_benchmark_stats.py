"""The statistics of benchmarks/ser_axes.py: the paired CI has UA's sign (A better: above 0) and
the pooled difference is the mean over cells of the UA differences, its CI from joint draws."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
ser_axes = pytest.importorskip("ser_axes")

LABELS = list("abcdef")


def _noisy(refs, p_wrong, rng):
    return [LABELS[rng.integers(6)] if rng.random() < p_wrong else r for r in refs]


def test_the_paired_ci_is_of_ua_a_minus_ua_b():
    rng = np.random.default_rng(0)
    refs = [LABELS[i] for i in rng.integers(0, 6, 300)]
    good, bad = _noisy(refs, 0.1, rng), _noisy(refs, 0.6, rng)
    lo, hi = ser_axes.bootstrap(refs, good, bad)
    d = balanced_accuracy_score(refs, good) - balanced_accuracy_score(refs, bad)
    assert 0 < lo < d < hi
    lo2, hi2 = ser_axes.bootstrap(refs, bad, good)
    assert (lo2, hi2) == pytest.approx((-hi, -lo))
    assert ser_axes.bootstrap(refs, good, good) == (0.0, 0.0)


def test_pooled_difference_is_the_mean_over_cells():
    rng = np.random.default_rng(1)
    refs = [LABELS[i] for i in rng.integers(0, 6, 200)]
    cells_a = [_noisy(refs, p, rng) for p in (0.2, 0.3, 0.4)]
    cells_b = [_noisy(refs, p, rng) for p in (0.3, 0.3, 0.5)]
    got = ser_axes.pooled_difference(refs, cells_a, cells_b, n=300)
    want = np.mean([balanced_accuracy_score(refs, a) - balanced_accuracy_score(refs, b)
                    for a, b in zip(cells_a, cells_b)])
    assert got["mean"] == pytest.approx(want, abs=1e-12)
    assert got["ci"][0] < want < got["ci"][1]
    assert got["n_cells"] == 3 and got["n_clips"] == 200
    same = ser_axes.pooled_difference(refs, cells_a, cells_a, n=50)
    assert same["mean"] == 0 and same["ci"] == [0.0, 0.0]


def test_ua_interval_is_seeded_and_holds_the_ua():
    from speechbudget.tasks.ser.metrics import ua_interval

    rng = np.random.default_rng(2)
    refs = [LABELS[i] for i in rng.integers(0, 6, 150)]
    hyps = _noisy(refs, 0.4, rng)
    lo, hi = ua_interval(refs, hyps, n=300, seed=3)
    assert lo < balanced_accuracy_score(refs, hyps) < hi
    assert ua_interval(refs, hyps, n=300, seed=3) == (lo, hi)
    wide = ua_interval(refs[:30], hyps[:30], n=300, seed=3)
    assert wide[1] - wide[0] > hi - lo   # fewer clips, a wider interval


def test_rows_of_different_splits_are_pooled_by_clip_id():
    """ser_linear_select pools rows whose clips come in different orders (one order per actor
    split): the same predictions, shuffled with their ids, give the same pooled difference."""
    ser_linear_select = pytest.importorskip("ser_linear_select")
    rng = np.random.default_rng(2)
    refs = [LABELS[i] for i in rng.integers(0, 6, 120)]
    ids = [f"c{i:03d}" for i in range(120)]
    a, ref = _noisy(refs, 0.2, rng), _noisy(refs, 0.4, rng)
    row = {"ids": ids, "refs": refs, "preds": {"v": a, "logreg_ref": ref}}
    perm = rng.permutation(120)
    shuffled = {"ids": [ids[i] for i in perm], "refs": [refs[i] for i in perm],
                "preds": {"v": [a[i] for i in perm], "logreg_ref": [ref[i] for i in perm]}}
    got = ser_linear_select.pooled_minus_ref([row, shuffled], ["v"])["v"]
    want = balanced_accuracy_score(refs, a) - balanced_accuracy_score(refs, ref)
    assert got["mean"] == pytest.approx(want)
    assert got["n_cells"] == 2 and got["ci"][0] < want < got["ci"][1]
    other = dict(shuffled, ids=[i + "x" for i in shuffled["ids"]])
    assert ser_linear_select.pooled_minus_ref([row, other], ["v"]) == {}
