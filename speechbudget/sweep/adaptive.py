"""Adaptive plan: multi-objective search (Optuna TPE or NSGA-II) over the joint space,
minimising (error, GFLOPs) or (error, RTF), stopping after `n_trials` evaluated configurations.

The results store is the source of truth: each time the sweep starts, every configuration of the
space already evaluated in the store is replayed into a fresh study (`add_trial`), then new
points are asked for (`ask`), run through the ordinary sweep machinery (so each one is stored
and resumable like any other) and told back (`tell`). An interrupted search therefore resumes
with all its evaluations and runs only the missing ones.
"""
from __future__ import annotations

import itertools
import json
import random
from typing import Any, TYPE_CHECKING

from speechbudget.axes import Config, ConfigError
from speechbudget.sweep.plan import plan_configurations
from speechbudget.sweep.spec import SweepSpec, _jsonable

if TYPE_CHECKING:
    from speechbudget.sweep.run import _Sweep

MAX_IDLE_ASKS = 50   # asks in a row that give nothing new before a random unevaluated point


def _choices(spec: SweepSpec) -> list[tuple[str, list[Any], list[str]]]:
    """(axis, values, labels) per axis of the space; labels are the categorical choices."""
    out = []
    for name, values in spec._axis_items():
        out.append((name, list(values),
                    [json.dumps(_jsonable(v), sort_keys=True, default=str) for v in values]))
    return out


def space_index(spec: SweepSpec) -> tuple[dict[str, dict[str, str]], dict[tuple[str, ...], str]]:
    """config key -> params (first combination giving it), and params -> config key (or '')."""
    axes = _choices(spec)
    by_key: dict[str, dict[str, str]] = {}
    by_params: dict[tuple[str, ...], str] = {}
    for combo in itertools.product(*[range(len(v)) for _, v, _ in axes]):
        values = {name: vals[i] for (name, vals, _), i in zip(axes, combo)}
        labels = tuple(lab[i] for (_, _, lab), i in zip(axes, combo))
        try:
            key = spec._point(values).key
        except ConfigError:
            by_params[labels] = ""
            continue
        by_params[labels] = key
        by_key.setdefault(key, {name: lab[i] for (name, _, lab), i in zip(axes, combo)})
    return by_key, by_params


def make_sampler(kind: str, seed: int, n_trials: int) -> Any:
    import optuna
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=max(4, min(50, n_trials // 3)),
                                             seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, min(10, n_trials // 3)),
                                      multivariate=True, warn_independent_sampling=False)


def run_adaptive(spec: SweepSpec, sweep: "_Sweep") -> list[Config]:
    """Evaluate up to `spec.plan.n_trials` configurations chosen by the sampler; returns the
    evaluated configurations (all of them, including those found in the store)."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan = plan_configurations(spec, audio_s=sweep.mean_audio_s)
    configs = {c.key: c for c in plan.configs}
    by_key, by_params = space_index(spec)
    names = [name for name, _, _ in _choices(spec)]
    dists = {name: CategoricalDistribution(labels) for name, _, labels in _choices(spec)}
    n_trials = min(spec.plan.n_trials, len(configs))
    study = optuna.create_study(directions=["minimize", "minimize"],
                                sampler=make_sampler(spec.plan.sampler, spec.plan.seed, n_trials))
    store = sweep.store

    def stored() -> tuple[dict[str, tuple[float, float]], set[str]]:
        done = {}
        for c, m in store.metrics():
            if c.key in configs:
                second = m.rtf if spec.plan.objectives[1] == "rtf" else \
                    (m.gflops if m.gflops is not None else plan.gflops.get(c.key))
                done[c.key] = (float(m.error), float(second if second is not None else 0.0))
        failed = {r["key"] for r in store.configs(status="failed") if r["key"] in configs}
        return done, failed - set(done)

    done, failed = stored()
    for key, values in done.items():
        study.add_trial(create_trial(params=by_key[key], distributions=dists, values=list(values)))
    for key in failed:
        study.add_trial(create_trial(params=by_key[key], distributions=dists,
                                     state=TrialState.FAIL))
    rng = random.Random(spec.plan.seed)
    evaluated = list(done) + sorted(failed)
    idle = 0
    batch = max(1, sweep.executor.workers)
    while len(evaluated) < n_trials:
        picks: list[tuple[Any, Config]] = []
        while len(picks) < min(batch, n_trials - len(evaluated)):
            trial = study.ask(dists)
            labels = tuple(trial.params[n] for n in names)
            key = by_params.get(labels, "")
            if not key:
                study.tell(trial, state=TrialState.FAIL)  # not a valid configuration
                idle += 1
            elif key in done:
                study.tell(trial, list(done[key]))  # already known: the sampler learns, no cost
                idle += 1
            elif key in failed or any(c.key == key for _, c in picks):
                study.tell(trial, state=TrialState.FAIL)
                idle += 1
            else:
                picks.append((trial, configs[key]))
                idle = 0
            if idle >= MAX_IDLE_ASKS:  # the sampler is stuck on known points: explore
                left = [k for k in configs if k not in done and k not in failed
                        and all(c.key != k for _, c in picks)]
                if not left:
                    break
                k = rng.choice(sorted(left))
                picks.append((study.ask({n: dists[n] for n in names} | {}), configs[k]))
                idle = 0
        if not picks:
            break
        sweep.execute([c for _, c in picks], plan.gflops)
        done, failed = stored()
        for trial, c in picks:
            evaluated.append(c.key)
            if c.key in done:
                if by_key[c.key] == {n: trial.params[n] for n in names}:
                    study.tell(trial, list(done[c.key]))
                else:  # a random pick: record its real parameters instead
                    study.tell(trial, state=TrialState.FAIL)
                    study.add_trial(create_trial(params=by_key[c.key], distributions=dists,
                                                 values=list(done[c.key])))
            else:
                study.tell(trial, state=TrialState.FAIL)
    sweep.summary.evaluations = len(set(evaluated))
    return [configs[k] for k in dict.fromkeys(evaluated)]
