"""Short-form evaluation speed before and after the long-form rework, side by side in one run.

    OMP_NUM_THREADS=2 python benchmarks/asr_shortform_speed.py [--before 185ee98] [--after HEAD]
        [--data ../shared/data/librispeech_sample] [--limit 60] [--batch-size 8] [--threads 2]
        [--windows 30,dynamic] [--rounds 3]

The long-form issue asks that short-form evaluation (utterances no longer than the window) keeps
its speed. `--before` defaults to 185ee98, the last commit before the rework that runs: timestamp
decoding and the sequential long-form rule landed in 321f886, and its parent d7ac506 (the geometry
module) breaks `AsrTask.run_shard` (an import pasted into runner.py's docstring). Each
revision is checked out into a temporary `git worktree` and run in its own Python process
(PYTHONPATH = that tree, so its own `speechbudget` is imported), with the same venv, data, thread
count and batch size: `AsrTask.run_shard` over every shard of tiny.en at each window, after the
task's own warm-up. The processes alternate (before, after, before, after, ...) for `--rounds`
rounds so that a change of load on a shared machine hits both alike; per revision we keep the
median of the rounds' processing seconds (features + encoder + decoder, the task's own timings) and
their wall seconds, and check that both revisions give the same WER.
Writes benchmarks/results/asr_shortform_speed.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def worker(args: argparse.Namespace) -> None:
    """Runs inside one revision's tree; prints one JSON line per window."""
    import speechbudget
    import torch
    torch.set_num_threads(args.threads)
    from speechbudget.axes import Config
    from speechbudget.tasks.asr.runner import AsrTask
    task = AsrTask(batch_size=args.batch_size, max_items=args.limit)
    ds = task.load_dataset(args.data)
    out = {"module": speechbudget.__file__, "windows": {}}
    for w in args.windows.split(","):
        config = Config(task="asr", model="tiny.en", window=int(w) if w.isdigit() else w)
        t0 = time.perf_counter()
        items = []
        for shard in task.shards(config, ds):
            items.extend(task.run_shard(config, ds, shard, "cpu", {}))
        wall = time.perf_counter() - t0
        m = task.aggregate(config, items)
        out["windows"][w] = {
            "wer": m.value, "items": len(items), "failed": m.n_failed, "wall_s": wall,
            "processing_s": sum(m.timings[s] for s in ("features", "encoder", "decoder")),
            "encoder_s": m.timings["encoder"], "decoder_s": m.timings["decoder"],
            "audio_s": sum(r.audio_s for r in items if r.ok)}
    print("RESULT " + json.dumps(out), flush=True)


def run_tree(tree: Path, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--data", args.data,
           "--limit", str(args.limit), "--batch-size", str(args.batch_size),
           "--threads", str(args.threads), "--windows", args.windows]
    proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"worker in {tree} failed (exit {proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    res = json.loads(line[len("RESULT "):])
    if not res["module"].startswith(str(tree)):
        raise SystemExit(f"worker in {tree} imported {res['module']}, not its own tree")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="185ee98")
    ap.add_argument("--after", default="HEAD")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--windows", default="30,dynamic")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "asr_shortform_speed"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    sys.path.insert(0, str(HERE))
    from asr_vs_faster_whisper import machine
    revs = {}
    for name in ("before", "after"):
        revs[name] = subprocess.run(["git", "rev-parse", "--short", getattr(args, name)], cwd=REPO,
                                    check=True, capture_output=True, text=True).stdout.strip()
    runs: dict = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="sb-speed-") as tmp:
        trees = {}
        for name, rev in revs.items():
            trees[name] = Path(tmp) / name
            subprocess.run(["git", "worktree", "add", "--detach", str(trees[name]), rev],
                           cwd=REPO, check=True, capture_output=True)
        try:
            for r in range(args.rounds):
                for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                    res = run_tree(trees[name], args)
                    runs[name].append(res["windows"])
                    print(f"round {r + 1} {name}: " + ", ".join(
                        f"{w}: {v['processing_s']:.1f} s WER {100 * v['wer']:.2f}%"
                        for w, v in res["windows"].items()), flush=True)
        finally:
            for t in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(t)], cwd=REPO,
                               capture_output=True)
    rows = []
    for w in args.windows.split(","):
        med = {n: {k: statistics.median(run[w][k] for run in runs[n])
                   for k in ("processing_s", "wall_s", "encoder_s", "decoder_s")}
               for n in runs}
        wer = {n: runs[n][0][w]["wer"] for n in runs}
        rows.append({"window": w, "items": runs["after"][0][w]["items"],
                     "audio_s": runs["after"][0][w]["audio_s"], "wer": wer, "median": med,
                     "all_processing_s": {n: [run[w]["processing_s"] for run in runs[n]]
                                          for n in runs},
                     "after_over_before": med["after"]["processing_s"]
                     / med["before"]["processing_s"]})
    cmd = "python benchmarks/asr_shortform_speed.py " + " ".join(sys.argv[1:])
    result = {"command": cmd, "revisions": revs, "machine": machine(args.threads),
              "batch_size": args.batch_size, "rounds": args.rounds, "rows": rows}
    md = [f"# Short-form speed before ({revs['before']}) and after ({revs['after']}) the long-form "
          "rework (tiny.en, greedy)", "", f"`{cmd}`", "",
          f"Machine: {result['machine']['cpu']}, {args.threads} threads; batch {args.batch_size}; "
          f"{args.rounds} rounds, the two revisions alternating, each in its own process; median "
          "of the rounds.", "",
          "| window | items | WER before | WER after | processing s before | after | "
          "after / before | encoder s before / after | decoder s before / after |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, a = r["median"]["before"], r["median"]["after"]
        md.append(f"| {r['window']} | {r['items']} | {100 * r['wer']['before']:.2f}% | "
                  f"{100 * r['wer']['after']:.2f}% | {b['processing_s']:.1f} | "
                  f"{a['processing_s']:.1f} | {r['after_over_before']:.2f} | "
                  f"{b['encoder_s']:.1f} / {a['encoder_s']:.1f} | "
                  f"{b['decoder_s']:.1f} / {a['decoder_s']:.1f} |")
    print(write_results(args.out, result, md))


if __name__ == "__main__":
    main()
