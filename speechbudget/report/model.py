"""What the report shows, as data: one TaskReport per task inside a ReportData (no rendering).

build.py fills these; html.py and markdown.py render them (and import only this module and the
data modules below it, so the package has no import circle: model <- html, markdown <- build)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechbudget.analysis.isoflops import IsoFlopsBand
from speechbudget.analysis.pareto import FrontierResult
from speechbudget.analysis.recommend import Limits, Recommendation
from speechbudget.analysis.scaling_fit import Prediction, ScalingFit
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics
from speechbudget.report.eliminated import EliminatedConfig
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

    @property
    def metric(self) -> str:
        return self.results[0][1].metric


@dataclass
class ReportData:
    title: str
    source: str
    machine: dict[str, Any] | None
    limits: Limits
    tasks: list[TaskReport]


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def error_interval(m: ConfigMetrics) -> tuple[float, float] | None:
    """The 95% CI of a configuration's *error* (WER, or 1 - UA) from its metric's CI."""
    if m.ci_low is None or m.ci_high is None:
        return None
    if m.higher_is_better:
        return 1.0 - m.ci_high, 1.0 - m.ci_low
    return m.ci_low, m.ci_high
