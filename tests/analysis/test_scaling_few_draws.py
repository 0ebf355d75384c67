"""A fit's claim that all its parameters are identified rests, in part, on their bootstrap 95%
intervals. With no bootstrap (--bootstrap 0) or too few draws for a 95% interval (fewer than
39), that part was not checked, and the fit says so instead of 'all parameters identified'; one
draw no longer prints numpy's 'Degrees of freedom <= 0' warning."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from speechbudget.analysis.scaling_fit import fit_law
from speechbudget.analysis.scaling_identify import MIN_CI_DRAWS
from speechbudget.analysis.scaling_nested import compare_nested

N, T, S = map(np.array, zip(*itertools.product([39e6, 244e6, 1.55e9], [5.0, 10.0, 20.0, 30.0],
                                               [1, 2, 4])))
Y = (0.03 + 40.0 / N ** 0.4 + 0.3 / T ** 0.8) * np.exp(
    np.random.default_rng(0).normal(0.0, 0.01, len(N)))


@pytest.mark.parametrize("n_bootstrap", [0, 1, 4])
def test_too_few_draws_say_the_intervals_were_not_checked(n_bootstrap):
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # no numpy warning on one draw
        cmp_ = compare_nested(N, T, S, Y, n_bootstrap=n_bootstrap)
    fit = cmp_.chosen
    assert not fit.unidentified
    assert "all parameters identified as far as checked" in cmp_.reason, cmp_.reason
    assert "intervals were not checked" in cmp_.reason
    assert any("intervals were not checked" in n for n in fit.notes), fit.notes


def test_enough_draws_check_the_intervals():
    cmp_ = compare_nested(N, T, S, Y, n_bootstrap=MIN_CI_DRAWS)
    assert "all parameters identified)" in cmp_.reason or \
        "all parameters identified:" in cmp_.reason or "all parameters identified," \
        in cmp_.reason, cmp_.reason
    assert "not checked" not in cmp_.reason
    assert not any("not checked" in n for n in cmp_.chosen.notes)


def test_one_draw_has_no_spread():
    fit = fit_law(N, T, S, Y, law="additive", n_bootstrap=1, axes=("N", "T"))
    assert all(np.isnan(v) for v in fit.bootstrap.std.values())
