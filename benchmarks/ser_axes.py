"""SER along the three axes on the RAVDESS sample, actor-disjoint folds, UA with 95% bootstrap CIs:

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/ser_axes.py [--data ...] [--threads 2]

1. xT x xN: duration D in --durations x backbone in --models, frozen, every fold held out once.
   Two heads on the same cached features: the learned MLP head (weighted layer sum, mean pooling,
   early stopping on the validation fold) and the linear head (LogisticRegression on the
   standardised concatenated layer means, C chosen on the validation fold, refit on training +
   validation actors); and beside them the logistic-regression reference of ser_duration.py
   (C = 0.1 fixed, training + validation actors). Paired bootstrap CIs (speechbudget.paired) of
   linear - MLP and linear - reference per cell, and pooled over the cells (the mean difference,
   the clips resampled jointly for all cells: every cell tests the same clips).
2. xV: token stride --strides at --stride-positions for the best (backbone, duration) of part 1
   (best by the better head's UA), same folds and head: UA vs inference GFLOPs.
3. (run before 2, so that a run cut short keeps it) Adaptation at --adapt-duration with --adapt-model on the first --adapt-folds fold(s):
   frozen (both heads), top-k, LoRA at --ranks (in every layer, and in the top --lora-top
   layers only), DAMA, full fine-tuning (all encoder layers), each trained with every recipe of
   --recipes (init:head[:crop]; "probe:linear" is LP-FT: the linear head fitted on the frozen
   backbone first, then fine-tuned with the backbone; "random:mlp" the MLP head trained from
   scratch with it; ":center" trains on centre crops, which lets the frozen layers below the
   first that trains be cached), each with its training GFLOPs
   (speechbudget.tasks.ser.metrics.fit_training_gflops: exact forward + backward, the frozen
   forward once per clip, the probe's included, validation passes excluded) and wall time;
   paired bootstrap CI of each against the frozen linear head on the same clips.
Nothing is tuned on a test fold: heads and C are chosen on the validation fold (training actors).
Writes benchmarks/results/ser_axes.{json,md} (after each part, so a partial run keeps its rows).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from speechbudget.adaptation import full_finetuning
from speechbudget.axes import Adaptation, Config
from speechbudget.machine import machine_info
from speechbudget.paired import pair_items, paired_difference
from speechbudget.records import ItemResult
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.metrics import fit_training_gflops, flops_for, ser_metrics, \
    ua_interval, ua_of_draws
from speechbudget.tasks.ser.runner import fold_splits
from speechbudget.tasks.ser.features import cached_features, predict_logits, read_clips
from speechbudget.tasks.ser.model import build_model
from speechbudget.tasks.ser.options import TrainOptions
from speechbudget.tasks.ser.train import fit

REPO = Path(__file__).resolve().parents[1]


def bootstrap(refs, hyps, other=None, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% CI of UA over clips: alone, tasks.ser.metrics.ua_interval (n draws, as the sweep's
    SerTask); with `other`, the paired CI of UA(hyps) - UA(other) from speechbudget.paired (the
    library's paired bootstrap, as the sweep's recommendations use it)."""
    if other is not None:
        d = paired_difference(pair_items(_items(refs, hyps), _items(refs, other), "ua"), seed=seed)
        return 0.0 - d.ci_high, 0.0 - d.ci_low   # error(A) - error(B) -> UA(A) - UA(B)
    return ua_interval(refs, hyps, n, seed)


def _items(refs, hyps) -> list[ItemResult]:
    return [ItemResult(item_id=f"{i:06d}", ok=True, prediction=h, reference=r,
                       errors=int(h != r), n_ref=1) for i, (r, h) in enumerate(zip(refs, hyps))]


