"""How the linear SER head chooses C, measured against the fixed-C logistic-regression reference:

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/ser_linear_select.py [--threads 2]

For each backbone x duration (frozen), on the same actor-disjoint folds as ser_axes.py (test fold k,
validation fold k+1, the rest trains) and the same cached features, three ways of choosing the
linear head's C side by side, each then refitted on training + validation actors:
  validation          the UA on the validation fold (the default), grid TrainOptions.linear_c
  actors              grouped 5-fold cross-validation over the training + validation actors,
                      same grid, UA of the pooled out-of-fold predictions
  actors-wide         the same over --wide-grid
  validation-logloss  as validation, scored by the class-balanced log-loss (linear_score)
  actors-logloss      as actors, scored by the class-balanced log-loss
and the reference of ser_axes.py / ser_duration.py (standardised LR, C = 0.1, training +
validation actors). Paired 95% bootstrap CIs over the same test clips: each variant - reference,
and each variant - validation. Pooled over the cells: the mean of (variant - reference) UA over all
backbone x duration cells, its 95% CI from resampling the test clips jointly (the same clips are
tested in every cell, so one draw serves all cells). Nothing is chosen on a test fold.
Writes benchmarks/results/<name>.{json,md}.

Decision rules, written before each run. Session 12 (actors-wide): it becomes the default only if
its mean UA over the cells is at least validation's and it is below the reference in no more
cells; it was not. Session 13 (validation-logloss, the only candidate): linear_score="log-loss"
becomes the default only if validation-logloss's mean UA over the cells is at least validation's
AND it is below the reference in fewer cells than validation; otherwise "ua" stays the default.
actors-logloss is reported, not a candidate.
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from results_io import write_results
from ser_axes import bootstrap, grid_arguments, pooled_difference, run_config
from speechbudget.axes import Config
from speechbudget.machine import machine_info
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.metrics import ser_metrics
from speechbudget.tasks.ser.options import LINEAR_C_GRID, TrainOptions

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    grid_arguments(ap)
    ap.add_argument("--wide-grid", default="0.0001,0.0003,0.001,0.003,0.01,0.03,0.1,0.3,1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--name", default="ser_linear_select")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.audio_store = {}
    ds = load_dataset(args.data)
    wide = tuple(float(c) for c in args.wide_grid.split(","))
    base = TrainOptions(head="linear", progress=False, seed=args.seed)
    heads = {"validation": replace(base, linear_select="validation"),
             "actors": replace(base, linear_select="actors"),
             "actors-wide": replace(base, linear_select="actors", linear_c=wide),
             "validation-logloss": replace(base, linear_select="validation",
                                           linear_score="log-loss"),
             "actors-logloss": replace(base, linear_select="actors", linear_score="log-loss")}
    labels = list(ds.labels)
    cache, encoders, rows, cell_refs = {}, {}, [], []
    t_start, cpu_start = time.perf_counter(), time.process_time()
    for model in args.models.split(","):
        for d in (float(x) for x in args.durations.split(",")):
            config = Config(task="ser", model=model, window=d)
            r = run_config(ds, config, heads, list(range(args.folds)), args.folds, args, cache,
                           encoders, reference=True)
            refs, preds = r["refs"], r["preds"]
            cell_refs.append(refs)
            row = {"model": model, "duration_s": d, "n_test": len(refs),
                   "ref_ua": ser_metrics(refs, preds["logreg_ref"], labels).ua, "variants": {},
                   "preds": preds}
            for h in heads:
                row["variants"][h] = {
                    "ua": r["heads"][h]["ua"], "ua_ci": r["heads"][h]["ua_ci"],
                    "minus_ref_ci": bootstrap(refs, preds[h], preds["logreg_ref"]),
                    "minus_validation_ci": bootstrap(refs, preds[h], preds["validation"]),
                    "c_chosen": r["heads"][h]["best"], "wall_s": r["heads"][h]["wall_s"],
                    "train_gflops": r["heads"][h]["train_gflops"]}
            rows.append(row)
            print(f"{model} {d:g}s ref {row['ref_ua']:.3f} " + " ".join(
                f"{h} {v['ua']:.3f}" for h, v in row["variants"].items()) +
                f" ({time.perf_counter() - t_start:.0f} s)", flush=True)
    same = bool(cell_refs) and all(r == cell_refs[0] for r in cell_refs)
    out = {"benchmark": "ser_linear_select", "data": args.data, "n_clips": len(ds.items),
           "n_speakers": len({c.speaker for c in ds.items}), "machine": machine_info(),
           "args": {k: v for k, v in vars(args).items() if k != "audio_store"},
           "grids": {"default": list(LINEAR_C_GRID), "wide": list(wide)}, "rows": rows,
           # pooled only where every cell tested the same clips (the markdown says otherwise)
           "refs": cell_refs[0] if same else None,
           "pooled": pooled_minus_ref(cell_refs[0], rows, list(heads)) if same else {},
           "total_wall_s": time.perf_counter() - t_start,
           "total_cpu_s": time.process_time() - cpu_start,
           "load_average_end": os.getloadavg()[0]}
    write_results(REPO / "benchmarks" / "results" / args.name, out, markdown(out))


def pooled_minus_ref(refs: list[str], rows: list[dict], variants: list[str]) -> dict:
    """Per variant: ser_axes.pooled_difference of the variant against the reference."""
    return {v: pooled_difference(refs, [r["preds"][v] for r in rows],
                                 [r["preds"]["logreg_ref"] for r in rows]) for v in variants}


def _ci(ci) -> str:
    return f"{ci[0]:+.3f} to {ci[1]:+.3f}"


def markdown(out: dict) -> list[str]:
    m = out["machine"]
    names = list(out["rows"][0]["variants"]) if out["rows"] else []
    others = [h for h in names if h != "validation"]
    lines = [
        "# The linear SER head's choice of C against the fixed-C reference", "",
        f"{out['n_clips']} clips, {out['n_speakers']} actors, actor-disjoint folds (test fold k, "
        "validation fold k+1, the rest trains), every clip tested once. Machine: "
        f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores; {out['total_wall_s']:.0f} s wall, "
        f"{out['total_cpu_s']:.0f} s CPU, load average {out['load_average_end']:.1f} at the end. "
        "Command: `python benchmarks/ser_linear_select.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in out["args"].items()) + "`", "",
        f"Grids: default {out['grids']['default']}, wide {out['grids']['wide']}. "
        "validation = C by the validation fold's UA; actors = C by grouped 5-fold cross-validation "
        "over the training + validation actors; -logloss = the same choice scored by the "
        "class-balanced log-loss instead of UA; each refitted on training + validation actors. "
        "ref = LR with C = 0.1 on the same features and actors. CIs: paired bootstrap over the "
        "same test clips.", "",
        "| backbone | D s | ref UA | " + " | ".join(f"{h} UA" for h in names) + " | "
        + " | ".join(f"{h} - ref" for h in names) + " | "
        + " | ".join(f"{h} - validation" for h in others) + " |",
        "|---" * (3 + 2 * len(names) + len(others)) + "|"]
    below = {h: 0 for h in names}
    for r in out["rows"]:
        v = r["variants"]
        for h in v:
            below[h] += v[h]["ua"] < r["ref_ua"]
        lines.append(
            f"| {r['model']} | {r['duration_s']:g} | {r['ref_ua']:.3f} | "
            + " | ".join(f"{v[h]['ua']:.3f}" for h in names)
            + " | " + " | ".join(_ci(v[h]["minus_ref_ci"]) for h in names)
            + " | " + " | ".join(_ci(v[h]["minus_validation_ci"]) for h in others) + " |")
    lines += ["", "Cells below the reference's UA: " + ", ".join(
        f"{h} {n} of {len(out['rows'])}" for h, n in below.items()) + ".", "",
        "| backbone | D s | C chosen per fold: " + " | ".join(names) + " |",
        "|---" * (2 + len(names)) + "|"]
    for r in out["rows"]:
        v = r["variants"]
        lines.append(f"| {r['model']} | {r['duration_s']:g} | " + " | ".join(
            ", ".join(f"{c:g}" for c in v[h]["c_chosen"]) for h in names) + " |")
    mean = {h: float(np.mean([r["variants"][h]["ua"] for r in out["rows"]]))
            for h in below} if out["rows"] else {}
    lines += ["", "Mean UA over the cells: " + ", ".join(f"{h} {u:.4f}" for h, u in mean.items())
              + (f", ref {np.mean([r['ref_ua'] for r in out['rows']]):.4f}." if out["rows"]
                 else ".")]
    if out.get("pooled"):
        lines += ["", "Pooled over the cells (the test clips resampled jointly for all cells, "
                  "1000 draws):", "", "| variant | mean (UA - ref UA) over cells | 95% CI | "
                  "cells below ref |", "|---|---|---|---|"]
        for h, p in out["pooled"].items():
            lines.append(f"| {h} | {p['mean']:+.4f} | {_ci(p['ci'])} | {below[h]} of "
                         f"{p['n_cells']} |")
    elif out["rows"]:
        lines += ["", "Not pooled: the cells did not all test the same clips."]
    return lines


if __name__ == "__main__":
    main()
