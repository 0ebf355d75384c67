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

`recommend(results, limits, items=...)` also lists the runners-up, and gives the *marginal return* of each axis at that point: the error change per
doubling of FLOPs when moving along xN (model), xT (window) or xV (token stride) to the nearest
measured neighbour that differs only on that axis. The step up that would help most and the limit
it breaks name the binding knob. RTF is the one measured on the machine that ran the sweep; the
answer says so. When nothing meets the limits, the answer names the closest configuration and by
how much it misses each limit.
"""
from __future__ import annotations

from speechbudget.errors import SpeechbudgetError

import math
from dataclasses import dataclass, field, fields
from typing import Any

from speechbudget.paired import RATE_METRICS, PairedDifference, pair_items, paired_difference
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult

Results = list[tuple[Config, ConfigMetrics]]

# axis name -> (config fields that make up the axis, human description)
AXES: dict[str, tuple[tuple[str, ...], str]] = {
    "xN": (("model",), "model size"),
    "xT": (("window", "dynamic_margin_s"), "input window"),
    "xV": (("stride", "stride_at", "pool"), "token stride"),
}
LIMIT_FIELDS = {"max_gflops": ("gflops", "GFLOPs"), "max_rtf": ("rtf", "RTF"),
                "max_mem_mb": ("peak_mem_mb", "peak memory MB")}
# which RTF `max_rtf` bounds: "mean" = the batched run's throughput RTF (total processing s /
# total audio s at the sweep's batch size; the default, always measured); "p50" / "p90" = the
# median / 90th percentile of per-utterance RTF at batch size 1 after warm-up (measured only when
# the sweep timed latency: task_options.latency_items, or batch_size 1).
RTF_STATS = {"mean": ("rtf", "RTF"), "p50": ("rtf_p50", "RTF p50 (batch 1)"),
             "p90": ("rtf_p90", "RTF p90 (batch 1)")}
DEFAULT_RTF_STAT = "mean"


class NoResultsError(SpeechbudgetError, ValueError):
    """No finished configuration to answer from (names the task and the source)."""


@dataclass(frozen=True)
class Limits:
    max_gflops: float | None = None
    max_rtf: float | None = None
    max_mem_mb: float | None = None
    rtf_stat: str = DEFAULT_RTF_STAT          # what max_rtf bounds (RTF_STATS)

    def __post_init__(self) -> None:
        if self.rtf_stat not in RTF_STATS:
            raise ValueError(f"invalid rtf_stat {self.rtf_stat!r}: expected one of "
                             f"{', '.join(RTF_STATS)}")
        for name in LIMIT_FIELDS:
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"invalid limit {name}={v!r}: a finite number > 0 (or unset)")

    def active(self) -> list[tuple[str, str, str, float]]:
        """(limit name, metrics field, label, value) for each limit that is set."""
        fields_ = dict(LIMIT_FIELDS, max_rtf=RTF_STATS[self.rtf_stat])
        return [(n, f, lab, float(getattr(self, n))) for n, (f, lab) in fields_.items()
                if getattr(self, n) is not None]

    def describe(self) -> str:
        act = self.active()
        return ", ".join(f"{lab} <= {v:g}" for _, _, lab, v in act) if act else "no limits"


@dataclass(frozen=True)
class Violation:
    limit: str      # "max_rtf"
    label: str      # "RTF"
    value: float | None   # None: not measured
    bound: float

    @property
    def excess(self) -> float:
        """Relative amount by which the limit is missed (0.2 = 20 % over); inf if unmeasured."""
        return math.inf if self.value is None else self.value / self.bound - 1.0

    def describe(self) -> str:
        if self.value is None:
            return f"{self.label} not measured (limit {self.bound:g})"
        pct = 100 * self.excess        # 0.1 % .. 1e6 %: one decimal; beyond: 2 figures
        over = f"{pct:.1f}" if 0.1 <= pct < 1e6 else f"{pct:.2g}"
        shown = f"{self.value:.4g}"
        if shown == f"{self.bound:g}":  # a miss hidden by rounding: every digit
            shown = repr(self.value)
        return f"{self.label} {shown} > {self.bound:g} (over by {over}%)"


def violations(metrics: ConfigMetrics, limits: Limits) -> list[Violation]:
    out = []
    for name, fld, lab, bound in limits.active():
        v = getattr(metrics, fld)
        if v is None or not math.isfinite(float(v)):
            out.append(Violation(name, lab, None, bound))
        elif float(v) > bound:
            out.append(Violation(name, lab, float(v), bound))
    return out


@dataclass(frozen=True)
class Step:
    """A move from the recommended configuration to a measured neighbour along one axis."""

    config: Config
    metrics: ConfigMetrics
    flops_ratio: float           # neighbour GFLOPs / recommended GFLOPs
    d_error: float               # neighbour error - recommended error
    per_doubling: float          # d_error / log2(flops_ratio)
    violations: tuple[Violation, ...]

    @property
    def feasible(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class AxisReturn:
    axis: str                    # "xN" | "xT" | "xV"
    description: str
    up: Step | None              # nearest neighbour with more FLOPs
    down: Step | None            # nearest neighbour with fewer FLOPs


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
            c, m = pair
            return {"label": c.label, "key": c.key, "config": c.to_dict(), "metric": m.metric,
                    "value": m.value, "error": m.error, "gflops": m.gflops, "rtf": m.rtf,
                    "peak_mem_mb": m.peak_mem_mb, "n_items": m.n_items}

        def step(s: Step | None):
            if s is None:
                return None
            return {"label": s.config.label, "key": s.config.key, "error": s.metrics.error,
                    "gflops": s.metrics.gflops, "rtf": s.metrics.rtf, "flops_ratio": s.flops_ratio,
                    "d_error": s.d_error, "error_change_per_doubling": s.per_doubling,
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
            "marginal_returns": [{"axis": a.axis, "description": a.description, "up": step(a.up),
                                  "down": step(a.down)} for a in self.marginal],
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


DECISION_RULE = ("among the configurations within the limits, the cheapest that is not "
                 "significantly worse than the most accurate (paired bootstrap 95% CI of the "
                 "error difference includes 0) or not worse by more than the tolerance "
                 "(upper CI bound <= tolerance)")


def diff_dict(d: PairedDifference | None) -> dict[str, Any] | None:
    if d is None:
        return None

    def bound(v: float) -> float | None:   # one shared item: no bound (JSON has no infinity)
        return v if math.isfinite(v) else None
    return {"diff": d.diff, "ci_low": bound(d.ci_low), "ci_high": bound(d.ci_high),
            "level": d.level, "n_items": d.n_items, "significant": d.significant}


def rtf_note(machine: dict[str, Any] | None) -> str:
    if not machine:
        return ("RTF is as measured on the machine that ran the sweep (not recorded in these "
                "results); it differs on other hardware.")
    desc = describe_machine(machine)
    return f"RTF is as measured on {desc}; it differs on other hardware."


def describe_machine(machine: dict[str, Any]) -> str:
    parts = []
    for k in ("cpu", "cpu_model", "processor", "gpu", "device", "cores", "cpu_count", "threads",
              "torch_threads", "torch", "torch_version", "hostname"):
        if machine.get(k) not in (None, ""):
            parts.append(f"{k}={machine[k]}")
    versions = machine.get("versions")
    if isinstance(versions, dict) and versions.get("torch") and "torch" not in machine:
        parts.append(f"torch={versions['torch']}")
    return ", ".join(parts) if parts else ", ".join(f"{k}={v}" for k, v in sorted(machine.items()))


def select_task(results: Results, task: str | None,
                source: str = "the results") -> tuple[str, Results]:
    """The results of one task; `task` None is allowed only when there is exactly one."""
    tasks = sorted({c.task for c, _ in results})
    if not tasks:
        raise NoResultsError(f"no finished configurations in {source}")
    if task is None:
        if len(tasks) > 1:
            raise NoResultsError(f"{source} hold results for tasks {', '.join(tasks)}: choose one "
                                 "(--task); errors of different tasks are not comparable")
        task = tasks[0]
    sel = [(c, m) for c, m in results if c.task == task]
    if not sel:
        raise NoResultsError(f"no finished configurations for task {task!r} in {source} "
                             f"(it has: {', '.join(tasks)})")
    return task, sel


def _rank_key(pair: tuple[Config, ConfigMetrics]) -> tuple:
    c, m = pair
    big = math.inf
    return (m.error, m.gflops if m.gflops is not None else big, m.rtf if m.rtf is not None else big,
            c.label, c.key)


def _ranked(pairs: Results) -> Results:
    """Sorted by _rank_key; labels and keys (hashing) are only computed for exact ties."""
    big = math.inf
    def num(cm):
        m = cm[1]
        return (m.error, m.gflops if m.gflops is not None else big,
                m.rtf if m.rtf is not None else big)
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


def _other_axes(config: Config, axis: str) -> tuple:
    """The configuration's values on every field outside `axis` (comparable, hashable)."""
    skip = AXES[axis][0]
    return tuple(getattr(config, f.name) for f in fields(Config) if f.name not in skip)


