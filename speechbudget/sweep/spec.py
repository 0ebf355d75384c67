"""A sweep file (YAML): which task, which data, which values per axis, and which plan.

    name: asr-star                      # optional; defaults to the file's stem
    task: asr                           # asr | ser
    data: ../data/librispeech_sample    # relative paths are relative to the spec file
    # or a manifest whose columns have other names (spec_data):
    #   data: {path: m.csv, audio_column: wav, text_column: sentence, audio_root: clips}
    task_options: {batch_size: 4, max_items: 6}   # ASR also language: de (default en)
    models: [tiny.en, base]
    axes:                   # each a list, or a range {start, stop, step} (stop included)
      window: [30, 15, dynamic]
      stride: [1, 2]
      stride_at: [output]
      pool: [mean]
      adaptation: [none, "lora:8", {method: dama, rank: 16}]
      precision: [fp32]
      beam: [1]
    plan: star                          # grid | star | iso_flops | adaptive, or a mapping:
    #   {type: star, centre: {model: tiny.en, window: 30}}
    #   {type: iso_flops, budgets_gflops: [20, 40], tolerance: 0.1, audio_s: 12}
    #   {type: adaptive, n_trials: 12, sampler: tpe|nsga2, objectives: [error, gflops], seed: 0,
    #    optuna_storage: sqlite:///study.db, study_name: NAME}  (the Optuna study kept there, a
    #    relative sqlite path against this file's folder; study_name defaults to the sweep's name)
    #   grid, star and iso_flops also take race: true or {first_items: 20, growth: 2, alpha: 0.05,
    #   tolerance: 0.005 (optional: also stop what a cheaper one is non-inferior to),
    #   rule: dominated|best|halving, eta: 2 (halving only: keep ceil(n/eta) per round)}
    #   (sweep.racing: stop evaluating configurations once they are significantly dominated;
    #   halving also drops them by rank, without evidence)

A number with an exponent is read as a number in every numeric field, as YAML 1.2 reads it,
though PyYAML (YAML 1.1) gives the string: budgets_gflops: [1e-9], lr: 1e-4, first_items: 1e1.

`load_spec(path)` validates everything and raises SpecError naming the key that is wrong. This
module reads the file and checks the whole; each part is read where its name says: the YAML
(spec_yaml), the limits (spec_limits), axis values and numbers (spec_values), the data
(spec_data), task_options (spec_task_options), paths (spec_paths), the plan (spec_plan) and its
race (spec_race); the types a spec is made of (SweepSpec, PlanSpec, SpecError) are in
spec_types.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from speechbudget.axes import Adaptation, Config, ConfigError, TASKS
from speechbudget.sweep.spec_limits import MAX_SPEC_BYTES, check_plan_size, check_size
from speechbudget.sweep.spec_data import parse_data
from speechbudget.sweep.spec_paths import resolve_runner
from speechbudget.sweep.spec_plan import parse_plan
from speechbudget.sweep.spec_task_options import (check_adapt_options, check_language_option,
                                                  check_task_options)
from speechbudget.sweep.spec_types import SpecError, SweepSpec, jsonable, locate
from speechbudget.sweep.spec_values import AXES, axis_values
from speechbudget.sweep.spec_yaml import limited_loader, line_map, yaml_problem

TOP_KEYS = ("name", "task", "data", "task_options", "models", "axes", "plan", "runner", "device")


# ---- parsing --------------------------------------------------------------------------------
def load_spec(path: str | Path, data: str | None = None) -> SweepSpec:
    """Read and validate a sweep file; `data` (e.g. from the command line) overrides the spec's."""
    import yaml
    p = Path(path)
    if not p.is_file():
        raise SpecError("file", "no such sweep file" if not p.exists() else
                        "not a regular file (a folder, FIFO or device)", p)
    size = p.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError("file", f"{size} bytes; a sweep file is at most {MAX_SPEC_BYTES}", p)
    blob = p.read_bytes()
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SpecError("file", f"not UTF-8 text (byte {e.start}: {blob[e.start:e.start + 1]!r})",
                        p) from None
    if "\x00" in text:
        raise SpecError("file", f"binary data (a NUL at character {text.index(chr(0))})", p)
    try:
        raw = yaml.load(text, Loader=limited_loader(p))  # a SafeLoader with limits
    except yaml.YAMLError as e:
        raise SpecError("file", f"not valid YAML ({yaml_problem(e)})", p) from None
    except RecursionError:  # PyYAML composes and constructs recursively
        raise SpecError("file", "values nested too deeply (lists or mappings inside each other "
                                "hundreds of levels deep)", p) from None
    return spec_from_dict(raw, base_dir=p.parent, source=p, data=data, default_name=p.stem,
                          lines=line_map(text, p))


