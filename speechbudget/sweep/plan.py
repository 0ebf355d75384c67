"""Which configurations a sweep runs, with their FLOPs, before anything runs.

grid      the full product of the axes;
star      a centre configuration and one axis varied at a time (the paper's design);
iso_flops every configuration of the joint space whose FLOPs per item fall within
          +-tolerance of a budget (all candidates are costed first, analytically);
adaptive  the joint space is the search space; `sweep.adaptive` picks points from it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from speechbudget.axes import Config
from speechbudget.sweep.spec_types import InvalidPoint, SweepSpec


@dataclass
class Plan:
    spec: SweepSpec
    configs: list[Config]                    # what runs (adaptive: the search space)
    invalid: list[InvalidPoint]              # combinations skipped, with the field that is wrong
    gflops: dict[str, float | None]          # config key -> estimated GFLOPs per item
    bands: dict[str, list[float]] = field(default_factory=dict)  # iso_flops: key -> budgets
    audio_s: float | None = None             # item length the FLOPs were estimated for
    space_size: int = 0                      # valid configurations of the joint space
    # iso_flops: each budget no configuration falls within -> the nearest (label, GFLOPs) of
    # the joint space (None: no configuration has a FLOPs estimate)
    unmatched: dict[float, tuple[str, float] | None] = field(default_factory=dict)

    def unmatched_text(self) -> list[str]:
        """One sentence per iso_flops budget that selects nothing, for the user."""
        tol = self.spec.plan.tolerance
        items = f" for items of {self.audio_s:.3g} s" if self.audio_s else ""
        out = []
        for b, near in self.unmatched.items():
            why = ("no configuration has a FLOPs estimate" if near is None else
                   f"the nearest is {near[0]} at {near[1]:.4g} GFLOPs per item{items}")
            out.append(f"budget {b:g} GFLOPs: no configuration within +-{100 * tol:g}% ({why})")
        return out


def config_gflops(config: Config, audio_s: float | None = None) -> float | None:
    """Analytic GFLOPs per item (speechbudget.flops.estimate); None if it cannot be estimated."""
    from speechbudget.flops import estimate
    try:
        if config.task == "asr":
            return float(estimate(config, audio_s=audio_s).gflops)
        return float(estimate(config).gflops)
    except (ValueError, NotImplementedError):
        return None


def plan_configurations(spec: SweepSpec, audio_s: float | None = None) -> Plan:
    """The configurations of `spec`'s plan. `audio_s`: typical item length (default: the plan's
    `audio_s`, else each configuration's window) used for FLOPs."""
    audio_s = spec.plan.audio_s or audio_s
    kind = spec.plan.type
    if kind == "star":
        configs, invalid = spec.star_points()
        space_n = len(configs)
    else:
        configs, invalid = spec.space()
        space_n = len(configs)
    needs_flops = kind in ("iso_flops", "adaptive")
    gflops: dict[str, float | None] = {}
    for c in configs:
        try:
            gflops[c.key] = config_gflops(c, audio_s)
        except ImportError:
            if needs_flops:
                raise
            gflops[c.key] = None
    bands: dict[str, list[float]] = {}
    unmatched: dict[float, tuple[str, float] | None] = {}
    if kind == "iso_flops":
        costed = [(c.label, g) for c in configs if (g := gflops.get(c.key)) is not None]
        configs, bands = select_iso_flops(configs, gflops, spec.plan.budgets_gflops,
                                          spec.plan.tolerance)
        hit = {b for bs in bands.values() for b in bs}
        for b in spec.plan.budgets_gflops:
            if b not in hit:
                unmatched[b] = min(costed, key=lambda t: abs(t[1] - b) / b, default=None)
    return Plan(spec, configs, invalid, {c.key: gflops[c.key] for c in configs}, bands,
                audio_s, space_n, unmatched)


def select_iso_flops(configs: list[Config], gflops: dict[str, float | None],
                     budgets: tuple[float, ...], tolerance: float
                     ) -> tuple[list[Config], dict[str, list[float]]]:
    """Configurations whose GFLOPs lie in [B(1-tol), B(1+tol)] for some budget B (in order)."""
    chosen: list[Config] = []
    bands: dict[str, list[float]] = {}
    for c in configs:
        g = gflops.get(c.key)
        if g is None:
            continue
        hit = [b for b in budgets if abs(g - b) <= tolerance * b]
        if hit:
            chosen.append(c)
            bands[c.key] = hit
    return chosen, bands


def race_rounds(shard_sizes: Sequence[int], first_items: int, growth: float) -> list[int]:
    """Racing's schedule (sweep.racing): the number of leading shards each round runs: the
    fewest holding >= first_items x growth^r items, strictly growing, the last one all shards."""
    total, out, r = 0, [], 0
    cum = []
    for n in shard_sizes:
        total += n
        cum.append(total)
    while True:
        want = first_items * growth ** r
        k = next((i + 1 for i, c in enumerate(cum) if c >= want), len(cum))
        if not out or k > out[-1]:
            out.append(k)
        if k >= len(cum):
            return out
        r += 1


# ---- run-time estimate ---------------------------------------------------------------------
def calibrate_gflops_per_s(bursts: int = 8, seconds: float = 0.03, n: int = 384) -> float:
    """This machine's fp32 matrix-multiply GFLOP/s on the current torch thread count: the best
    of several short bursts, so a moment of contention from other processes does not skew it."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = 0.0
    for _ in range(bursts):
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            a @ b
            reps += 1
        best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


#: models reach a fraction of matmul peak (small batches, decoding, element-wise work); 0.4 is
#: what Whisper tiny.en/base reached here (examples/asr_star.yaml, 1 thread, see
#: benchmarks/results/sweep_reuse.json: ~25 GFLOP/s against ~60 for the matmul)
MODEL_EFFICIENCY = 0.4


@dataclass
class Throughput:
    gflops_per_s: float
    source: str   # "past runs in the store" | "matmul calibration x0.3"


def throughput(store: Any | None = None) -> Throughput:
    """Effective GFLOP/s: from finished items of past runs in `store` if any, else calibrated."""
    if store is not None:
        got = store.effective_gflops_per_s()
        if got:
            return Throughput(got, "past runs in the store")
    return Throughput(calibrate_gflops_per_s() * MODEL_EFFICIENCY,
                      f"matmul calibration x{MODEL_EFFICIENCY}")


def estimate_seconds(gflops_per_item: float | None, n_items: int | None,
                     tp: Throughput) -> float | None:
    if gflops_per_item is None or not n_items:
        return None
    return gflops_per_item * n_items / tp.gflops_per_s
