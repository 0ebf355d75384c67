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
Session 14 (--partition-seeds 0,1,2,3,4 --variants validation,actors, name ser_linear_select_splits):
a measurement, not a choice. It asks how often the default falls below the reference when the same
actors are split into folds differently (split 0 is the split of every run above). No default
changes on its result, whatever it shows. Written while split 1 ran, before its results: the
issue's goal "the linear head >= the reference at every duration" is read per (backbone,
duration) cell on the repeated cross-validation, i.e. the head's UA averaged over the 5 splits
against the reference's; the per-split cells and the pooled CIs are reported beside it, whatever
they show.

With --partition-seeds, each seed shuffles the actors into folds anew (speaker_folds) and every
cell runs once per split; the pooled figures are given per split and over all splits (each row's
predictions aligned by clip id).
"""
from __future__ import annotations

import argparse
import json
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
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma list of " + ", ".join(
        VARIANTS))
    ap.add_argument("--seed", type=int, default=0, help="the actor split's seed and the fits'")
    ap.add_argument("--partition-seeds", default="", help="comma list of seeds: one actor split "
                    "each, pooled together (default: --seed alone)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--name", default="ser_linear_select")
    ap.add_argument("--markdown-only", action="store_true", help="rederive the pooled figures "
                    "and the markdown from benchmarks/results/<name>.json (no fits)")
    args = ap.parse_args()
    target = REPO / "benchmarks" / "results" / args.name
    if args.markdown_only:
        out = json.loads(target.with_name(target.name + ".json").read_text())
        if any("ids" not in r for r in out["rows"]):
            ap.error(f"{target.name}.json was written before --partition-seeds (its rows have no "
                     "clip ids): rerun the benchmark to rederive it")
        out = derive(out)
        write_results(target, out, markdown(out))
        return
    torch.set_num_threads(args.threads)
    args.audio_store = {}
    ds = load_dataset(args.data)
    wide = tuple(float(c) for c in args.wide_grid.split(","))
    names = args.variants.split(",")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"--variants: unknown {unknown[0]!r}; expected some of {', '.join(VARIANTS)}")
    seeds = [int(x) for x in args.partition_seeds.split(",")] if args.partition_seeds else \
        [args.seed]
    labels = list(ds.labels)
    cache, encoders, rows = {}, {}, []
    t_start, cpu_start = time.perf_counter(), time.process_time()
    for seed in seeds:
        heads = {h: o for h, o in variant_options(wide, seed).items() if h in names}
        split_args = argparse.Namespace(**{**vars(args), "seed": seed})
        for model in args.models.split(","):
            for d in (float(x) for x in args.durations.split(",")):
                config = Config(task="ser", model=model, window=d)
                r = run_config(ds, config, heads, list(range(args.folds)), args.folds,
                               split_args, cache, encoders, reference=True)
                refs, preds = r["refs"], r["preds"]
                row = {"split_seed": seed, "model": model, "duration_s": d, "n_test": len(refs),
                       "ref_ua": ser_metrics(refs, preds["logreg_ref"], labels).ua,
                       "variants": {}, "ids": r["ids"], "refs": refs, "preds": preds}
                for h in heads:
                    row["variants"][h] = {
                        "ua": r["heads"][h]["ua"], "ua_ci": r["heads"][h]["ua_ci"],
                        "minus_ref_ci": bootstrap(refs, preds[h], preds["logreg_ref"]),
                        "minus_validation_ci": bootstrap(refs, preds[h], preds["validation"])
                        if "validation" in preds else None,
                        "c_chosen": r["heads"][h]["best"], "wall_s": r["heads"][h]["wall_s"],
                        "train_gflops": r["heads"][h]["train_gflops"]}
                rows.append(row)
                print(f"split {seed} {model} {d:g}s ref {row['ref_ua']:.3f} " + " ".join(
                    f"{h} {v['ua']:.3f}" for h, v in row["variants"].items()) +
                    f" ({time.perf_counter() - t_start:.0f} s)", flush=True)
    out = {"benchmark": "ser_linear_select", "data": args.data, "n_clips": len(ds.items),
           "n_speakers": len({c.speaker for c in ds.items}), "machine": machine_info(),
           "args": {k: v for k, v in vars(args).items() if k != "audio_store"},
           "grids": {"default": list(LINEAR_C_GRID), "wide": list(wide)}, "rows": rows,
           "total_wall_s": time.perf_counter() - t_start,
           "total_cpu_s": time.process_time() - cpu_start,
           "load_average_end": os.getloadavg()[0]}
    write_results(target, derive(out), markdown(out))


def derive(out: dict) -> dict:
    """The pooled figures, from the stored predictions: per split and over all splits ("pooled"),
    and per (backbone, duration) cell over its splits ("cells", the repeated cross-validation).
    Pooled only where the rows tested the same clips (the markdown says otherwise)."""
    rows = out["rows"]
    names = list(rows[0]["variants"]) if rows else []
    seeds = list(dict.fromkeys(r["split_seed"] for r in rows))
    out["pooled"] = {str(s): pooled_minus_ref([r for r in rows if r["split_seed"] == s], names)
                     for s in seeds}
    if len(seeds) > 1:
        out["pooled"]["all"] = pooled_minus_ref(rows, names)
    cells = list(dict.fromkeys((r["model"], r["duration_s"]) for r in rows))
    out["cells"] = [{"model": m, "duration_s": d, "n_splits": len(cr),
                     "ref_ua": float(np.mean([r["ref_ua"] for r in cr])),
                     "ua": {h: float(np.mean([r["variants"][h]["ua"] for r in cr]))
                            for h in names},
                     "minus_ref": pooled_minus_ref(cr, names)}
                    for m, d in cells
                    for cr in [[r for r in rows if (r["model"], r["duration_s"]) == (m, d)]]]
    return out


VARIANTS = ("validation", "actors", "actors-wide", "validation-logloss", "actors-logloss")


def variant_options(wide: tuple[float, ...], seed: int) -> dict[str, TrainOptions]:
    """The ways of choosing C, by name (see the module docstring)."""
    base = TrainOptions(head="linear", progress=False, seed=seed)
    return {"validation": replace(base, linear_select="validation"),
            "actors": replace(base, linear_select="actors"),
            "actors-wide": replace(base, linear_select="actors", linear_c=wide),
            "validation-logloss": replace(base, linear_select="validation",
                                          linear_score="log-loss"),
            "actors-logloss": replace(base, linear_select="actors", linear_score="log-loss")}


def pooled_minus_ref(rows: list[dict], variants: list[str]) -> dict:
    """Per variant: ser_axes.pooled_difference of the variant against the reference over `rows`,
    each row's predictions put in one order of clip ids; {} when the rows tested different clips."""
    if not rows or any(sorted(r["ids"]) != sorted(rows[0]["ids"]) for r in rows):
        return {}
    order = sorted(rows[0]["ids"])

    def aligned(row: dict, key: str) -> list[str]:
        at = {i: k for k, i in enumerate(row["ids"])}
        return [row[key][at[i]] if key == "refs" else row["preds"][key][at[i]] for i in order]
    refs = aligned(rows[0], "refs")
    return {v: pooled_difference(refs, [aligned(r, v) for r in rows],
                                 [aligned(r, "logreg_ref") for r in rows]) for v in variants}


