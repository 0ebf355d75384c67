"""Peak memory per configuration does not depend on run order (CPU, RSS sampler).

    python benchmarks/memory_order.py [--items 4] [--data data/librispeech_sample]

Runs tiny.en and base at 30 s and 10 s windows on the same utterances, in one worker process
per order: first small-to-large, then large-to-small. Each configuration's `peak_mem_mb` is the
task's measurement (weights + the peak RSS increase of its own run, speechbudget.memory); the
process high-water mark (`ru_maxrss`, the old measure) is recorded beside it. Goal: the two
orders agree within 10 % per configuration. Results: benchmarks/results/memory_order.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = [("tiny.en", 30.0), ("tiny.en", 10.0), ("base", 30.0), ("base", 10.0)]


def run_order(order, data: str, items: int, q) -> None:
    import torch
    torch.set_num_threads(2)
    from speechbudget.axes import Config
    from speechbudget.tasks.asr.runner import AsrTask, evaluate
    task = AsrTask(batch_size=items, max_items=items)
    out = []
    for model, w in order:
        c = Config(task="asr", model=model, window=w)
        m, _ = evaluate(c, data, device="cpu", limit=items, task=task)
        out.append({"config": c.label, "peak_mem_mb": m.peak_mem_mb, "wer": m.value,
                    "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    q.put(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=4)
    ap.add_argument("--data", default=str(REPO / "data" / "librispeech_sample"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    runs = {}
    for name, order in (("small_first", CONFIGS), ("large_first", CONFIGS[::-1])):
        q = ctx.Queue()
        p = ctx.Process(target=run_order, args=(order, args.data, args.items, q))
        p.start()
        runs[name] = q.get()
        p.join()
    a = {r["config"]: r for r in runs["small_first"]}
    b = {r["config"]: r for r in runs["large_first"]}
    rows = []
    for label in a:
        pa, pb = a[label]["peak_mem_mb"], b[label]["peak_mem_mb"]
        rows.append({"config": label, "small_first_mb": pa, "large_first_mb": pb,
                     "rel_diff": abs(pa - pb) / max(pa, pb),
                     "ru_maxrss_small_first_mb": a[label]["ru_maxrss_mb"],
                     "ru_maxrss_large_first_mb": b[label]["ru_maxrss_mb"]})
    from speechbudget.machine import machine_info
    res = {"command": f"python benchmarks/memory_order.py --items {args.items}",
           "machine": machine_info(), "items": args.items, "rows": rows,
           "max_rel_diff": max(r["rel_diff"] for r in rows), "goal": "< 0.10"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory_order.json").write_text(json.dumps(res, indent=1, default=str))
    md = ["# Peak memory per configuration in two run orders (CPU)", "",
          f"`{res['command']}` ({args.items} utterances of the bundled LibriSpeech sample, "
          "batch of all of them, 2 threads, one worker process per order).", "",
          "| configuration | small first (MB) | large first (MB) | rel. diff | "
          "ru_maxrss small first | ru_maxrss large first |", "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['config']} | {r['small_first_mb']:.0f} | {r['large_first_mb']:.0f} | "
                  f"{100 * r['rel_diff']:.1f}% | {r['ru_maxrss_small_first_mb']:.0f} | "
                  f"{r['ru_maxrss_large_first_mb']:.0f} |")
    md += ["", f"Largest difference between the orders: {100 * res['max_rel_diff']:.1f}% "
               "(goal < 10%). The ru_maxrss columns are the process high-water mark the store "
               "used to record: they follow the run order.", ""]
    (out / "memory_order.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
