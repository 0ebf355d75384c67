"""Budget limits (GFLOPs, RTF, peak memory) and how a configuration misses them.

`Limits` holds the bounds; `violations` lists the limits a configuration's metrics break (a
quantity not measured cannot meet its limit); `closest_miss` names the configuration that misses
by the least when none meets them. `rtf_stat` says which RTF `max_rtf` bounds (RTF_STATS);
`not_recorded` says which quantities a task's sweeps never record (a limit on them cannot apply).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics

Results = list[tuple[Config, ConfigMetrics]]

LIMIT_FIELDS = {"max_gflops": ("gflops", "GFLOPs"), "max_rtf": ("rtf", "RTF"),
                "max_mem_mb": ("peak_mem_mb", "peak memory MB")}
# which RTF `max_rtf` bounds: "mean" = the batched run's throughput RTF (total processing s /
# total audio s at the sweep's batch size; the default, always measured); "p50" / "p90" = the
# median / 90th percentile of per-utterance RTF at batch size 1 after warm-up (measured only when
# the sweep timed latency: task_options.latency_items, or batch_size 1).
RTF_STATS = {"mean": ("rtf", "RTF"), "p50": ("rtf_p50", "RTF p50 (batch 1)"),
             "p90": ("rtf_p90", "RTF p90 (batch 1)")}
DEFAULT_RTF_STAT = "mean"
# what a task's sweeps never record, so that a limit on it cannot be applied to that task's results
# (ASR records each when the sweep is set to: latency_items, a GPU's memory), and why
_SER_NO_LATENCY = ("SER sweeps do not time clips one at a time (batch 1), so they record no RTF "
                   "p50/p90; they record the whole run's inference RTF, which --rtf-stat mean "
                   "bounds")
NOT_RECORDED = {("ser", "rtf_p50"): _SER_NO_LATENCY, ("ser", "rtf_p90"): _SER_NO_LATENCY,
                ("ser", "peak_mem_mb"): "SER sweeps do not measure peak memory"}


def not_recorded(task: str, field: str) -> str | None:
    """Why `task`'s sweeps never record the metrics field `field` (None: they can)."""
    return NOT_RECORDED.get((task, field))


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


def closest_miss(results: Results, limits: Limits) -> tuple[Config, ConfigMetrics, list[Violation]]:
    """The configuration that misses the limits by the least (sum of relative excesses)."""
    def key(pair):
        c, m = pair
        vs = violations(m, limits)
        return (sum(v.excess for v in vs), m.error, c.label, c.key)
    c, m = min(results, key=key)
    return c, m, violations(m, limits)
