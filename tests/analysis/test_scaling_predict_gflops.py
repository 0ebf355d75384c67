"""A predicted configuration's GFLOPs are per item, as the measured GFLOPs they sit beside (and
the per-item --max-gflops limit they are checked against): an item longer than the window costs
one encoder and decoder pass per window. Before, the prediction carried the estimate of a single
window whatever the items' length (tiny.en 5 s: 5.8 GFLOPs for 14 s items that cost 17)."""
from __future__ import annotations

import itertools

import pytest

from speechbudget.analysis.scaling_predict import item_durations, predict_configs
from speechbudget.analysis.scaling_results import fit_results, n_params
from speechbudget.axes import Config
from speechbudget.flops import estimate
from speechbudget.records import ItemResult

DURATIONS = [14.0, 14.0, 6.0, 25.0]    # seconds: 3, 3, 2 and 5 windows of 5 s


@pytest.fixture
def fit_and_todo(pair):
    results = []
    for model, w, s in itertools.product(["tiny.en", "base", "small"], [5.0, 10.0, 20.0],
                                         [1, 2, 4]):
        if (model, w) == ("small", 5.0):
            continue  # to be predicted
        err = 0.02 + 3.0 * n_params(model) ** -0.25 * w ** -0.4 * s ** 0.5
        results.append(pair(model=model, window=w, stride=s, err=err, gflops=1.0,
                            stride_at="output"))
    fit = fit_results(results, law="product", n_bootstrap=0)
    todo = [Config(task="asr", model="small", window=5.0, stride=s) for s in (1, 2, 4)]
    return fit, todo, results


def test_asr_prediction_gflops_are_the_mean_per_item_over_the_items_durations(fit_and_todo):
    fit, todo, results = fit_and_todo
    preds = predict_configs(fit, todo, [c.key for c, _ in results], audio_s=DURATIONS)
    for p in preds:
        per_item = [estimate(p.config, audio_s=d).gflops for d in DURATIONS]
        assert p.gflops == pytest.approx(sum(per_item) / len(per_item), rel=1e-9)
        # the items span 2 to 5 windows: far above one window's cost
        assert p.gflops > 2.5 * estimate(p.config).gflops


def test_without_durations_an_asr_prediction_has_no_gflops(fit_and_todo):
    fit, todo, results = fit_and_todo
    preds = predict_configs(fit, todo, [c.key for c, _ in results])
    assert [p.gflops for p in preds] == [None, None, None]


def test_item_durations_are_per_distinct_scored_item():
    a = Config(task="asr", model="tiny.en", window=10.0)
    b = Config(task="asr", model="base", window=10.0)
    items = {a.key: [ItemResult("u1", True, errors=0, n_ref=5, audio_s=14.0),
                     ItemResult("u2", False, error="boom", audio_s=3.0),
                     ItemResult("u3", True, errors=1, n_ref=5, audio_s=None)],
             b.key: [ItemResult("u1", True, errors=0, n_ref=5, audio_s=14.0),
                     ItemResult("u4", True, errors=0, n_ref=5, audio_s=6.5)]}
    assert sorted(item_durations(items, [a, b])) == [6.5, 14.0]
    assert item_durations(items, [a]) == [14.0]
