"""Where the analysis gets its results: a results store on disk, or a list already in memory.

Only the entry points (CLI, report) open a store; every analysis function takes a list of
(Config, ConfigMetrics) pairs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from numbers import Real
from pathlib import Path
from typing import Any

from speechbudget.axes import Config
from speechbudget.paired import (BALANCED_METRICS, RATE_METRICS, PairingError,
                                 check_counts, check_same_reference)
from speechbudget.records import ConfigMetrics, ItemResult

Results = list[tuple[Config, ConfigMetrics]]


def _normalised(results: Results) -> Results:
    """A metric value that is missing (None: e.g. every item failed) becomes NaN, which every
    analysis leaves out with a reason instead of failing on it."""
    out = []
    for c, m in results:
        if m.value is None:
            m = replace(m, value=math.nan)
        out.append((c, m))
    return out


# measured quantities that cannot be negative (None or NaN: not measured)
NON_NEGATIVE = ("gflops", "gflops_per_audio_s", "train_gflops", "rtf", "rtfx", "peak_mem_mb",
                "latency_p50_s", "latency_p90_s", "rtf_p50", "rtf_p90")


def check_metrics(c: Config, m: ConfigMetrics) -> None:
    """Values no measurement can have: a negative cost (it would pass every limit and be the
    cheapest), a negative WER, a UA outside [0, 1] (the error would be negative or above 1).
    ValueError naming the configuration, the field and the value; None or NaN is a missing value
    and passes (every analysis leaves it out with a reason)."""
    def bad(name: str, v: Any, want: str) -> ValueError:
        return ValueError(f"configuration {c.label} ({c.key}): {name} = {v!r}: {want}")

    def number(name: str, v: Any) -> bool:
        """v is a measured number (False: not measured); anything else but a number refused."""
        if v is None:
            return False
        if not isinstance(v, Real) or isinstance(v, bool):
            raise bad(name, v, "a number")
        return not math.isnan(v)

    for name in NON_NEGATIVE:
        v = getattr(m, name)
        if number(name, v) and v < 0:
            raise bad(name, v, "a value >= 0")
    v = m.value
    if not number(m.metric, v):
        return
    if m.higher_is_better and not 0 <= v <= 1:
        raise bad(m.metric, v, "a fraction in [0, 1]")
    if not m.higher_is_better and v < 0:
        raise bad(m.metric, v, "an error rate >= 0")


def check_pairable(results: Results, items: dict[str, list[ItemResult]]) -> None:
    """The per-item results the paired tests (recommend's tie group, the significant frontier)
    will compare: every scored item of a rate metric carries its counts (`check_counts`), and one
    item has one reference count (WER, CER) or reference label (UA) under every configuration of
    a task and metric that scored it (two mean the data changed between the runs: no difference
    of the two is a paired one). PairingError naming the configuration(s), the item and the
    values, raised before any analysis starts, so every consumer of a store meets the same
    error."""
    seen: dict[tuple[str, str, str], tuple[ItemResult, Config]] = {}
    for c, m in results:
        for r in items.get(c.key, ()):
            try:
                check_counts(r, m.metric)
            except PairingError as e:
                raise PairingError(f"configuration {c.key}: {e}") from None
            if not r.ok or m.metric not in RATE_METRICS + BALANCED_METRICS:
                continue
            # one reference (count or label) under every configuration: each is checked
            # against the first that scored the item, by the check pair_items makes
            first = seen.setdefault((c.task, m.metric, r.item_id), (r, c))
            check_same_reference(first[0], r, m.metric, (f"{first[1].label}, {first[1].key}",
                                                         f"{c.label}, {c.key}"))


@dataclass
class LoadedResults:
    results: Results
    source: str                                  # path of the store, or "results"
    machine: dict[str, Any] | None = None        # environment of the latest run, when known
    machines: list[dict[str, Any]] = field(default_factory=list)  # every run's environment
    store_path: Path | None = None
    items: dict[str, list[ItemResult]] = field(default_factory=dict)  # config key -> its items


def load_results(source: "str | Path | Results | LoadedResults",
                 task: str | None = None) -> LoadedResults:
    """Results from a store path (read-only) or a list of (Config, ConfigMetrics) pairs."""
    if isinstance(source, LoadedResults):
        if task is None:
            return source
        keep = [(c, m) for c, m in source.results if c.task == task]
        return LoadedResults(keep, source.source, source.machine, source.machines,
                             source.store_path,
                             {c.key: source.items[c.key] for c, _ in keep if c.key in source.items})
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():  # (a folder or FIFO: the store says what it is)
            raise FileNotFoundError(f"{path}: no such results store (run `speechbudget sweep run` "
                                    "to create one)")
        from speechbudget.sweep.store import ResultsStore, StoreError
        store = ResultsStore(path, readonly=True)
        try:
            results = store.metrics(task)
            for c, m in results:
                try:
                    check_metrics(c, m)
                except ValueError as e:
                    raise StoreError(f"{path}: {e}") from None
            items = {c.key: store.items(c.key) for c, _ in results}
            try:  # what the paired statistics need, checked once where it is read
                check_pairable(results, items)
            except PairingError as e:   # names the configuration(s), the item and the values
                raise StoreError(f"{path}: {e}") from None
            machines = []
            for run in store.runs():
                env = store.environment(run["run_id"])
                if env:
                    machines.append(env)
        finally:
            store.close()
        return LoadedResults(_normalised(results), str(path),
                             machines[-1] if machines else None, machines, path, items)
    results = list(source)
    for i, pair in enumerate(results):
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], Config)
                and isinstance(pair[1], ConfigMetrics)):
            raise TypeError(f"results[{i}] is {type(pair).__name__}: expected a "
                            "(Config, ConfigMetrics) pair")
        check_metrics(*pair)
    if task is not None:
        results = [(c, m) for c, m in results if c.task == task]
    machine = None
    for _, m in results:  # tasks may record where they ran in ConfigMetrics.extra
        env = {k: m.extra[k] for k in ("cpu", "device", "threads", "torch_threads", "gpu")
               if m.extra and k in m.extra}
        if env:
            machine = env
            break
    return LoadedResults(_normalised(results), "results", machine, [machine] if machine else [])
