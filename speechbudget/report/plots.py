"""PNG plots for the report (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.transforms  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from speechbudget.analysis.isoflops import SPLIT_AXES, IsoFlopsBand  # noqa: E402
from speechbudget.analysis.pareto import COSTS, FrontierResult  # noqa: E402
from speechbudget.analysis.scaling_fit import ScalingFit  # noqa: E402
from speechbudget.architectures import get_architecture  # noqa: E402
from speechbudget.axes import Config  # noqa: E402
from speechbudget.errors import write_atomic  # noqa: E402
from speechbudget.records import ConfigMetrics  # noqa: E402
from speechbudget.report.eliminated import EliminatedConfig  # noqa: E402
from speechbudget.report.model import bars_are  # noqa: E402

Results = list[tuple[Config, ConfigMetrics]]
DPI = 100
_readable = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
_two_five = matplotlib.ticker.FuncFormatter(  # minor log ticks: label only 2x and 5x
    lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 5)
    else "")
_millions = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:.3g}M")


def _save(fig, path: Path) -> Path:
    """`fig` as a PNG at `path`, written whole (`errors.write_atomic`): a rebuild interrupted
    here leaves the older plot the report names, never half of one."""
    import io
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return write_atomic(path, buf.getvalue())


def _error_name(results_metric: str) -> str:
    """The error axis' label, in the unit of the tables: WER in percent (see `_scale`)."""
    return "WER (%)" if results_metric == "wer" else f"error (1 - {results_metric.upper()})"


def _scale(results_metric: str) -> float:
    """What an error (a fraction) is multiplied by on a plot: 100 for WER (percent, as the
    tables and the interactive figure show it), else 1."""
    return 100.0 if results_metric == "wer" else 1.0


def _log_axis_ticks(axis, values: list[float], fmt=None) -> None:
    """Tick labels on a log axis whatever its range: under a decade the data has no power of ten
    to label, so the minor ticks (2..9 x 10^k) are labelled; up to two decades only 2x and 5x."""
    fmt = fmt or _readable
    axis.set_major_formatter(fmt)
    vals = [v for v in values if v > 0]
    span = math.log10(max(vals) / min(vals)) if vals else 3.0
    if span < 1:
        axis.set_minor_formatter(fmt)
    elif span < 2:
        axis.set_minor_formatter(_two_five)
    else:
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


NUMBER_PT = 7          # the Pareto plot's point numbers
# where a number may go, in points from its point (text anchor) and its alignment: first right
# and above; then below, to the left, and further out
NUMBER_PLACES = [(4, 3, "left"), (4, -7, "left"), (-4, 3, "right"), (-4, -7, "right"),
                 (4, 12, "left"), (4, -16, "left"), (-4, 12, "right"), (-4, -16, "right")]


def _number_offsets(ax, numbers: list[tuple[float, float, str, bool]]
                    ) -> list[tuple[float, float, str]]:
    """Offset (points) and alignment of each number (x, y in data, text, bold) beside its point,
    greedily: the first of `NUMBER_PLACES` whose box (as matplotlib measures a text, estimated
    from the font size: digits at most 0.7 em wide, 0.75 bold; 0.25 em below the baseline to
    0.95 above) overlaps no number already placed and stays inside the axes; the first place
    where none does. Needs the axes' scales and data set (limits final)."""
    ax.get_xlim(), ax.get_ylim()             # autoscale now: transData as it will be drawn
    px = ax.figure.dpi / 72                  # display pixels per point
    frame = ax.bbox.extents
    placed: list[tuple[float, float, float, float]] = []
    out = []
    xy = ax.transData.transform([(x, y) for x, y, _, _ in numbers]) if numbers else []
    for (px0, py0), (_, _, text, bold) in zip(xy, numbers):
        w = (0.75 if bold else 0.7) * NUMBER_PT * len(text) * px
        best = None
        for dx, dy, ha in NUMBER_PLACES:
            x0 = px0 + dx * px - (w if ha == "right" else 0.0)
            y0 = py0 + (dy - 0.25 * NUMBER_PT) * px
            box = (x0, y0, x0 + w, y0 + 1.2 * NUMBER_PT * px)
            inside = (box[0] >= frame[0] and box[2] <= frame[2] and box[1] >= frame[1]
                      and box[3] <= frame[3])
            if best is None:
                best = (dx, dy, ha, box)
            if inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3]
                                  and b[1] < box[3] for b in placed):
                best = (dx, dy, ha, box)
                break
        placed.append(best[3])
        out.append(best[:3])
    return out