def _is_neighbour(a: Config, b: Config, axis: str, a_rest: tuple | None = None) -> bool:
    """b differs from a only along `axis` (and really differs there). `a_rest`: a's
    `_other_axes(a, axis)` when already computed."""
    if a == b or (a_rest or _other_axes(a, axis)) != _other_axes(b, axis):
        return False
    if axis == "xV":  # a stride step keeps where/how it applies, unless one side has no stride
        if a.stride == b.stride:
            return False
        return a.stride == 1 or b.stride == 1 or (a.stride_at, a.pool) == (b.stride_at, b.pool)
    if axis == "xT":
        return a.window != b.window
    return True


def marginal_returns(best: tuple[Config, ConfigMetrics], results: Results,
                     limits: Limits | None = None) -> list[AxisReturn]:
    """Error change per doubling of FLOPs along each axis, from the nearest measured neighbours."""
    limits = limits or Limits()
    c0, m0 = best
    out = []
    for axis, (_, desc) in AXES.items():
        up = down = None
        rest0 = _other_axes(c0, axis)
        if m0.gflops is not None and m0.gflops > 0:
            for c, m in results:
                if m.gflops is None or m.gflops <= 0 or not math.isfinite(m.error) \
                        or not _is_neighbour(c0, c, axis, rest0):
                    continue
                ratio = m.gflops / m0.gflops
                if ratio == 1.0:
                    continue
                d_err = m.error - m0.error
                s = Step(c, m, ratio, d_err, d_err / math.log2(ratio), tuple(violations(m, limits)))
                dist = abs(math.log(ratio))
                if ratio > 1 and (up is None or (dist, c.label) < (abs(math.log(up.flops_ratio)),
                                                                  up.config.label)):
                    up = s
                if ratio < 1 and (down is None or (dist, c.label) < (
                        abs(math.log(down.flops_ratio)), down.config.label)):
                    down = s
        out.append(AxisReturn(axis, desc, up, down))
    return out


