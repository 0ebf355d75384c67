"""What the report shows, as data: one TaskReport per task inside a ReportData (no rendering).

build.py fills these; html.py and markdown.py render them (and import only this module and the
data modules below it, so the package has no import circle: model <- html, markdown <- build)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from speechbudget.analysis.isoflops import IsoFlopsBand
from speechbudget.analysis.pareto import ErrorBar, FrontierResult, Point
from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import Recommendation
from speechbudget.analysis.recommend_text import error_cell, fmt_error_change
from speechbudget.analysis.scaling_fit import ScalingFit
from speechbudget.analysis.scaling_nested import NestedComparison
from speechbudget.analysis.scaling_predict import Prediction
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics
from speechbudget.report.eliminated import EliminatedConfig, UncomparedPair
from speechbudget.report.utterances import UtteranceView

Results = list[tuple[Config, ConfigMetrics]]


@dataclass
class TaskReport:
    """Everything the report shows for one task."""

    task: str
    results: Results
    recommendation: Recommendation
    frontiers: dict[str, FrontierResult]
    bands: list[IsoFlopsBand]
    fit: ScalingFit | None
    fit_error: str | None
    predictions: list[Prediction]
    plots: dict[str, Path] = field(default_factory=dict)   # name -> PNG path
    utterances: UtteranceView | None = None     # recommended vs runner-up, item by item
    utterances_note: str | None = None          # why there is no per-utterance view
    eliminated: list[EliminatedConfig] = field(default_factory=list)  # stopped by racing
    uncompared: list[UncomparedPair] = field(default_factory=list)    # racing: never tested
    comparison: NestedComparison | None = None  # the nested laws compared; `fit` is the kept one
    prediction_refusal: str | None = None       # why `predictions` are greyed (not to be used)

    @property
    def metric(self) -> str:
        return self.results[0][1].metric

    @property
    def measured(self) -> Results:
        """The measured configurations in the order the tables list them: by GFLOPs (none
        first), then label."""
        return sorted(self.results, key=lambda cm: (cm[1].gflops or 0.0, cm[0].label))

    def frontier_status(self, config: Config, cost: str = "gflops") -> str:
        """A configuration's cell in the tables' frontier column: Pareto-optimal or what
        dominates it; where it is not on that frontier, why (every item failed, no cost)."""
        p = self.frontier_points(cost).get(config.key)
        if p is not None:
            return dominance_text(p)
        fr = self.frontiers.get(cost)
        why = next((w for c, w in (fr.skipped if fr else []) if c.key == config.key), None)
        return "–" if why is None else f"not on the frontier: {why}"

    def skipped_note(self, cost: str) -> str | None:
        """Which configurations the `cost` frontier and its plot leave out, and why."""
        fr = self.frontiers.get(cost)
        if fr is None or not fr.skipped:
            return None
        return f"Not on the {cost} plot: " + ", ".join(f"{c.label} ({why})"
                                                     for c, why in fr.skipped)

    def frontier_points(self, cost: str = "gflops") -> dict[str, Point]:
        """Config key -> its point on the `cost` frontier (flags, dominated_by, error_ci)."""
        fr = self.frontiers.get(cost)
        return {p.config.key: p for p in fr.points} if fr else {}


@dataclass
class ReportData:
    title: str
    source: str
    machine: dict[str, Any] | None
    limits: Limits
    tasks: list[TaskReport]
    # tasks of the results left out of the report, with why (every item of theirs failed)
    left_out: list[str] = field(default_factory=list)
    # how the recommendation chose (analysis.recommend's tolerance, in error units, and cost)
    tolerance: float | None = None
    cost: str = "gflops"


def error_ci_cell(m: ConfigMetrics) -> str:
    """The 95 % CI of a configuration's error in the unit of its error column ('2.73 to 10.20'
    under 'WER %'; for a metric where higher is better, 1 - its CI, as the error beside it);
    '–' where the metrics hold none."""
    if m.ci_low is None or m.ci_high is None:
        return "–"
    lo, hi = float(m.ci_low), float(m.ci_high)
    if m.higher_is_better:
        lo, hi = 1.0 - hi, 1.0 - lo
    return f"{error_cell(m.metric, min(lo, hi))} to {error_cell(m.metric, max(lo, hi))}"


def bars_are(bars: Sequence[ErrorBar]) -> str:
    """What a legend says the error bars of these points are: the 95% CI, where every point has
    one stored; where only some have, which; where none has, that no bar is drawn."""
    has = [b.low is not None and b.high is not None for b in bars]
    if all(has):
        return "bars: 95% CI"
    if any(has):
        return f"bars: 95% CI, stored for {sum(has)} of {len(has)}"
    return "no CI stored: no bars"


def fit_units(metric: str) -> str:
    """What the scaling law's symbols are measured in: its err is a fraction, where the tables
    give WER in percent (E = 0.04 is 4%, not 0.04%)."""
    err = ("WER as a fraction (0.05 = 5%)" if metric == "wer"
           else f"the error as a fraction (1 - {metric.upper()})")
    return (f"err: {err}; E and each term in the same unit; N: model parameters; T: input "
            "window (s); s: token stride. Intervals: bootstrap 2.5th and 97.5th percentiles.")


def dominance_text(p: Point | None) -> str:
    """A frontier flag as the tables show it: Pareto-optimal, or which configuration dominates it
    and, on the significant frontier, the paired 95 % CI that shows it."""
    if p is None:
        return "–"
    if not p.dominated:
        return "Pareto-optimal"
    by = p.dominated_by.label if p.dominated_by is not None else "?"
    d = p.evidence
    if d is None:
        return f"dominated by {by}"
    left_out = f" both scored, {d.dropped} left out" if d.dropped else ""
    metric = p.metrics.metric
    k, unit = delta_scale(metric)
    return (f"dominated by {by}: Δ error {fmt_error_change(metric, d.diff)} (paired "
            f"{100 * d.level:g}% CI {d.ci_text(k)}{unit}, {d.n_items} items{left_out})")


def delta_scale(metric: str) -> tuple[float, str]:
    """The factor and unit of an error difference in the tables, as the CLI shows it: WER
    differences in WER points (x100), others as fractions."""
    return (100.0, " WER points") if metric == "wer" else (1.0, "")


# a marginal step's direction (`AxisReturn.steps`) in the report's words
STEP_DIRECTION = {"up": "more FLOPs", "down": "fewer FLOPs"}


def step_ci_cell(step: Any, scale: float) -> str:
    """A marginal step's paired 95% CI of its error change (`Step.difference`), in the unit of
    the change beside it (`scale`: 100 for WER points), as `recommend`'s table gives it; '–'
    where there is none (no per-item results for both)."""
    d = step.difference
    return "–" if d is None else d.ci_text(scale)


def delta_head(metric: str, what: str = "Δ error") -> str:
    """A column header for an error difference, with its unit: 'Δ error (WER points)'."""
    return what + (" (WER points)" if metric == "wer" else "")


def has_latency(results: Results) -> bool:
    """Some configuration has a per-utterance latency distribution (p50/p90)."""
    return any(m.latency_p50_s is not None or m.rtf_p50 is not None for _, m in results)


LATENCY_HEAD = ["latency p50 (s)", "latency p90 (s)", "RTF p50", "RTF p90"]


def latency_cells(m: ConfigMetrics) -> list[Any]:
    return [m.latency_p50_s, m.latency_p90_s, m.rtf_p50, m.rtf_p90]


def fewer_items_note(rec: Recommendation) -> str | None:
    """When some tie-group difference is on fewer items than a configuration's error (an item
    failed under one of the two), why Δ is not the difference of the errors shown beside it."""
    ref = rec.tie_group[0].metrics if rec.tie_group else None
    short = [t.config.label for t in rec.tie_group if t.diff is not None
             and t.diff.n_items < max(t.metrics.n_items, ref.n_items)]
    if not short:
        return None
    return ("Δ is the difference on the items both scored (items paired), not the difference "
            "of the errors shown, which are each on the items that configuration scored: "
            + ", ".join(short) + " and the most accurate did not score the same items.")

