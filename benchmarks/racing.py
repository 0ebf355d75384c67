"""Racing against the full sweep, in one run: the same answer for fewer item evaluations.

    python benchmarks/racing.py [--items 220] [--data ../shared/data/librispeech_sample]
        [--models tiny.en,base] [--windows 30,dynamic] [--strides 1,2,4] [--stride-at 2,output]

One grid of tiny.en/base configurations (windows 30 s and dynamic, strides 1/2/4 at layer 2 and
at the output: 20 configurations) runs twice on the same utterances, one after the other in this
process: in full, then raced (sweep.racing: first 20 items, x2 per round, alpha 0.05; --rule
best: also stop what the round's leader beats, --tolerance: the non-inferiority margin). Each
store gets the recommendation (speechbudget.analysis.recommend, no limits). The raced answer
passes when it is the full run's answer or in the full run's tie group (paired 95 %: not told
apart from the full run's most accurate configuration); the paired 95 % CI of the raced answer
minus the full run's answer, on the full run's items, is recorded too (raced_vs_full_answer):
with --rule halving, which drops configurations by rank without evidence, that test is all
the raced answer's quality rests on.
Goal: <= 50 % of the full run's item evaluations and wall time. Beside the wall time each half
records this process's CPU seconds and the 1-minute load average when it ended: on a machine
shared with other work the wall ratio is skewed by whoever else ran, the CPU ratio much less
(the load average says how busy the machine was).
Results: benchmarks/results/racing.{json,md} (--name: another file name).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

REPO = Path(__file__).resolve().parents[1]
GRID = {"task": "asr", "models": ["tiny.en", "base"],
        "axes": {"window": [30, "dynamic"], "stride": [1, 2, 4], "stride_at": [2, "output"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=220)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--first", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--models", default=",".join(GRID["models"]))
    ap.add_argument("--windows", default="30,dynamic")
    ap.add_argument("--strides", default="1,2,4")
    ap.add_argument("--stride-at", default="2,output")
    ap.add_argument("--tolerance", type=float, default=None, help="race.tolerance (metric units, "
                    "e.g. 0.005): also stop configurations a cheaper one is non-inferior to; the "
                    "recommendations are then made with the same tolerance")
    ap.add_argument("--rule", choices=("dominated", "best", "halving"), default=None,
                    help="race.rule: 'best' also stops what the round's leader beats (F-Race; "
                    "for the recommendation only); 'halving' also keeps only ceil(n/eta) per "
                    "round by error (successive halving: dropped by rank, without evidence)")
    ap.add_argument("--eta", type=float, default=None, help="race.eta (--rule halving only; "
                    "default 2: keep half of the configurations each round)")
    ap.add_argument("--name", default="racing", help="results file name (<out>/<name>.json/.md)")
    ap.add_argument("--raced-first", action="store_true", help="run the raced sweep first (to "
                    "check that the order does not favour either)")
    args = ap.parse_args()

    def values(text: str) -> list:
        return [int(v) if v.isdigit() else (float(v) if v.replace(".", "", 1).isdigit() else v)
                for v in text.split(",")]
    grid = {"task": "asr", "models": args.models.split(","),
            "axes": {"window": values(args.windows), "stride": values(args.strides),
                     "stride_at": values(args.stride_at)}}
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    from speechbudget.analysis.recommend import recommend
    from speechbudget.analysis.source import load_results
    from speechbudget.machine import machine_info
    from speechbudget.sweep import run_sweep, spec_from_dict

    opts = {"batch_size": args.batch, "max_items": args.items}
    tmp = Path(tempfile.mkdtemp(prefix="racing-"))
    print(f"stores in {tmp}", flush=True)
    out: dict = {"command": "python benchmarks/racing.py " + " ".join(
                     f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                     if k not in ("out", "data", "device", "raced_first", "name") and v is not None)
                     + (" --raced-first" if args.raced_first else "") + f" (data {args.data})",
                 "machine": machine_info(), "items": args.items, "grid": grid}
    # warm-up (not timed): every model loaded once and the audio read, so that neither timed
    # run pays for first loads that the other does not
    run_sweep(spec_from_dict({"task": "asr", "models": grid["models"], "name": "racing-warmup",
                              "axes": {"window": [30]}, "data": args.data, "plan": "grid",
                              "task_options": {**opts, "max_items": 2}}),
              tmp / "warmup.db", device=args.device, progress=False)
    runs = [("full", "grid"), ("raced", {"type": "grid", "race": {
        "first_items": args.first, "growth": 2, "alpha": 0.05,
        **({"tolerance": args.tolerance} if args.tolerance else {}),
        **({"rule": args.rule} if args.rule else {}),
        **({"eta": args.eta} if args.eta is not None else {})}})]
    for name, plan in (runs[::-1] if args.raced_first else runs):
        spec = spec_from_dict({**grid, "name": f"racing-{name}", "data": args.data,
                               "task_options": opts, "plan": plan})
        t0, cpu0 = time.perf_counter(), time.process_time()
        s = run_sweep(spec, tmp / f"{name}.db", device=args.device, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        loaded = load_results(tmp / f"{name}.db")
        rec = recommend(loaded.results, items=loaded.items, tolerance=args.tolerance)
        out[name] = {"wall_s": wall, "cpu_s": cpu, "load_1min": os.getloadavg()[0],
                     "items_run": s.items_run, "configs": s.configs,
                     "finished": s.finished, "eliminated": s.eliminated,
                     "recommended": rec.best[0].label, "most_accurate": rec.most_accurate[0].label,
                     "tie_group": [t.config.label for t in rec.tie_group],
                     "message": rec.message}
    full, raced = out["full"], out["raced"]
    out["item_ratio"] = raced["items_run"] / full["items_run"]
    out["wall_ratio"] = raced["wall_s"] / full["wall_s"]
    out["cpu_ratio"] = raced["cpu_s"] / full["cpu_s"]
    out["same_answer"] = raced["recommended"] == full["recommended"]
    out["answer_in_full_tie_group"] = raced["recommended"] in full["tie_group"]
    # the Must-show's own test: can the full run tell the raced answer from its own answer?
    # (paired 95 % on the full run's items: both were scored on every item there). Being in the
    # full run's tie group (not told from its most accurate) does not imply this.
    from speechbudget.paired import pair_items, paired_difference
    fl = load_results(tmp / "full.db")
    key = {c.label: c.key for c, _ in fl.results}
    d = paired_difference(pair_items(fl.items[key[raced["recommended"]]],
                                     fl.items[key[full["recommended"]]], "wer"))
    out["raced_vs_full_answer"] = {"diff": d.diff, "ci_low": d.ci_low, "ci_high": d.ci_high,
                                   "n_items": d.n_items, "told_apart": d.significant,
                                   "text": d.describe((raced["recommended"],
                                                       full["recommended"]))}
    out["rank_dropped"] = sum(1 for v in raced["eliminated"].values() if "dropped by rank" in v)
    m = out["machine"]
    md = ["# Racing vs the full grid (one run, same machine)", "", f"`{out['command']}`", "",
          f"{full['configs']} configurations x {args.items} utterances; machine: "
          f"{m.get('cpu', m)}; {os.environ.get('OMP_NUM_THREADS', '2')} threads.", "",
          "| | full | raced | raced / full |", "|---|---|---|---|",
          f"| item evaluations | {full['items_run']} | {raced['items_run']} | "
          f"{out['item_ratio']:.2f} |",
          f"| wall time (s) | {full['wall_s']:.0f} | {raced['wall_s']:.0f} | "
          f"{out['wall_ratio']:.2f} |",
          f"| CPU time of this process (s) | {full['cpu_s']:.0f} | {raced['cpu_s']:.0f} | "
          f"{out['cpu_ratio']:.2f} |",
          f"| load average (1 min) at the end | {full['load_1min']:.1f} | "
          f"{raced['load_1min']:.1f} | |",
          f"| recommended | {full['recommended']} | {raced['recommended']} | "
          f"{'same' if out['same_answer'] else ('tied in full run' if out['answer_in_full_tie_group'] else 'DIFFERENT')} |",
          "", "Raced answer vs the full run's answer, on the full run's items: "
          + (f"{out['raced_vs_full_answer']['text']}: "
             + ("told apart (the CI excludes 0)" if out["raced_vs_full_answer"]["told_apart"]
                else "not told apart (the CI contains 0)")
             if raced["recommended"] != full["recommended"] else "the same configuration")
          + f"; raced answer in the full run's tie group (vs its most accurate): "
          f"{'yes' if out['answer_in_full_tie_group'] else 'no'}.",
          "", f"Full run: {full['message']}", "", f"Raced: {raced['message']}", "",
          f"Eliminated ({len(raced['eliminated'])}, of which {out['rank_dropped']} dropped by "
          "rank without evidence):", ""]
    md += [f"- {k}: {v}" for k, v in raced["eliminated"].items()]
    print(write_results(Path(args.out) / args.name, out, md))


if __name__ == "__main__":
    main()
