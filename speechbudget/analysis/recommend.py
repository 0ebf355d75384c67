"""Budget answers: the configuration to use under FLOPs / RTF / memory limits, with the evidence.

The decision rule, in one sentence: *among the configurations within the limits, the cheapest
(by the chosen cost) that is not significantly worse than the most accurate one (paired
bootstrap, 95 %) or, with a tolerance, not worse by more than the tolerance.* Precisely, with
D = error(X) - error(most accurate) on the items both scored and its paired 95 % CI
[lo, hi] (`analysis.paired`): X is *tied* when lo <= 0 (the data cannot tell X apart from the
most accurate) and *non-inferior* when hi <= tolerance (X is shown to be worse by at most the
tolerance). The tie group is every tied or non-inferior configuration; the answer is its
cheapest member (ties: lower error, label, key). Without per-item results (a list of metrics
only) no paired test is possible and the answer is the most accurate configuration, said so.

`recommend(results, limits, items=...)` also lists the runners-up, and gives the *marginal
return* of each axis at that point (`marginal_returns`): the error change per doubling of FLOPs
when moving along xN (model), xT (window) or xV (token stride) to the nearest measured neighbour
that differs only on that axis (a step under 1/8 of a doubling has its change but no rate). The
step up that would help most and the limit it breaks name the binding knob. RTF is the one
measured on the machine that ran the sweep; the answer says so (`recommend_text`). When nothing
meets the limits (`limits`), the answer names the closest configuration and by how much it misses
each limit.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from speechbudget.analysis.limits import (LIMIT_FIELDS, Limits, Violation, closest_miss,
                                          not_recorded, violations)
from speechbudget.analysis.marginal_returns import AxisReturn, Step, binding_knob, marginal_returns
from speechbudget.analysis.recommend_text import (DECISION_RULE, fmt_value, recommendation_message,
                                                   rtf_note)
from speechbudget.axes import Config
from speechbudget.errors import SpeechbudgetError
from speechbudget.paired import (RATE_METRICS, PairedDifference, PairedItems, pair_items,
                                 paired_difference, sign_flip_floor)
from speechbudget.records import ConfigMetrics, ItemResult

Results = list[tuple[Config, ConfigMetrics]]


class NoResultsError(SpeechbudgetError, ValueError):
    """No finished configuration to answer from (names the task and the source)."""


@dataclass(frozen=True)
class TieMember:
    """A configuration of the tie group: how it compares with the most accurate one."""

    config: Config
    metrics: ConfigMetrics
    diff: PairedDifference | None      # error(this) - error(most accurate); None: it is that one
    reason: str                        # "most accurate" | "tied" | "within tolerance"


@dataclass
class Recommendation:
    task: str
    limits: Limits
    n_considered: int
    n_feasible: int
    best: tuple[Config, ConfigMetrics] | None
    runners_up: list[tuple[Config, ConfigMetrics]]
    marginal: list[AxisReturn]
    binding: str                  # one sentence: which knob / limit binds
    closest: tuple[Config, ConfigMetrics, list[Violation]] | None  # when nothing is feasible
    message: str
    machine: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    # the decision rule (best above is its pick; most_accurate the lowest measured error)
    most_accurate: tuple[Config, ConfigMetrics] | None = None
    tie_group: list[TieMember] = field(default_factory=list)
    cost: str = "gflops"
    tolerance: float | None = None
    paired: bool = False               # per-item results were there for paired tests
    difference: PairedDifference | None = None   # pick vs most accurate (None: the same one)
    items_to_resolve: int | None = None          # items to tell that difference apart

    @property
    def feasible(self) -> bool:
        return self.best is not None

    def to_dict(self) -> dict[str, Any]:
        def cm(pair):
            # what the text shows of a configuration: the metric with its 95% CI (ci_low /
            # ci_high, of the metric's value, None when there is none), the costs including the
            # batch-1 RTF percentiles that --max-rtf bounds under --rtf-stat p50/p90, and the
            # failed items the error leaves out
            c, m = pair
            return {"label": c.label, "key": c.key, "config": c.to_dict(), "metric": m.metric,
                    "value": m.value, "ci_low": m.ci_low, "ci_high": m.ci_high,
                    "error": m.error, "gflops": m.gflops, "rtf": m.rtf,
                    "rtf_p50": m.rtf_p50, "rtf_p90": m.rtf_p90,
                    "peak_mem_mb": m.peak_mem_mb, "n_items": m.n_items, "n_failed": m.n_failed,
                    **({"wer_percent": 100 * m.value} if m.metric == "wer" else {})}

        def step(s: Step | None):
            if s is None:
                return None
            return {"label": s.config.label, "key": s.config.key, "error": s.metrics.error,
                    "gflops": s.metrics.gflops, "rtf": s.metrics.rtf, "flops_ratio": s.flops_ratio,
                    "d_error": s.d_error,
                    # null: too close in cost for a rate (marginal_returns.MIN_RATE_RATIO)
                    "error_change_per_doubling": s.per_doubling if s.rated else None,
                    "n_items": s.n_items, "n_left_out": s.n_left_out,
                    "difference": diff_dict(s.difference),
                    "feasible": s.feasible, "violations": [v.describe() for v in s.violations]}

        return {
            "task": self.task,
            "limits": {**{n: getattr(self.limits, n) for n in LIMIT_FIELDS},
                       "rtf_stat": self.limits.rtf_stat},
            "feasible": self.feasible,
            "n_considered": self.n_considered,
            "n_feasible": self.n_feasible,
            "best": cm(self.best) if self.best else None,
            "runners_up": [cm(p) for p in self.runners_up],
            # nearer_up / nearer_down: a nearer step too close in cost for a rate (shown, not
            # ranked), null when up / down is the nearest
            "marginal_returns": [{"axis": a.axis, "description": a.description, "up": step(a.up),
                                  "down": step(a.down), "nearer_up": step(a.nearer_up),
                                  "nearer_down": step(a.nearer_down)} for a in self.marginal],
            "binding": self.binding,
            "closest": None if self.closest is None else {
                **cm(self.closest[:2]), "misses": [v.describe() for v in self.closest[2]]},
            "message": self.message,
            "rule": DECISION_RULE,
            "cost": self.cost,
            "tolerance": self.tolerance,
            "paired": self.paired,
            "most_accurate": cm(self.most_accurate) if self.most_accurate else None,
            "tie_group": [{**cm((t.config, t.metrics)), "reason": t.reason,
                           "difference": diff_dict(t.diff)} for t in self.tie_group],
            "difference": diff_dict(self.difference),
            "items_to_resolve": self.items_to_resolve,
            "machine": self.machine,
            "rtf_note": rtf_note(self.machine),
            "notes": self.notes,
        }


def diff_dict(d: PairedDifference | None) -> dict[str, Any] | None:
    if d is None:
        return None

    def bound(v: float) -> float | None:   # one shared item: no bound (JSON has no infinity)
        return v if math.isfinite(v) else None
    return {"diff": d.diff, "ci_low": bound(d.ci_low), "ci_high": bound(d.ci_high),
            "level": d.level, "n_items": d.n_items, "significant": d.significant}


def select_task(results: Results, task: str | None,
                source: str = "the results") -> tuple[str, Results]:
    """The results of one task; `task` None is allowed only when there is exactly one."""
    tasks = sorted({c.task for c, _ in results})
    if not tasks:
        raise NoResultsError(f"no finished configurations in {source}")
    if task is None:
        if len(tasks) > 1:
            # (no verb to agree with `source`: a store's path, or "the results", a list)
            where = "" if source == "the results" else f" in {source}"
            raise NoResultsError(f"results for tasks {', '.join(tasks)}{where}: choose one "
                                 "(--task); errors of different tasks are not comparable")
        task = tasks[0]
    sel = [(c, m) for c, m in results if c.task == task]
    if not sel:
        raise NoResultsError(f"no finished configurations for task {task!r} in {source} "
                             f"(it has: {', '.join(tasks)})")
    return task, sel


def _rank_key(pair: tuple[Config, ConfigMetrics]) -> tuple:
    c, m = pair
    return (m.error, _cost_value(m, "gflops"), _cost_value(m, "rtf"), c.label, c.key)


def _ranked(pairs: Results) -> Results:
    """Sorted by _rank_key; labels and keys (hashing) are only computed for exact ties. A cost
    not measured (None, NaN, inf) ranks as the dearest: a NaN in the key compares neither
    below nor above anything, so the order, and the answer, would depend on the input order."""
    def num(cm):
        m = cm[1]
        return (m.error, _cost_value(m, "gflops"), _cost_value(m, "rtf"))
    pairs = sorted(pairs, key=num)
    out: Results = []
    i = 0
    while i < len(pairs):
        j = i + 1
        while j < len(pairs) and num(pairs[j]) == num(pairs[i]):
            j += 1
        out += sorted(pairs[i:j], key=_rank_key) if j - i > 1 else pairs[i:j]
        i = j
    return out


def tie_group(ranked: Results, items: dict[str, list[ItemResult]], tolerance: float | None = None,
              level: float = 0.95, seed: int = 0) -> list[TieMember]:
    """The most accurate of `ranked` (first) and every configuration the paired test cannot
    tell apart from it (tied) or shows to be within `tolerance` of it (non-inferior)."""
    c0, m0 = ranked[0]
    out = [TieMember(c0, m0, None, "most accurate")]
    for c, m in ranked[1:]:
        p = pair_items(items.get(c.key, []), items.get(c0.key, []), m.metric,
                       (f"{c.label}, {c.key}", f"{c0.label}, {c0.key}"))
        if not p.testable:      # no shared item, or none with reference words: not compared
            continue
        d = paired_difference(p, level=level, seed=seed)
        if d.ci_low <= 0:
            out.append(TieMember(c, m, d, "tied"))
        elif tolerance is not None and d.ci_high <= tolerance:
            out.append(TieMember(c, m, d, "within tolerance"))
    return out


def resolving_items(d: PairedDifference, p: PairedItems, power: float = 0.8) -> int | None:
    """About how many items would tell the difference `d` (paired on `p`) apart from 0 at its
    level with probability `power`: `PairedDifference.items_needed` from the bootstrap's
    spread. When the CI is unbounded because too few items differ (`paired_difference`: the
    sign-flip floor) the bootstrap gives no spread, so for WER/CER the delta-method standard
    error of the corpus rate's difference is used instead, and at least as many items as make
    the smallest number of differing items any test needs at the rate items differed here
    (6 at 95 %). None when nothing differs, or for a balanced metric (UA) in that case."""
    n = d.items_needed(d.diff, power)
    if n is not None or d.diff == 0 or p.labels is not None or not d.n_differ:
        return n
    from scipy.stats import norm
    dd = p.errors_a - p.errors_b
    words = float(np.sum(p.n_ref))
    m = len(p)
    if m < 2 or words <= 0:
        return None
    se = math.sqrt(m / (m - 1) * float(np.sum((dd - d.diff * p.n_ref) ** 2))) / words
    z = norm.ppf(1 - (1 - d.level) / 2) + norm.ppf(power)
    k_min = next(k for k in range(1, 64) if sign_flip_floor(k) < 1 - d.level)
    by_rate = math.ceil(k_min * m / d.n_differ)
    return max(by_rate, math.ceil(m * (z * se / abs(d.diff)) ** 2)) if se > 0 else by_rate


# how many configurations without an error a note names (the rest: "and N more")
NAMED_NO_ERROR = 3
REASON_CHARS = 120


def no_error_note(left: Results, items: dict[str, list[ItemResult]]) -> str:
    """The note on configurations left out for want of a finite error: how many, and which
    (up to NAMED_NO_ERROR by label, then "and N more"), each with why."""
    left = sorted(left, key=lambda p: (p[0].label, p[0].key))
    named = "; ".join(f"{c.label} ({why_no_error(m, items.get(c.key, []))})"
                      for c, m in left[:NAMED_NO_ERROR])
    more = f"; and {len(left) - NAMED_NO_ERROR} more" if len(left) > NAMED_NO_ERROR else ""
    return f"{len(left)} configuration(s) without a finite error ignored: {named}{more}"


def why_no_error(m: ConfigMetrics, items: list[ItemResult]) -> str:
    """Why a configuration has no finite error: every item failed (how many, and the most
    frequent failure reason its stored items give), scored items without reference words, or
    no value recorded."""
    failed = [x for x in items if not x.ok]
    if not m.n_items and (m.n_failed or failed):
        out = f"every item failed, {m.n_failed or len(failed)} items"
        reasons = Counter(x.error for x in failed if x.error)
        if reasons:
            top, n = min(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
            top = top if len(top) <= REASON_CHARS else top[:REASON_CHARS - 1] + "…"
            out += f": {top}" + (f" ({n} of them; {len(reasons) - 1} other reason(s))"
                                  if len(reasons) > 1 else "")
        return out
    scored = [x for x in items if x.ok]
    if scored and all(x.n_ref == 0 for x in scored):
        return f"its {len(scored)} scored item(s) have no reference words"
    return "no error value recorded" + (f" over its {m.n_items} scored item(s)"
                                        if m.n_items else "")


def _cost_value(m: ConfigMetrics, cost: str) -> float:
    v = getattr(m, cost)
    return float(v) if v is not None and math.isfinite(float(v)) else math.inf


def recommend(results: Results, limits: Limits | None = None, task: str | None = None,
              n_runners_up: int = 3, machine: dict[str, Any] | None = None,
              source: str = "the results", items: dict[str, list[ItemResult]] | None = None,
              tolerance: float | None = None, cost: str = "gflops", level: float = 0.95,
              seed: int = 0) -> Recommendation:
    """The configuration of `task` to use under `limits` by the decision rule (module doc),
    with the tie group, runners-up and evidence. `items`: per-item results by config key (for
    the paired tests); `tolerance`: non-inferiority margin in error units (0.005 = 0.5 WER
    points); `cost`: what "cheapest" means (gflops, rtf, peak_mem_mb)."""
    limits = limits or Limits()
    if cost not in ("gflops", "rtf", "peak_mem_mb"):
        raise ValueError(f"unknown cost {cost!r}: expected gflops, rtf or peak_mem_mb")
    if tolerance is not None and not (math.isfinite(tolerance) and 0 <= tolerance < 1):
        raise ValueError(f"invalid tolerance {tolerance!r}: an error difference in [0, 1) "
                         "(0.005 = 0.5 WER points)")
    task, sel = select_task(results, task, source)
    notes = []
    usable = [(c, m) for c, m in sel if m.error is not None and math.isfinite(m.error)]
    if len(usable) < len(sel):
        notes.append(no_error_note([(c, m) for c, m in sel if m.error is None
                                    or not math.isfinite(m.error)], items or {}))
    if not usable:
        failed = [m for _, m in sel if m.n_failed and not m.n_items]
        why = "" if not failed else (
            f": every item failed in {len(failed)} of {len(sel)} configuration"
            f"{'' if len(sel) == 1 else 's'} ({sum(m.n_failed for m in failed)} items; "
            "`speechbudget runs show STORE KEY` lists each item's reason)")
        raise NoResultsError(f"no configuration of task {task!r} in {source} has a finite "
                             f"error{why}")
    feasible = _ranked([(c, m) for c, m in usable if not violations(m, limits)])
    unmeasured = {lab: sum(1 for _, m in usable if getattr(m, fld) is None)
                  for _, fld, lab, _ in limits.active()}
    # limits on what this task's sweeps never record (SER: latency percentiles, memory): not
    # "not measured" per configuration, but a limit that cannot be applied to these results
    cannot = {lab: f"a limit on {lab} cannot be applied: {why}" for _, fld, lab, _
              in limits.active() if (why := not_recorded(task, fld)) is not None
              and unmeasured[lab] == len(usable)}
    for lab, n in unmeasured.items():
        if n and lab not in cannot:
            notes.append(f"{n} configuration(s) have no {lab} measured and cannot meet that limit")
    machine = dict(machine) if machine else None
    if not feasible:
        c, m, vs = closest_miss(usable, limits)
        msg = (f"No {task} configuration can be recommended under {limits.describe()} "
               f"({len(usable)} considered): " + "; ".join(cannot.values()) + "." if cannot else
               f"No {task} configuration meets {limits.describe()} ({len(usable)} considered). "
               f"Closest: {c.label} ({fmt_value(m)}), which misses: "
               + "; ".join(v.describe() for v in vs) + ".")
        return Recommendation(task, limits, len(usable), 0, None, [], [], "", (c, m, vs), msg,
                              machine, notes, cost=cost, tolerance=tolerance)
    top = feasible[0]
    paired = bool(items) and all(items.get(c.key) for c, _ in feasible)
    untested: list[str] = []          # feasible configurations sharing no item with the top
    if paired:
        group = tie_group(feasible, items, tolerance, level, seed)
        untested = [c.label for c, m in feasible[1:] if not pair_items(
            items.get(c.key, []), items.get(top[0].key, []), m.metric).testable]
        if untested:
            # a clip always has a label: "items without reference words" are WER/CER's
            words = (", or only items without reference words," if top[1].metric in RATE_METRICS
                     else ",")
            notes.append(f"{len(untested)} configuration(s) share no scored item with the most "
                         f"accurate, {top[0].label}{words} and "
                         "could not be compared with it (not in the tie group): "
                         f"{', '.join(untested)}")
        pick_member = min(group, key=lambda t: (_cost_value(t.metrics, cost), t.metrics.error,
                                                t.config.label, t.config.key))
        best = (pick_member.config, pick_member.metrics)
        difference = pick_member.diff
    else:
        group = [TieMember(top[0], top[1], None, "most accurate")]
        best, difference = top, None
        notes.append("no per-item results for every configuration: no paired test, so the "
                     "answer is the lowest measured error, which may be within noise of others")
    shown = {c.key: (c, m) for c, m in [best, top] + [(t.config, t.metrics) for t in group]}
    for c, m in shown.values():  # an error over fewer items: not comparable as it stands
        if m.n_failed:
            notes.append(f"{c.label} failed on {m.n_failed} of {m.n_items + m.n_failed} items: "
                         f"its error is over the {m.n_items} it scored (failed items are not "
                         "counted as errors; the paired tests use the items both scored)")
    items_to_resolve = None
    if difference is not None and difference.diff != 0 and not difference.significant:
        items_to_resolve = resolving_items(difference, pair_items(
            items[best[0].key], items[top[0].key], best[1].metric))
    marginal = marginal_returns(best, usable, limits, items if paired else None, level, seed)
    binding = binding_knob(marginal)
    partial = [f"{s.config.label} on {s.n_items} ({s.n_left_out} left out)"
               for a in marginal for _, s in a.steps() if s.n_left_out]
    if partial:
        notes.append("marginal returns compare the error on the items both configurations "
                     "scored: " + "; ".join(partial))
    msg = recommendation_message(task, limits, best, top, group, difference, items_to_resolve, cost, tolerance,
                   len(feasible), len(usable), paired, len(untested))
    runners = [p for p in feasible if p[0].key != best[0].key][:n_runners_up]
    return Recommendation(task, limits, len(usable), len(feasible), best, runners, marginal,
                          binding, None, msg, machine, notes, top, group, cost, tolerance,
                          paired, difference, items_to_resolve)
