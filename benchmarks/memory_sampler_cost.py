"""What the per-configuration memory measurement costs the run it measures, side by side in one run.

    OMP_NUM_THREADS=2 python benchmarks/memory_sampler_cost.py [--limit 40] [--rounds 3]
        [--data ../shared/data/librispeech_sample] [--threads 2]

`AsrTask.run_shard` wraps every shard in `memory.MemoryPeak`. This script runs tiny.en at 30 s
(batch 8, the task's warm-up) over the first `--limit` utterances in a fresh process per
variant, the variants alternating for `--rounds` rounds (the order rotated each round), and
reports each variant's median encoder, decoder and processing seconds and its ratio to
"no sampler":
- `as is`: the current `MemoryPeak` (allocated bytes via mallinfo2, sampled every 20 ms);
- `2 ms`: the same, sampled every 2 ms (the interval before 2026-12-04);
- `2 ms + pin`: sampled every 2 ms with glibc's mmap threshold fixed at 128 KiB first (what
  `RssPeak` did before 2026-12-04);
- `no sampler`: the sampling thread does nothing (the baseline).
Writes benchmarks/results/memory_sampler_cost.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VARIANTS = ("as is", "2 ms", "2 ms + pin", "no sampler")


def worker(args: argparse.Namespace) -> None:
    import torch
    torch.set_num_threads(args.threads)
    import speechbudget.memory as memory
    v = args.variant
    if v.startswith("2 ms"):
        init = memory.MemoryPeak.__init__

        def fast(self, interval_s=0.002, trim=True):
            init(self, interval_s, trim)
        memory.MemoryPeak.__init__ = fast
    if v == "2 ms + pin":
        memory.pin_malloc_thresholds()
    if v == "no sampler":
        memory.MemoryPeak._sample = lambda self: None
    from speechbudget.axes import Config
    from speechbudget.tasks.asr.runner import AsrTask
    task = AsrTask(batch_size=8, max_items=args.limit)
    ds = task.load_dataset(args.data)
    config = Config(task="asr", model="tiny.en", window=30)
    items = []
    for shard in task.shards(config, ds):
        items.extend(task.run_shard(config, ds, shard, "cpu", {}))
    m = task.aggregate(config, items)
    print("RESULT " + json.dumps({s: m.timings[s] for s in ("features", "encoder", "decoder")}
                                 | {"wer": m.value}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "memory_sampler_cost"))
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        worker(args)
        return
    sys.path.insert(0, str(HERE))
    from asr_vs_faster_whisper import machine
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    t0 = time.perf_counter()
    for r in range(args.rounds):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
        for v in order:
            out = subprocess.run([sys.executable, __file__, "--variant", v, "--data", args.data,
                                  "--limit", str(args.limit), "--threads", str(args.threads)],
                                 env=env, capture_output=True, text=True)
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if out.returncode != 0 or line is None:
                raise SystemExit(f"variant {v!r} failed:\n{out.stderr[-2000:]}")
            runs[v].append(json.loads(line[len("RESULT "):]))
            print(f"round {r + 1} {v}: {runs[v][-1]}", flush=True)
    med = {v: {k: statistics.median(x[k] for x in runs[v])
               for k in ("features", "encoder", "decoder")} for v in VARIANTS}
    for v in VARIANTS:
        med[v]["processing"] = sum(med[v][k] for k in ("features", "encoder", "decoder"))
    base = med["no sampler"]
    cmd = "python benchmarks/memory_sampler_cost.py " + " ".join(sys.argv[1:])
    result = {"command": cmd, "machine": machine(args.threads), "rounds": args.rounds,
              "utterances": args.limit, "runs": runs, "median": med,
              "wall_s": time.perf_counter() - t0}
    md = ["# What the memory sampler costs the run it measures (tiny.en 30 s, batch 8)", "",
          f"`{cmd}`", "",
          f"Machine: {result['machine']['cpu']}, {args.threads} threads; {args.limit} utterances; "
          f"{args.rounds} rounds, a fresh process per variant, variants alternating; median of "
          "the rounds; ratios to \"no sampler\" from the same run.", "",
          "| variant | encoder s | decoder s | processing s | encoder ratio | processing ratio |",
          "|---|---|---|---|---|---|"]
    for v in VARIANTS:
        m = med[v]
        md.append(f"| {v} | {m['encoder']:.2f} | {m['decoder']:.2f} | {m['processing']:.2f} | "
                  f"{m['encoder'] / base['encoder']:.2f} | "
                  f"{m['processing'] / base['processing']:.2f} |")
    print(write_results(args.out, result, md))


if __name__ == "__main__":
    main()