def binding_knob(marginal: list[AxisReturn]) -> str:
    """One sentence: where the next FLOP would help most, and what stops spending it."""
    helpful = [a for a in marginal if a.up is not None and a.up.d_error < 0]
    if not helpful:
        measured = [a.axis for a in marginal if a.up is not None]
        if measured:
            return (f"no measured step up ({', '.join(measured)}) lowers the error: more compute "
                    "along these axes does not help here; no limit is binding")
        return "no measured neighbour with more FLOPs along any axis: cannot tell which knob binds"
    a = min(helpful, key=lambda a: (a.up.per_doubling, a.axis))
    change = fmt_error_change(a.up.metrics.metric, a.up.per_doubling)
    gain = f"{a.axis} ({a.description}): {change} of error per doubling of FLOPs " \
           f"(to {a.up.config.label})"
    if a.up.violations:
        lim = "; ".join(v.describe() for v in a.up.violations)
        return f"best return is along {gain}, but that step breaks the limit: {lim}"
    return f"best return is along {gain}"


def closest_miss(results: Results, limits: Limits) -> tuple[Config, ConfigMetrics, list[Violation]]:
    """The configuration that misses the limits by the least (sum of relative excesses)."""
    def key(pair):
        c, m = pair
        vs = violations(m, limits)
        return (sum(v.excess for v in vs), m.error, c.label, c.key)
    c, m = min(results, key=key)
    return c, m, violations(m, limits)


