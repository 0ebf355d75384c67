"""How fast is analytic FLOPs accounting? Configurations per second of `speechbudget.flops.estimate`
(goal >= 100,000/s) against measured counting (FlopCounterMode on the meta device) of the same
configurations, run side by side; results to benchmarks/results/flops_speed.{json,md}.

    python benchmarks/flops_speed.py [--measured 12] [--repeat 5]
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings
from pathlib import Path

import torch

from speechbudget.machine import machine_info
from speechbudget.axes import Config
from speechbudget.flops import estimate
from speechbudget.flops.measure import measure as measure_asr
from speechbudget.tasks.ser.flops_check import measure_ser

OUT = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return machine_info()


def configs() -> list[tuple[Config, float | None]]:
    out = []
    models = ["tiny.en", "base", "small", "medium", "large-v3"]
    for m, w, s, at, pool, n in itertools.product(models, [30, 20, 10, 5, 2], [1, 2, 3, 4],
                                                   [0, 2, "output"], ["mean", "drop"], [10, 60]):
        if s == 1 and (at != "output" or pool != "mean"):
            continue
        out.append((Config(task="asr", model=m, window=w, stride=s, stride_at=at, pool=pool), n))
    for m, w in itertools.product(["wav2vec2-base", "hubert-large", "wavlm-base-plus", "small"],
                                  [1.0, 2.5, 4.0, 8.0]):
        out.append((Config(task="ser", model=m, window=w), None))
    return out


def measure(c: Config, decoded_tokens: int | None):
    return measure_asr(c, decoded_tokens=decoded_tokens) if c.task == "asr" else measure_ser(c)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--measured", type=int, default=12, help="configurations to count measured")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    cfgs = configs()
    calls = [(c, n) for c, n in cfgs]
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        for c, n in calls:
            estimate(c, decoded_tokens=n)
        best = min(best, time.perf_counter() - t)
    per_analytic = best / len(calls)
    # measured: small architectures spread over both families (large ones take seconds each)
    asr = [(c, n) for c, n in cfgs if c.model in ("tiny.en", "base")]
    ser = [(c, n) for c, n in cfgs if c.model in ("wav2vec2-base", "wavlm-base-plus")]
    n_ser = min(len(ser), max(1, args.measured // 3))
    n_asr = max(1, args.measured - n_ser)
    sample = asr[::max(1, len(asr) // n_asr)][:n_asr] + ser[::max(1, len(ser) // n_ser)][:n_ser]
    measure(sample[0][0], decoded_tokens=sample[0][1])  # warm-up (imports, first build)
    rows, t_meas, t_ana = [], 0.0, 0.0
    for c, n in sample:
        t = time.perf_counter()
        m = measure(c, decoded_tokens=n)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(1000):
            a = estimate(c, decoded_tokens=n)
        da = (time.perf_counter() - t) / 1000
        t_meas += dt
        t_ana += da
        rows.append({"config": c.label, "decoded_tokens": n, "analytic_s": da, "measured_s": dt,
                     "speedup": dt / da, "rel_diff": (m.total - a.total) / a.total})
    result = {"benchmark": "flops_speed", "machine": machine(),
              "analytic_configs": len(calls), "analytic_configs_per_s": 1 / per_analytic,
              "analytic_us_per_config": per_analytic * 1e6, "goal_configs_per_s": 100_000,
              "measured_configs": len(rows), "measured_s_per_config": t_meas / len(rows),
              "speedup_analytic_vs_measured": t_meas / t_ana, "rows": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "flops_speed.json").write_text(json.dumps(result, indent=2))
    mc = result["machine"]
    md = ["# flops_speed\n",
          f"Machine: {mc['cpu']}, {mc['cores']} cores, torch {mc['torch']}, "
          f"{mc['torch_threads']} thread(s).\n",
          f"- analytic `estimate`: **{result['analytic_configs_per_s']:,.0f} configurations/s** "
          f"({result['analytic_us_per_config']:.2f} µs each, best of {args.repeat} over "
          f"{len(calls)} distinct configurations; goal 100,000/s)",
          f"- measured (FlopCounterMode, meta device, same configurations): "
          f"{result['measured_s_per_config']:.3f} s per configuration",
          f"- ratio measured / analytic time per configuration: "
          f"**{result['speedup_analytic_vs_measured']:,.0f}x**\n",
          "| configuration | tokens | analytic µs | measured s | ratio | (measured - analytic) / analytic |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['config']} | {r['decoded_tokens']} | {r['analytic_s'] * 1e6:.2f} | "
                  f"{r['measured_s']:.3f} | {r['speedup']:,.0f}x | {r['rel_diff']:+.2e} |")
    (OUT / "flops_speed.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
