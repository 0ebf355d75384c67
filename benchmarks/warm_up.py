"""What a warm-up per model (instead of per configuration) changes in a sweep: wall and RTF.

    python benchmarks/warm_up.py [--spec examples/asr_star.yaml] [--items 8] [--rounds 2]
        [--threads 1]

`AsrTask(warm_per=...)` (`AsrTask.warm_key`) decides what one untimed warm-up pass covers. Per configuration (the key
before 2026-12-04: model, device, window, stride, stride position, pool, beam) every
configuration of a sweep pays a warm-up, a full encoder window and a few decoder steps, even
when its model has just run. Per model (the key now: weights, precision, adapter, device) a
sweep warms each model once; a later configuration's first batch then meets its own shapes
(window, token count) cold, inside its timing. This script runs the same star both ways in one
process, alternating, `--rounds` times, and reports each configuration's RTF (batched
processing seconds per audio second) and the sweep's wall time side by side: if the first-call
cost at new shapes mattered, the per-model RTFs would be higher. Metrics (WER) must be equal.
Results: benchmarks/results/warm_up.{json,md}.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

REPO = Path(__file__).resolve().parents[1]
KEYS = {"per configuration": "configuration", "per model": "model"}  # AsrTask(warm_per=...)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(REPO / "examples" / "asr_star.yaml"))
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from speechbudget.machine import machine_info
    from speechbudget.models.loading import load_whisper
    from speechbudget.sweep import load_spec, run_sweep
    from speechbudget.sweep.executors import LocalExecutor

    spec = load_spec(args.spec)
    spec.task_options = {**spec.task_options, "max_items": args.items}
    for m in spec.models:  # converted weights loaded once before timing
        load_whisper(m, device="cpu")
    tmp = Path(tempfile.mkdtemp(prefix="warm_up_"))
    runs: dict[str, list[dict]] = {k: [] for k in KEYS}
    options = dict(spec.task_options)
    for r in range(args.rounds):
        for mode, per in KEYS.items():
            spec.task_options = {**options, "warm_per": per}
            t0 = time.perf_counter()
            s = run_sweep(spec, tmp / f"{r}-{mode.replace(' ', '_')}.db", progress=False,
                          device="cpu", executor=LocalExecutor("cpu"))
            wall = time.perf_counter() - t0
            runs[mode].append({"wall_s": wall,
                               "rtf": {c.label: m.rtf for c, m in s.metrics},
                               "wer": {c.label: m.value for c, m in s.metrics}})
            print(f"round {r + 1} {mode}: {wall:.1f} s", flush=True)
    labels = list(runs["per model"][0]["rtf"])
    med = {mode: {lab: statistics.median(x["rtf"][lab] for x in rs) for lab in labels}
           for mode, rs in runs.items()}
    wall = {mode: statistics.median(x["wall_s"] for x in rs) for mode, rs in runs.items()}
    same = all(x["wer"] == runs["per model"][0]["wer"] for rs in runs.values() for x in rs)
    ratios = [med["per model"][lab] / med["per configuration"][lab] for lab in labels]
    out = {"spec": args.spec, "items": args.items, "rounds": args.rounds,
           "threads": args.threads, "runs": runs, "median_rtf": med, "median_wall_s": wall,
           "rtf_ratio_median": statistics.median(ratios), "same_wer": same,
           "machine": machine_info()}
    md = [f"# Warm-up per model vs per configuration ({Path(args.spec).name}, {args.items} "
          f"utterances, {args.rounds} alternating rounds, {args.threads} thread(s))", "",
          "| configuration | RTF, warm-up per configuration | RTF, per model | ratio |",
          "|---|---|---|---|"]
    for lab, q in zip(labels, ratios):
        md.append(f"| {lab} | {med['per configuration'][lab]:.4f} | "
                  f"{med['per model'][lab]:.4f} | {q:.2f} |")
    md += ["", f"Sweep wall (median of rounds): per configuration {wall['per configuration']:.1f} "
           f"s, per model {wall['per model']:.1f} s ({wall['per model'] / wall['per configuration']:.2f}). "
           f"Median RTF ratio per model / per configuration: {out['rtf_ratio_median']:.2f}. "
           f"Same WER in every run: {same}.", "",
           f"Machine: {out['machine'].get('cpu')}. Command: `python benchmarks/warm_up.py "
           f"--items {args.items} --rounds {args.rounds} --threads {args.threads}`"]
    print(write_results(Path(args.out) / "warm_up", out, md))


if __name__ == "__main__":
    main()
