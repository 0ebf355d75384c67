"""Calibrate the run-time model of `speechbudget.flops.estimate.TimeModel` on this machine, then
check its predictions against measured times on utterances it was not calibrated on.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/calibrate_time.py \
        [--models tiny.en,base] [--calibrate 12] [--check 24] [--batch-sizes 1,8,16] [--check-batch 8]

Calibration (first `--calibrate` utterances, default configuration, each batch size) is the
package's own loop, `speechbudget.sweep.timing.calibrate_time_model` (what `speechbudget sweep
calibrate` runs; see its docstring for the coefficients); this script adds the check.
Check (the next `--check` utterances, batch `--check-batch`): for each model, a small star of
configurations - the default (30 s window), a 10 s window (chunked; 10 s encoder passes), token
stride 2 on the output, stride 2 after layer 2 - measured wall seconds (AsrPipeline.run, all
stages) vs the prediction from audio length alone (tokens estimated as flops.TOKENS_PER_S x
seconds, since they are not known before a run). Reports each error and the median absolute error.
Writes benchmarks/results/time_model.json (the TimeModel) and time_calibration.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))


def run_config(bundle, config, items, audios, batch_size: int) -> dict:
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    pipe = AsrPipeline(bundle, config)
    pipe.warm_up()
    rows = [r for it, a in zip(items, audios) for r in pipe.rows_for(it.id, a)]
    t0 = time.perf_counter()
    pipe.run(rows, batch_size)
    wall = time.perf_counter() - t0
    st = {k: sum(r.t[k] for r in rows) for k in ("features", "encoder", "decoder")}
    tokens = sum(r.generated + (0 if r.by_limit or r.by_loop else 1) for r in rows)
    return {"wall_s": wall, "stages_s": st, "tokens": tokens, "rows": len(rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--calibrate", type=int, default=12)
    ap.add_argument("--check", type=int, default=24)
    ap.add_argument("--batch-sizes", default="1,8,16")
    ap.add_argument("--check-batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    import transformers
    transformers.logging.disable_progress_bar()
    from encoder_efficiency import matmul_peak

    from speechbudget.axes import Config
    from speechbudget.flops.estimate import predict_seconds
    from speechbudget.machine import machine_info
    from speechbudget.models.loading import load_whisper
    from speechbudget.sweep.timing import calibrate_time_model
    from speechbudget.tasks.asr.data import load_dataset

    ds = load_dataset(args.data)
    cal_items = ds.items[:args.calibrate]
    chk_items = ds.items[args.calibrate:args.calibrate + args.check]
    chk_audio = [ds.load_audio(it) for it in chk_items]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    models = [m.strip() for m in args.models.split(",")]
    cal_runs: list[str] = []

    def progress(message: str) -> None:
        cal_runs.append(message)
        print(message, flush=True)

    # the package's calibration loop (the same one `speechbudget sweep calibrate` runs)
    tm = calibrate_time_model(models, ds, args.calibrate, batch_sizes, "cpu", progress)
    peak, eff, dec = tm.peak_gflops_per_s, tm.encoder_efficiency, tm.decoder_s_per_token
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "time_model.json").write_text(json.dumps(tm.to_dict(), indent=1))

    checks = []
    peak_now = matmul_peak()["best_gflops_per_s"]
    for m in models:
        bundle = load_whisper(m)
        star = [Config(task="asr", model=m), Config(task="asr", model=m, window=10.0),
                Config(task="asr", model=m, stride=2),
                Config(task="asr", model=m, stride=2, stride_at=2)]
        for cfg in star:
            r = run_config(bundle, cfg, chk_items, chk_audio, args.check_batch)
            pred = [predict_seconds(cfg, tm, len(a) / 16000, args.check_batch) for a in chk_audio]
            p = {k: sum(x[k] for x in pred) for k in ("features", "encoder", "decoder", "total")}
            pred_now = sum(predict_seconds(cfg, tm, len(a) / 16000, args.check_batch,
                                           peak_gflops_per_s=peak_now)["total"] for a in chk_audio)
            checks.append({"config": cfg.label, "model": m, "measured_s": r["wall_s"],
                           "measured_stages_s": r["stages_s"], "predicted_s": p["total"],
                           "predicted_stages_s": p, "predicted_with_peak_now_s": pred_now,
                           "error": p["total"] / r["wall_s"] - 1,
                           "error_with_peak_now": pred_now / r["wall_s"] - 1})
            print(json.dumps(checks[-1]), flush=True)
        del bundle
    mae = statistics.median(abs(c["error"]) for c in checks)
    mae_now = statistics.median(abs(c["error_with_peak_now"]) for c in checks)
    res = {"machine": machine_info(args.threads), "command": " ".join(sys.argv[1:]),
           "time_model": tm.to_dict(), "calibration_runs": cal_runs, "peak_at_check": peak_now,
           "checks": checks, "median_abs_error": mae, "median_abs_error_with_peak_now": mae_now}
    (out / "time_calibration.json").write_text(json.dumps(res, indent=1))
    lines = ["# Calibrated run-time model: predicted vs measured", "",
             f"Machine: {res['machine']['cpu']}, {args.threads} threads. Command: "
             f"`OMP_NUM_THREADS={args.threads} flock /tmp/bench.lock python "
             f"benchmarks/calibrate_time.py {' '.join(sys.argv[1:])}`", "",
             f"Calibrated on utterances 0..{len(cal_items) - 1}; checked on "
             f"{len(cal_items)}..{len(cal_items) + len(chk_items) - 1} (batch {args.check_batch}),"
             f" predicting from audio length alone. Peak {peak:.0f} GFLOP/s at calibration, "
             f"{peak_now:.0f} at the check.", "",
             "Coefficients: features " + f"{1000 * tm.features_s_per_audio_s:.2f} ms per audio s; "
             + "; ".join(f"{m}: encoder {100 * eff[m]:.0f}% of peak, decoder "
                         + ", ".join(f"batch {b} {1000 * s:.1f} ms/token" for b, s in dec[m].items())
                         for m in models), "",
             "| configuration | measured s | predicted s (enc / dec) | error | error (peak now) |",
             "|---|---|---|---|---|"]
    for c in checks:
        ps = c["predicted_stages_s"]
        lines.append(f"| {c['config']} | {c['measured_s']:.1f} | {c['predicted_s']:.1f} "
                     f"({ps['encoder']:.1f} / {ps['decoder']:.1f}) | {100 * c['error']:+.0f}% | "
                     f"{100 * c['error_with_peak_now']:+.0f}% |")
    lines += ["", f"Median absolute error: {100 * mae:.0f}% (with the peak re-measured at the "
              f"check: {100 * mae_now:.0f}%)."]
    (out / "time_calibration.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
