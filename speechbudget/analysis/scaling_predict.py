"""Predictions of a scaling fit for configurations that were not run: `Prediction` objects,
always marked predicted, never ConfigMetrics, with the 95 % interval of a measurement of the
configuration (the law's bootstrap draws times the data's scatter about the law,
`measurement_scatter`) and analytic GFLOPs per item (as the measured GFLOPs: an ASR item of 14 s
in 5 s windows costs three windows, so the estimate is averaged over the durations of the items
the fit was measured on, `item_durations`); measured configurations and extrapolation along an
axis the law has no term for are refused. `unrun_grid` lists the model x window x stride grid
of the fitted group minus what ran."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from speechbudget.analysis.scaling_fit import ScalingFit
from speechbudget.analysis.scaling_identify import MIN_DISTINCT
from speechbudget.analysis.scaling_law import (AXIS_NAMES, MIN_ERROR, features, log_pred,
                                               theta_from_params)
from speechbudget.analysis.scaling_results import Results, n_params
from speechbudget.axes import Config
from speechbudget.records import ItemResult


@dataclass(frozen=True)
class Prediction:
    """A configuration that was NOT run: its error as predicted by a fit. Never a measurement."""

    config: Config
    error: float
    low: float | None            # 95 % interval of a measurement (`measurement_scatter`), when
    high: float | None           # the fit has a bootstrap
    gflops: float | None         # analytic per item (speechbudget.flops.estimate); None: unknown
    predicted: bool = True


def predict_configs(fit: ScalingFit, configs: Iterable[Config],
                    measured_keys: Iterable[str] = (),
                    audio_s: Sequence[float] | None = None) -> list[Prediction]:
    """Predicted errors for configurations not run (measured ones are refused: never mixed).
    `audio_s`: the durations (s) of the items the fitted configurations were scored on
    (`item_durations`); an ASR prediction's GFLOPs is the mean analytic estimate over them, per
    item as the measured GFLOPs, and unknown (None) without them: one window's estimate is not
    an item's cost. An SER item is one clip of the window: its estimate needs no durations."""
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
        sims = np.array(draws)[:, None, :] * np.exp(measurement_scatter(fit))[None, :, None]
        lo = np.percentile(sims, 2.5, axis=(0, 1))
        hi = np.percentile(sims, 97.5, axis=(0, 1))
    durations = None if audio_s is None else [float(d) for d in audio_s]
    out = []
    for i, c in enumerate(configs):
        out.append(Prediction(c, float(pred[i]), None if lo is None else float(lo[i]),
                              None if hi is None else float(hi[i]), _gflops(c, durations)))
    return out


def measurement_scatter(fit: ScalingFit) -> np.ndarray:
    """The fit's log residuals log(measured / fitted), centred and inflated by sqrt(n / (n - k))
    for the k fitted parameters: how far a measurement falls from the law. A prediction's
    interval is every bootstrap draw of the law times each of these (a bootstrap prediction
    interval): the curve's uncertainty alone covered the law's value but only about half of
    held-out measurements."""
    r = np.log(np.maximum(fit.y, MIN_ERROR)) - np.log(np.maximum(fit.fitted, 1e-300))
    n, k = len(r), fit.law.n_params
    return (r - r.mean()) * math.sqrt(n / (n - k))


def item_durations(items: dict[str, list[ItemResult]], configs: Iterable[Config]) -> list[float]:
    """The audio seconds of each distinct item scored by `configs` (by item id; the first
    recorded duration), for `predict_configs`' per-item GFLOPs."""
    seen: dict[str, float] = {}
    for c in configs:
        for r in items.get(c.key, ()):
            if r.ok and r.item_id not in seen and r.audio_s is not None and r.audio_s > 0:
                seen[r.item_id] = float(r.audio_s)
    return list(seen.values())


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


def _gflops(c: Config, audio_s: list[float] | None) -> float | None:
    """Mean analytic GFLOPs per item (module doc); None when it cannot be estimated."""
    try:
        from speechbudget.flops import estimate
        if c.task != "asr":
            return float(estimate(c).gflops)
        if not audio_s:
            return None
        per_length = {d: float(estimate(c, audio_s=d).gflops) for d in set(audio_s)}
        return sum(per_length[d] for d in audio_s) / len(audio_s)
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
