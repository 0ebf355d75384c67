"""Analytic FLOPs against FlopCounterMode on random configurations: how many agree exactly?

Draws `--n` random valid configurations of each kind with `--seed` and compares, in total and per
component (to 1e-6 relative, float rounding):
  asr    `flops.estimate` vs `flops.measure.measure` (Whisper tiny ... large-v3-turbo; fixed
         windows from 0.04 s to 30 s, dynamic windows, audio of several windows; stride 1-7 at
         every position, pool mean/drop/attn; beam 1-5; prompt tokens; the no-speech head);
  ser    `flops.estimate` vs `tasks.ser.flops_check.measure_ser` (Whisper and wav2vec2 / HuBERT /
         WavLM; clips 0.1-30 s; stride; pooling, layer weights, MLP or linear head, 1-8 classes);
  train  `flops.training.per_clip_training` vs `measure_training` (none / LoRA / DAMA, ranks 1-16,
         random targets, unfreeze_top, lora_top, a cached frozen prefix).
Where the counter files a FLOP under another component than the formula (documented in
docs/flops.md: the attn selector's adapted q/k under attn_proj, a cached prefix's features and the
layer sum under 'other'), those components are compared together; totals always exactly.
A configuration `Config` refuses is drawn again (not counted). Results (counts, and each
mismatch with its configuration) go to benchmarks/results/flops_fuzz.{json,md}.

    OMP_NUM_THREADS=1 python benchmarks/flops_fuzz.py [--n 150] [--seed 0] [--kinds asr,ser,train]

Session 15's helper ran a throwaway version of this on ~2,850 configurations and found three
mismatches (fixed: DAMA's lora_A in unfreeze_top layers, the attn selector's LoRA in SER training,
`flops --measure` without --tokens).
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import write_results  # noqa: E402

from speechbudget.adaptation import frozen_prefix  # noqa: E402
from speechbudget.architectures import get_architecture  # noqa: E402
from speechbudget.axes import Adaptation, Config, ConfigError  # noqa: E402
from speechbudget.flops import estimate  # noqa: E402
from speechbudget.flops.measure import measure  # noqa: E402
from speechbudget.flops.training import per_clip_training  # noqa: E402
from speechbudget.machine import machine_info  # noqa: E402
from speechbudget.tasks.ser.flops_check import measure_ser, measure_training  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "flops_fuzz"
WH_SMALL = ["tiny.en", "tiny", "base", "base.en"]
WH_BIG = ["small", "small.en", "medium", "large-v3", "large-v3-turbo", "large-v2"]
SSL = ["wav2vec2-base", "hubert-base", "wavlm-base-plus", "wav2vec2-large-lv60", "wav2vec2-large",
       "wav2vec2-large-robust", "hubert-large", "wavlm-large"]


def differences(a: dict[str, float], m: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Components whose analytic and measured FLOPs differ beyond float rounding."""
    return {k: (a.get(k, 0.0), m.get(k, 0.0)) for k in sorted(set(a) | set(m))
            if abs(a.get(k, 0.0) - m.get(k, 0.0)) > 1e-6 * max(1.0, abs(a.get(k, 0.0)))}


def mel_frames(rng: random.Random, lo: int, hi: int) -> int:
    """An even number of mel frames in [lo, hi], edge values half the time."""
    r = rng.random()
    if r < 0.3:
        f = rng.choice([2, 4, 6, 8, 10, 12, 14, 18, 22, 26, 30, 34, 42, 50, 62, 98, 102, 146])
    elif r < 0.5:
        f = rng.choice([2998, 3000, 1502, 1498, 1000, 1500, 702, 1002, 2502])
    else:
        f = 2 * rng.randint(1, 1500)
    return max(lo, min(hi, f))