def pooled_difference(refs, cells_a, cells_b, n: int = 1000, seed: int = 0) -> dict:
    """The mean over cells of UA(a) - UA(b), where every cell scored the same clips `refs`
    (cells_a[k], cells_b[k]: predictions of cell k), and its 95% percentile CI from resampling
    the clips jointly for all cells (one draw serves every cell; UA by metrics.ua_of_draws)."""
    rng = np.random.default_rng(seed)
    draws = np.concatenate([np.arange(len(refs))[None], rng.integers(0, len(refs),
                                                                     (n, len(refs)))])
    diff = np.mean([ua_of_draws(refs, a, draws) - ua_of_draws(refs, b, draws)
                    for a, b in zip(cells_a, cells_b)], 0)
    return {"mean": float(diff[0]), "ci": [float(np.percentile(diff[1:], 2.5)),
                                           float(np.percentile(diff[1:], 97.5))],
            "n_cells": len(cells_a), "n_clips": len(refs)}


def logreg_reference(model, ds, tr, te, audio, cache) -> list[str]:
    """ser_duration.py's reference: standardised LR, C = 0.1, on training + validation actors."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ctr = [c for c in ds.subset(tr) if c.id in audio]
    cte = [c for c in ds.subset(te) if c.id in audio]
    xtr = cached_features(model, ctr, audio, cache, 16, "mean")[0].flatten(1).numpy()
    xte = cached_features(model, cte, audio, cache, 16, "mean")[0].flatten(1).numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    clf.fit(xtr, [c.label for c in ctr])
    return list(clf.predict(xte))


def run_config(ds, config: Config, heads: dict[str, TrainOptions], folds: list[int], n_folds: int,
               args, cache: dict, encoders: dict, reference: bool = False) -> dict:
    """Train each head on each fold; UA over the union of the held-out folds."""
    labels = list(ds.labels)
    refs: list[str] = []
    ids: list[str] = []
    hyps = {h: [] for h in heads}
    if reference:
        hyps["logreg_ref"] = []
    train_gf = {h: 0.0 for h in heads}
    wall = {h: 0.0 for h in heads}
    info = {h: {} for h in heads}
    for k in folds:
        tr, va, te = fold_splits(ds, n_folds, args.seed, k)
        test_clips = ds.subset(te)
        audio, _ = read_clips(test_clips, args.audio_store)
        test_clips = [c for c in test_clips if c.id in audio]
        refs += [c.label for c in test_clips]
        ids += [c.id for c in test_clips]
        for h, opts in heads.items():
            t0 = time.perf_counter()
            res = fit(config, ds, tr, va, opts, device=args.device, cache=cache,
                      label=f"{config.label} {h} fold {k}", encoders=encoders,
                      audio_store=args.audio_store)
            frozen = config.adaptation.method == "none" and not config.adaptation.unfreeze_top
            logits = predict_logits(res.model, test_clips, audio, cache if frozen else None)
            wall[h] += time.perf_counter() - t0
            hyps[h] += [labels[i] for i in logits.argmax(1).tolist()]
            inf, _ = flops_for(config, n_classes=len(labels), pooling=opts.pooling,
                               layer_weights=opts.layer_weights, head=opts.head)
            train_gf[h] += fit_training_gflops(res, opts, len(labels))
            info[h] = {"inference_gflops": inf, "trainable_params": res.trainable_params,
                       "best": info[h].get("best", []) + [res.history[-1]["C"] if frozen and
                                                          opts.head == "linear"
                                                          else res.best_epoch]}
        if reference:
            model = build_model(config, labels, TrainOptions(progress=False), device=args.device,
                                encoders=encoders)
            all_audio, _ = read_clips(ds.subset(tr + va + te), args.audio_store)
            hyps["logreg_ref"] += logreg_reference(model, ds, tr + va, te, all_audio, cache)
    out = {"config": config.label, "model": config.model, "duration_s": float(config.window),
           "stride": config.stride, "stride_at": config.stride_at,
           "adaptation": config.adaptation.label, "folds": len(folds), "n_test": len(refs),
           "heads": {}, "refs": refs, "ids": ids, "preds": hyps}
    for h, pred in hyps.items():
        m = ser_metrics(refs, pred, labels)
        row = {"ua": m.ua, "ua_ci": bootstrap(refs, pred), "wa": m.wa, "macro_f1": m.macro_f1}
        if h in heads:
            row.update(train_gflops=train_gf[h], wall_s=wall[h], **info[h])
        out["heads"][h] = row
    if "linear" in hyps and "mlp" in hyps:
        out["linear_minus_mlp_ci"] = bootstrap(refs, hyps["linear"], hyps["mlp"])
    if "linear" in hyps and "logreg_ref" in hyps:
        out["linear_minus_ref_ci"] = bootstrap(refs, hyps["linear"], hyps["logreg_ref"])
    return out


def grid_arguments(ap: argparse.ArgumentParser) -> None:
    """The data and the frozen grid (backbones x durations, folds), shared with
    ser_linear_select.py."""
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "emotion_sample"))
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--durations", default="1,2,3,4,5")
    ap.add_argument("--folds", type=int, default=5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    grid_arguments(ap)
    ap.add_argument("--epochs", type=int, default=60, help="MLP head on a frozen backbone")
    ap.add_argument("--strides", default="2,4")
    ap.add_argument("--stride-positions", default="0,mid", help="layer indices, 'mid' (L // 2) "
                    "or 'output'")
    ap.add_argument("--adapt-model", default="tiny.en")
    ap.add_argument("--adapt-duration", type=float, default=2.0)
    ap.add_argument("--adapt-folds", type=int, default=5)
    ap.add_argument("--adapt-epochs", type=int, default=6)
    ap.add_argument("--ranks", default="4,16")
    ap.add_argument("--top-k", type=int, default=1)
    ap.add_argument("--lora-top", default="1", help="comma list of k: also LoRA at --ranks in the "
                    "top k layers only (Adaptation.lora_top; '' for none)")
    ap.add_argument("--peft-lr", type=float, default=1e-3, help="LoRA / DAMA backbone lr")
    ap.add_argument("--full-lr", type=float, default=1e-4, help="top-k / full FT backbone lr")
    ap.add_argument("--recipes", default="probe:linear:center", help="init:head[:crop] for "
                    "the trained backbones (init: probe = LP-FT, random; head: linear, mlp; "
                    "crop: random (default) or center, which caches a frozen prefix)")
    ap.add_argument("--methods", default="", help="comma list of adaptation rows to run (e.g. "
                    "lora16@top1,full; the frozen row always runs); default: all")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: frozen,stride,adapt")
    ap.add_argument("--budget-s", type=float, default=None, help="start no new row after this "
                    "many seconds (rows not run are listed in the results as skipped)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.audio_store = {}  # decoded audio by clip id, shared by every fit (decoding is costly)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    ds = load_dataset(args.data)
    cache: dict = {}
    encoders: dict = {}
    skip = set(filter(None, args.skip.split(",")))
    base = dict(seed=args.seed, progress=False)
    frozen_heads = {"mlp": TrainOptions(epochs=args.epochs, head="mlp", **base),
                    "linear": TrainOptions(head="linear", **base)}
    out = {"benchmark": "ser_axes", "data": args.data, "n_clips": len(ds),
           "n_speakers": len(ds.speakers), "machine": machine_info(args.threads),
           "args": {k: v for k, v in vars(args).items() if k != "audio_store"},
           "frozen": [], "stride": [], "adaptation": []}
    od = Path(args.out)
    od.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        out["total_wall_s"] = time.perf_counter() - t_start
        out["total_cpu_s"] = time.process_time() - cpu_start
        out["load_average_end"] = os.getloadavg()
        (od / "ser_axes.json").write_text(json.dumps(out, indent=2))
        (od / "ser_axes.md").write_text(markdown(out))

    all_folds = list(range(args.folds))
    out["skipped_rows"] = []

    def over(what: str) -> bool:
        if args.budget_s is not None and time.perf_counter() - t_start > args.budget_s:
            out["skipped_rows"].append(what)
            return True
        return False
    if "frozen" not in skip:
        for model in args.models.split(","):
            for d in [float(x) for x in args.durations.split(",")]:
                if over(f"frozen {model} {d:g} s"):
                    continue
                row = run_config(ds, Config(task="ser", model=model, window=d), frozen_heads,
                                 all_folds, args.folds, args, cache, encoders, reference=True)
                h = row["heads"]
                print(f"{model} {d:g} s: mlp {h['mlp']['ua']:.3f} linear {h['linear']['ua']:.3f} "
                      f"ref {h['logreg_ref']['ua']:.3f} ({time.perf_counter() - t_start:.0f} s)",
                      flush=True)
                out["frozen"].append(row)
                save()
    if "adapt" not in skip:
        L = Config(task="ser", model=args.adapt_model).arch.encoder_layers
        folds = list(range(args.adapt_folds))
        recipes = [(r, *r.split(":")) for r in args.recipes.split(",")]

        def opts(lr: float) -> dict[str, TrainOptions]:
            # init:head[:crop]; crop "center" lets a frozen prefix be cached (TrainOptions)
            return {name: TrainOptions(epochs=args.adapt_epochs, backbone_lr=lr, head=head,
                                       head_init=init, train_crop=crop[0] if crop else "random",
                                       **base)
                    for name, init, head, *crop in recipes}
        plans = [("frozen", Adaptation(), frozen_heads),
                 (f"top{args.top_k}", Adaptation(unfreeze_top=args.top_k), opts(args.full_lr))]
        plans += [(f"lora{r}", Adaptation(method="lora", rank=r), opts(args.peft_lr))
                  for r in [int(x) for x in args.ranks.split(",")]]
        plans += [(f"lora{r}@top{k}", Adaptation(method="lora", rank=r, lora_top=k),
                   opts(args.peft_lr))
                  for k in [int(x) for x in args.lora_top.split(",") if x]
                  for r in [int(x) for x in args.ranks.split(",")]]
        r_max = max(int(x) for x in args.ranks.split(","))
        plans += [(f"dama{r_max}", Adaptation(method="dama", rank=r_max), opts(args.peft_lr)),
                  ("full", full_finetuning(L), opts(args.full_lr))]
        if args.methods:  # the frozen row stays: every other row is compared with it
            keep = {"frozen", *args.methods.split(",")}
            unknown = sorted(keep - {name for name, _, _ in plans})
            if unknown:
                raise SystemExit(f"--methods: unknown method {unknown[0]!r}; this run's methods "
                                 f"are {', '.join(name for name, _, _ in plans)}")
            plans = [p for p in plans if p[0] in keep]
        for name, ad, heads in plans:
            if over(f"adaptation {name}"):
                continue
            c = Config(task="ser", model=args.adapt_model, window=args.adapt_duration,
                       adaptation=ad)
            row = run_config(ds, c, heads, folds, args.folds, args, cache, encoders)
            row["method"] = name
            frozen_row = out["adaptation"][0] if out["adaptation"] else row
            for h in row["heads"]:
                row["heads"][h]["minus_frozen_linear_ci"] = bootstrap(
                    row["refs"], row["preds"][h], frozen_row["preds"]["linear"])
                row["heads"][h]["minus_frozen_same_head_ci"] = bootstrap(
                    row["refs"], row["preds"][h], frozen_row["preds"][(h.split(":") + [h])[1]])
            print(f"{name}: " + ", ".join(f"{h} UA {v['ua']:.3f} train {v['train_gflops']:.0f} "
                                         f"GFLOPs {v['wall_s']:.0f} s"
                                         for h, v in row["heads"].items()), flush=True)
            out["adaptation"].append(row)
            save()
    if "stride" not in skip and out["frozen"]:
        best_head = max(("mlp", "linear"),
                        key=lambda h: np.mean([r["heads"][h]["ua"] for r in out["frozen"]]))
        best = max(out["frozen"], key=lambda r: r["heads"][best_head]["ua"])
        out["stride_choice"] = {"head": best_head, "config": best["config"]}
        L = Config(task="ser", model=best["model"]).arch.encoder_layers
        heads = {best_head: frozen_heads[best_head]}
        out["stride"].append({**best, "heads": {best_head: best["heads"][best_head]}})
        for pos in args.stride_positions.split(","):
            at = L // 2 if pos == "mid" else (pos if pos == "output" else int(pos))
            for s in [int(x) for x in args.strides.split(",")]:
                if over(f"stride {s} at {at}"):
                    continue
                c = Config(task="ser", model=best["model"], window=best["duration_s"], stride=s,
                           stride_at=at)
                row = run_config(ds, c, heads, all_folds, args.folds, args, cache, encoders)
                print(f"stride {s} at {at}: UA {row['heads'][best_head]['ua']:.3f} "
                      f"({time.perf_counter() - t_start:.0f} s)", flush=True)
                out["stride"].append(row)
                save()
    save()
    print(f"total {out['total_wall_s']:.0f} s wall; wrote {od / 'ser_axes.json'} and .md")


def _ci(ci) -> str:
    return f"{ci[0] + 0.0:.3f} to {ci[1] + 0.0:.3f}"   # + 0.0: no "-0.000" for a zero bound


def markdown(o: dict) -> str:
    m, a = o["machine"], o["args"]
    lines = [f"# SER along the three axes on {Path(o['data']).name}", "",
             f"{o['n_clips']} clips, {o['n_speakers']} actors, actor-disjoint folds (test fold k, "
             f"validation fold k+1, the rest trains). Machine: {m['cpu']}, {m['cores']} cores, "
             f"{m['torch_threads']} torch threads, torch {m['torch']}; shared with other jobs "
             f"(load average {o['load_average_end'][0]:.1f} at the end). Total "
             f"{o['total_wall_s']:.0f} s wall, {o['total_cpu_s']:.0f} s CPU. Command: "
             f"`python benchmarks/ser_axes.py " + " ".join(
                 f"--{k.replace('_', '-')} {v}" for k, v in a.items()
                 if k not in ("data", "out", "device") and v != "") + "`", ""]
    if o["frozen"]:
        lines += [f"## Duration x backbone, frozen ({a['folds']} folds, every clip tested once)",
                  "", "MLP = learned head (weighted layer sum, mean pooling, early stopping); "
                  "linear = LogisticRegression head (C by validation UA, refit on training + "
                  "validation actors); ref = LR with C = 0.1 (ser_duration.py's reference). "
                  "GFLOPs per clip are inference (backbone + that head).", "",
                  "| backbone | D s | MLP UA (95% CI) | linear UA (95% CI) | ref LR UA | "
                  "linear - MLP (95% CI) | linear - ref (95% CI) | GFLOPs/clip | C chosen |",
                  "|" + "---|" * 9]
        for r in o["frozen"]:
            h = r["heads"]
            lines.append(
                f"| {r['model']} | {r['duration_s']:g} | {h['mlp']['ua']:.3f} ({_ci(h['mlp']['ua_ci'])})"
                f" | {h['linear']['ua']:.3f} ({_ci(h['linear']['ua_ci'])}) | "
                f"{h['logreg_ref']['ua']:.3f} | {_ci(r['linear_minus_mlp_ci'])} | "
                f"{_ci(r['linear_minus_ref_ci'])} | {h['linear']['inference_gflops']:.3f} | "
                f"{', '.join(f'{c:g}' for c in h['linear']['best'])} |")
        rows = o["frozen"]
        if all(r["refs"] == rows[0]["refs"] for r in rows):
            pooled = {k: pooled_difference(rows[0]["refs"], [r["preds"]["linear"] for r in rows],
                                           [r["preds"][k] for r in rows])
                      for k in ("logreg_ref", "mlp")}
            below = sum(r["heads"]["linear"]["ua"] < r["heads"]["logreg_ref"]["ua"] for r in rows)
            lines += ["", f"Pooled over the {len(rows)} cells (the same {len(rows[0]['refs'])} "
                      "clips in each; clips resampled jointly for all cells): linear - ref "
                      f"{pooled['logreg_ref']['mean']:+.4f} (95% CI "
                      f"{pooled['logreg_ref']['ci'][0]:+.4f} to {pooled['logreg_ref']['ci'][1]:+.4f}"
                      f"), below the reference in {below} of {len(rows)} cells; linear - MLP "
                      f"{pooled['mlp']['mean']:+.4f} (95% CI {pooled['mlp']['ci'][0]:+.4f} to "
                      f"{pooled['mlp']['ci'][1]:+.4f})."]
        else:
            lines += ["", "Not pooled over the cells: they did not all test the same clips."]
    if o["stride"]:
        ch = o["stride_choice"]
        lines += ["", f"## Token stride (xV) on {ch['config']}, head {ch['head']} "
                  f"({a['folds']} folds)", "",
                  "| stride | after layer | UA (95% CI) | GFLOPs/clip | UA ratio | GFLOPs ratio |",
                  "|---|---|---|---|---|---|"]
        b = o["stride"][0]["heads"][ch["head"]]
        for r in o["stride"]:
            h = r["heads"][ch["head"]]
            lines.append(f"| {r['stride']} | {r['stride_at']} | {h['ua']:.3f} ({_ci(h['ua_ci'])}) "
                         f"| {h['inference_gflops']:.3f} | {h['ua'] / b['ua']:.3f} | "
                         f"{h['inference_gflops'] / b['inference_gflops']:.3f} |")
    if o["adaptation"]:
        full = next((r["heads"] for r in o["adaptation"] if r["method"] == "full"), {})
        lines += ["", f"## Adaptation at {a['adapt_duration']:g} s, {a['adapt_model']} "
                  f"({a['adapt_folds']} fold(s), {o['adaptation'][0]['n_test']} test clips; "
                  f"trained backbones {a['adapt_epochs']} epochs, LoRA/DAMA lr {a['peft_lr']:g}, "
                  f"top-k/full lr {a['full_lr']:g}; best epoch on the validation fold)", "",
                  "Recipe = init:head[:crop]. probe:linear is LP-FT (the linear head fitted on the "
                  "frozen backbone, validation actors for C only, then trained with the backbone "
                  "at the backbone's lr; the probe is epoch 0 of early stopping, its FLOPs "
                  "counted); random:mlp trains the MLP head from scratch with the backbone. "
                  "Crop: a trained backbone sees a random crop of each clip every epoch, or with "
                  ":center the centre crop; then the frozen layers below the first that trains "
                  "(lora r@top k: LoRA in the top k layers only; top-k) run once per clip "
                  "(a cached prefix) and their FLOPs count once. Train GFLOPs count the frozen "
                  "forward once per clip a fit ran it on (training + validation clips), then "
                  "each run's epochs (probe, selection, refit). "
                  "Δ frozen = UA minus the frozen linear head's (or the frozen head of the same "
                  "kind's), paired bootstrap over the same clips. 'vs full FT' compares with full fine-tuning under the same recipe "
                  "(frozen rows: with full FT's first recipe). Best epochs: per fold (0 = the "
                  "probe kept).", "",
                  "| method | recipe | UA (95% CI) | Δ frozen linear (95% CI) | Δ frozen, same head "
                  "(95% CI) | trainable params | train GFLOPs | UA vs full FT | "
                  "full FT FLOPs / these | best epochs | wall s |", "|" + "---|" * 11]
        first_full = next(iter(full.values()), None)
        for r in o["adaptation"]:
            for hname, h in r["heads"].items():
                f = full.get(hname, first_full)
                vs = f"{h['ua'] / f['ua']:.3f}" if f else "-"
                fr = f"{f['train_gflops'] / h['train_gflops']:.2f}" if f else "-"
                d = h.get("minus_frozen_linear_ci")
                ds = h.get("minus_frozen_same_head_ci")
                best = ", ".join(f"{b:g}" for b in h.get("best", []))
                lines.append(f"| {r['method']} | {hname} | {h['ua']:.3f} ({_ci(h['ua_ci'])}) | "
                             f"{_ci(d) if d else '-'} | {_ci(ds) if ds else '-'} | "
                             f"{h['trainable_params']:,} | "
                             f"{h['train_gflops']:.0f} | {vs} | {fr} | {best} | "
                             f"{h['wall_s']:.0f} |")
    if o.get("skipped_rows"):
        lines += ["", "Not run (time budget `--budget-s` reached): " + "; ".join(o["skipped_rows"])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
