"""How long `speechbudget --help` (and each subcommand's --help) takes, in a fresh interpreter.

    python benchmarks/cli_help_time.py [--repeats 5] [--compare /path/to/other/checkout]

Runs `python -c "from speechbudget.cli import main; main()" ARGS --help` (what the
`speechbudget` entry point runs) in the checkout's folder as a subprocess REPEATS times per command line and
reports the median wall time and the median CPU time (user + sys of the child, which a busy
shared machine inflates less than wall time). With --compare, the same command lines run against
another checkout (e.g. the code before lazy imports) in the same run, interleaved. Writes
benchmarks/results/cli_help_time.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
COMMANDS = [[], ["asr", "eval"], ["ser", "train"], ["sweep", "run"], ["runs", "export"],
            ["transcribe"], ["report"]]
TARGET_S = 1.0
TORCH_AT_IMPORT: dict[str, bool] = {}


def once(root: Path, args: list[str]) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "2"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # cwd=root: a checkout's own package is imported (sys.path[0] is the working folder)
    r = subprocess.run([sys.executable, "-c", "from speechbudget.cli import main; main()", *args,
                        "--help"], env=env, cwd=root, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{root}: speechbudget {' '.join(args)} --help failed: {r.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    imported = subprocess.run([sys.executable, "-c", "import sys, speechbudget.cli; "
                               "print('torch' in sys.modules)"], env=env, cwd=root,
                              capture_output=True, text=True).stdout.strip() if not args else None
    if imported is not None:
        TORCH_AT_IMPORT[str(root)] = imported == "True"
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--compare", type=Path, default=None, help="another checkout to time too")
    ap.add_argument("--compare-commands", type=int, default=None,
                    help="time the other checkout on the first N command lines only")
    a = ap.parse_args()
    roots = {"this checkout": REPO}
    if a.compare:
        roots["compare"] = a.compare.resolve()
    rows = []
    for n, args in enumerate(COMMANDS):
        here = {k: r for k, r in roots.items() if k == "this checkout"
                or a.compare_commands is None or n < a.compare_commands}
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in here}
        for _ in range(a.repeats):
            for k, root in here.items():   # interleaved, so load changes hit both alike
                samples[k].append(once(root, args))
        for k, s in samples.items():
            rows.append({"checkout": k, "root": str(roots[k]), "command": " ".join(
                ["speechbudget", *args, "--help"]),
                "median_wall_s": statistics.median(w for w, _ in s),
                "median_cpu_s": statistics.median(c for _, c in s),
                "min_wall_s": min(w for w, _ in s), "repeats": a.repeats})
    mine = [r for r in rows if r["checkout"] == "this checkout"]
    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
              "machine": {"cpu": platform.processor() or platform.machine(),
                          "cores": os.cpu_count(), "python": platform.python_version(),
                          "load_avg": os.getloadavg()},
              "target_s": TARGET_S, "rows": rows, "torch_imported_by_cli": TORCH_AT_IMPORT,
              "all_under_target_cpu": all(r["median_cpu_s"] < TARGET_S for r in mine),
              "all_under_target_wall": all(r["median_wall_s"] < TARGET_S for r in mine)}
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "cli_help_time.json").write_text(json.dumps(result, indent=1))
    lines = ["# `speechbudget --help` time", "", f"`{result['command']}`; machine "
             f"{result['machine']} (load average at the end: shared machine).", "",
             "| checkout | command | median wall s | min wall s | median CPU s |",
             "|---|---|---:|---:|---:|"]
    lines += [f"| {r['checkout']} | `{r['command']}` | {r['median_wall_s']:.2f} | "
              f"{r['min_wall_s']:.2f} | {r['median_cpu_s']:.2f} |" for r in rows]
    lines += ["", f"torch imported by `import speechbudget.cli`: {TORCH_AT_IMPORT}.",
              "Wall time on this shared 2-core machine depends on the other jobs' load; the "
              "CPU time of the child is the steadier number.", "", f"Target: under {TARGET_S:g} s. This checkout under it in CPU time: "
              f"{result['all_under_target_cpu']}; in median wall time: "
              f"{result['all_under_target_wall']}."]
    (out / "cli_help_time.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
