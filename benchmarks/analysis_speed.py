"""How fast are the answers? Side by side on the same inputs:

- Pareto frontier: the O(n log n) sort-and-sweep of `analysis.pareto` against brute-force O(n^2)
  pairwise dominance (same frontier checked);
- scaling fit: our starts (NNLS-seeded exponent grid, best 6 polished by L-BFGS) against
  polishing every grid point with scales from a plain guess (Chinchilla-style full grid): time and
  final loss (same optimum checked).
Results to benchmarks/results/analysis_speed.{json,md}.

    python benchmarks/analysis_speed.py [--sizes 100 1000 4000]
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from speechbudget.machine import machine_info
from speechbudget.analysis import scaling_fit, scaling_law, scaling_solver
from speechbudget.analysis.pareto import pareto_frontier
from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics

OUT = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return machine_info()


def results(n: int, seed: int = 0) -> list[tuple[Config, ConfigMetrics]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):  # distinct windows give distinct configurations
        c = Config(task="asr", model=rng.choice(["tiny.en", "base", "small"]),
                   window=round(2 + 0.02 * (i % 1400), 2), stride=1 + i // 1400)
        out.append((c, ConfigMetrics(c.key, "asr", "wer", round(rng.uniform(0.02, 0.3), 3),
                                     gflops=round(rng.uniform(1, 500), 1),
                                     rtf=round(rng.uniform(0.01, 0.5), 3))))
    return out


def frontier_heavy(n: int) -> list[tuple[Config, ConfigMetrics]]:
    """Worst case for pairwise dominance: most points on the frontier (error falls with cost)."""
    out = results(n, seed=1)
    return [(c, ConfigMetrics(c.key, "asr", "wer", round(0.3 - 0.25 * i / n, 6),
                              gflops=1.0 + i, rtf=0.01)) for i, (c, _) in enumerate(out)]


def brute_force(res) -> set[str]:
    def dom(a, b):
        return (a.gflops <= b.gflops and a.error <= b.error
                and (a.gflops < b.gflops or a.error < b.error))
    return {c.key for c, m in res if not any(dom(o, m) for _, o in res)}


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def full_grid_fit(N, T, s, y) -> tuple[float, np.ndarray]:
    """Baseline: every exponent grid point polished, scales started at log(mean(y) / terms)."""
    X = scaling_law.features(N, T, s)
    ref = X.mean(axis=0)
    law = scaling_law.make_law("additive")
    best = None
    for combo in itertools.product(scaling_solver.START_GRID, repeat=len(law.exp_idx)):
        theta = np.full(law.n_params, np.log(np.mean(y) / len(law.terms)))
        theta[list(law.exp_idx)] = combo
        th, loss = scaling_solver.polish(law, theta, X - ref, np.log(y))
        if best is None or loss < best[0]:
            best = (loss, th)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 4000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for (kind, make), n in itertools.product((("random", results),
                                              ("frontier-heavy", frontier_heavy)), args.sizes):
        res = make(n)
        fast = best_time(lambda: pareto_frontier(res), args.repeat)
        slow = best_time(lambda: brute_force(res), 1)
        same = {p.config.key for p in pareto_frontier(res).frontier} == brute_force(res)
        rec = best_time(lambda: recommend(res, Limits(max_gflops=200, max_rtf=0.2)), args.repeat)
        rows.append({"data": kind, "n": n, "pareto_s": fast, "brute_force_s": slow, "speedup": slow / fast,
                     "same_frontier": same, "recommend_s": rec})
    # scaling fit on a synthetic 5 x 5 x 5 grid with 1 % noise
    Ns, Ts, Ss = [39e6, 74e6, 244e6, 769e6, 1.55e9], [5, 10, 15, 20, 30], [1, 2, 3, 4, 6]
    N, T, S = map(np.array, zip(*itertools.product(Ns, Ts, Ss)))
    y = (0.03 + 40 / N ** 0.4 + 0.3 / T ** 0.8 + 0.01 * S ** 1.2) \
        * np.exp(np.random.default_rng(0).normal(0, 0.01, len(N)))
    t = time.perf_counter()
    ours = scaling_fit.fit_law(N, T, S, y, loo=False)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    base_loss, _ = full_grid_fit(N, T, S, y)
    t_base = time.perf_counter() - t
    fit = {"points": len(y), "ours_s": t_ours, "full_grid_s": t_base,
           "speedup": t_base / t_ours, "ours_loss": ours.loss, "full_grid_loss": base_loss,
           "starts_ours": scaling_solver.N_STARTS,
           "starts_full_grid": len(scaling_solver.START_GRID) ** 3}
    out = {"machine": machine(), "pareto": rows, "fit": fit}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "analysis_speed.json").write_text(json.dumps(out, indent=1))
    m = out["machine"]
    md = ["# analysis_speed", "",
          f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, "
          f"{m['torch_threads']} thread(s).", "",
          "## Pareto frontier (error vs GFLOPs): sort-and-sweep vs brute-force pairwise", "",
          "| data | configurations | sweep s | brute force s | speed-up | same frontier | "
          "recommend s |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['data']} | {r['n']} | {r['pareto_s']:.4f} | {r['brute_force_s']:.4f} | "
           f"{r['speedup']:,.2f}x | {r['same_frontier']} | {r['recommend_s']:.4f} |"
           for r in rows]
    md += ["", "## Scaling fit (additive law, 125 points, 1 % noise)", "",
           "| starts | time s | final loss |", "|---|---|---|",
           f"| ours: NNLS-seeded grid, best {fit['starts_ours']} polished | {t_ours:.3f} | "
           f"{ours.loss:.6g} |",
           f"| baseline: all {fit['starts_full_grid']} grid points polished | {t_base:.3f} | "
           f"{base_loss:.6g} |", "", f"Speed-up: **{fit['speedup']:.1f}x**; loss ratio "
           f"ours / baseline: {ours.loss / base_loss:.6f}.", ""]
    (OUT / "analysis_speed.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
