"""Adaptive plan: multi-objective search (Optuna TPE or NSGA-II) over the joint space,
minimising (error, GFLOPs) or (error, RTF), stopping after `n_trials` evaluated configurations.

The results store is the source of truth: each time the sweep starts, every configuration of the
space already evaluated in the store is replayed into a fresh study (`add_trial`), then new
points are asked for (`ask`), run through the ordinary sweep machinery (so each one is stored
and resumable like any other) and told back (`tell`). An interrupted search therefore resumes
with all its evaluations and runs only the missing ones: an evaluation it had started (the
configuration is in the store with some of its shards, unfinished) is finished first, from
the items it had stored, and so is one whose stored results are of an older rule of its task
(`driver.result_version`) when recompute_stale discards them (without it the search stops with
a StoreError, as a plan's sweep does); configurations that failed in an earlier run are run
again first (as in a plan's sweep; not with retry_failed=False), still counted as one
evaluation each; so, with retry_items, are the failed items of evaluated ones.

Reproducibility: each round of asks starts from a fresh study holding the store's evaluations in
a fixed order, its sampler seeded from `plan.seed` and the set evaluated, so the configurations
chosen depend on the seed and on what the store holds only - not on what happened in this
process before: a search killed and resumed (with one worker) ends with the configurations an
uninterrupted one evaluates. They also depend on how many are asked for at
once, which is the executor's worker count (a batch per round of asks). The same spec and seed
give the same search with the same number of workers - local and `process` with one worker
agree - but `--executor process` with 2 or 4 workers (its default is min(4, CPU cores), so it
varies between machines) may choose other configurations.

With `plan.optuna_storage` (an RDB URL, e.g. sqlite:///study.db) the study lives there under
`plan.study_name` (default: the sweep's name), created or loaded (`load_if_exists`), so that
`optuna-dashboard sqlite:///study.db` opens it (a record of the evaluations: the search asks
its fresh studies, above); each trial carries the configuration as user
attributes (`config_key`, `config`, `label`). On resume only evaluations the stored study does
not hold yet are added (a configuration is never told twice from the store); a trial left
running by an interrupted search is closed as failed. A study of that name whose objectives are
not two minimised ones (another tool's, or another kind of study) is refused before anything
runs: SpecError naming plan.optuna_storage and its line in the sweep file (exit 2).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from typing import Any

from speechbudget.axes import Config, ConfigError
from speechbudget.pareto_core import frontier_order
from speechbudget.sweep.driver import Sweep
from speechbudget.sweep.plan import plan_configurations
from speechbudget.sweep.spec import SpecError, SweepSpec, jsonable

MAX_IDLE_ASKS = 50   # asks in a row that give nothing new before a random unevaluated point
GLOBAL_SHARE = 0.7   # share of the evaluations chosen by the sampler; the rest refine the frontier


def frontier_keys(points: dict[str, tuple[float, float]]) -> list[str]:
    """Keys of the non-dominated points of (error, cost) pairs, by cost (the same frontier and
    tie rules as `analysis.pareto`: `speechbudget.pareto_core`)."""
    keys = sorted(points)
    order, on_front = frontier_order([points[k][1] for k in keys], [points[k][0] for k in keys])
    return [keys[i] for i, f in zip(order, on_front) if f]


def frontier_neighbours(done: dict[str, tuple[float, float]], by_key: dict[str, tuple[int, ...]],
                        by_index: dict[tuple[int, ...], str], taken: set[str]) -> list[str]:
    """Unevaluated valid configurations one step along one axis from a frontier point (Pareto
    local search), nearest to the accurate end first."""
    out: list[str] = []
    for k in reversed(frontier_keys(done)):
        idx = by_key[k]
        for axis in range(len(idx)):
            for step in (-1, 1):
                j = list(idx)
                j[axis] += step
                n = by_index.get(tuple(j), "")
                if n and n not in taken and n not in out:
                    out.append(n)
    return out


def _choices(spec: SweepSpec) -> list[tuple[str, list[Any], list[str]]]:
    """(axis, values, labels) per axis of the space; labels are the categorical choices."""
    out = []
    for name, values in spec.axis_items():
        out.append((name, list(values),
                    [json.dumps(jsonable(v), sort_keys=True, default=str) for v in values]))
    return out


def space_index(spec: SweepSpec) -> tuple[dict[str, tuple[int, ...]], dict[tuple[int, ...], str]]:
    """config key -> value indices per axis (the first combination giving it), and value
    indices -> config key ('' for an invalid combination)."""
    axes = _choices(spec)
    by_key: dict[str, tuple[int, ...]] = {}
    by_index: dict[tuple[int, ...], str] = {}
    for combo in itertools.product(*[range(len(v)) for _, v, _ in axes]):
        values = {name: vals[i] for (name, vals, _), i in zip(axes, combo)}
        try:
            key = spec.point(values).key
        except ConfigError:
            by_index[combo] = ""
            continue
        by_index[combo] = key
        by_key.setdefault(key, combo)
    return by_key, by_index


def _distribution(labels: list[str]) -> Any:
    """Axes whose values are numbers are ordinal (an index the sampler can move along);
    the others (pool, precision, adaptation...) are categorical."""
    from optuna.distributions import CategoricalDistribution, IntDistribution
    if all(_is_number(json.loads(x)) for x in labels) and len(labels) > 1:
        return IntDistribution(0, len(labels) - 1)
    return CategoricalDistribution(labels)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def make_sampler(kind: str, seed: int, n_trials: int) -> Any:
    import optuna
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=max(4, min(50, n_trials // 3)),
                                             seed=seed)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=max(3, min(10, n_trials // 3)))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, min(10, n_trials // 3)),
                                      multivariate=True)


def run_adaptive(spec: SweepSpec, sweep: Sweep) -> list[Config]:
    """Evaluate up to `spec.plan.n_trials` configurations chosen by the sampler; returns the
    evaluated configurations (all of them, including those found in the store)."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan = plan_configurations(spec, audio_s=sweep.mean_audio_s)
    configs = {c.key: c for c in plan.configs}
    by_key, by_index = space_index(spec)
    axes = _choices(spec)
    dists = {name: _distribution(labels) for name, _, labels in axes}

    def params_of(key: str) -> dict[str, Any]:
        out = {}
        for (name, _, labels), i in zip(axes, by_key[key]):
            out[name] = labels[i] if isinstance(dists[name], CategoricalDistribution) else i
        return out

    def key_of(params: dict[str, Any]) -> str:
        idx = tuple(labels.index(params[name]) if isinstance(dists[name], CategoricalDistribution)
                    else int(params[name]) for name, _, labels in axes)
        return by_index.get(idx, "")

    n_trials = min(spec.plan.n_trials, len(configs))
    record = None  # the study in plan.optuna_storage: a record of the search (dashboards)
    if spec.plan.optuna_storage:
        record = optuna.create_study(directions=["minimize", "minimize"],
                                     sampler=make_sampler(spec.plan.sampler, spec.plan.seed,
                                                          n_trials),
                                     storage=spec.plan.optuna_storage,
                                     study_name=spec.plan.study_name or spec.name,
                                     load_if_exists=True)
        if list(record.directions) != [optuna.study.StudyDirection.MINIMIZE] * 2:
            have = ", ".join(d.name.lower() for d in record.directions)
            raise SpecError("plan.optuna_storage",
                            f"{spec.plan.optuna_storage}: its study {record.study_name!r} has "
                            f"{len(record.directions)} objective(s) ({have}), not this plan's "
                            f"two minimised ones ({', '.join(spec.plan.objectives)}): not this "
                            "plan's study; name another plan.study_name or storage",
                            spec.where("plan.optuna_storage"))
        record.set_user_attr("objectives", list(spec.plan.objectives))
    store = sweep.store

    def attrs(key: str) -> dict[str, Any]:
        c = configs[key]
        return {"config_key": key, "label": c.label, "config": json.dumps(c.to_dict())}

    def tell(study: Any, trial: Any, key: str, **kw: Any) -> None:
        for k, v in attrs(key).items():
            trial.set_user_attr(k, v)
        study.tell(trial, **kw)

    def add(study: Any, key: str, values: Any = None) -> None:
        """An evaluated configuration as a trial: complete with its values, else failed."""
        study.add_trial(create_trial(params=params_of(key), distributions=dists,
                                     values=None if values is None else list(values),
                                     state=TrialState.COMPLETE if values is not None
                                     else TrialState.FAIL, user_attrs=attrs(key)))

    # what a stored study already holds (a resumed search): never added again
    held_done: set[str] = set()
    held_failed: set[str] = set()
    for t in record.get_trials(deepcopy=False) if record is not None else ():
        k = t.user_attrs.get("config_key")
        if t.state == TrialState.RUNNING:  # asked, never told: the search was interrupted
            record.tell(t.number, state=TrialState.FAIL)
        elif k and t.state == TrialState.COMPLETE:
            held_done.add(k)
        elif k and t.state == TrialState.FAIL:
            held_failed.add(k)

    def keep_record(done: dict[str, tuple[float, float]], failed: set[str]) -> None:
        """Add to the stored study the evaluations it does not hold yet."""
        if record is None:
            return
        for key in sorted(done):
            if key not in held_done:
                add(record, key, done[key])
                held_done.add(key)
        for key in sorted(failed):
            if key not in held_failed and key not in held_done:
                add(record, key)
                held_failed.add(key)

    def searcher(done: dict[str, tuple[float, float]], failed: set[str]) -> tuple[Any, Any]:
        """A fresh study holding the evaluations in a fixed order, with a sampler (and a random
        generator for the exploring picks) seeded from the seed and what has been evaluated:
        the next picks depend on the store's contents and the seed only, so a search killed
        and resumed picks what an uninterrupted one picks (module doc)."""
        h = hashlib.sha256(json.dumps([spec.plan.seed, sorted(done), sorted(failed)])
                           .encode()).hexdigest()
        seed = int(h[:8], 16)
        study = optuna.create_study(directions=["minimize", "minimize"],
                                    sampler=make_sampler(spec.plan.sampler, seed, n_trials))
        for key in sorted(done):
            add(study, key, done[key])
        for key in sorted(failed):
            add(study, key)
        return study, random.Random(seed)

    def stored() -> tuple[dict[str, tuple[float, float]], set[str]]:
        done = {}
        for c, m in store.metrics():
            if c.key in configs:
                second = m.rtf if spec.plan.objectives[1] == "rtf" else \
                    (m.gflops if m.gflops is not None else plan.gflops.get(c.key))
                done[c.key] = (float(m.error), float(second if second is not None else 0.0))
        failed = {r["key"] for r in store.configs(status="failed") if r["key"] in configs}
        return done, failed - set(done)

    # the space's configurations already in the store are checked against it first (data, task
    # options, the task's rule: `Sweep.register`): results of an older rule stop the search
    # (StoreError) or, with recompute_stale, are discarded here and computed again below
    in_store = [r["key"] for r in store.configs() if r["key"] in configs]
    had = {k for k in in_store if store.done_shards(k)}
    for k in in_store:
        sweep.register(configs[k], plan.gflops)
    recomputed = [k for k in in_store if k in had and not store.done_shards(k)]
    done, failed = stored()
    # with retry_items, evaluated configurations holding failed items run those again
    again = {k for k in done if sweep.store.failed_items(k)} if sweep.retry_items else set()
    # evaluations an interrupted search started and did not finish (in the store with some
    # shards stored, neither finished nor failed): finished first, each one evaluation, rather
    # than left with their items stored and never used while the sampler picks others
    started = [r["key"] for r in store.configs(status="pending")
               if r["key"] in configs and r["key"] not in done and r["key"] not in failed
               and store.done_shards(r["key"])] + recomputed
    started = started[:max(0, n_trials - len(done) - len(failed))]
    rerun = (failed if sweep.retry_failed else set()) | again
    if rerun or started:
        # failed in an earlier run: tried again, as a plan's sweep does (they stay counted as
        # evaluated, so n_trials is unchanged)
        sweep.execute([configs[k] for k in sorted(rerun)] + [configs[k] for k in started],
                      plan.gflops)
        done, failed = stored()
    keep_record(done, failed)
    evaluated = list(done) + sorted(failed)
    batch = max(1, sweep.executor.workers)
    n_global = math.ceil(GLOBAL_SHARE * n_trials)
    while len(evaluated) < n_trials:
        picks: list[Config] = []
        if len(evaluated) >= n_global:  # refine: unevaluated neighbours of the current frontier
            taken = set(done) | failed
            near = frontier_neighbours(done, by_key, by_index, taken)
            picks += [configs[k] for k in near[: min(batch, n_trials - len(evaluated))]]
        study, rng = searcher(done, failed)
        idle = 0
        while len(picks) < min(batch, n_trials - len(evaluated)):
            if idle >= MAX_IDLE_ASKS:  # the sampler is stuck on known points: explore
                left = sorted(k for k in configs if k not in done and k not in failed
                              and all(c.key != k for c in picks))
                if not left:
                    break
                picks.append(configs[rng.choice(left)])
                idle = 0
                continue
            trial = study.ask(dists)
            key = key_of(trial.params)
            if not key:
                study.tell(trial, state=TrialState.FAIL)  # not a valid configuration
                idle += 1
            elif key in done:
                tell(study, trial, key, values=list(done[key]))  # known: the sampler learns
                idle += 1
            elif key in failed or any(c.key == key for c in picks):
                tell(study, trial, key, state=TrialState.FAIL)
                idle += 1
            else:
                study.tell(trial, state=TrialState.FAIL)  # (this study is not kept)
                picks.append(configs[key])
                idle = 0
        if not picks:
            break
        sweep.execute(picks, plan.gflops)
        done, failed = stored()
        evaluated += [c.key for c in picks]
        keep_record(done, failed)
    sweep.summary.evaluations = len(set(evaluated))
    return [configs[k] for k in dict.fromkeys(evaluated)]
