"""PNG plots for the report (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from speechbudget.analysis.isoflops import SPLIT_AXES, IsoFlopsBand  # noqa: E402
from speechbudget.analysis.pareto import COSTS, FrontierResult  # noqa: E402
from speechbudget.analysis.scaling_fit import ScalingFit  # noqa: E402
from speechbudget.architectures import get_architecture  # noqa: E402
from speechbudget.axes import Config  # noqa: E402
from speechbudget.records import ConfigMetrics  # noqa: E402

Results = list[tuple[Config, ConfigMetrics]]
DPI = 100
_readable = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
_two_five = matplotlib.ticker.FuncFormatter(  # minor log ticks: label only 2x and 5x
    lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 5)
    else "")
_millions = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:g}M")
MAX_LABELS = 30


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _error_name(results_metric: str) -> str:
    return "WER" if results_metric == "wer" else f"error (1 - {results_metric.upper()})"


def pareto_plot(fr: FrontierResult, path: Path, title: str = "") -> Path:
    """All configurations (dominated in grey), the frontier as a step line, labelled points."""
    fig, ax = plt.subplots(figsize=(8, 5))
    dom = fr.dominated
    front = fr.frontier
    if dom:
        ax.scatter([p.cost for p in dom], [p.error for p in dom], c="#bbbbbb", s=22,
                   label="dominated", zorder=2)
    ax.scatter([p.cost for p in front], [p.error for p in front], c="#d62728", s=36,
               label="Pareto-optimal", zorder=3)
    if front:
        ax.step([p.cost for p in front], [p.error for p in front], where="post", c="#d62728",
                lw=1.2, zorder=1)
    costs = [p.cost for p in fr.points]
    if costs and min(costs) > 0 and max(costs) / min(costs) > 20:
        ax.set_xscale("log")
    errs = [p.error for p in fr.points]
    if errs and min(errs) > 0 and max(errs) / min(errs) > 10:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_readable)
        ax.yaxis.set_minor_formatter(_two_five)
    _label_points(ax, fr)
    metric = fr.points[0].metrics.metric if fr.points else "wer"
    ax.set_xlabel(COSTS[fr.cost])
    ax.set_ylabel(_error_name(metric))
    ax.set_title(title or f"{_error_name(metric)} vs {COSTS[fr.cost]}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def _label_points(ax, fr: FrontierResult) -> None:
    """Label frontier points always (shifted when they collide), dominated ones where there is
    room: a label is skipped when another one is already within a small box of its anchor."""
    fig = ax.figure
    fig.canvas.draw()  # fixes the limits and scales
    to_axes = ax.transData + ax.transAxes.inverted()
    placed: list[tuple[float, float]] = []
    ordered = fr.frontier + (fr.dominated if len(fr.points) <= MAX_LABELS else [])
    for p in ordered:
        x, y = to_axes.transform((p.cost, p.error))
        dy = 4
        clash = [q for q in placed if abs(q[0] - x) < 0.22 and abs(q[1] - y) < 0.035]
        if clash and p.dominated:
            continue
        if clash:
            dy = 4 - 10 * len(clash)
        placed.append((x, y + dy / 300))
        ax.annotate(p.config.label, (p.cost, p.error), textcoords="offset points",
                    xytext=(4, dy), fontsize=7, color="#777777" if p.dominated else "#222222")


def isoflops_plot(bands: list[IsoFlopsBand], path: Path) -> Path:
    """One panel per axis; one curve per budget band: error against how the budget is spent."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    cmap = plt.get_cmap("viridis")
    for i, band in enumerate(bands):
        color = cmap(i / max(1, len(bands) - 1))
        for ax, name in zip(axes, SPLIT_AXES):
            curve = band.curves[name]
            ax.plot(curve.values, curve.errors, "o-", color=color, label=band.label, ms=4)
            if curve.optimum is not None:
                ax.axvline(curve.optimum, color=color, ls=":", lw=1)
    for ax, (name, desc) in zip(axes, SPLIT_AXES.items()):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_readable if name != "params" else _millions)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(desc)
        ax.grid(alpha=0.3)
    metric = bands[0].points[0].metrics.metric if bands else "wer"
    axes[0].set_ylabel(_error_name(metric))
    axes[0].legend(fontsize=7, title="budget band")
    fig.suptitle("Iso-FLOPs: error at (nearly) equal compute, by where it is spent "
                 "(dotted: parabola optimum)")
    return _save(fig, path)


