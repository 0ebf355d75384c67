"""The analytic memory model (speechbudget.tasks.asr.memory_model) against measurement (CPU).

    OMP_NUM_THREADS=2 python benchmarks/memory_model.py [--items 4] [--batch-size 4] \
        [--data data/librispeech_sample]

For tiny.en and base at 30 s and 10 s windows, each in a fresh worker process (so nothing that
ran before can change it): load the model, run `tasks.asr.runner.evaluate` on the first `--items`
utterances (one shard of `--batch-size`), and record the task's measurement - the weights as
loaded (`memory.module_mb`) and the peak RSS increase of the run itself (`memory.MemoryPeak`,
sampled every 2 ms). Beside it, the model's prediction for the same utterance lengths and batch
size. Goal (issue 11): the analytic peak within 20 % of the measured one. Also compares the
activation part alone (model peak - weights vs the measured RSS increase), which is the harder
half. Results: benchmarks/results/memory_model.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = [("tiny.en", 30.0), ("tiny.en", 10.0), ("base", 30.0), ("base", 10.0)]


def measure(model: str, window: float, data: str, items: int, batch_size: int, threads: int,
            q) -> None:
    import torch
    torch.set_num_threads(threads)
    from speechbudget.axes import Config
    from speechbudget.memory import module_mb
    from speechbudget.tasks.asr.runner import AsrTask, evaluate
    task = AsrTask(batch_size=batch_size, max_items=items)
    c = Config(task="asr", model=model, window=window)
    m, res = evaluate(c, data, device="cpu", limit=items, task=task)
    weights = module_mb(task.pipeline(c, "cpu").model)
    q.put({"config": c.label, "peak_mem_mb": m.peak_mem_mb, "weights_mb": weights,
           "rss_increase_mb": m.peak_mem_mb - weights, "wer": m.value,
           "audio_s": [r.audio_s for r in res if r.ok]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 2)))
    ap.add_argument("--data", default=str(REPO / "data" / "librispeech_sample"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    from speechbudget.axes import Config
    from speechbudget.machine import machine_info
    from speechbudget.tasks.asr.memory_model import memory_bytes

    ctx = mp.get_context("spawn")
    rows = []
    t0 = time.perf_counter()
    for model, w in CONFIGS:
        q = ctx.Queue()
        p = ctx.Process(target=measure, args=(model, w, args.data, args.items, args.batch_size,
                                              args.threads, q))
        p.start()
        r = q.get()
        p.join()
        est = memory_bytes(Config(task="asr", model=model, window=w), args.batch_size,
                           r["audio_s"]).mb()
        r.update(model_mb=est, model_peak_mb=est["peak"], model_activations_mb=est["activations"],
                 peak_rel_err=est["peak"] / r["peak_mem_mb"] - 1,
                 activations_rel_err=(est["activations"] / r["rss_increase_mb"] - 1
                                      if r["rss_increase_mb"] > 0 else None))
        rows.append(r)
        print(json.dumps({k: v for k, v in r.items() if k != "model_mb"}), flush=True)
    res = {"command": f"OMP_NUM_THREADS={args.threads} python benchmarks/memory_model.py "
                      + " ".join(sys.argv[1:]),
           "machine": machine_info(args.threads), "data": args.data, "rows": rows,
           "max_abs_peak_rel_err": max(abs(r["peak_rel_err"]) for r in rows), "goal": "<= 0.20",
           "seconds": time.perf_counter() - t0}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory_model.json").write_text(json.dumps(res, indent=1, default=str))
    md = ["# Analytic memory model vs measured peak (CPU)", "",
          f"`{res['command']}`: the first {args.items} utterances of {Path(args.data).name}, one "
          f"shard of batch {args.batch_size}, one fresh worker process per configuration, "
          f"{args.threads} threads, {res['machine'].get('cpu', '')}.", "",
          "Measured = weights as loaded + peak RSS increase of the run (MemoryPeak). Model = "
          "speechbudget.tasks.asr.memory_model.memory_bytes for the same utterance lengths.", "",
          "| configuration | measured peak MB | model peak MB | error | measured RSS increase MB |"
          " model activations MB | error |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ae = r["activations_rel_err"]
        md.append(f"| {r['config']} | {r['peak_mem_mb']:.0f} | {r['model_peak_mb']:.0f} | "
                  f"{100 * r['peak_rel_err']:+.0f}% | {r['rss_increase_mb']:.0f} | "
                  f"{r['model_activations_mb']:.0f} | "
                  f"{'n/a' if ae is None else f'{100 * ae:+.0f}%'} |")
    md += ["", f"Largest peak error: {100 * res['max_abs_peak_rel_err']:.0f}% (goal <= 20%). "
               f"Run time {res['seconds']:.0f} s.", ""]
    (out / "memory_model.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
