"""Nested scaling laws compared by leave-one-configuration-out error: the simplest adequate kept."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from speechbudget.analysis.scaling_law import FitError
from speechbudget.analysis.scaling_nested import compare_nested
from speechbudget.analysis.scaling_predict import predict_configs
from speechbudget.analysis.scaling_results import fit_results_nested, n_params
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics

NS = [39e6, 244e6, 1.55e9]
TS = [5.0, 10.0, 20.0, 30.0]
SS = [1, 2, 4]
N, T, S = map(np.array, zip(*itertools.product(NS, TS, SS)))


def noisy(y, seed=0, sd=0.01):
    return y * np.exp(np.random.default_rng(seed).normal(0.0, sd, len(y)))


def test_a_stride_that_does_nothing_is_dropped():
    y = noisy(0.03 + 40.0 / N ** 0.4 + 0.3 / T ** 0.8)
    cmp_ = compare_nested(N, T, S, y)
    assert cmp_.chosen is not None
    assert "s" not in cmp_.chosen.params and "gamma" not in cmp_.chosen.params
    assert set(cmp_.chosen.params) == {"E", "A", "alpha", "B", "beta"}
    assert cmp_.chosen.prediction_refusal() is None
    assert "kept" in cmp_.reason and cmp_.chosen.formula in cmp_.reason
    full = next(c for c in cmp_.candidates if len(c.axes) == 3)
    assert full.fit is not None and full.bic is not None      # it was fitted and compared
    assert len(cmp_.candidates) == 7                          # every non-empty subset of 3 axes


def test_every_axis_that_matters_is_kept():
    y = noisy(0.03 + 40.0 / N ** 0.4 + 0.3 / T ** 0.8 + 0.01 * S ** 1.2, sd=0.002)
    cmp_ = compare_nested(N, T, S, y)
    assert set(cmp_.chosen.params) == {"E", "A", "alpha", "B", "beta", "C", "gamma"}
    one_axis = [c for c in cmp_.candidates if len(c.axes) == 1]
    assert all(c.loo_mape > cmp_.chosen.loo.mape for c in one_axis)


def test_too_few_points_for_the_full_law_fits_a_nested_one_and_says_why():
    # 9 configurations: 7 parameters need 21, a one-axis law (3) needs 9
    n3, t3 = map(np.array, zip(*itertools.product(NS, [5.0, 10.0, 30.0])))
    y = noisy(0.03 + 0.3 / t3 ** 0.8 + 0 * n3)
    cmp_ = compare_nested(n3, t3, np.ones(9), y)
    refused = [c for c in cmp_.candidates if c.fit is None]
    assert refused and all("needs at least" in c.refused for c in refused)
    assert cmp_.chosen is not None and cmp_.chosen.law.n_params == 3
    assert "not fitted" in cmp_.reason


def test_nothing_varies_enough():
    with pytest.raises(FitError, match="distinct values"):
        compare_nested([39e6] * 4, [30.0] * 4, [1, 2, 1, 2], [0.1, 0.2, 0.1, 0.2])


def test_from_results_the_chosen_fit_predicts_with_an_interval():
    models = ["tiny.en", "base", "small"]
    rng = np.random.default_rng(1)
    results = []
    for mdl, w in itertools.product(models, [5.0, 10.0, 15.0, 20.0, 30.0]):
        c = Config(task="asr", model=mdl, window=w)
        err = (0.03 + 40.0 / n_params(mdl) ** 0.4 + 0.3 / w ** 0.8) * np.exp(rng.normal(0, .005))
        results.append((c, ConfigMetrics(c.key, "asr", "wer", float(err), n_items=40)))
    cmp_ = fit_results_nested(results, n_bootstrap=30)
    fit = cmp_.chosen
    assert fit is not None and len(fit.configs) == 15
    assert set(fit.params) == {"E", "A", "alpha", "B", "beta"}
    (p,) = predict_configs(fit, [Config(task="asr", model="base", window=25.0)])
    assert p.low is not None and p.low <= p.error <= p.high
    d = cmp_.to_dict()
    assert d["chosen"]["formula"] == fit.formula and len(d["candidates"]) == 3
