"""Predictions of a scaling fit for configurations that were not run: `Prediction` objects,
always marked predicted, never ConfigMetrics, with the bootstrap 95 % interval and analytic
GFLOPs; measured configurations and extrapolation along an axis the law has no term for are
refused. `unrun_grid` lists the model x window x stride grid of the fitted group minus what ran."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from speechbudget.analysis.scaling_fit import ScalingFit
from speechbudget.analysis.scaling_identify import MIN_DISTINCT
from speechbudget.analysis.scaling_law import AXIS_NAMES, features, log_pred, theta_from_params
from speechbudget.analysis.scaling_results import Results, n_params
from speechbudget.axes import Config


@dataclass(frozen=True)
class Prediction:
    """A configuration that was NOT run: its error as predicted by a fit. Never a measurement."""

    config: Config
    error: float
    low: float | None            # bootstrap 95 % interval of the prediction, when available
    high: float | None
    gflops: float | None         # analytic (speechbudget.flops.estimate)
    predicted: bool = True


def predict_configs(fit: ScalingFit, configs: Iterable[Config],
                    measured_keys: Iterable[str] = ()) -> list[Prediction]:
    """Predicted errors for configurations not run (measured ones are refused: never mixed)."""
    measured = set(measured_keys)
    configs = list(configs)
    clash = [c.label for c in configs if c.key in measured]
    if clash:
        raise ValueError(f"configuration(s) {', '.join(clash)} were measured: use the measured "
                         "values, predictions are only for configurations not run")
    bad = [c.label for c in configs if c.is_dynamic]
    if bad:
        raise ValueError(f"cannot predict dynamic-window configuration(s) {', '.join(bad)}")
    if not configs:
        return []
    N = np.array([n_params(c.model) for c in configs], float)
    T = np.array([float(c.window) for c in configs])
    s = np.array([c.stride for c in configs], float)
    outside = _beyond_the_law(fit, configs, (N, T, s))
    if outside:
        raise ValueError("cannot predict " + "; ".join(outside) + ": the law has no term for "
                         "that axis, so it says nothing about values outside those measured "
                         "(measure such configurations, or fit data that vary that axis over "
                         f"{MIN_DISTINCT} or more values)")
    pred = fit.predict(N, T, s)
    lo = hi = None
    if fit.bootstrap is not None:
        X = features(N, T, s) - fit.ref
        draws = []
        for row in fit.bootstrap.samples:
            th = theta_from_params(fit.law, dict(zip(fit.law.param_names, row)), fit.ref)
            draws.append(np.exp(log_pred(fit.law, th, X)))
        draws = np.array(draws)
        lo, hi = np.percentile(draws, 2.5, axis=0), np.percentile(draws, 97.5, axis=0)
    out = []
    for i, c in enumerate(configs):
        out.append(Prediction(c, float(pred[i]), None if lo is None else float(lo[i]),
                              None if hi is None else float(hi[i]), _gflops(c)))
    return out


def _beyond_the_law(fit: ScalingFit, configs: list[Config],
                    values: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[str]:
    """For each configuration, the axes without a term in the fitted law (not identifiable, or
    dropped by the nested comparison) on which it lies outside the fitted range: a prediction
    there would be an extrapolation along an axis the law does not model (a fit on tiny.en
    alone gave small the error of tiny.en)."""
    fitted = (fit.N, fit.T, fit.s)
    names = {"N": "parameters", "T": "window (s)", "s": "stride"}
    out = []
    for i, c in enumerate(configs):
        bad = []
        for j, on in enumerate(fit.active):
            if on or not len(fitted[j]):
                continue
            lo, hi = float(np.min(fitted[j])), float(np.max(fitted[j]))
            v = float(values[j][i])
            if not lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                span = f"{lo:.4g}" if lo == hi else f"{lo:.4g} to {hi:.4g}"
                bad.append(f"{AXIS_NAMES[j]} ({names[AXIS_NAMES[j]]}) {v:.4g}, fitted at {span}")
        if bad:
            out.append(f"{c.label} ({', '.join(bad)})")
    return out


def _gflops(c: Config) -> float | None:
    try:
        from speechbudget.flops import estimate
        return float(estimate(c).gflops)
    except Exception:  # noqa: BLE001 - an estimate that cannot be made is shown as unknown
        return None


def unrun_grid(fit: ScalingFit, results: Results) -> list[Config]:
    """The model x window x stride grid of the fitted group's measured values, minus those run."""
    configs = fit.configs
    if not configs:
        return []
    ref = next((c for c in configs if c.stride > 1), configs[0])
    measured = {c.key for c, _ in results}
    models = sorted({c.model for c in configs}, key=n_params)
    windows = sorted({float(c.window) for c in configs})
    strides = sorted({c.stride for c in configs})
    out = []
    for mdl, w, st in itertools.product(models, windows, strides):
        try:
            c = ref.with_(model=mdl, window=w, stride=st)
        except ValueError:
            continue
        if c.key not in measured:
            out.append(c)
    return out