def spec_from_dict(raw: Any, base_dir: str | Path = ".", source: str | Path | None = None,
                   data: str | None = None, default_name: str = "sweep",
                   lines: dict[str, int] | None = None) -> SweepSpec:
    """Validate a spec given as a mapping (what the YAML file holds); `lines`: the line of
    each key's value in the source file (errors name it; the spec keeps it)."""
    lines = dict(lines or {})

    def err(key: str, msg: str) -> SpecError:
        return SpecError(key, msg, locate(source, lines, key))

    if not isinstance(raw, dict):
        raise err("file", "expected a mapping of keys (task, data, models, axes, plan)")
    check_size(raw, err)
    if not all(isinstance(k, str) for k in raw):
        raise err(str(next(k for k in raw if not isinstance(k, str))), "keys must be strings")
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise err(unknown[0], f"unknown key; keys are {', '.join(TOP_KEYS)}")
    task = raw.get("task")
    if task not in TASKS:
        raise err("task", f"{task!r} is not a task; expected one of {', '.join(TASKS)}")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise err("name", f"{name!r} is not a non-empty string")
    if not name.isprintable():  # it is printed (runs list, report titles) and names a study
        raise err("name", f"{name!r} holds a control or invisible character (a line break, "
                          "a tab, an escape sequence); give a name of printable characters")

    opts = raw.get("task_options") or {}
    if not isinstance(opts, dict) or not all(isinstance(k, str) for k in opts):
        raise err("task_options", "expected a mapping of option names to values")
    runner = raw.get("runner")
    if runner is not None and (not isinstance(runner, str) or ":" not in runner):
        raise err("runner", f"{runner!r}: expected 'package.module:Class' or 'file.py:Class'")
    if runner is not None:
        runner = resolve_runner(runner, Path(base_dir), err)
    data_path, data_options = parse_data(raw.get("data"), task, runner is not None,
                                         Path(base_dir), data, err)
    opts = check_task_options(task, opts, runner is not None, err)
    if task == "asr" and runner is None:
        opts = check_adapt_options(dict(opts), Path(base_dir), err)

    models = raw.get("models")
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not models:
        given = "" if models is None else f"{repr(models)[:80]}: "
        raise err("models", f"{given}expected a non-empty list of model names, e.g. "
                            "[tiny.en, base]")
    for i, m in enumerate(models):
        if not isinstance(m, str) or not m:
            raise err(f"models[{i}]", f"{m!r}: expected a model name (a string, e.g. tiny.en)")
        try:
            Config(task=task, model=m) if task == "asr" else Config(task=task, model=m, window=3.0)
        except ConfigError as e:
            if e.field == "model":
                raise err(f"models[{i}]", str(e)) from None
    if task == "asr" and runner is None:   # a language each model decodes (tiny.en: en only)
        opts = check_language_option(opts, models, err)

    axes_raw = raw.get("axes") or {}
    if not isinstance(axes_raw, dict):
        raise err("axes", "expected a mapping of axis names to lists or ranges")
    axes: dict[str, tuple[Any, ...]] = {}
    for k, v in axes_raw.items():
        if k not in AXES:
            raise err(f"axes.{k}", f"unknown axis; axes are {', '.join(AXES)}")
        axes[AXES[k]] = axis_values(f"axes.{k}", v, err)
    for i, a in enumerate(axes.get("adaptation", ())):
        if not isinstance(a, (Adaptation, dict)):
            raise err(f"axes.adaptation[{i}]", f"{a!r}: expected 'none', 'lora:RANK', "
                                               "'dama:RANK' or a mapping {method, rank, ...}")

    plan = parse_plan(raw.get("plan", "grid"), task, err, Path(base_dir))
    check_plan_size(task, models, axes, plan, err)
    device = raw.get("device")
    if device is not None and not isinstance(device, str):
        raise err("device", f"{device!r} is not a device name (cpu, cuda, cuda:1...)")
    spec = SweepSpec(name=name, task=task, data=data_path, task_options=dict(opts),
                     models=tuple(models), axes=axes, plan=plan, runner=runner, device=device,
                     source=Path(source) if source else None, data_options=data_options,
                     lines=lines)
    _check_values(spec, err)
    return spec


def _check_values(spec: SweepSpec, err) -> None:
    """Each axis value (and the star centre) must give at least one valid configuration."""
    if spec.plan.type == "star":
        try:
            spec.point(spec.centre())
        except ConfigError as e:
            where = f"plan.centre.{e.field}" if spec.plan.centre else f"axes.{e.field}"
            raise err(where, f"the star's centre is not a valid configuration: {e}") from None
        names = [n for n, _ in spec.axis_items()]
        points = [{**spec.centre(), n: v} for n, vals in spec.axis_items() for v in vals]
    else:
        names = [n for n, _ in spec.axis_items()]
        product = itertools.product(*[v for _, v in spec.axis_items()])
        points = [dict(zip(names, c)) for c in product]
    ok: dict[tuple[str, str], ConfigError | None] = {}
    for p in points:
        try:
            spec.point(p)
            e = None
        except ConfigError as exc:
            e = exc
        for n in names:
            k = (n, json.dumps(jsonable(p[n]), sort_keys=True, default=str))
            if e is None:
                ok[k] = None
            else:
                ok.setdefault(k, e)
    rev = {v: k for k, v in AXES.items()}
    for (n, value), e in ok.items():
        if e is not None and e.field.split(".")[0] == n:
            axis = "models" if n == "model" else f"axes.{rev.get(n, n)}"
            raise err(axis, f"value {value} is never valid here: {e}")
    if not any(e is None for e in ok.values()):
        first = next(iter(ok.values()))
        raise err("axes", f"no valid configuration: {first}")
