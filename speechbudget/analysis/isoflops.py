"""Iso-FLOPs view: within each budget band, error against how the budget is spent.

Configurations are grouped into log-spaced GFLOPs bands (default: one octave, i.e. [2^k, 2^k+1)
GFLOPs, so band edges do not depend on the data). Inside a band the FLOPs are (nearly) equal, and
the configurations differ in how they spend them: a bigger model (N = parameters), a longer window
(T = seconds) or finer tokens (token rate = 50 / stride tokens per second). For each axis the band
gives error against that axis (the best error at each value) and, when there are at least three
values, the vertex of a parabola in log(axis) (Chinchilla's approach 2): the compute-optimal
setting of that axis for the band, or None when the curve has no interior minimum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from speechbudget.axes import Config
from speechbudget.geometry import ENCODER_TOKENS_PER_S
from speechbudget.records import ConfigMetrics

Results = list[tuple[Config, ConfigMetrics]]
SPLIT_AXES = {"params": "model parameters (xN)", "window_s": "input window, s (xT)",
              "token_rate": "encoder tokens per second (xV)"}


@dataclass(frozen=True)
class BandPoint:
    config: Config
    metrics: ConfigMetrics
    gflops: float
    error: float
    params: float
    window_s: float
    token_rate: float

    def axis(self, name: str) -> float:
        return float(getattr(self, name))


@dataclass(frozen=True)
class AxisCurve:
    axis: str
    values: list[float]          # distinct axis values in the band, ascending
    errors: list[float]          # best error at each value
    optimum: float | None        # parabola vertex in log(axis), inside the measured range


@dataclass
class IsoFlopsBand:
    lo: float                    # GFLOPs, inclusive
    hi: float                    # GFLOPs, exclusive
    points: list[BandPoint]
    curves: dict[str, AxisCurve] = field(default_factory=dict)

    @property
    def best(self) -> BandPoint:
        return min(self.points, key=lambda p: (p.error, p.gflops, p.config.label, p.config.key))

    @property
    def label(self) -> str:
        """'512–1,024 GFLOPs': both edges in one notation (`fmt_edge`)."""
        return f"{fmt_edge(self.lo)}–{fmt_edge(self.hi)} GFLOPs"


def fmt_edge(v: float) -> str:
    """A band edge in GFLOPs: 3 significant figures below 100 ('0.125', '1.41', '45.3'), whole
    numbers with thousands separators from 100 to below 10^6 ('512', '1,024', '524,288': an
    octave edge 2^k whole, never '1.02e+03' beside '512'), and 3 significant figures in
    e-notation from 10^6 ('1.05e+06'); an open top edge '∞'."""
    if not math.isfinite(v):
        return "∞"
    if v < 100:
        return f"{v:.3g}"
    if v < 1e6:
        return f"{round(v):,}"
    return f"{v:.3g}"


def _window(c: Config, m: ConfigMetrics) -> float | None:
    if not c.is_dynamic:
        return float(c.window)
    w = m.extra.get("mean_window_s") if m.extra else None
    return float(w) if w else None


def parabola_vertex(x: list[float], y: list[float]) -> float | None:
    """Minimum of a parabola fitted to (log x, y), when it opens upward and lies in the range."""
    if len(set(x)) < 3:
        return None
    lx = np.log(np.asarray(x, float))
    a, b, _ = np.polyfit(lx, np.asarray(y, float), 2)
    if a <= 0:
        return None
    v = -b / (2 * a)
    if not lx.min() <= v <= lx.max():
        return None
    return float(math.exp(v))


def _power(width: float, k: int) -> float:
    """width ** k, inf where it exceeds the largest float (the top band of a GFLOPs near it is
    open above; Python raises OverflowError there)."""
    try:
        return width ** k
    except OverflowError:
        return math.inf


def isoflops_bands(results: Results, width: float = 2.0, edges: list[float] | None = None,
                   min_points: int = 2) -> list[IsoFlopsBand]:
    """Bands of (nearly) equal GFLOPs holding at least `min_points` configurations.

    `width`: ratio hi/lo of each band (bands are [width^k, width^(k+1))); `edges`: explicit
    ascending GFLOPs edges instead. Configurations without a finite GFLOPs value > 0, a finite
    error, or (dynamic windows) a recorded mean window are left out.
    """
    from speechbudget.analysis.scaling_results import n_params

    if edges is not None:
        if len(edges) < 2 or any(not b > a for a, b in zip(edges, edges[1:])) or edges[0] <= 0:
            raise ValueError(f"invalid band edges {edges!r}: at least two ascending values > 0")
    elif not width > 1:
        raise ValueError(f"invalid band width {width!r}: a ratio > 1 (2 = one octave)")
    pts: dict[tuple[float, float], list[BandPoint]] = {}
    for c, m in results:
        g, e, w = m.gflops, m.error, _window(c, m)
        if g is None or not 0 < g < math.inf or e is None or not math.isfinite(e) or w is None:
            continue
        if edges is not None:
            i = int(np.searchsorted(edges, g, side="right")) - 1
            if i < 0 or i >= len(edges) - 1:
                continue
            lo, hi = float(edges[i]), float(edges[i + 1])
        else:
            k = math.floor(math.log(g) / math.log(width))
            while _power(width, k) > g:     # the logarithm's rounding, either way: g itself
                k -= 1                      # decides, so lo <= g < hi holds exactly
            while _power(width, k + 1) <= g:
                k += 1
            lo, hi = _power(width, k), _power(width, k + 1)
        pts.setdefault((lo, hi), []).append(BandPoint(
            c, m, float(g), float(e), float(n_params(c.model)), w,
            ENCODER_TOKENS_PER_S / c.stride))
    bands = []
    for (lo, hi), ps in sorted(pts.items()):
        if len(ps) < min_points:
            continue
        ps.sort(key=lambda p: (p.params, p.window_s, p.token_rate, p.error, p.config.key))
        band = IsoFlopsBand(lo, hi, ps)
        for ax in SPLIT_AXES:
            best: dict[float, float] = {}
            for p in ps:
                v = p.axis(ax)
                best[v] = min(best.get(v, math.inf), p.error)
            vals = sorted(best)
            errs = [best[v] for v in vals]
            band.curves[ax] = AxisCurve(ax, vals, errs, parabola_vertex(vals, errs))
        bands.append(band)
    return bands
