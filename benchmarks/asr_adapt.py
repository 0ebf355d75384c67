"""Label-free self-distillation and attention token selection, tiny.en on held-out speakers.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/asr_adapt.py [--steps 100]
        [--rank 16] [--lr 1e-3] [--batch-size 8] [--snapshots 25,50] [--hold-out-every 3]
        [--select-every 7] [--limit N]   (a smoke run: the first N training and N held-out
        utterances)

Data: ../shared/data/librispeech_sample (22 speakers x 10 utterances, all <= 14 s). Speakers are
sorted by id and every `hold-out-every`-th one (0, 3, 6, ...) is held out for evaluation; the
others are the training audio. Distillation uses only their audio (no transcripts): the targets
are the stock model's own greedy outputs at 30 s. Every setting below was fixed before the run
(no tuning on the held-out speakers).

Label-free choice of the adapter (`--select-every K`, 0: off): every K-th of the remaining
speakers is kept out of training as a selection set. The candidates are the stock weights (step
0), every snapshot and the last step; each transcribes the selection audio at its configuration
and is scored by its word error rate against the *teacher's* transcripts of that audio (stock,
30 s; no reference transcript is read). The candidate closest to the teacher is "selected" (ties:
fewer steps), and the gap recovered is reported for it beside the last step's. The held-out
speakers are never used to choose.

In one run, WER [bootstrap 95% CI] on the held-out utterances of:
  30 s stock;  15 s + stride 2 after layer 2 (mean) stock / distilled;  dynamic stock / distilled;
  stride 2 after layer 2, attn vs mean, at 30 s and 15 s;
and the gap recovered = (WER stock - WER distilled) / (WER stock - WER 30 s stock), the WER of
intermediate adapters (WER vs training steps), and per adaptation: its wall time (teacher pass +
features + optimiser steps; a teacher pass shared with an earlier configuration is counted in
each, so each is the time of adapting that configuration alone), its exact training FLOPs
(flops.asr_training, the teacher's passes included) and the peak RSS sampled while its
optimiser steps ran (memory.MemoryPeak: the memory the process needed for that adaptation, not the
high-water mark of what ran before), checked against the goals (<= 20 minutes, < 8 GB).
Writes benchmarks/results/asr_adapt.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _mb(v: float | None) -> str:
    return "not measured" if v is None else f"{v:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--targets", default="q_proj,k_proj,v_proj,out_proj,fc1,fc2")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--snapshots", default="25,50")
    ap.add_argument("--hold-out-every", type=int, default=3)
    ap.add_argument("--select-every", type=int, default=7, help="every K-th training speaker "
                    "is a label-free selection set (0: no selection)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--which", default="fixed,dynamic", help="distilled configurations to train")
    ap.add_argument("--limit", type=int, default=None, help="smoke run: first N utterances "
                    "of the training and of the held-out set")
    ap.add_argument("--out", default=str(HERE / "results" / "asr_adapt"))
    ap.add_argument("--work", default="/tmp/asr_adapt_work")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from speechbudget.axes import Config
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr import adapt as ad
    from speechbudget.tasks.asr.adapt_options import DistillOptions
    from speechbudget.tasks.asr.data import AsrDataset, load_dataset
    from speechbudget.tasks.asr.runner import AsrTask, evaluate

    t_start = time.perf_counter()
    ds = load_dataset(args.data)
    speakers = sorted({it.speaker for it in ds.items})
    held = set(speakers[::args.hold_out_every])
    test = AsrDataset([it for it in ds.items if it.speaker in held], ds.source + " (held out)")
    rest = [sp for sp in speakers if sp not in held]
    chooser = set(rest[::args.select_every]) if args.select_every else set()
    train = [it for it in ds.items if it.speaker not in held | chooser]
    select = AsrDataset([it for it in ds.items if it.speaker in chooser],
                        ds.source + " (selection)")
    if args.limit:
        test, train = test.limit(args.limit), train[:args.limit]
        select = select.limit(args.limit)
    assert not held & {it.speaker for it in train}, "a held-out speaker in the training set"
    assert not (held | chooser) & {it.speaker for it in train}, "a selection speaker in training"
    bundle = load_whisper(args.model)
    C = lambda **kw: Config(task="asr", model=bundle.arch.name, **kw)  # noqa: E731
    s2 = dict(stride=2, stride_at=2)
    stock = {"30s": C(), "15s_s2L2_mean": C(window=15, **s2), "dynamic": C(window="dynamic"),
             "30s_s2L2_mean": C(**s2), "30s_s2L2_attn": C(pool="attn", **s2),
             "15s_s2L2_attn": C(window=15, pool="attn", **s2)}
    to_train = {"fixed": "15s_s2L2_mean", "dynamic": "dynamic"}
    snaps = tuple(int(x) for x in args.snapshots.split(",") if x)

    task = AsrTask(batch_size=16, warmup=True)
    results: dict[str, dict] = {}
    training: dict[str, dict] = {}

    def save() -> None:  # after every step of the benchmark, so a cut run keeps what it measured
        base = results.get("30s", {}).get("wer")
        gaps = {}
        for name in training:
            if f"{name}_distilled" not in results or name not in results or base is None:
                continue
            st, di = results[name]["wer"], results[f"{name}_distilled"]["wer"]
            gaps[name] = {"stock": st, "distilled": di, "30s": base, "gap": st - base,
                          "recovered_share": (st - di) / (st - base) if st > base else None,
                          "distilled_minus_30s": di - base}
            sel = training[name].get("selected")
            if sel is not None and sel["name"] in results:
                se = results[sel["name"]]["wer"]
                gaps[name].update(selected_step=sel["step"], selected=se,
                                  selected_recovered_share=(st - se) / (st - base)
                                  if st > base else None, selected_minus_30s=se - base)
        machine = {"cpu": platform.processor(), "threads": torch.get_num_threads(),
                   "torch": torch.__version__, "load_avg_1min_now": os.getloadavg()[0],
                   "peak_rss_mb_process":
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        goals = {name: {"adapt_wall_s": t["adapt_wall_s"],
                        "within_20_min": t["adapt_wall_s"] <= 20 * 60,
                        "peak_rss_mb": t["peak_rss_mb"], "under_8_gb": None if t["peak_rss_mb"] is None else t["peak_rss_mb"] < 8192}
                 for name, t in training.items()}
        doc = {"command": " ".join(sys.argv), "model": args.model, "goals": goals,
               "held_out_speakers": sorted(held), "n_test": len(test), "n_train": len(train),
               "selection_speakers": sorted(chooser), "n_select": len(select),
               "settings": vars(args), "results": results, "training": training, "gap": gaps,
               "machine": machine, "total_wall_s": time.perf_counter() - t_start}
        write_results(args.out, doc, markdown(doc).splitlines())

    def run(name: str, cfg: Config, adapter: str | None = None, data: AsrDataset | None = None,
            keep: bool = True) -> dict:
        t = task if adapter is None else AsrTask(batch_size=16, adapter=adapter,
                                                 warmup=False).share_weights_with(task)
        t0 = time.perf_counter()
        m, items = evaluate(cfg, test if data is None else data, device="cpu", task=t)
        r = {"label": cfg.label, "wer": 100 * m.value, "ci": [100 * m.ci_low, 100 * m.ci_high],
             "gflops_per_utt": m.gflops, "n": m.n_items, "failed": m.n_failed,
             "repetition_cut": m.extra.get("repetition_cut"),
             "stopped_by_limit": m.extra.get("stopped_by_limit"),
             "eval_wall_s": time.perf_counter() - t0, "adapter": adapter,
             "errors": [it.errors for it in items if it.ok],
             "n_ref": [it.n_ref for it in items if it.ok],
             "predictions": {it.item_id: it.prediction for it in items if it.ok}}
        if keep:
            results[name] = r
            save()
        print(f"{name:28s} {cfg.label:40s} WER {r['wer']:6.2f} [{r['ci'][0]:.2f}, "
              f"{r['ci'][1]:.2f}] {r['eval_wall_s']:.0f}s", file=sys.stderr, flush=True)
        return r

    for name, cfg in stock.items():
        run(name, cfg)

    # the teacher's transcripts of the selection audio: the only "references" the choice uses
    by_teacher = None
    if len(select):
        tr = run("selection teacher", stock["30s"], data=select, keep=False)["predictions"]
        by_teacher = AsrDataset([replace(it, text=tr[it.id]) for it in select.items
                                 if it.id in tr], select.source + ", teacher transcripts")

    def agreement(step: int, cfg: Config, adapter: str | None) -> float:
        """WER % of a candidate against the teacher on the selection audio (label-free)."""
        return run(f"select {step}", cfg, adapter, data=by_teacher, keep=False)["wer"]

    targets = tuple(args.targets.split(","))
    opts = DistillOptions(batch_size=args.batch_size, lr=args.lr, seed=0,
                             snapshot_steps=snaps)
    audios = [(it.id, ds.load_audio(it)) for it in train]
    teacher = None
    teacher_prep_s = 0.0
    for which in args.which.split(","):
        name = to_train[which]
        cfg = ad.distill_config(stock[name], rank=args.rank, steps=args.steps, targets=targets)
        t0 = time.perf_counter()
        samples = ad.prepare(bundle, cfg, audios, batch_size=16, teacher_from=teacher)
        prep_s = time.perf_counter() - t0
        shared_s = teacher_prep_s if teacher is not None else 0.0  # the reused teacher pass
        if teacher is None:
            teacher, teacher_prep_s = samples, prep_s
        out = Path(args.work) / f"{args.model}-{name}-r{args.rank}-s{args.steps}"
        res = ad.distill(bundle, cfg, samples, out, opts, teacher_s=prep_s,
                         progress=lambda s, l: print(f"  {name} step {s}/{args.steps} "
                                                     f"loss {l:.4f}", file=sys.stderr,
                                                     flush=True) if s % 10 == 0 else None)
        rec = res.record
        training[name] = {"config": cfg.to_dict(), "label": cfg.label,
                          "prepare_s (teacher + features)": prep_s, "train_wall_s": rec.wall_s,
                          "s_per_step": rec.wall_s / rec.steps, "peak_rss_mb": rec.peak_mem_mb,
                          "adapt_wall_s": prep_s + shared_s + rec.wall_s,
                          "teacher_pass_shared_s": shared_s,
                          "train_tflops": rec.train_flops / 1e12,
                          "teacher_tflops": rec.teacher_flops / 1e12,
                          "losses": rec.losses, "train_items": len(samples),
                          "trainable_params": sum(p.numel() for p in res.model.parameters()
                                                  if p.requires_grad)}
        save()
        del res, samples
        curve = [(0, results[name]["wer"])]
        candidates = [(0, name, stock[name], None)]
        for s in snaps:
            if s < args.steps:
                scfg = cfg.with_(adaptation=ad.with_steps(cfg.adaptation, s))
                path = str(out / f"step-{s:04d}")
                curve.append((s, run(f"{name}@{s}", scfg, path)["wer"]))
                candidates.append((s, f"{name}@{s}", scfg, path))
        curve.append((args.steps, run(f"{name}_distilled", cfg, str(out))["wer"]))
        candidates.append((args.steps, f"{name}_distilled", cfg, str(out)))
        training[name]["wer_vs_steps"] = curve
        if by_teacher is not None:
            scores = [(agreement(s, c, a), s, n) for s, n, c, a in candidates]
            w, s, n = min(scores)
            training[name]["selected"] = {"step": s, "name": n, "teacher_wer": w,
                                          "teacher_wer_by_step": [(s_, w_) for w_, s_, _ in
                                                                  scores]}
        save()
    save()
    print(Path(args.out + ".md").read_text())


def markdown(doc: dict) -> str:
    lines = [f"# ASR adaptation: {doc['model']}, held-out speakers", "",
             f"Command: `{doc['command']}`  ", f"Held out {len(doc['held_out_speakers'])} speakers "
             f"({doc['n_test']} utterances: {', '.join(doc['held_out_speakers'])}); distillation "
             f"trained on the audio of the other {doc['n_train']} (no transcripts). Total wall "
             f"{doc['total_wall_s']:.0f} s, {doc['machine']['threads']} threads"
             + (f", load average {doc['machine']['load_avg_1min_now']:.1f} at the end (above the "
                f"threads: other work shared the cores and the times are disturbed)"
                if doc['machine'].get('load_avg_1min_now', 0) > doc['machine']['threads'] + 0.5
                else "") + ".", "",
             "| configuration | WER % [95% CI] | GFLOPs/utt | loops cut | adapter |",
             "|---|---|---|---|---|"]
    for name, r in doc["results"].items():
        lines.append(f"| {r['label']} | {r['wer']:.2f} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}] | "
                     f"{r['gflops_per_utt']:.2f} | {r['repetition_cut']} | "
                     f"{'yes' if r['adapter'] else '-'} |")
    lines += ["", "| adaptation | wall s (teacher + steps) | <= 20 min | training TFLOPs "
              "(teacher) | peak RSS MB | < 8 GB |", "|---|---|---|---|---|---|"]
    for name, g in doc.get("goals", {}).items():
        t = doc["training"][name]
        lines.append(f"| {t['label']} | {g['adapt_wall_s']:.0f} | {g['within_20_min']} | "
                     f"{t['train_tflops']:.2f} ({t['teacher_tflops']:.2f}) | "
                     f"{_mb(g['peak_rss_mb'])} | {g['under_8_gb']} |")
    lines += ["", "| distilled | stock WER | distilled WER | 30 s WER | gap recovered | "
              "train wall s | s/step | peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
    for name, g in doc["gap"].items():
        t = doc["training"][name]
        rs = "no gap (stock <= 30 s)" if g["recovered_share"] is None else \
            f"{100 * g['recovered_share']:.0f}%"
        lines.append(f"| {t['label']} | {g['stock']:.2f} | {g['distilled']:.2f} | {g['30s']:.2f}"
                     f" | {rs} | {t['train_wall_s']:.0f} | {t['s_per_step']:.2f} | "
                     f"{_mb(t['peak_rss_mb'])} |")
    sel = [(n, g) for n, g in doc["gap"].items() if "selected" in g]
    if sel:
        lines += ["", f"Chosen without labels on {doc.get('n_select')} utterances of "
                  f"{len(doc.get('selection_speakers', []))} training-side speakers kept out of "
                  "training (" + ", ".join(doc.get("selection_speakers", [])) + "): the candidate "
                  "(stock = step 0, snapshots, last step) whose transcripts are closest to the "
                  "teacher's.", "",
                  "| distilled | WER vs teacher by step (selection set) | step chosen | "
                  "held-out WER | gap recovered | minus 30 s |", "|---|---|---|---|---|---|"]
        for name, g in sel:
            t = doc["training"][name]
            by = ", ".join(f"{s}: {w:.2f}" for s, w in t["selected"]["teacher_wer_by_step"])
            rs = "no gap (stock <= 30 s)" if g["selected_recovered_share"] is None else \
                f"{100 * g['selected_recovered_share']:.0f}%"
            lines.append(f"| {t['label']} | {by} | {g['selected_step']} | {g['selected']:.2f} | "
                         f"{rs} | {g['selected_minus_30s']:+.2f} |")
    lines += ["", "WER vs training steps (step 0 = stock):", ""]
    for name, t in doc["training"].items():
        lines.append(f"- {t['label']}: " + ", ".join(f"{s}: {w:.2f}" for s, w in
                                                      t.get("wer_vs_steps", [])))
        ls = t["losses"]
        lines.append(f"  distillation loss (KL, nats/token): first {ls[0]:.4f}, last "
                     f"{ls[-1]:.4f}, mean of last 10 {sum(ls[-10:]) / len(ls[-10:]):.4f}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
