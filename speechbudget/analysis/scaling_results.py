"""Scaling fits from measured configurations of one task: which configurations are fitted
together (`fit_group`: only those that differ along model, window and stride), their parameters
N from the architecture (`n_params`), and the fit (`fit_results`) or the nested comparison
(`fit_results_nested`) on them, with the excluded configurations and why."""
from __future__ import annotations

import math
from functools import lru_cache

from speechbudget.analysis.scaling_fit import ScalingFit, fit_law
from speechbudget.analysis.scaling_law import FitError
from speechbudget.analysis.scaling_nested import NestedComparison, compare_nested
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics

Results = list[tuple[Config, ConfigMetrics]]


@lru_cache(maxsize=None)
def n_params(model: str) -> int:
    """Parameters of an architecture (speechbudget.models.params.param_count: arithmetic)."""
    from speechbudget.architectures import get_architecture
    from speechbudget.models.params import param_count
    return int(param_count(get_architecture(model)))


def _group_key(c: Config) -> str:
    d = c.to_dict()
    for f in ("model", "window", "stride", "dynamic_margin_s"):
        d.pop(f)
    if c.stride == 1:  # stride 1 belongs with any stride position/pooling
        d.pop("stride_at"), d.pop("pool")
    return repr(sorted(d.items()))


def _compatible(c: Config, ref: Config) -> bool:
    if _group_key(c) == _group_key(ref):
        return True
    return c.stride == 1 and _group_key(c) == _group_key(ref.with_(stride=1))


def fit_group(results: Results) -> tuple[str, Results, list[tuple[str, str]]]:
    """(task, the configurations fitted together, the excluded ones with why): see
    `fit_results`."""
    tasks = sorted({c.task for c, _ in results})
    if len(tasks) > 1:
        raise FitError(f"results hold tasks {', '.join(tasks)}: fit one task at a time")
    excluded: list[tuple[str, str]] = []
    usable = []
    for c, m in results:
        if c.is_dynamic:
            excluded.append((c.label, "dynamic window (no single T)"))
        elif m.error is None or not math.isfinite(m.error):
            excluded.append((c.label, f"error is {m.error!r}"))
        else:
            usable.append((c, m))
    if not usable:
        raise FitError("no configuration with a fixed window and a finite error to fit")
    strided = [c for c, _ in usable if c.stride > 1]
    groups: dict[str, list] = {}
    for c, m in usable:
        groups.setdefault(_group_key(c), []).append((c, m))
    # choose the group (by a strided representative when any) holding the most configurations
    reps = {k: v[0][0] for k, v in groups.items()}
    def members(ref: Config) -> list:
        return [(c, m) for c, m in usable if _compatible(c, ref)]
    candidates = sorted(reps.values(), key=lambda r: (-len(members(r)), r.stride == 1, r.label))
    ref = candidates[0] if strided else usable[0][0]
    chosen = members(ref)
    keys = {c.key for c, _ in chosen}
    excluded += [(c.label, "other adaptation/precision/beam/stride position than the fitted "
                           "group") for c, _ in usable if c.key not in keys]
    return tasks[0], chosen, excluded


def _axes_and_errors(chosen: Results) -> tuple[list[int], list[float], list[int],
                                                list[float | None]]:
    """N (parameters), T (window, s), s (stride) and the error of each configuration."""
    return ([n_params(c.model) for c, _ in chosen], [float(c.window) for c, _ in chosen],
            [c.stride for c, _ in chosen], [m.error for _, m in chosen])


def _in_task(e: FitError, chosen: Results, task: str) -> FitError:
    """A fit's FitError, saying which configurations of which task it was."""
    return FitError(f"scaling fit on {len(chosen)} configuration(s) of task {task}: {e}")


def fit_results(results: Results, law: str = "additive", n_bootstrap: int = 100, seed: int = 0,
                loo: bool = True) -> ScalingFit:
    """Fit `law` to measured configurations of one task.

    Only configurations that differ along model, window and stride are fitted together: the
    largest such group (same adaptation, precision, beam, stride position and pooling; stride 1
    joins any group) is used and the rest are listed as excluded. Dynamic windows are excluded
    (T is not one number).
    """
    task, chosen, excluded = fit_group(results)
    try:
        fit = fit_law(*_axes_and_errors(chosen), law=law, loo=loo, n_bootstrap=n_bootstrap,
                      seed=seed, labels=[c.label for c, _ in chosen])
    except FitError as e:
        raise _in_task(e, chosen, task) from None
    fit.excluded = excluded
    fit.configs = [c for c, _ in chosen]
    return fit


def fit_results_nested(results: Results, law: str = "additive", n_bootstrap: int = 100,
                       seed: int = 0) -> NestedComparison:
    """`compare_nested` on the configurations `fit_results` would fit; every fitted candidate
    carries the excluded list and its configurations (for `predict_configs`, `unrun_grid`)."""
    task, chosen, excluded = fit_group(results)
    try:
        cmp_ = compare_nested(*_axes_and_errors(chosen), law=law, n_bootstrap=n_bootstrap,
                              seed=seed, labels=[c.label for c, _ in chosen])
    except FitError as e:
        raise _in_task(e, chosen, task) from None
    for cand in cmp_.candidates:
        if cand.fit is not None:
            cand.fit.excluded = list(excluded)
            cand.fit.configs = [c for c, _ in chosen]
    return cmp_