def heatmap_plot(results: Results, path: Path) -> Path | None:
    """Error over window x stride, one panel per model (best over the other axes)."""
    rows = [(c, m) for c, m in results if not c.is_dynamic and math.isfinite(m.error)]
    if not rows:
        return None
    models = sorted({c.model for c, _ in rows},
                    key=lambda n: (get_architecture(n).hidden_size, n))
    windows = sorted({float(c.window) for c, _ in rows})
    strides = sorted({c.stride for c, _ in rows})
    fig, axes = plt.subplots(1, len(models), figsize=(1.2 + 0.9 * len(windows) * len(models)
                                                      + 1.5, 0.6 * len(strides) + 2.2),
                             squeeze=False)
    vals = [m.error for _, m in rows]
    vmin, vmax = min(vals), max(vals)
    im = None
    for ax, model in zip(axes[0], models):
        grid = np.full((len(strides), len(windows)), np.nan)
        for c, m in rows:
            if c.model != model:
                continue
            i, j = strides.index(c.stride), windows.index(float(c.window))
            grid[i, j] = m.error if np.isnan(grid[i, j]) else min(grid[i, j], m.error)
        im = ax.imshow(grid, cmap="magma_r", vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
        for i in range(len(strides)):
            for j in range(len(windows)):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=7,
                            color="white" if grid[i, j] > (vmin + vmax) / 2 else "black")
        ax.set_xticks(range(len(windows)), [f"{w:g}" for w in windows])
        ax.set_yticks(range(len(strides)), [str(s) for s in strides])
        ax.set_xlabel("window (s)")
        ax.set_title(model)
    axes[0][0].set_ylabel("token stride")
    metric = rows[0][1].metric
    fig.colorbar(im, ax=axes[0].tolist(), label=_error_name(metric))
    fig.suptitle(f"{_error_name(metric)} over window x stride")
    return _save(fig, path)


def ser_duration_plot(results: Results, path: Path) -> Path | None:
    """SER: UA against clip duration, one line per model/adaptation."""
    rows = [(c, m) for c, m in results if c.task == "ser" and not c.is_dynamic]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[str, list[tuple[float, float, float | None, float | None]]] = {}
    for c, m in rows:
        name = c.model + ("" if c.adaptation.method == "none" and not c.adaptation.unfreeze_top
                          else f" {c.adaptation.label}")
        series.setdefault(name, []).append((float(c.window), m.value, m.ci_low, m.ci_high))
    for name, pts in sorted(series.items()):
        pts.sort()
        x = [p[0] for p in pts]
        y = [p[1] for p in pts]
        ax.plot(x, y, "o-", label=name, ms=4)
        if all(p[2] is not None and p[3] is not None for p in pts):
            ax.fill_between(x, [p[2] for p in pts], [p[3] for p in pts], alpha=0.15)
    ax.set_xlabel("clip duration (s)")
    ax.set_ylabel(rows[0][1].metric.upper())
    ax.set_title("SER: accuracy against clip duration")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def fit_plot(fit: ScalingFit, path: Path) -> Path:
    """Measured error against the fit's prediction (in-sample and leave-one-out)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(fit.y, fit.fitted, s=20, label="fitted (all points)", c="#1f77b4")
    if fit.loo is not None:
        ax.scatter(fit.y, fit.loo.predictions, s=20, marker="x", c="#ff7f0e",
                   label=f"leave-one-out (MAPE {100 * fit.loo.mape:.1f}%)")
    lo = min(float(np.min(fit.y)), float(np.min(fit.fitted))) * 0.9
    hi = max(float(np.max(fit.y)), float(np.max(fit.fitted))) * 1.1
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("measured error")
    ax.set_ylabel("predicted error")
    ax.set_title(f"Scaling fit: {fit.formula}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
