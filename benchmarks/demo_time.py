"""How long `speechbudget demo` (the README's first command) takes, end to end, in a fresh folder.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/demo_time.py [--runs 1]
        [--work /tmp/demo_time] [--out benchmarks/results/demo_time]

Runs `speechbudget demo --out <work>/run<i>` in a new process per run (a fresh store each time;
the converted weights come from $SPEECHBUDGET_CACHE as on any second run, their one-time
conversion is not part of it), and records the wall time, the CPU time of the process and its
children, the machine's load average before and after, the sweeps' configurations and items
from the store, and whether the report was written. Goal (issue 13): <= 5 minutes on a quiet
2-core machine. Writes <out>.json and <out>.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def store_counts(db: Path) -> dict:
    """Rows of the demo store's tables: configurations, scored items, metrics, sweep runs."""
    con = sqlite3.connect(str(db))
    try:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("configs", "items", "metrics", "runs") if t in tables}
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--work", default="/tmp/demo_time")
    ap.add_argument("--out", default=str(HERE / "results" / "demo_time"))
    args = ap.parse_args()
    from speechbudget.machine import machine_info

    exe = Path(sys.executable).with_name("speechbudget")
    cmd0 = [str(exe)] if exe.exists() else [sys.executable, "-m", "speechbudget.cli"]
    runs = []
    for i in range(args.runs):
        out = Path(args.work) / f"run{i}"
        if out.exists():
            import shutil
            shutil.rmtree(out)
        load0 = os.getloadavg()
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(cmd0 + ["demo", "--out", str(out)], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        r = {"run": i, "exit": p.returncode, "wall_s": wall, "cpu_s": cpu,
             "load_before": load0, "load_after": os.getloadavg(),
             "report": (out / "report" / "index.html").exists(),
             "store": store_counts(out / "runs.db") if (out / "runs.db").exists() else None,
             "sweep_lines": [ln.strip() for ln in p.stdout.splitlines() + p.stderr.splitlines()
                             if "sweep run" in ln]}
        if p.returncode != 0:
            r["stderr_tail"] = p.stderr[-2000:]
        runs.append(r)
        print(json.dumps(r), flush=True)
    res = {"command": " ".join(["speechbudget", "demo", "--out", "DIR"]),
           "machine": machine_info(), "runs": runs, "goal_s": 300,
           "met": all(r["exit"] == 0 and r["wall_s"] <= 300 for r in runs)}
    m = res["machine"]
    lines = ["# `speechbudget demo`, end to end", "",
             f"Machine: {m.get('cpu')}, {m.get('cores')} cores, torch {m.get('torch')}. Command: "
             f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python "
             f"benchmarks/demo_time.py --runs {args.runs}` (each run a fresh output folder; "
             "weights already converted).", "",
             "| run | exit | wall | CPU (all processes) | load before / after | report | sweeps |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['run']} | {r['exit']} | {r['wall_s'] / 60:.2f} min | "
                     f"{r['cpu_s'] / 60:.2f} min | {r['load_before'][0]:.2f} / "
                     f"{r['load_after'][0]:.2f} | {r['report']} | "
                     + "<br>".join(r["sweep_lines"]) + " |")
    lines += ["", f"Goal <= 5 minutes: {'met' if res['met'] else 'NOT met'}."]
    print(write_results(args.out, res, lines))


if __name__ == "__main__":
    main()
