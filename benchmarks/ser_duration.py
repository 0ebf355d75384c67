"""SER duration sweep (xT) with the bundled Whisper tiny.en encoder on the RAVDESS sample, plus LoRA
and DAMA beside the frozen backbone.

    python benchmarks/ser_duration.py [--data ../shared/data/emotion_sample] [--threads 2]

1. Frozen backbone + head (weighted layer sum, mean pooling), k actor-disjoint folds, for each
   duration D in {1, 2, 3, 4, 5} s: UA/WA/macro-F1 with a bootstrap CI, inference GFLOPs per clip
   and training GFLOPs (speechbudget.flops), wall time. Encoder features are computed once per
   clip and duration and shared by all folds.
2. Beside it, on the same cached features: a logistic regression on the concatenated per-layer
   mean-pooled states (the reference point: 0.73 UA at 4 s).
3. LoRA (rank r on q/v) and DAMA (max rank r, U-shaped) at `--adapt-duration`, on the first
   `--adapt-folds` fold(s) for `--adapt-epochs` epochs, with the frozen run on the same fold(s).
Ratios are against the frozen 4 s configuration (the baseline) measured in the same run.
Writes benchmarks/results/ser_duration.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from speechbudget.machine import machine_info
from speechbudget.axes import Adaptation, Config
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.metrics import flops_for, ser_metrics
from speechbudget.tasks.ser.runner import SerTask, fold_splits
from speechbudget.tasks.ser.features import cached_features, predict_logits, read_clips
from speechbudget.tasks.ser.model import build_model
from speechbudget.tasks.ser.options import TrainOptions
from speechbudget.tasks.ser.train import fit

REPO = Path(__file__).resolve().parents[1]


def machine(threads: int) -> dict:
    return machine_info(threads)


def logistic_baseline(model, ds, folds: int, seed: int, cache: dict) -> float:
    """UA of a standardised logistic regression on concatenated per-layer clip means."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    refs, hyps = [], []
    for k in range(folds):
        tr, va, te = fold_splits(ds, folds, seed, k)
        tr = tr + va
        clips_tr, clips_te = ds.subset(tr), ds.subset(te)
        audio, _ = read_clips(clips_tr + clips_te)
        clips_tr = [c for c in clips_tr if c.id in audio]
        clips_te = [c for c in clips_te if c.id in audio]
        xtr = cached_features(model, clips_tr, audio, cache, 16, "mean")[0].flatten(1).numpy()
        xte = cached_features(model, clips_te, audio, cache, 16, "mean")[0].flatten(1).numpy()
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
        clf.fit(xtr, [c.label for c in clips_tr])
        refs += [c.label for c in clips_te]
        hyps += list(clf.predict(xte))
    return ser_metrics(refs, hyps, list(ds.labels)).ua


def run_frozen(ds, duration: float, args, cache: dict) -> dict:
    config = Config(task="ser", model=args.model, window=duration)
    task = SerTask(folds=args.folds, epochs=args.epochs, seed=args.seed)
    t0 = time.perf_counter()
    results = []
    for shard in task.shards(config, ds):
        results += task.run_shard(config, ds, shard, args.device, cache)
    wall = time.perf_counter() - t0
    m = task.aggregate(config, results)
    model = build_model(config, list(ds.labels), TrainOptions(progress=False), device=args.device)
    t1 = time.perf_counter()
    lr_ua = logistic_baseline(model, ds, args.folds, args.seed, cache)
    return {"config": config.label, "duration_s": duration, "adaptation": "frozen",
            "folds": args.folds, "ua": m.value, "ua_ci": [m.ci_low, m.ci_high],
            "wa": m.extra["wa"], "macro_f1": m.extra["macro_f1"], "failed": m.n_failed,
            "inference_gflops": m.gflops, "train_gflops": m.train_gflops,
            "best_epochs": sorted({r.extra.get("best_epoch") for r in results if r.ok}),
            "wall_s": wall, "logreg_ua": lr_ua, "logreg_wall_s": time.perf_counter() - t1,
            "confusion": m.extra["confusion"], "labels": m.extra["labels"]}


