"""The values of a sweep file's axes: lists and ranges (`axis_values`), adaptation shorthands
(`adaptation`), and numbers written with an exponent that PyYAML leaves strings (`number`, for
every numeric field)."""
from __future__ import annotations

import math
import re
from typing import Any

from speechbudget.axes import Adaptation, ConfigError
from speechbudget.sweep.spec_limits import MAX_AXIS_VALUES
from speechbudget.typed_numbers import is_digits

#: spec axis name -> Config field
AXES = {"window": "window", "stride": "stride", "stride_at": "stride_at", "pool": "pool",
        "adaptation": "adaptation", "precision": "precision", "beam": "beam_size",
        "dynamic_margin_s": "dynamic_margin_s"}

#: spec axes whose values are numbers (a window may also be a string: '15s', '750f', dynamic)
NUMERIC_AXES = ("window", "stride", "beam", "dynamic_margin_s")
INTEGER_AXES = ("stride", "beam")
#: a number with an exponent that YAML 1.2 reads as a float and PyYAML (YAML 1.1) as a string:
#: no dot (1e-9, 2E3) or an unsigned exponent (1.0e3); numeric fields accept it (`number`)
_EXP_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+")


def number(x: Any, integer: bool = False) -> Any:
    """`x` as a float when it is a string holding a number with an exponent that PyYAML left a
    string (1e-9, 1.0e3: `_EXP_NUMBER`; YAML 1.2 reads them as floats), else `x` unchanged;
    `integer` (a field that takes integers only): a whole number such as 1e3 as an int.
    Only numeric fields call this; nothing is evaluated."""
    if isinstance(x, str) and _EXP_NUMBER.fullmatch(x.strip()):
        v = float(x)
        return int(v) if integer and math.isfinite(v) and v == int(v) else v
    return x


def axis_values(key: str, v: Any, err) -> tuple[Any, ...]:
    """The values of axis `key`: a list, one value, or a range {start, stop, step} (stop in)."""
    numeric = key.split(".")[-1] in NUMERIC_AXES
    integer = key.split(".")[-1] in INTEGER_AXES
    if isinstance(v, dict) and numeric:
        v = {k: number(x, integer) for k, x in v.items()}
    if isinstance(v, dict):
        bad = sorted(set(v) - {"start", "stop", "step"})
        if bad or not {"start", "stop"} <= set(v):
            raise err(key, "a range is {start, stop, step} (stop included)")
        start, stop, step = v["start"], v["stop"], v.get("step", 1)
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                   for x in (start, stop, step)) or step == 0 or (stop - start) / step < 0:
            raise err(key, f"range {v} does not reach stop from start by step")
        n = int(math.floor((stop - start) / step + 1e-9)) + 1
        if n > MAX_AXIS_VALUES:
            raise err(key, f"range {v} has {n} values; the limit is {MAX_AXIS_VALUES}")
        vals = [start + i * step for i in range(n)]
        if all(isinstance(x, int) for x in (start, stop, step)):
            return tuple(int(x) for x in vals)
        return tuple(round(x, 6) for x in vals)
    if not isinstance(v, list):
        v = [v]
    if not v:
        raise err(key, "empty list of values")
    if len(v) > MAX_AXIS_VALUES:
        raise err(key, f"{len(v)} values; the limit is {MAX_AXIS_VALUES}")
    out = []
    for i, x in enumerate(v):
        if key == "axes.adaptation":
            x = adaptation(f"{key}[{i}]", x, err)
        elif numeric:
            x = number(x, integer)
        out.append(x)
    return tuple(out)


def adaptation(key: str, x: Any, err) -> Any:
    """An adaptation value: none, 'METHOD:RANK' or a mapping, as an Adaptation."""
    if x in (None, "none", "frozen"):
        return Adaptation()
    if isinstance(x, str) and ":" in x:
        method, _, rank = x.partition(":")
        if not is_digits(rank):
            raise err(key, f"{x!r}: expected METHOD:RANK, e.g. 'lora:8'")
        x = {"method": method, "rank": int(rank)}
    if isinstance(x, dict):
        if "alpha" in x:
            x = {**x, "alpha": number(x["alpha"])}
        try:  # checked alone here; against each model and task where the plan builds its points
            return Adaptation.from_dict(x)
        except (ConfigError, TypeError) as e:
            raise err(key, str(e)) from None
    raise err(key, f"{x!r}: expected 'none', 'lora:RANK', 'dama:RANK' or a mapping")
