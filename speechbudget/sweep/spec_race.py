"""A plan's `race` option (sweep.racing): true, or {first_items, growth, alpha, tolerance, rule,
eta}, as PlanSpec's race_* fields."""
from __future__ import annotations

import math
from typing import Any

from speechbudget.sweep.spec_types import PLAN_OPTION_DEFAULTS
from speechbudget.sweep.spec_values import number

RACE_RULES = ("dominated", "best", "halving")


def parse_race(r: Any, err) -> dict[str, Any]:
    """plan.race: true (defaults) or {first_items, growth, alpha, tolerance, rule, eta}
    (sweep.racing)."""
    if r is True:
        r = {}
    if not isinstance(r, dict):
        raise err("plan.race", f"{r!r}: expected true or a mapping {{first_items, growth, alpha, "
                               "tolerance, rule}")
    bad = sorted(set(r) - {"first_items", "growth", "alpha", "tolerance", "rule", "eta"})
    if bad:
        raise err(f"plan.race.{bad[0]}", "not a racing option; options are first_items, "
                                         "growth, alpha, tolerance, rule, eta")
    rule = r.get("rule", "dominated")
    if rule not in RACE_RULES:
        raise err("plan.race.rule", f"{rule!r}: expected one of {', '.join(RACE_RULES)} "
                                    "(dominated: stop what a cheaper configuration beats; best: "
                                    "also what the leader beats, for the recommendation only; "
                                    "halving: also keep only the best 1/eta by error each round)")
    eta = number(r.get("eta"))
    if eta is not None:
        if rule != "halving":
            raise err("plan.race.eta", f"{eta!r}: only rule: halving keeps 1/eta of the "
                                       f"configurations per round (rule here: {rule})")
        if not isinstance(eta, (int, float)) or isinstance(eta, bool) \
                or not math.isfinite(eta) or eta <= 1:
            raise err("plan.race.eta", f"{eta!r}: expected a number > 1 (2 keeps half of the "
                                       "configurations each round)")
    first = number(r.get("first_items", 20), integer=True)
    growth, alpha = number(r.get("growth", 2.0)), number(r.get("alpha", 0.05))
    if not isinstance(first, int) or isinstance(first, bool) or first < 2:
        raise err("plan.race.first_items", f"{first!r}: expected an integer >= 2")
    if not isinstance(growth, (int, float)) or isinstance(growth, bool) \
            or not math.isfinite(growth) or growth <= 1:
        raise err("plan.race.growth", f"{growth!r}: expected a factor > 1 (2 doubles each round)")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise err("plan.race.alpha", f"{alpha!r}: expected a level in (0, 1), e.g. 0.05")
    tol = number(r.get("tolerance"))
    if tol is not None and (not isinstance(tol, (int, float)) or isinstance(tol, bool)
                            or not 0 < tol < 1):
        raise err("plan.race.tolerance", f"{tol!r}: expected a margin in the metric's units in "
                                         "(0, 1), e.g. 0.005 (0.5 WER points)")
    out = {"race_first_items": first, "race_growth": float(growth), "race_alpha": float(alpha)}
    if tol is not None:
        out["race_tolerance"] = float(tol)
    if rule != "dominated":
        out["race_rule"] = rule
    if eta is not None and float(eta) != PLAN_OPTION_DEFAULTS["race_eta"]:
        out["race_eta"] = float(eta)
    return out
