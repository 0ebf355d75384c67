"""Greedy decoding on a GPU with cuDNN's attention kernels excluded (our default) and allowed.

    python benchmarks/gpu_decoder_attention.py [--model tiny.en] [--device cuda] [--precision fp16]
        [--batch 32] [--data ../shared/data/librispeech_sample] [--out PATH]

Encodes the first `--batch` utterances, decodes them once to warm up, once timed and once under
torch.profiler; on cuda both as is (cuDNN's attention excluded) and with
`WhisperDecoderRunner.cudnn_attention = True` (every SDPA backend allowed). Writes the wall time per step and
the top 15 operators by self time of each to <out>.md (default
benchmarks/results/gpu_decoder_attention_<device>_<precision>.md). gpu_check.sh runs it last.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="fp16")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch
    from torch.profiler import ProfilerActivity, profile

    from speechbudget.axes import Config
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    from speechbudget.tasks.asr.precision import cast_for_precision

    ds = load_dataset(args.data, limit=args.batch)
    bundle = load_whisper(args.model, device=args.device)
    model = cast_for_precision(bundle.model, args.precision, args.device)
    pipe = AsrPipeline(bundle, Config(task="asr", model=args.model, precision=args.precision),
                       args.device, model=model)
    rows = [r for it in ds.items for r in pipe.rows_for(it.id, ds.load_audio(it))]
    pipe.run(rows, args.batch)  # features + encoder once; the decoder below reuses rows[].enc
    enc = torch.stack([r.enc for r in rows])
    dec = pipe.decoder
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    variants = {"default (cuDNN excluded on cuda)": False}
    if args.device == "cuda":
        variants["cuDNN attention allowed"] = True
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    lines = [f"# Decoder profile: {args.model}, {args.device}, {args.precision}, batch "
             f"{len(rows)}", "", f"Command: `python benchmarks/gpu_decoder_attention.py --model "
             f"{args.model} --device {args.device} --precision {args.precision} --batch "
             f"{args.batch}`; torch {torch.__version__}"
             + (f", {torch.cuda.get_device_name(0)}" if args.device == "cuda" else ""), ""]
    for name, cudnn in variants.items():
        dec.cudnn_attention = cudnn
        fn = dec.run
        with torch.inference_mode():
            fn(enc, None, 224)
            sync()
            t0 = time.perf_counter()
            res = fn(enc, None, 224)
            sync()
            wall = time.perf_counter() - t0
            steps = max(len(t) for t in res.tokens)
            with profile(activities=acts) as prof:
                fn(enc, None, 224)
                sync()
        key = "self_cuda_time_total" if args.device == "cuda" else "self_cpu_time_total"
        table = prof.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=60)
        lines += [f"## {name}: {wall:.3f} s for {steps} steps ({1000 * wall / steps:.2f} ms a "
                  "step)", "", "```", table, "```", ""]
        print(name, f"{wall:.3f} s", steps, "steps", flush=True)
    out = Path(args.out) if args.out else HERE / "results" / \
        f"gpu_decoder_attention_{args.device}_{args.precision}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.parent.joinpath(out.name + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:6]))


if __name__ == "__main__":
    main()