def pareto_figure(fr: FrontierResult, title: str = "",
                  eliminated: Sequence[EliminatedConfig] = ()):
    """All configurations with the 95% CI of their error as error bars, dominated ones grey, the
    frontier red with a step line; every point numbered, the numbers named in a key beside the
    plot (so no label is ever dropped). `eliminated`: racing's stopped configurations, as grey
    crosses at their error on the items they were scored on. Cost axis log when all costs > 0."""
    elim = [e for e in eliminated if e.gflops and e.error is not None] if fr.cost == "gflops" \
        else []
    n = len(fr.points) + len(elim)
    fig = plt.figure(figsize=(11, max(5.0, 0.16 * n + 1.2)))
    grid = fig.add_gridspec(1, 2, width_ratios=[3.2, 1.3], wspace=0.05)
    ax, key = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    bars = fr.error_bars()              # the 95 % CI of each point's error (analysis.pareto)
    metric = fr.points[0].metrics.metric if fr.points else "wer"
    k = _scale(metric)
    for on_front, color, size, name, z in ((False, "#999999", 22, "dominated", 2),
                                           (True, "#d62728", 36, "Pareto-optimal", 3)):
        bs = [b for b in bars if b.on_frontier == on_front]
        if not bs:
            continue
        yerr = np.array([[k * max(0.0, b.error - b.low) if b.low is not None else 0.0
                          for b in bs],
                         [k * max(0.0, b.high - b.error) if b.high is not None else 0.0
                          for b in bs]])
        ax.errorbar([b.cost for b in bs], [k * b.error for b in bs], yerr=yerr, fmt="o",
                    color=color, ms=np.sqrt(size), elinewidth=1, capsize=2, alpha=0.9,
                    label=f"{name} ({bars_are(bs)})", zorder=z)
    front = fr.frontier
    if front:
        ax.step([p.cost for p in front], [k * p.error for p in front], where="post", c="#d62728",
                lw=1.2, zorder=1)
    if elim:
        ax.scatter([e.gflops for e in elim], [k * e.error for e in elim], marker="x", c="#555555",
                   s=30, label="eliminated by racing (error on its items only)", zorder=2)
    costs = [p.cost for p in fr.points] + [e.gflops for e in elim]
    if costs and min(costs) > 0:
        ax.set_xscale("log")
        _log_axis_ticks(ax.xaxis, costs)
    errs = [k * p.error for p in fr.points]
    if errs and min(errs) > 0 and max(errs) / min(errs) > 10:
        ax.set_yscale("log")
        _log_axis_ticks(ax.yaxis, errs)
    lines = []
    number = {p.config.key: i for i, p in enumerate(fr.points, 1)}
    ordered = [(p.cost, k * p.error, p.label, "#222222" if not p.dominated else "#777777",
                "" if not p.dominated else
                (f" (dominated by {number[p.dominated_by.key]})"
                 if p.dominated_by is not None and p.dominated_by.key in number
                 else " (dominated)")) for p in fr.points]
    ordered += [(e.gflops, k * e.error, e.label, "#555555", f" (eliminated, {e.n_items} items)")
                for e in elim]
    # each number beside its point, shifted in points (a plain Text: an Annotation's per-draw
    # clip test and transform rebuild cost ~10% of drawing 324 of them); where points crowd, a
    # number goes where it hides no number already placed (`_number_offsets`)
    offsets = _number_offsets(ax, [(x, y, str(i), not what)
                                   for i, (x, y, _, _, what) in enumerate(ordered, 1)])
    for i, ((x, y, label, color, what), (dx, dy, ha)) in enumerate(zip(ordered, offsets), 1):
        beside = ax.transData + matplotlib.transforms.ScaledTranslation(dx / 72, dy / 72,
                                                                         fig.dpi_scale_trans)
        ax.text(x, y, str(i), transform=beside, fontsize=NUMBER_PT, color=color, ha=ha,
                fontweight="bold" if not what else "normal")
        lines.append((f"{i:>2}  {label}{what}", color))
    key.axis("off")
    key.set_ylim(0, 1)
    step = min(0.05, 0.98 / max(1, len(lines)))
    for j, (text, color) in enumerate(lines):
        key.text(0.0, 0.99 - j * step, text, fontsize=7, color=color, va="top",
                 family="monospace", transform=key.transAxes)
    ax.set_xlabel(COSTS[fr.cost] + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel(_error_name(metric))
    ax.set_title(title or f"{_error_name(metric)} vs {COSTS[fr.cost]}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right", fontsize=7)
    return fig


def pareto_plot(fr: FrontierResult, path: Path, title: str = "",
                eliminated: Sequence[EliminatedConfig] = ()) -> Path:
    return _save(pareto_figure(fr, title, eliminated), path)


def _tick_values(values: list[float], most: int = 8) -> list[float]:
    vals = sorted(set(values))
    if len(vals) <= most:
        return vals
    idx = np.unique(np.round(np.linspace(0, len(vals) - 1, most)).astype(int))
    return [vals[i] for i in idx]


def isoflops_figure(bands: list[IsoFlopsBand]):
    """One panel per axis; one curve per budget band: error against how the budget is spent.
    Ticks at the measured values of each axis, labelled on every panel; the error axis is shared
    (same scale on the three panels, said in the title)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), sharey=True)
    cmap = plt.get_cmap("viridis")
    metric = bands[0].points[0].metrics.metric if bands else "wer"
    k = _scale(metric)
    for i, band in enumerate(bands):
        color = cmap(i / max(1, len(bands) - 1))
        for ax, name in zip(axes, SPLIT_AXES):
            curve = band.curves[name]
            ax.plot(curve.values, [k * e for e in curve.errors], "o-", color=color,
                    label=band.label, ms=4)
            if curve.optimum is not None:
                ax.axvline(curve.optimum, color=color, ls=":", lw=1)
    for ax, (name, desc) in zip(axes, SPLIT_AXES.items()):
        values = [v for b in bands for v in b.curves[name].values]
        ax.set_xscale("log")
        fmt = _readable if name != "params" else _millions
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(_tick_values(values)))
        ax.xaxis.set_major_formatter(fmt)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        if len(set(values)) == 1:  # one value: a log axis needs some room around it
            v = values[0]
            ax.set_xlim(v / 1.5, v * 1.5)
        ax.tick_params(labelleft=True)     # sharey hides them on inner panels: keep every one
        ax.set_xlabel(desc + " (log scale)")
        ax.set_ylabel(_error_name(metric))
        ax.set_title(f"by {desc}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, title="budget band")
    fig.suptitle("Iso-FLOPs: error at (nearly) equal compute, by where it is spent (dotted: "
                 "parabola optimum); the error axis has the same scale on all three panels",
                 fontsize=10)
    fig.tight_layout()
    return fig


def isoflops_plot(bands: list[IsoFlopsBand], path: Path) -> Path:
    return _save(isoflops_figure(bands), path)


def _position(c: Config) -> tuple:
    """Sort key and title of where a token stride applies (stride 1: nowhere)."""
    at = c.stride_at
    order = (1, 0) if at == "output" else (0, int(at))
    where = "on the encoder output" if at == "output" else f"before encoder layer {at}"
    return order + (c.pool,), f"stride {where}, {c.pool} pooling"


def heatmap_figure(results: Results):
    """Error over window x stride: one heatmap per model and stride position (rows: where the
    stride applies and how tokens are pooled; stride 1, no subsampling, is the same row in every
    position). Each cell: the best error over the other axes. None without fixed windows."""
    rows = [(c, m) for c, m in results if not c.is_dynamic and math.isfinite(m.error)]
    if not rows:
        return None
    models = sorted({c.model for c, _ in rows},
                    key=lambda n: (get_architecture(n).hidden_size, n))
    windows = sorted({float(c.window) for c, _ in rows})
    strides = sorted({c.stride for c, _ in rows})
    positions = sorted({_position(c) for c, _ in rows if c.stride > 1}) or \
        [((2, 0, ""), "no token stride measured")]
    fig, axes = plt.subplots(len(positions), len(models),
                             figsize=(1.6 + (0.9 * len(windows) + 1.4) * len(models),
                                      (0.5 * len(strides) + 1.9) * len(positions) + 0.9),
                             squeeze=False, layout="constrained")
    k = _scale(rows[0][1].metric)
    vals = [k * m.error for _, m in rows]
    vmin, vmax = min(vals), max(vals)
    im = None
    for r, (pos, title) in enumerate(positions):
        for ax, model in zip(axes[r], models):
            grid = np.full((len(strides), len(windows)), np.nan)
            for c, m in rows:
                if c.model != model or (c.stride > 1 and _position(c)[0] != pos):
                    continue
                i, j = strides.index(c.stride), windows.index(float(c.window))
                e = k * m.error
                grid[i, j] = e if np.isnan(grid[i, j]) else min(grid[i, j], e)
            im = ax.imshow(grid, cmap="magma_r", vmin=vmin, vmax=vmax, aspect="auto",
                           origin="lower")
            for i in range(len(strides)):
                for j in range(len(windows)):
                    if not np.isnan(grid[i, j]):
                        cell = f"{grid[i, j]:.2f}" if k == 100 else f"{grid[i, j]:.3f}"
                        ax.text(j, i, cell, ha="center", va="center", fontsize=7,
                                color="white" if grid[i, j] > (vmin + vmax) / 2 else "black")
            ax.set_xticks(range(len(windows)), [f"{w:g}" for w in windows])
            ax.set_yticks(range(len(strides)), [str(s) for s in strides])
            ax.set_xlabel("window (s)")
            ax.set_ylabel("token stride")
            ax.set_title(f"{model}\n{title}", fontsize=9)
    metric = rows[0][1].metric
    fig.colorbar(im, ax=axes.ravel().tolist(), label=_error_name(metric))
    fig.suptitle(f"{_error_name(metric)} over window x stride, one heatmap per model and stride "
                 "position\n(stride 1 = no subsampling, the same row in every position; blank: "
                 "not measured or eliminated; each cell the best over the other axes)", fontsize=9)
    return fig


def heatmap_plot(results: Results, path: Path) -> Path | None:
    fig = heatmap_figure(results)
    return None if fig is None else _save(fig, path)


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


def fit_plot(fit: ScalingFit, path: Path, metric: str = "wer") -> Path:
    """Measured error against the fit's prediction (in-sample and leave-one-out), in the unit
    of the tables (`metric` WER: percent)."""
    k = _scale(metric)
    y, fitted = k * np.asarray(fit.y, float), k * np.asarray(fit.fitted, float)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(y, fitted, s=20, label="fitted (all points)", c="#1f77b4")
    if fit.loo is not None:
        ax.scatter(y, k * np.asarray(fit.loo.predictions, float), s=20, marker="x", c="#ff7f0e",
                   label=f"leave-one-out (MAPE {100 * fit.loo.mape:.1f}%)")
    lo = min(float(np.min(y)), float(np.min(fitted))) * 0.9
    hi = max(float(np.max(y)), float(np.max(fitted))) * 1.1
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("measured " + _error_name(metric))
    ax.set_ylabel("predicted " + _error_name(metric))
    ax.set_title(f"Scaling fit: {fit.formula}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