def tie_group(ranked: Results, items: dict[str, list[ItemResult]], tolerance: float | None = None,
              level: float = 0.95, seed: int = 0) -> list[TieMember]:
    """The most accurate of `ranked` (first) and every configuration the paired test cannot
    tell apart from it (tied) or shows to be within `tolerance` of it (non-inferior)."""
    c0, m0 = ranked[0]
    out = [TieMember(c0, m0, None, "most accurate")]
    for c, m in ranked[1:]:
        p = pair_items(items.get(c.key, []), items.get(c0.key, []), m.metric)
        if not p.testable:      # no shared item, or none with reference words: not compared
            continue
        d = paired_difference(p, level=level, seed=seed)
        if d.ci_low <= 0:
            out.append(TieMember(c, m, d, "tied"))
        elif tolerance is not None and d.ci_high <= tolerance:
            out.append(TieMember(c, m, d, "within tolerance"))
    return out


def _cost_value(m: ConfigMetrics, cost: str) -> float:
    v = getattr(m, cost)
    return float(v) if v is not None and math.isfinite(float(v)) else math.inf


def _fmt_metric(m: ConfigMetrics) -> str:
    """The metric as the tables show it: WER/CER in percent, UA as a fraction."""
    pct = m.metric in RATE_METRICS
    f = (lambda x: f"{100 * x:.3g}") if pct else (lambda x: f"{x:.3g}")
    ci = ""
    if m.ci_low is not None and m.ci_high is not None:
        ci = f" (95% CI {f(m.ci_low)}-{f(m.ci_high)}{'%' if pct else ''})"
    return f"{m.metric.upper()} {f(m.value)}{'%' if pct else ''}{ci}"


