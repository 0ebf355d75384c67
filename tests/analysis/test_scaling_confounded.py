"""Scaling fit on a design that moved two axes together (model size and window paired one to
one, the stride varied within each pair): the two terms cannot be told apart, and the fit must
say so instead of reporting one of the many equally good attributions as identified."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from speechbudget.analysis.scaling_fit import fit_law
from speechbudget.analysis.scaling_law import FitError
from speechbudget.analysis.scaling_nested import compare_nested

NS = np.array([39e6, 74e6, 244e6, 769e6, 1.55e9])
TS = NS / 39e6 * 5.0                      # the window scales with the model: log T = a + log N
SS = [1, 2, 3, 4, 6]
N, T, S = map(np.array, zip(*[(n, t, s) for (n, t), s in itertools.product(zip(NS, TS), SS)]))
TRUE = dict(E=0.03, A=40.0, alpha=0.4, B=0.3, beta=0.8, C=0.01, gamma=1.2)
Y = (TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / T ** TRUE["beta"]
     + TRUE["C"] * S ** TRUE["gamma"])


def test_a_law_with_both_confounded_terms_is_refused():
    # was: alpha 0.8, beta 0.4, A 9.8e4, B 0.07 (N's and T's terms swapped), nothing flagged,
    # predictions allowed, also for the model x window combinations never run
    for law in ("additive", "product"):
        with pytest.raises(FitError, match=r"N and T are confounded: each of the 5 values of N "
                                           r"occurs with a single value of T"):
            fit_law(N, T, S, Y, law=law, loo=False)


def test_a_nested_law_with_one_of_them_names_the_joint_effect():
    fit = fit_law(N, T, S, Y, axes=("N", "s"))
    assert "alpha" in fit.unidentified and "confounded with T" in fit.unidentified["alpha"]
    assert "gamma" not in fit.unidentified
    assert fit.prediction_refusal() is not None and "joint effect" in fit.prediction_refusal()
    cmp_ = compare_nested(N, T, S, Y)
    refused = [c for c in cmp_.candidates if c.fit is None]
    assert refused and all("confounded" in c.refused for c in refused
                           if "N" in c.axes and "T" in c.axes)
    assert cmp_.chosen is not None and cmp_.chosen.prediction_refusal() is not None


def test_distinct_pairs_without_repeats_are_not_called_confounded():
    # every configuration its own (N, T): one to one trivially, no evidence of a paired design
    rng = np.random.default_rng(0)
    n = np.exp(rng.uniform(np.log(3e7), np.log(2e9), 30))
    t = rng.uniform(5, 30, 30)
    s = rng.choice([1, 2, 4, 8], 30)
    y = (TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / t ** TRUE["beta"]
         + TRUE["C"] * s ** TRUE["gamma"])
    fit = fit_law(n, t, s, y, loo=False)
    assert fit.params["alpha"] == pytest.approx(0.4, rel=1e-3)
    assert fit.params["beta"] == pytest.approx(0.8, rel=1e-3)
