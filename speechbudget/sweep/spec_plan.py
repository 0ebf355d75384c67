"""A sweep file's `plan`: grid, star (its centre), iso_flops (budgets, tolerance), adaptive
(Optuna: trials, sampler, objectives, seed, storage, study name); `race` is read by spec_race."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from speechbudget.sweep.spec_race import parse_race
from speechbudget.sweep.spec_types import PlanSpec
from speechbudget.sweep.spec_values import AXES, INTEGER_AXES, NUMERIC_AXES, adaptation, number

PLANS = ("grid", "star", "iso_flops", "adaptive")
OBJECTIVES = ("error", "gflops", "rtf")
SAMPLERS = ("tpe", "nsga2", "gp")


def parse_plan(p: Any, task: str, err, base_dir: Path = Path(".")) -> PlanSpec:
    """A spec's `plan` (a name, or a mapping with 'type' and its options) as a PlanSpec."""
    if isinstance(p, str):
        p = {"type": p}
    if not isinstance(p, dict) or p.get("type") not in PLANS:
        t = p.get("type") if isinstance(p, dict) else p
        raise err("plan", f"{t!r}: expected one of {', '.join(PLANS)} (or a mapping with 'type')")
    allowed = {"grid": {"type", "race"}, "star": {"type", "centre", "center", "race"},
               "iso_flops": {"type", "budgets_gflops", "tolerance", "audio_s", "race"},
               "adaptive": {"type", "n_trials", "sampler", "objectives", "seed",
                            "optuna_storage", "study_name"}}[p["type"]]
    bad = sorted(set(p) - allowed)
    if bad:
        raise err(f"plan.{bad[0]}", f"not an option of plan {p['type']!r}; options are "
                                    f"{', '.join(sorted(allowed - {'type'}))}")
    kw: dict[str, Any] = {"type": p["type"]}
    centre = p.get("centre", p.get("center"))
    if centre is not None:
        if not isinstance(centre, dict):
            raise err("plan.centre", "expected a mapping axis -> value")
        c = {}
        for k, v in centre.items():
            if k != "model" and k not in AXES:
                raise err(f"plan.centre.{k}", f"unknown axis; axes are model, {', '.join(AXES)}")
            c["model" if k == "model" else AXES[k]] = (
                adaptation(f"plan.centre.{k}", v, err) if k == "adaptation" else
                number(v, k in INTEGER_AXES) if k in NUMERIC_AXES else v)
        kw["centre"] = c
    if p["type"] == "iso_flops":
        b = p.get("budgets_gflops")
        b = [number(x) for x in b] if isinstance(b, list) else number(b)
        if isinstance(b, (int, float)):
            b = [b]
        if not isinstance(b, list) or not b or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                and x > 0 for x in b):
            raise err("plan.budgets_gflops", f"{b!r}: expected a list of GFLOPs budgets > 0")
        kw["budgets_gflops"] = tuple(float(x) for x in b)
        tol = number(p.get("tolerance", 0.1))
        if not isinstance(tol, (int, float)) or not 0 < tol < 1:
            raise err("plan.tolerance", f"{tol!r}: expected a fraction in (0, 1), e.g. 0.1 = +-10%")
        kw["tolerance"] = float(tol)
    if "audio_s" in p:
        a = number(p["audio_s"])
        if not isinstance(a, (int, float)) or isinstance(a, bool) or not math.isfinite(a) \
                or a <= 0:
            raise err("plan.audio_s", f"{a!r}: expected seconds > 0")
        kw["audio_s"] = float(a)
    if "race" in p:
        kw.update(parse_race(p["race"], err))
    if p["type"] == "adaptive":
        n = number(p.get("n_trials", 20), integer=True)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise err("plan.n_trials", f"{n!r}: expected an integer >= 1")
        s = p.get("sampler", "tpe")
        if s not in SAMPLERS:
            raise err("plan.sampler", f"{s!r}: expected one of {', '.join(SAMPLERS)}")
        objs = p.get("objectives", ["error", "gflops"])
        if not isinstance(objs, list) or len(objs) != 2 or objs[0] != "error" \
                or objs[1] not in ("gflops", "rtf"):
            raise err("plan.objectives", f"{objs!r}: expected [error, gflops] or [error, rtf]")
        seed = p.get("seed", 0)
        if not isinstance(seed, int):
            raise err("plan.seed", f"{seed!r}: expected an integer")
        kw.update(n_trials=n, sampler=s, objectives=tuple(objs), seed=seed)
        if p.get("optuna_storage") is not None:
            kw["optuna_storage"] = _optuna_storage(p["optuna_storage"], base_dir, err)
        name = p.get("study_name")
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise err("plan.study_name", f"{name!r}: expected a non-empty string")
            if not name.isprintable():
                raise err("plan.study_name", f"{name!r} holds a control or invisible character; "
                                             "give a name of printable characters")
            if kw.get("optuna_storage") is None:
                raise err("plan.study_name", "names a study in plan.optuna_storage; give that too "
                                             "(e.g. optuna_storage: sqlite:///study.db)")
            kw["study_name"] = name
    return PlanSpec(**kw)


def _optuna_storage(url: Any, base_dir: Path, err) -> str:
    """plan.optuna_storage: an SQLAlchemy URL (sqlite:///study.db, postgresql://...); a relative
    sqlite path is made absolute against the spec file's folder."""
    if not isinstance(url, str) or "://" not in url or url.startswith("://"):
        raise err("plan.optuna_storage", f"{url!r}: expected a database URL such as "
                                         "sqlite:///study.db (relative to the spec's folder) or "
                                         "postgresql://user@host/db")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not path or path == ":memory:":
            raise err("plan.optuna_storage", f"{url!r}: expected a file, e.g. sqlite:///study.db "
                                             "(an in-memory study is the default)")
        p = Path(path)
        p = p if p.is_absolute() else (base_dir / p).resolve()
        if not p.parent.is_dir():
            raise err("plan.optuna_storage", f"{url!r}: folder {p.parent} does not exist")
        return f"sqlite:///{p}"
    return url
