"""A prediction's 95 % interval is where a measurement of the configuration would fall: it must
cover held-out measurements of configurations the fit did not see. Before, it was the bootstrap
interval of the law's curve alone, which covered the noise-free value but only about half of
the held-out measurements (a 95 % interval narrower than the scatter of the data about the law).

Synthetic data from a known additive law with 3 % multiplicative noise; two configurations held
out per seed; the 95 % interval must cover at least 80 % of them (a rough check of coverage, far
from the ~50 % of the curve's interval)."""
from __future__ import annotations

import itertools

import numpy as np

from speechbudget.analysis.scaling_predict import predict_configs
from speechbudget.analysis.scaling_results import fit_results, n_params
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics

MODELS = ["tiny.en", "base", "small", "medium"]
WINDOWS = [5.0, 10.0, 20.0, 30.0]
STRIDES = [1, 2, 4]
HELD_OUT = [("base", 20.0, 2), ("small", 10.0, 4)]
SEEDS = 25
SIGMA = 0.03


def law(model: str, window: float, stride: int) -> float:
    return 0.05 + 30.0 / n_params(model) ** 0.35 + 0.5 / window ** 0.8 + 0.01 * stride


def test_the_95_percent_interval_covers_held_out_measurements():
    covered = total = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        fitted, held = [], []
        for m, w, s in itertools.product(MODELS, WINDOWS, STRIDES):
            c = Config(task="asr", model=m, window=w, stride=s)
            err = law(m, w, s) * float(np.exp(rng.normal(0.0, SIGMA)))
            (held if (m, w, s) in HELD_OUT else fitted).append(
                (c, ConfigMetrics(c.key, "asr", "wer", err, n_items=100)))
        fit = fit_results(fitted, n_bootstrap=40, seed=seed, loo=False)
        preds = predict_configs(fit, [c for c, _ in held])
        for p, (_, m) in zip(preds, held):
            total += 1
            covered += p.low <= m.error <= p.high
    assert covered >= 0.8 * total, f"{covered} of {total} held-out measurements covered"
