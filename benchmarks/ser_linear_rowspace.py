"""The linear SER head's LogisticRegression fits in the row space of the features, against the
same fits on the full features, side by side in one run:

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/ser_linear_rowspace.py

For each backbone (frozen, --duration s), the design matrix the linear head sees on fold 0 (the
standardised per-layer means of the training + validation clips, n rows x N*H features): every C of
the grid fitted on X (full) and on Z = X V (row space, `linear_select.row_space`), the two timed in
alternation --repeats times. Reports the wall-time ratio full / row space (median over repeats),
the largest coefficient difference after mapping back (w = V z, relative to the largest
coefficient) and whether the predictions on the fold's test clips agree.
Writes benchmarks/results/<name>.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from results_io import write_results
from speechbudget.axes import Config
from speechbudget.machine import machine_info
from speechbudget.tasks.ser import linear_select
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.runner import fold_splits
from speechbudget.tasks.ser.features import cached_features, read_clips
from speechbudget.tasks.ser.linear_head import design_matrix
from speechbudget.tasks.ser.model import build_model
from speechbudget.tasks.ser.options import LINEAR_C_GRID, TrainOptions

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "emotion_sample"))
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--grid", default=",".join(f"{c:g}" for c in LINEAR_C_GRID))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="ser_linear_rowspace")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    grid = [float(c) for c in args.grid.split(",")]
    ds = load_dataset(args.data)
    tr, va, te = fold_splits(ds, 5, 0, 0)
    fit_clips, test_clips = ds.subset(tr + va), ds.subset(te)
    audio, _ = read_clips(fit_clips + test_clips)
    y = [c.label for c in fit_clips]
    rows = []
    for name in args.models.split(","):
        config = Config(task="ser", model=name, window=args.duration)
        model = build_model(config, list(ds.labels), TrainOptions(head="linear", progress=False))
        cache: dict = {}
        stats, _ = cached_features(model, ds.subset(tr), audio, cache, 16, "mean")
        model.head.set_normalisation(stats)
        x, xt = (design_matrix(model, clips, audio, cache).astype(np.float64)
                 for clips in (fit_clips, test_clips))
        full_s, row_s, diff, agree = [], [], 0.0, True
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            full = [linear_select.fit_logreg(c, x, y, 0)[0] for c in grid]
            full_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            basis = linear_select.row_space(x)
            small = [linear_select.fit_logreg(c, x @ basis, y, 0)[0] for c in grid]
            row_s.append(time.perf_counter() - t0)
        for f, s in zip(full, small):
            w = s.coef_ @ basis.T
            diff = max(diff, float(np.abs(w - f.coef_).max() / np.abs(f.coef_).max()))
            agree &= bool((f.predict(xt) == s.predict(xt @ basis)).all())
        rows.append({"model": name, "n_rows": x.shape[0], "n_features": x.shape[1],
                     "full_s": full_s, "row_space_s": row_s,
                     "ratio": float(np.median(full_s) / np.median(row_s)),
                     "max_rel_coef_diff": diff, "test_predictions_agree": agree,
                     "n_test": len(test_clips)})
        print(f"{name}: {x.shape} full {np.median(full_s):.2f} s, row space "
              f"{np.median(row_s):.2f} s, ratio {rows[-1]['ratio']:.1f}, coef diff {diff:.2g}, "
              f"predictions agree {agree}", flush=True)
    out = {"benchmark": "ser_linear_rowspace", "machine": machine_info(args.threads),
           "args": vars(args), "grid": grid, "rows": rows, "load_average_end": os.getloadavg()[0]}
    m = out["machine"]
    md = ["# The linear SER head: row-space fits against full-feature fits", "",
          f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {args.threads} threads; "
          f"load average {out['load_average_end']:.1f} at the end. Command: `python "
          f"benchmarks/ser_linear_rowspace.py --models {args.models} --duration {args.duration:g} "
          f"--grid {args.grid} --repeats {args.repeats}`. Fold 0's training + validation clips "
          f"(the rows a refit uses), {len(grid)} values of C per timing, the two ways timed in "
          "alternation; ratio = median full / median row space (includes the SVD).", "",
          "| backbone | rows x features | full s (median) | row space s (median) | ratio | "
          "max relative coef difference | test predictions agree |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['n_rows']} x {r['n_features']} | "
                  f"{np.median(r['full_s']):.2f} | {np.median(r['row_space_s']):.3f} | "
                  f"**{r['ratio']:.1f}x** | {r['max_rel_coef_diff']:.2g} | "
                  f"{'yes' if r['test_predictions_agree'] else 'no'} ({r['n_test']} clips) |")
    write_results(REPO / "benchmarks" / "results" / args.name, out, md)


if __name__ == "__main__":
    main()
