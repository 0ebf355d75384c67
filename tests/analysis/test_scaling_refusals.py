"""The scaling fit refuses what the data cannot say: no axis varies enough (no law, not a
constant 'law'), and no prediction along an axis the law has no term for, beyond the values
measured (a fit on tiny.en alone gave small the error of tiny.en)."""
from __future__ import annotations

import pytest

from speechbudget.analysis.scaling_fit import fit_law
from speechbudget.analysis.scaling_law import FitError
from speechbudget.analysis.scaling_predict import predict_configs
from speechbudget.analysis.scaling_results import fit_results, fit_results_nested, n_params
from speechbudget.axes import Config


def law(model: str, w: float, s: int = 1) -> float:
    return 0.02 + 3.0 / n_params(model) ** 0.3 + 0.1 / w ** 0.5 + 0.005 * s ** 1.2


@pytest.fixture
def one_size(pair):
    """tiny.en only, stride 1 only, ten windows: only T can be fitted."""
    return [pair(model="tiny.en", window=w, err=law("tiny.en", w))
            for w in (5.0, 8.0, 10.0, 12.0, 15.0, 18.0, 20.0, 22.0, 25.0, 30.0)]


@pytest.mark.parametrize("fit", [fit_results, fit_results_nested])
def test_a_model_size_never_measured_is_not_predicted_from_a_one_size_fit(one_size, fit):
    f = fit(one_size, n_bootstrap=0)
    f = getattr(f, "chosen", f)
    assert f.formula == "E + B/T^beta"
    with pytest.raises(ValueError, match=r"cannot predict small 30s \(N \(parameters\) "
                                         r"2\.417e\+08, fitted at 3\.776e\+07\).*no term"):
        predict_configs(f, [Config(task="asr", model="small", window=30.0)])
    with pytest.raises(ValueError, match=r"s \(stride\) 4, fitted at 1"):
        predict_configs(f, [Config(task="asr", model="tiny.en", window=30.0, stride=4,
                                   stride_at=2)])
    # along the axis the law models, within the measured sizes and strides: a number
    (p,) = predict_configs(f, [Config(task="asr", model="tiny.en", window=28.0)])
    assert p.error == pytest.approx(law("tiny.en", 28.0), rel=0.02)


def test_two_sizes_give_no_prediction_for_a_third(pair):
    results = [pair(model=m, window=w, stride=s, stride_at="output", err=law(m, w, s))
               for m in ("tiny.en", "base") for w in (10.0, 20.0, 30.0) for s in (1, 2, 4)]
    f = fit_results(results, n_bootstrap=0)
    assert not f.active[0]                       # N: 2 values, no term
    with pytest.raises(ValueError, match="cannot predict small 30s"):
        predict_configs(f, [Config(task="asr", model="small", window=30.0)])
    predict_configs(f, [Config(task="asr", model="base", window=25.0)])   # within: fine


@pytest.mark.parametrize("windows", [(30.0,), (10.0, 30.0), (30.0, 30.0, 30.0)])
def test_too_few_values_on_every_axis_is_no_law(pair, windows):
    # before: fit_results fitted the constant 'E' to three configurations (predictions with
    # no refusal) and, with fewer, blamed the count ('E has 1 parameters: it needs at least 3')
    results = [pair(model="tiny.en", window=w, err=0.1) for w in windows]
    for fit in (fit_results, fit_results_nested):
        with pytest.raises(FitError, match="no axis has 3 distinct values: no power law to fit"):
            fit(results, n_bootstrap=0)


def test_fit_law_refuses_a_constant():
    with pytest.raises(FitError, match=r"no power law to fit \(distinct values N 1, T 1, s 1\)"):
        fit_law([1e6] * 9, [10.0] * 9, [1] * 9, [0.1] * 9)
    with pytest.raises(FitError, match="the nested law keeps no axis"):
        fit_law([1e6, 2e6, 3e6] * 3, [10.0, 20.0, 30.0] * 3, [1] * 9, [0.1, 0.09, 0.08] * 3,
                axes=("s",))
