"""What a validated sweep file is: SweepSpec (task, data, models, axes, plan: PlanSpec) with its
joint space of configurations, SpecError (naming the file, line and key that are wrong) and
`locate` (the "file, line N" of a key for an error message)."""
from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechbudget.axes import Adaptation, Config, ConfigError
from speechbudget.errors import SpeechbudgetError


class SpecError(SpeechbudgetError, ValueError):
    """A sweep file that cannot be used; names the file, the key and what is wrong."""

    def __init__(self, key: str, message: str, source: str | Path | None = None):
        self.key = key
        self.message = message
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {message}")


# plan options added after the first release: left out of to_dict() when unset, so that older
# specs keep their digests
PLAN_OPTION_DEFAULTS = {"optuna_storage": None, "study_name": None, "race_tolerance": None,
                        "race_rule": "dominated", "race_eta": 2.0}


@dataclass(frozen=True)
class PlanSpec:
    type: str
    centre: dict[str, Any] = field(default_factory=dict)      # star
    budgets_gflops: tuple[float, ...] = ()                    # iso_flops
    tolerance: float = 0.1                                    # iso_flops: +-fraction
    audio_s: float | None = None                              # FLOPs of an item this long
    n_trials: int = 20                                        # adaptive
    sampler: str = "tpe"
    objectives: tuple[str, ...] = ("error", "gflops")
    seed: int = 0
    optuna_storage: str | None = None                         # adaptive: RDB URL of the study
    study_name: str | None = None                             # (default: the sweep's name)
    race_first_items: int | None = None                       # racing (sweep.racing): off
    race_growth: float = 2.0
    race_alpha: float = 0.05
    race_tolerance: float | None = None                       # racing: non-inferiority margin
    race_rule: str = "dominated"                              # racing: dominated|best|halving
    race_eta: float = 2.0                                     # racing, halving: keep 1/eta


@dataclass(frozen=True)
class InvalidPoint:
    """A combination of axis values that is not a valid configuration, and why."""

    values: dict[str, Any]
    error: ConfigError


@dataclass
class SweepSpec:
    """A validated sweep. `plan.plan_configurations(spec)` lists what its plan will run."""

    name: str
    task: str
    data: str | None
    task_options: dict[str, Any]
    models: tuple[str, ...]
    axes: dict[str, tuple[Any, ...]]          # Config field -> values (model excluded)
    plan: PlanSpec
    runner: str | None = None                 # "module:Class" or "file.py:Class" (custom Task)
    device: str | None = None
    source: Path | None = None
    # how to read `data` (its manifest's columns, audio_root): spec_data.DATA_OPTIONS,
    # passed to the task's load_dataset
    data_options: dict[str, str] = field(default_factory=dict)
    # where each key's value is in the file ("axes.window" -> line), for errors found after
    # loading (`where`); not part of the spec's identity
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def where(self, key: str) -> str | Path | None:
        """The source of `key` for an error message: "file, line N" (the line of the deepest
        part of `key` in the file), or the file, or None (a spec given as a mapping)."""
        return locate(self.source, self.lines, key)

    # ---- the joint space ---------------------------------------------------------------
    # (what a plan runs: `speechbudget.sweep.plan.plan_configurations(spec).configs`)
    def point(self, values: dict[str, Any]) -> Config:
        """The configuration of one combination of axis values (raises ConfigError)."""
        return self._point(values)

    def axis_items(self) -> list[tuple[str, tuple[Any, ...]]]:
        """(axis, values) for every axis of the space, the model first."""
        return self._axis_items()

    def _point(self, values: dict[str, Any]) -> Config:
        from speechbudget.flops.lora_rank import check_config_rank
        kw = dict(values)
        if isinstance(kw.get("adaptation"), dict):
            kw["adaptation"] = Adaptation.from_dict(kw["adaptation"])
        config = Config(task=self.task, **kw)
        # a LoRA/DAMA rank above the model's weights: invalid for this model (training refuses
        # it), as the combination that cannot exist, not a point without an estimate
        check_config_rank(config)
        return config

    def _axis_items(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [("model", self.models)] + list(self.axes.items())

    def space(self) -> tuple[list[Config], list[InvalidPoint]]:
        """Every valid configuration of the full product (deduplicated, in spec order)."""
        names = [n for n, _ in self._axis_items()]
        combos = itertools.product(*[v for _, v in self._axis_items()])
        return self._build([dict(zip(names, c)) for c in combos])

    def centre(self) -> dict[str, Any]:
        c = {n: v[0] for n, v in self._axis_items()}
        c.update(self.plan.centre)
        return c

    def star_points(self) -> tuple[list[Config], list[InvalidPoint]]:
        """The centre, then each axis varied alone (the others at the centre)."""
        centre = self.centre()
        points = [dict(centre)]
        for name, values in self._axis_items():
            for v in values:
                points.append({**centre, name: v})
        return self._build(points)

    def _build(self, points: list[dict[str, Any]]) -> tuple[list[Config], list[InvalidPoint]]:
        seen: dict[str, Config] = {}
        invalid: list[InvalidPoint] = []
        for p in points:
            try:
                c = self._point(p)
            except ConfigError as e:
                invalid.append(InvalidPoint(p, e))
                continue
            seen.setdefault(c.key, c)
        return list(seen.values()), invalid

    # ---- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        plan = {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.plan.__dict__.items()
                if not (k in PLAN_OPTION_DEFAULTS and v == PLAN_OPTION_DEFAULTS[k])}
        out = {"name": self.name, "task": self.task, "data": self.data,
               "task_options": self.task_options, "models": list(self.models),
               "axes": {k: [_jsonable(x) for x in v] for k, v in self.axes.items()},
               "plan": plan, "runner": self.runner, "device": self.device}
        if self.data_options:  # only when given: a spec of a plain path keeps its digest
            out["data_options"] = dict(self.data_options)
        return out

    @property
    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True, default=str)
                            .encode()).hexdigest()[:16]


def jsonable(x: Any) -> Any:
    """An axis value as plain JSON data (an Adaptation becomes its mapping)."""
    return _jsonable(x)


def _jsonable(x: Any) -> Any:
    if isinstance(x, Adaptation):
        return x.to_dict()
    return x


def locate(source: str | Path | None, lines: dict[str, int], key: str) -> str | Path | None:
    """"file, line N" for an error about `key`, or `source` when the line is unknown."""
    line = _line_of(lines, key) if source else None
    return source if line is None else f"{source}, line {line}"


def _line_of(lines: dict[str, int], key: str) -> int | None:
    """The line of the value at `key` ("axes.window[3]": the deepest part found in `lines`)."""
    line, path = None, ""
    for part in key.split("."):
        name, *index = re.split(r"[\[\]]+", part.strip("]"))
        path = f"{path}.{name}" if path else name
        if path not in lines:
            break
        line = lines[path]
        for i in index:  # models[2]: the third value of the list
            if f"{path}[{i}]" not in lines:
                return line
            path = f"{path}[{i}]"
            line = lines[path]
    return line
