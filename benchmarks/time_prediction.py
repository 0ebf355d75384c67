"""Predicted vs measured run time of a sweep, in one run: calibrate, plan, run, compare.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/time_prediction.py \
        [--spec examples/asr_star.yaml] [--items N] [--calibrate-items 8] [--batch-sizes 1,4,8] \
        [--time-model FILE]

1. Calibrate `speechbudget.sweep.timing.calibrate_time_model` for the spec's models on
   `--calibrate-items` utterances that the sweep does NOT run (the ones after its first N), or
   use `--time-model FILE` as it is.
2. Plan: each configuration's processing seconds predicted from the utterances' lengths alone
   (tokens estimated as flops.TOKENS_PER_S x seconds), the encoder rescaled to the matmul peak
   measured just before the run - exactly what `speechbudget sweep plan` prints.
3. Run the sweep (local executor, with its reuse cache) into a fresh store and take each
   configuration's measured processing seconds (features + encoder + decoder stage timings) and
   the run's wall time.
4. Per configuration: error = predicted / measured - 1; the median absolute error is the goal of
   issue 13 (<= 20 %). Results: benchmarks/results/time_prediction.{json,md} for the example
   star, time_prediction_<spec file stem>.{json,md} for another spec.
`--items` overrides the spec's max_items (a smoke run: `--items 2`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=str(REPO / "examples" / "asr_star.yaml"))
    ap.add_argument("--items", type=int, default=None, help="override the spec's max_items")
    ap.add_argument("--calibrate-items", type=int, default=8)
    ap.add_argument("--batch-sizes", default="1,4,8")
    ap.add_argument("--time-model", default=None, help="use this calibration file as it is")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 2)))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    import transformers
    transformers.logging.disable_progress_bar()

    from speechbudget.machine import machine_info
    from speechbudget.sweep.plan import calibrate_gflops_per_s, plan_configurations
    from speechbudget.sweep.run import run_sweep
    from speechbudget.sweep.spec import load_spec
    from speechbudget.sweep.store import ResultsStore
    from speechbudget.sweep.timing import (calibrate_time_model, load_time_model,
                                           predict_config_seconds)
    from speechbudget.tasks.asr.data import load_dataset

    spec = load_spec(args.spec)
    opts = dict(spec.task_options)
    if args.items is not None:
        opts["max_items"] = args.items
    spec = dataclasses.replace(spec, task_options=opts)
    n = opts.get("max_items")
    batch = int(opts.get("batch_size", 8))
    ds = load_dataset(spec.data)
    run_items = ds.items[:n] if n else ds.items
    t0 = time.perf_counter()
    if args.time_model:
        tm, cal_s = load_time_model(args.time_model), 0.0
    else:
        tm = calibrate_time_model(list(spec.models), ds, args.calibrate_items,
                                  [int(b) for b in args.batch_sizes.split(",")],
                                  first=len(run_items),
                                  progress=lambda m: print(m, file=sys.stderr, flush=True))
        cal_s = time.perf_counter() - t0
    plan = plan_configurations(spec)
    durations = [ds.duration(it) for it in run_items]
    peak_now = calibrate_gflops_per_s()
    predicted = {c.key: predict_config_seconds(c, tm, durations, batch, peak_now)
                 for c in plan.configs}
    # the same without rescaling the encoder to the peak measured now (calibration's peak)
    unscaled = {c.key: predict_config_seconds(c, tm, durations, batch) for c in plan.configs}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "runs.db"
        t1 = time.perf_counter()
        summary = run_sweep(spec, store, executor="local", progress=False, device="cpu")
        wall = time.perf_counter() - t1
        st = ResultsStore(store, readonly=True)
        metrics = {c.key: (c, m) for c, m in st.metrics()}
        st.close()
    rows = []
    for c in plan.configs:
        cm = metrics.get(c.key)
        meas = sum(cm[1].timings.get(k, 0.0) for k in ("features", "encoder", "decoder")) \
            if cm else None
        pred = predicted[c.key]
        err = pred / meas - 1 if pred is not None and meas else None
        un = unscaled[c.key]
        rows.append({"config": c.label, "key": c.key, "predicted_s": pred,
                     "predicted_unscaled_s": un,
                     "error_unscaled": un / meas - 1 if un is not None and meas else None,
                     "measured_s": meas,
                     "measured_stages_s": dict(cm[1].timings) if cm else None, "error": err})
        print(json.dumps(rows[-1]), flush=True)
    errs = [abs(r["error"]) for r in rows if r["error"] is not None]
    mae = statistics.median(errs) if errs else None
    errs_un = [abs(r["error_unscaled"]) for r in rows if r["error_unscaled"] is not None]
    mae_un = statistics.median(errs_un) if errs_un else None
    pred_total = sum(r["predicted_s"] for r in rows if r["predicted_s"] is not None)
    res = {"machine": machine_info(args.threads),
           "command": "python benchmarks/time_prediction.py " + " ".join(sys.argv[1:]),
           "spec": str(args.spec), "items": len(run_items), "batch_size": batch,
           "time_model": tm.to_dict(), "calibration_s": cal_s, "peak_gflops_per_s_now": peak_now,
           "rows": rows, "median_abs_error": mae, "median_abs_error_unscaled": mae_un,
           "goal": "<= 0.20",
           "run_wall_s": wall, "predicted_total_s": pred_total,
           "run_failed": summary.failed}
    stem = Path(args.spec).stem
    name = "time_prediction" + ("" if stem == "asr_star" else f"_{stem}")
    md = ["# Sweep time: predicted (calibrated cost model) vs measured", "",
          f"`OMP_NUM_THREADS={args.threads} {res['command']}` on {res['machine'].get('cpu', '')}, "
          f"{args.threads} threads: {Path(args.spec).name}, {len(run_items)} utterances, batch "
          f"{batch}.", "",
          f"Time model: {tm.calibration}" + (f" (calibration took {cal_s:.0f} s)" if cal_s else "")
          + f". Matmul peak measured before the run: {peak_now:.0f} GFLOP/s.", "",
          "Predicted from the utterances' lengths alone, before the run; measured = the run's "
          "features + encoder + decoder stage seconds per configuration (with the sweep's reuse "
          "cache, a reused state keeps the seconds it took).", "",
          "| configuration | predicted s | measured s | error | error, encoder not rescaled |",
          "|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['config']} | "
                  + ("–" if r["predicted_s"] is None else f"{r['predicted_s']:.1f}") + " | "
                  + ("–" if r["measured_s"] is None else f"{r['measured_s']:.1f}") + " | "
                  + ("–" if r["error"] is None else f"{100 * r['error']:+.0f}%") + " | "
                  + ("–" if r["error_unscaled"] is None else f"{100 * r['error_unscaled']:+.0f}%")
                  + " |")
    md += ["", "Median absolute error: " + ("n/a" if mae is None else f"{100 * mae:.0f}%")
           + " (goal <= 20%; without rescaling the encoder to the peak measured now: "
           + ("n/a" if mae_un is None else f"{100 * mae_un:.0f}%") + "). " + f"Whole run: {wall:.0f} s wall (model loading, warm-up and "
           f"scoring included) vs {pred_total:.0f} s predicted processing.", ""]
    print(write_results(Path(args.out) / name, res, md))


if __name__ == "__main__":
    main()
