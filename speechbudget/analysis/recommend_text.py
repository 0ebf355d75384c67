"""The words of a budget recommendation: the decision rule, the one-paragraph answer
(`recommendation_message`), error changes and metrics as the tables show them, and the note on
where RTF was measured."""
from __future__ import annotations

import math
from typing import Any

from speechbudget.analysis.limits import RTF_STATS
# error_cell, fmt_error_change live in paired (sweep.racing, a lower layer, uses them too)
from speechbudget.paired import RATE_METRICS, error_cell, fmt_error_change
from speechbudget.records import ConfigMetrics


def fmt_cell(v: Any, digits: int = 4) -> str:
    """A table cell of a value (a cost, an RTF, a count), as the report and `recommend` show it:
    None and non-finite numbers (no value: not measured, every item failed; report.json and
    --json write null) as '–'."""
    if v is None or isinstance(v, float) and not math.isfinite(v):
        return "–"
    if isinstance(v, float):
        return f"{v + 0.0:.{digits}g}"      # + 0.0: -0.0 (e.g. 0 / log2(0.5)) reads 0
    return str(v)

DECISION_RULE = ("among the configurations within the limits, the cheapest that is not "
                 "significantly worse than the most accurate (paired bootstrap 95% CI of the "
                 "error difference includes 0) or not worse by more than the tolerance "
                 "(upper CI bound <= tolerance)")


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


def _fmt_metric(m: ConfigMetrics) -> str:
    """The metric as the tables show it: WER/CER in percent, UA as a fraction."""
    pct = m.metric in RATE_METRICS
    f = (lambda x: f"{100 * x:.3g}") if pct else (lambda x: f"{x:.3g}")
    ci = ""
    if m.ci_low is not None and m.ci_high is not None:
        ci = f" (95% CI {f(m.ci_low)}-{f(m.ci_high)}{'%' if pct else ''})"
    return f"{m.metric.upper()} {f(m.value)}{'%' if pct else ''}{ci}"


def error_head(metric: str, what: str = "error") -> str:
    """A table column's header for an error (or a metric's value): 'WER %' for WER, whose cells
    `fmt_error` gives in percent; `what` ('error', 'value', 'UA', ...) for the others."""
    return "WER %" if metric == "wer" else what


def fmt_error(m: ConfigMetrics, v: float | None = None) -> str:
    """An error value (default `m.error`; `v` another value of its metric: a CI bound, the value)
    in the unit shown everywhere: WER in percent (under `error_head`'s 'WER %'), others as they
    are (a fraction). None or not finite (every item failed): '–'."""
    v = m.error if v is None else v
    return error_cell(m.metric, v)


def fmt_value(m: ConfigMetrics) -> str:
    """The metric alone, as the tables show it: 'WER 1.85%', 'UA 0.723'."""
    pct = m.metric in RATE_METRICS
    return f"{m.metric.upper()} {100 * m.value if pct else m.value:.3g}{'%' if pct else ''}"


COST_WORDS = {"gflops": "GFLOPs", "rtf": "RTF", "peak_mem_mb": "peak memory"}


def recommendation_message(task, limits, best, top, group, difference, items_to_resolve, cost, tolerance,
             n_feasible, n_usable, paired, n_untested=0) -> str:
    c, m = best
    # the RTF that max_rtf bounds, beside the throughput RTF, when a percentile is bounded
    stat_field, stat_label = RTF_STATS[limits.rtf_stat]
    bounded = getattr(m, stat_field) if stat_field != "rtf" else None
    costs = ", ".join(x for x in (
        f"{m.gflops:.3g} GFLOPs" if m.gflops is not None else "",
        f"RTF {m.rtf:.3g}" if m.rtf is not None else "",
        f"{stat_label} {bounded:.3g}" if bounded is not None else "",
        f"{m.peak_mem_mb:.0f} MB" if m.peak_mem_mb is not None else "") if x)
    considered = "the only configuration" if n_usable == 1 else f"all {n_usable} configurations"
    within = (f"no limits set: {considered} considered" if not limits.active() else
              f"{n_feasible} of {n_usable} configuration{'' if n_usable == 1 else 's'} meet "
              f"{limits.describe()}")
    # no cost measured (no GFLOPs model for the backbone, say): no "; ." after the metric
    head = (f"Recommended {task} configuration ({within}): {c.label} — {_fmt_metric(m)}"
            f"{'; ' + costs if costs else ''}.")
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
        within = " within the limits" if limits.active() else ""
        if n_untested >= n_feasible - 1:  # "than every one it shares items with" of none
            return head + (f" It has the lowest error, but shares no scored item with any other "
                           f"configuration{within} ({n_untested}), so it was compared with "
                           "none (paired tests need the same items).")
        others = ("other configuration" + within
                  + (f" it shares items with ({n_untested} share none)" if n_untested else ""))
        return head + f" It is significantly more accurate than every {others} (paired 95%)."
    member = next(t for t in group if t.config.key == c.key)
    scale = 100 if m.metric in RATE_METRICS else 1   # points, as fmt_error_change
    why = ("cannot be told apart from" if member.reason == "tied" else
           f"is within the tolerance ({fmt_error_change(m.metric, tolerance, False)}) of")
    tie = ", ".join(t.config.label for t in group)
    resolve = ""
    if items_to_resolve is not None and difference is not None:
        # 3 significant figures, as the difference itself ("4.9", not "4.90196")
        resolve = (f"; about {items_to_resolve} items would resolve a difference of "
                   f"{fmt_error_change(m.metric, abs(difference.diff)).lstrip('+')}")
    lead = (f"The cheapest by {COST_WORDS[cost]} of the tie group ({tie})" if measured else
            f"Picked from the tie group ({tie}) by error, then label ({unmeasured})")
    # a rate's change is in its points ("+3.33 WER points"); another metric's is of the error,
    # which the answer's UA (higher is better) does not show: say so, or +0.05 reads as UA
    of_error = "" if m.metric in RATE_METRICS else f" in error (1 - {m.metric.upper()})"
    return (head + f" {lead}: it {why} the "
            f"most accurate, {tc.label} ({_fmt_metric(tm)}): difference "
            f"{fmt_error_change(m.metric, difference.diff)}{of_error} (paired 95% CI "
            f"{difference.ci_text(scale)}, "
            f"{difference.n_items} item{'' if difference.n_items == 1 else 's'}{resolve}).")