def asr_case(rng: random.Random) -> dict:
    model = rng.choice(WH_SMALL * 4 + WH_BIG)
    L = get_architecture(model).encoder_layers
    kw: dict = dict(model=model)
    audio_s = None
    if rng.random() < 0.15:
        kw["window"] = "dynamic"
        audio_s = round(rng.uniform(0.0, 40.0), rng.choice([0, 1, 2, 3]))
        if rng.random() < 0.3:
            kw["dynamic_margin_s"] = rng.choice([0, 0.01, 0.5, 1.0, 2.37])
    else:
        f = mel_frames(rng, 4, 3000)
        kw["window"] = rng.choice([f / 100, f"{f // 2}f"])
        if rng.random() < 0.25:
            audio_s = round(f / 100 * rng.uniform(0.2, 4.5), rng.choice([0, 1, 2]))
    kw.update(stride=rng.choice([1, 2, 2, 3, 3, 4, 5, 6, 7]),
              stride_at=rng.choice(list(range(L + 1)) + ["output", "output", 0, L]),
              pool=rng.choice(["mean", "drop", "attn"]), beam_size=rng.choice([1, 1, 1, 2, 3, 4, 5]))
    c = Config(task="asr", **kw)
    window = c.window_s_for(audio_s) if c.is_dynamic else c.window
    chunks = max(1, math.ceil((window if audio_s is None else audio_s) / window - 1e-9))
    tokens = (rng.choice([1, 1, 2, 3, 5, 7, 12]) if model not in WH_BIG
              else rng.choice([1, 2, 3])) * chunks
    extra: dict = {}
    if rng.random() < 0.2:
        extra["prompt_tokens"] = rng.choice([1, 3, 7])
    if rng.random() < 0.2:
        extra["no_speech_head"] = True
    a = estimate(c, decoded_tokens=tokens, audio_s=audio_s, **extra)
    m = measure(c, decoded_tokens=tokens, audio_s=audio_s, **extra)
    d = differences(a.breakdown, m.breakdown)
    if a.total != m.total or a.encoder_tokens != m.encoder_tokens:
        d["total"] = (a.total, m.total)
    return dict(config=c.label, tokens=tokens, audio_s=audio_s, extra=extra, differences=d)


def ser_case(rng: random.Random) -> dict:
    model = rng.choice(WH_SMALL * 2 + SSL + ["small"])
    arch = get_architecture(model)
    kw: dict = dict(model=model)
    if arch.is_whisper:
        L = arch.encoder_layers
        kw.update(window=mel_frames(rng, 10, 3000) / 100, stride=rng.choice([1, 2, 3, 4, 5]),
                  stride_at=rng.choice(list(range(L + 1)) + ["output"]),
                  pool=rng.choice(["mean", "drop", "attn"]))
    else:
        r = rng.random()
        kw["window"] = (round(rng.uniform(0.1, 0.5), rng.choice([2, 3, 4, 5])) if r < 0.4 else
                        round(rng.uniform(0.1, 30.0 if r > 0.9 else 4.0), rng.choice([1, 2, 3])))
    c = Config(task="ser", **kw)
    head = rng.choice(["mlp", "mlp", "linear"])
    hk = dict(n_classes=rng.choice([1, 2, 4, 5, 6, 7, 8]), layer_weights=rng.choice([True, False]),
              pooling="mean" if head == "linear" else rng.choice(["mean", "attentive-stats"]),
              head=head)
    a, m = estimate(c, **hk), measure_ser(c, **hk)
    d = differences(a.breakdown, m.breakdown)
    if a.total != m.total or a.encoder_tokens != m.encoder_tokens:
        d["total"] = (a.total, m.total)
    return dict(config=c.label, head=hk, differences=d)


def _forward_by_component(r, cached_prefix: int) -> dict[str, float]:
    """Forward components, with those the counter files elsewhere (docstring) taken together."""
    d = {k: v for k, v in r.breakdown.items() if not k.startswith("backward.")}
    d["forward.encoder.attn_proj"] = (d.get("forward.encoder.attn_proj", 0.0)
                                      + d.pop("forward.encoder.attn_select", 0.0))
    if cached_prefix:
        features = sum(v for k, v in d.items() if k.startswith("features."))
        d = {k: v for k, v in d.items() if not k.startswith("features.")}
        d["features (together)"] = features
        d["forward.head.layer_sum"] = (d.get("forward.head.layer_sum", 0.0)
                                       + d.pop("forward.other", 0.0))
    return {k: v for k, v in d.items() if v}