def _ci(ci) -> str:
    return f"{ci[0]:+.3f} to {ci[1]:+.3f}"


def markdown(out: dict) -> list[str]:
    m = out["machine"]
    rows = out["rows"]
    names = list(rows[0]["variants"]) if rows else []
    others = [h for h in names if h != "validation"] if "validation" in names else []
    lines = [
        "# The linear SER head's choice of C against the fixed-C reference", "",
        f"{out['n_clips']} clips, {out['n_speakers']} actors, actor-disjoint folds (test fold k, "
        "validation fold k+1, the rest trains), every clip tested once per split. Machine: "
        f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores; {out['total_wall_s']:.0f} s wall, "
        f"{out['total_cpu_s']:.0f} s CPU, load average {out['load_average_end']:.1f} at the end. "
        "Command: `python benchmarks/ser_linear_select.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in out["args"].items() if v != "") + "`", "",
        f"Grids: default {out['grids']['default']}, wide {out['grids']['wide']}. "
        "validation = C by the validation fold's UA; actors = C by grouped 5-fold cross-validation "
        "over the training + validation actors; -logloss = the same choice scored by the "
        "class-balanced log-loss instead of UA; each refitted on training + validation actors. "
        "ref = LR with C = 0.1 on the same features and actors. split = the seed that shuffles "
        "the actors into folds (speaker_folds). CIs: paired bootstrap over the same test clips.",
        "", "| split | backbone | D s | ref UA | " + " | ".join(f"{h} UA" for h in names) + " | "
        + " | ".join(f"{h} - ref" for h in names)
        + "".join(f" | {h} - validation" for h in others) + " |",
        "|---" * (4 + 2 * len(names) + len(others)) + "|"]
    for r in rows:
        v = r["variants"]
        lines.append(
            f"| {r['split_seed']} | {r['model']} | {r['duration_s']:g} | {r['ref_ua']:.3f} | "
            + " | ".join(f"{v[h]['ua']:.3f}" for h in names)
            + " | " + " | ".join(_ci(v[h]["minus_ref_ci"]) for h in names)
            + "".join(f" | {_ci(v[h]['minus_validation_ci'])}" for h in others) + " |")
    lines += ["", "| split | backbone | D s | C chosen per fold: " + " | ".join(names) + " |",
              "|---" * (3 + len(names)) + "|"]
    for r in rows:
        v = r["variants"]
        lines.append(f"| {r['split_seed']} | {r['model']} | {r['duration_s']:g} | " + " | ".join(
            ", ".join(f"{c:g}" for c in v[h]["c_chosen"]) for h in names) + " |")
    if len({r["split_seed"] for r in rows}) > 1:
        lines += ["", "Per (backbone, duration) cell over its splits (repeated cross-validation): "
                  "the mean UA over the splits, and the mean of (UA - ref UA) over the splits "
                  "with its 95% CI (the test clips resampled jointly for all the cell's splits).",
                  "", "| backbone | D s | splits | ref UA | " + " | ".join(
                      f"{h} UA | {h} - ref | 95% CI" for h in names) + " |",
                  "|---" * (4 + 3 * len(names)) + "|"]
        for c in out["cells"]:
            lines.append(f"| {c['model']} | {c['duration_s']:g} | {c['n_splits']} | "
                         f"{c['ref_ua']:.4f} | " + " | ".join(
                             f"{c['ua'][h]:.4f} | " + (
                                 f"{c['minus_ref'][h]['mean']:+.4f} | "
                                 f"{_ci(c['minus_ref'][h]['ci'])}" if c["minus_ref"] else
                                 "not pooled | ") for h in names) + " |")
        for h in names:
            below = sum(c["ua"][h] < c["ref_ua"] for c in out["cells"])
            lines += ["", f"{h}: below the reference in {below} of {len(out['cells'])} cells "
                      "on the repeated cross-validation."]
    lines += ["", "Per split, over its cells: the mean UA, the cells below the reference's UA, "
              "and the pooled mean of (UA - ref UA) with its 95% CI (the test clips resampled "
              "jointly for all cells, 1000 draws).", "",
              "| split | variant | mean UA | ref mean UA | cells below ref | mean (UA - ref UA) | "
              "95% CI |", "|---|---|---|---|---|---|---|"]
    for split, pooled in out["pooled"].items():
        cells = [r for r in rows if split == "all" or str(r["split_seed"]) == split]
        ref = float(np.mean([r["ref_ua"] for r in cells]))
        for h in names:
            below = sum(r["variants"][h]["ua"] < r["ref_ua"] for r in cells)
            p = pooled.get(h)
            lines.append(f"| {split} | {h} | "
                         f"{np.mean([r['variants'][h]['ua'] for r in cells]):.4f} | {ref:.4f} | "
                         f"{below} of {len(cells)} | "
                         + (f"{p['mean']:+.4f} | {_ci(p['ci'])} |" if p else
                            "not pooled: the cells tested different clips | |"))
    return lines


if __name__ == "__main__":
    main()