def fmt_error_change(metric: str, x: float, signed: bool = True) -> str:
    """An error difference in the unit the tables use: WER/CER points (0.01 = 1 point), else the
    error (1 - UA) as a fraction."""
    if metric in RATE_METRICS:
        v = 100 * x
        unit = "point" if abs(v) == 1 else "points"
        return f"{v:+.3g} {metric.upper()} {unit}" if signed else f"{v:g} {metric.upper()} {unit}"
    return f"{x:+.3g}" if signed else f"{x:g}"


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
        notes.append(f"{len(sel) - len(usable)} configuration(s) without a finite error ignored")
    if not usable:
        raise NoResultsError(f"no configuration of task {task!r} in {source} has a finite error")
    feasible = _ranked([(c, m) for c, m in usable if not violations(m, limits)])
    unmeasured = {lab: sum(1 for _, m in usable if getattr(m, fld) is None)
                  for _, fld, lab, _ in limits.active()}
    for lab, n in unmeasured.items():
        if n:
            notes.append(f"{n} configuration(s) have no {lab} measured and cannot meet that limit")
    machine = dict(machine) if machine else None
    if not feasible:
        c, m, vs = closest_miss(usable, limits)
        msg = (f"No {task} configuration meets {limits.describe()} ({len(usable)} considered). "
               f"Closest: {c.label} (error {m.error:.4g}), which misses: "
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
            notes.append(f"{len(untested)} configuration(s) share no scored item with the most "
                         f"accurate, {top[0].label}, or only items without reference words, and "
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
        items_to_resolve = difference.items_needed(difference.diff)
    marginal = marginal_returns(best, usable, limits)
    binding = binding_knob(marginal)
    msg = _message(task, limits, best, top, group, difference, items_to_resolve, cost, tolerance,
                   len(feasible), len(usable), paired, len(untested))
    runners = [p for p in feasible if p[0].key != best[0].key][:n_runners_up]
    return Recommendation(task, limits, len(usable), len(feasible), best, runners, marginal,
                          binding, None, msg, machine, notes, top, group, cost, tolerance,
                          paired, difference, items_to_resolve)


COST_WORDS = {"gflops": "GFLOPs", "rtf": "RTF", "peak_mem_mb": "peak memory"}


def _message(task, limits, best, top, group, difference, items_to_resolve, cost, tolerance,
             n_feasible, n_usable, paired, n_untested=0) -> str:
    c, m = best
    costs = ", ".join(x for x in (
        f"{m.gflops:.3g} GFLOPs" if m.gflops is not None else "",
        f"RTF {m.rtf:.3g}" if m.rtf is not None else "",
        f"{m.peak_mem_mb:.0f} MB" if m.peak_mem_mb is not None else "") if x)
    considered = "the only configuration" if n_usable == 1 else f"all {n_usable} configurations"
    within = (f"no limits set: {considered} considered" if not limits.active() else
              f"{n_feasible} of {n_usable} configuration{'' if n_usable == 1 else 's'} meet "
              f"{limits.describe()}")
    head = (f"Recommended {task} configuration ({within}): {c.label} — {_fmt_metric(m)}; "
            f"{costs}.")
    if not paired:
        return head + " It has the lowest measured error (no per-item results: ties not tested)."
    tc, tm = top
    if n_feasible == 1:
        return head + (" It is the only configuration" + (" within the limits" if limits.active()
                                                          else "") + ": nothing to compare it "
                       "with.")
    # no member of the tie group has the cost measured: the pick fell to the error, then label
    measured = getattr(m, cost) is not None
    unmeasured = f"none of them has {COST_WORDS[cost]} measured"
    if c.key == tc.key:
        others = len(group) - 1
        if others:
            return (head + " It is the most accurate" +
                    (f" and the cheapest by {COST_WORDS[cost]}" if measured else "") +
                    f" of a tie group of {len(group)}" + ("" if measured else f" ({unmeasured})")
                    + ": " + ", ".join(t.config.label for t in group) + ".")
        others = ("other configuration" + (" within the limits" if limits.active() else "")
                  + (f" it shares items with ({n_untested} share none)" if n_untested else ""))
        return head + f" It is significantly more accurate than every {others} (paired 95%)."
    member = next(t for t in group if t.config.key == c.key)
    scale = 100 if m.metric in RATE_METRICS else 1   # points, as fmt_error_change
    why = ("cannot be told apart from" if member.reason == "tied" else
           f"is within the tolerance ({fmt_error_change(m.metric, tolerance, False)}) of")
    tie = ", ".join(t.config.label for t in group)
    resolve = ""
    if items_to_resolve is not None and difference is not None:
        resolve = (f"; about {items_to_resolve} items would resolve a difference of "
                   f"{fmt_error_change(m.metric, abs(difference.diff), False)}")
    lead = (f"The cheapest by {COST_WORDS[cost]} of the tie group ({tie})" if measured else
            f"Picked from the tie group ({tie}) by error, then label ({unmeasured})")
    return (head + f" {lead}: it {why} the "
            f"most accurate, {tc.label} ({_fmt_metric(tm)}): difference "
            f"{fmt_error_change(m.metric, difference.diff)} (paired 95% CI "
            f"{difference.ci_text(scale)}, "
            f"{difference.n_items} items{resolve}).")