def run_adapted(ds, adaptation: Adaptation, args, cache: dict) -> dict:
    config = Config(task="ser", model=args.model, window=args.adapt_duration,
                    adaptation=adaptation)
    opts = TrainOptions(epochs=args.adapt_epochs if adaptation.method != "none" else args.epochs,
                        seed=args.seed, progress=args.progress, backbone_lr=args.backbone_lr)
    refs, hyps, train_gf, wall, trainable = [], [], 0.0, 0.0, 0
    for k in range(args.adapt_folds):
        tr, va, te = fold_splits(ds, args.folds, args.seed, k)
        t0 = time.perf_counter()
        res = fit(config, ds, tr, va, opts, device=args.device, cache=cache,
                  label=f"{adaptation.label} fold {k}")
        clips = [c for c in ds.subset(te)]
        audio, _ = read_clips(clips)
        clips = [c for c in clips if c.id in audio]
        logits = predict_logits(res.model, clips, audio, cache)
        wall += time.perf_counter() - t0
        refs += [c.label for c in clips]
        hyps += [res.model.labels[i] for i in logits.argmax(1).tolist()]
        inf, tg = flops_for(config, res.n_train, res.epochs_run, len(ds.labels), opts.pooling,
                            opts.layer_weights)
        train_gf += tg or 0.0
        trainable = res.trainable_params
    m = ser_metrics(refs, hyps, list(ds.labels))
    return {"config": config.label, "duration_s": args.adapt_duration,
            "adaptation": adaptation.label, "folds": args.adapt_folds,
            "epochs": opts.epochs, "ua": m.ua, "wa": m.wa, "macro_f1": m.macro_f1,
            "inference_gflops": inf, "train_gflops": train_gf, "trainable_params": trainable,
            "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "emotion_sample"))
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--durations", default="1,2,3,4,5")
    ap.add_argument("--baseline-duration", type=float, default=4.0)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--adapt-duration", type=float, default=2.0)
    ap.add_argument("--adapt-folds", type=int, default=1)
    ap.add_argument("--adapt-epochs", type=int, default=3)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--backbone-lr", type=float, default=TrainOptions.backbone_lr)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    ds = load_dataset(args.data)
    cache: dict = {}
    durations = [float(d) for d in args.durations.split(",")]
    if args.baseline_duration not in durations:
        durations.append(args.baseline_duration)
    sweep = []
    for d in durations:
        row = run_frozen(ds, d, args, cache)
        print(f"frozen {d:g} s: UA {row['ua']:.4f} (logreg {row['logreg_ua']:.4f}) "
              f"{row['inference_gflops']:.3f} GFLOPs/clip, {row['wall_s']:.0f} s", flush=True)
        sweep.append(row)
    base = next(r for r in sweep if r["duration_s"] == args.baseline_duration)
    for r in sweep:
        r["ua_ratio"] = r["ua"] / base["ua"]
        r["gflops_ratio"] = r["inference_gflops"] / base["inference_gflops"]
    adapted = []
    for ad in (Adaptation(), Adaptation(method="lora", rank=args.rank),
               Adaptation(method="dama", rank=args.rank)):
        row = run_adapted(ds, ad, args, cache)
        print(f"{row['adaptation']} {args.adapt_duration:g} s: UA {row['ua']:.4f}, "
              f"{row['trainable_params']:,} trainable, {row['wall_s']:.0f} s", flush=True)
        adapted.append(row)
    for r in adapted:
        r["ua_ratio_vs_frozen_same_fold"] = r["ua"] / adapted[0]["ua"]
        r["train_gflops_ratio_vs_frozen"] = (r["train_gflops"] / adapted[0]["train_gflops"]
                                             if adapted[0]["train_gflops"] else None)
    total = time.perf_counter() - t_start
    cpu_s = time.process_time() - cpu_start
    out = {"benchmark": "ser_duration", "data": args.data, "n_clips": len(ds),
           "n_speakers": len(ds.speakers), "model": args.model, "baseline": base["config"],
           "machine": machine(args.threads), "total_wall_s": total,
           "total_cpu_s": cpu_s, "load_average_end": os.getloadavg(), "args": vars(args),
           "duration_sweep": sweep, "adaptation": adapted}
    od = Path(args.out)
    od.mkdir(parents=True, exist_ok=True)
    (od / "ser_duration.json").write_text(json.dumps(out, indent=2))
    (od / "ser_duration.md").write_text(markdown(out))
    print(f"total {total:.0f} s wall, {cpu_s:.0f} s CPU; wrote {od / 'ser_duration.json'} and .md")


def markdown(o: dict) -> str:
    m = o["machine"]
    lines = [f"# SER duration sweep: {o['model']} on {Path(o['data']).name}",
             "", f"{o['n_clips']} clips, {o['n_speakers']} speakers; frozen backbone + head "
             f"(weighted layer sum, mean pooling), {o['args']['folds']} actor-disjoint folds; "
             f"baseline = {o['baseline']}. Machine: {m['cpu']}, {m['cores']} cores, "
             f"{m['torch_threads']} torch threads, torch {m['torch']}. Total {o['total_wall_s']:.0f} s "
             f"wall, {o['total_cpu_s']:.0f} s CPU (process time; the machine was shared, load "
             f"average {o['load_average_end'][0]:.1f} at the end).",
             "", "| duration s | UA | 95% CI | WA | macro-F1 | logreg UA | GFLOPs/clip | "
             "train GFLOPs | UA ratio | FLOPs ratio | wall s |", "|" + "---|" * 11]
    for r in o["duration_sweep"]:
        lines.append(f"| {r['duration_s']:g} | {r['ua']:.4f} | {r['ua_ci'][0]:.3f}-"
                     f"{r['ua_ci'][1]:.3f} | {r['wa']:.4f} | {r['macro_f1']:.4f} | "
                     f"{r['logreg_ua']:.4f} | {r['inference_gflops']:.3f} | "
                     f"{r['train_gflops']:.0f} | {r['ua_ratio']:.3f} | {r['gflops_ratio']:.3f} | "
                     f"{r['wall_s']:.0f} |")
    a = o["adaptation"]
    lines += ["", f"## Adaptation at {a[0]['duration_s']:g} s ({a[0]['folds']} fold(s); LoRA/DAMA "
              f"{a[1]['epochs']} epochs with backbone lr {o['args']['backbone_lr']:g}, frozen "
              f"{a[0]['epochs']} epochs with early stopping)", "",
              "| adaptation | UA | WA | macro-F1 | trainable params | GFLOPs/clip | train GFLOPs | "
              "UA vs frozen | train FLOPs vs frozen | wall s |", "|" + "---|" * 10]
    for r in a:
        ratio = r["train_gflops_ratio_vs_frozen"]
        lines.append(f"| {r['adaptation']} | {r['ua']:.4f} | {r['wa']:.4f} | {r['macro_f1']:.4f} | "
                     f"{r['trainable_params']:,} | {r['inference_gflops']:.3f} | "
                     f"{r['train_gflops']:.0f} | {r['ua_ratio_vs_frozen_same_fold']:.3f} | "
                     f"{'-' if ratio is None else f'{ratio:.2f}'} | {r['wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
