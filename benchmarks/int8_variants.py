"""Which layers int8 can take without costing WER: quantisation variants side by side, one run.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/int8_variants.py \
        [--model tiny.en] [--limit N] [--batch-size 16] [--threads 2]

On the shared LibriSpeech sample (all 220 utterances by default), the default configuration
(30 s window, greedy) with the model's nn.Linear layers quantised by torch's dynamic int8
(fbgemm) in five ways, each in this one process on the same decoded audio:
  fp32                     no quantisation (the reference);
  per-tensor, all          every Linear, one weight scale per tensor (the old `int8-dynamic`);
  per-channel, all         every Linear, one weight scale per output channel;
  per-channel, encoder     the encoder's Linear layers only;
  per-channel, decoder     the decoder's Linear layers and the LM head (`precision.int8_decoder`,
                           what `int8-dynamic` is now).
Activations are always quantised at run time with one scale per matrix (torch's dynamic
quantisation). Reports WER with a bootstrap CI, the WER difference to fp32 in points, and the
wall time as a ratio to fp32 measured in the same run. Writes benchmarks/results/
int8_variants[_<model>].{json,md}.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def quantised(model, qconfig, keep):
    """A copy of `model` with the nn.Linear layers whose names pass `keep` quantised."""
    import torch
    from torch.ao.quantization import quantize_dynamic
    m = copy.deepcopy(model).float()
    spec = {n: qconfig for n, mod in m.named_modules()
            if type(mod) is torch.nn.Linear and keep(n)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(m, spec, dtype=torch.qint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    from speechbudget.axes import Config
    from speechbudget.machine import machine_info
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    from speechbudget.tasks.asr.precision import int8_decoder
    from speechbudget.tasks.asr.wer import bootstrap_ci, word_errors

    ds = load_dataset(args.data, limit=args.limit)
    audios = [ds.load_audio(it) for it in ds.items]
    bundle = load_whisper(args.model)
    enc = lambda n: n.startswith("model.encoder.")  # noqa: E731
    variants = {
        "fp32": bundle.model,
        "per-tensor, all": quantised(bundle.model, default_dynamic_qconfig, lambda n: True),
        "per-channel, all": quantised(bundle.model, per_channel_dynamic_qconfig, lambda n: True),
        "per-channel, encoder": quantised(bundle.model, per_channel_dynamic_qconfig, enc),
        "per-channel, decoder + LM head (int8-dynamic)": int8_decoder(bundle.model),
    }
    rows = {}
    for name, model in variants.items():
        pipe = AsrPipeline(bundle, Config(task="asr", model=args.model), "cpu", model=model)
        pipe.warm_up()
        t0 = time.perf_counter()
        per = [pipe.rows_for(it.id, a) for it, a in zip(ds.items, audios)]
        pipe.run([r for rs in per for r in rs], args.batch_size)
        wall = time.perf_counter() - t0
        errs = [word_errors(it.text, " ".join(pipe.text(r.tokens) for r in rs))
                for it, rs in zip(ds.items, per)]
        e, n = [x.errors for x in errs], [x.n_ref for x in errs]
        lo, hi = bootstrap_ci(e, n)
        rows[name] = {"wer": sum(e) / sum(n), "ci": [lo, hi], "errors": sum(e),
                      "ref_words": sum(n), "wall_s": wall}
        print(name, json.dumps(rows[name]), file=sys.stderr, flush=True)
    ref = rows["fp32"]
    for r in rows.values():
        r["wer_minus_fp32_points"] = 100 * (r["wer"] - ref["wer"])
        r["time_ratio_to_fp32"] = r["wall_s"] / ref["wall_s"]
    res = {"model": args.model, "utterances": len(ds.items), "data": args.data,
           "batch_size": args.batch_size, "machine": machine_info(args.threads), "rows": rows,
           "command": "python benchmarks/int8_variants.py " + " ".join(sys.argv[1:])}
    out = Path(args.out) if args.out else HERE / "results" / (
        "int8_variants" + ("" if args.model == "tiny.en" else f"_{args.model}"))
    m = res["machine"]
    lines = [f"# int8 variants, {args.model}, {len(ds.items)} utterances", "",
             f"Machine: {m.get('cpu')}, {args.threads} threads, torch {m.get('torch')}. Command: "
             f"`OMP_NUM_THREADS={args.threads} {res['command']}` (all variants in one process, "
             f"30 s window, greedy, batch {args.batch_size}).", "",
             "| variant | WER % [95% CI] | WER - fp32 (points) | wall s | time / fp32 |",
             "|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {100 * r['wer']:.2f} [{100 * r['ci'][0]:.2f}, "
                     f"{100 * r['ci'][1]:.2f}] | {r['wer_minus_fp32_points']:+.2f} | "
                     f"{r['wall_s']:.1f} | {r['time_ratio_to_fp32']:.2f} |")
    print(write_results(out, res, lines))


if __name__ == "__main__":
    main()