def train_case(rng: random.Random) -> dict:
    model = rng.choice(WH_SMALL * 3 + SSL[:3] * 2 + SSL[3:])
    arch = get_architecture(model)
    L = arch.encoder_layers
    if arch.is_whisper:
        kw: dict = dict(model=model, window=mel_frames(rng, 10, 120) / 100)
        if rng.random() < 0.5:
            kw.update(stride=rng.choice([2, 3, 4, 5]), pool=rng.choice(["mean", "drop", "attn"]),
                      stride_at=rng.choice(list(range(L + 1)) + ["output"]))
        targets = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
    else:
        kw = dict(model=model, window=round(rng.uniform(0.1, 0.8), rng.choice([2, 3, 4])))
        targets = (["intermediate_dense", "output_dense", "gru_rel_pos_linear"]
                   if arch.family == "wavlm" else
                   ["q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense"])
    ak: dict = dict(method=rng.choice(["none", "lora", "lora", "dama"]))
    if ak["method"] != "none":
        ak["rank"] = rng.choice([1, 2, 4, 8, 16])
        ak["targets"] = tuple(rng.sample(targets, rng.randint(1, len(targets))))
    if rng.random() < 0.5:
        ak["unfreeze_top"] = rng.randint(0, L)
    if ak["method"] == "lora" and rng.random() < 0.5:
        ak["lora_top"] = rng.randint(1, L)
    c = Config(task="ser", adaptation=Adaptation(**ak), **kw)
    head = rng.choice(["mlp", "mlp", "linear"])
    hk = dict(head=head, layer_weights=rng.choice([True, False]),
              pooling="mean" if head == "linear" else rng.choice(["mean", "attentive-stats"]))
    n_classes = rng.choice([2, 4, 6])
    cached, prefix = 0, frozen_prefix(c.adaptation, L)
    if arch.is_whisper and hk["pooling"] == "mean" and 1 <= prefix < L and rng.random() < 0.6:
        lo = c.stride_layer if c.stride > 1 else 1
        if lo <= prefix and lo <= L - 1:
            cached = rng.randint(max(lo, 1), min(prefix, L - 1))
    a = per_clip_training(c, n_classes, cached_features=False, cached_prefix=cached, **hk)
    m = measure_training(c, n_classes, cached_prefix=cached, **hk)
    d = differences(_forward_by_component(a, cached), _forward_by_component(m, cached))
    backward = [sum(v for k, v in r.breakdown.items() if k.startswith("backward.")) for r in (a, m)]
    if a.total != m.total or differences({"b": backward[0]}, {"b": backward[1]}):
        d["total / backward"] = ((a.total, backward[0]), (m.total, backward[1]))
    return dict(config=c.label, head=hk, n_classes=n_classes, cached_prefix=cached,
                differences=d)


CASES = {"asr": asr_case, "ser": ser_case, "train": train_case}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150, help="configurations per kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", default="asr,ser,train")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows, mismatches = [], []
    for kind in args.kinds.split(","):
        rng, t0, done, drawn = random.Random(f"{args.seed}-{kind}"), time.time(), 0, 0
        bad = []
        while done < args.n:
            drawn += 1
            try:
                rec = CASES[kind](rng)
            except ConfigError:   # not a valid configuration: drawn again
                continue
            done += 1
            if rec["differences"]:
                bad.append({"kind": kind, **rec})
        rows.append({"kind": kind, "compared": done, "drawn": drawn, "mismatches": len(bad),
                     "seconds": round(time.time() - t0, 1)})
        mismatches += bad
        print(rows[-1], flush=True)
    cmd = "OMP_NUM_THREADS=1 python benchmarks/flops_fuzz.py " + " ".join(sys.argv[1:])
    result = {"benchmark": "flops_fuzz", "command": cmd.strip(), "machine": machine_info(),
              "seed": args.seed, "rows": rows, "mismatches": mismatches}
    mc = result["machine"]
    md = ["# Analytic FLOPs vs FlopCounterMode on random configurations", "",
          f"Command: `{result['command']}`. Machine: {mc.get('cpu')}, {mc.get('cores')} cores, "
          f"torch {mc.get('torch')}. Agreement: totals equal, components within 1e-6 relative.", "",
          "| kind | compared | drawn (invalid ones drawn again) | mismatches | seconds |",
          "|---|---|---|---|---|"]
    md += [f"| {r['kind']} | {r['compared']} | {r['drawn']} | {r['mismatches']} | {r['seconds']} |"
           for r in rows]
    md += ["", *(f"- {m['kind']} {m['config']}: {m['differences']}" for m in mismatches[:50])]
    print(write_results(args.out, result, md))
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
