"""How close the Whisper encoder comes to this machine's fp32 matmul peak, measured in one process.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/encoder_efficiency.py \
        [--models tiny.en,base] [--windows 30,10] [--batch 1] [--threads 2] [--reps 3]

Peak: the best of bursts of large square fp32 matmuls (n = 1024, 2048; each burst ~0.25 s, the
best burst taken), measured before AND after the encoder timings and the larger taken, so that
a moment of contention from other processes on a shared machine does not lower the peak. Also
the best burst at the encoder's own FFN shape ([T, d] x [d, 4d]) for reference.
Encoder: `models.whisper_encoder.encode` (conv stem, layers, final norm: what the ASR pipeline
runs) on real log-mel features of a LibriSpeech utterance padded to the window, batch `--batch`,
in inference mode, best of `--reps` timed passes after one warm-up pass. FLOPs are the analytic
count (`flops.whisper.encoder_flops`: 2 per multiply-add of every matmul and conv, incl. QK^T and
AV; element-wise work, softmax and layer norms are not counted), so achieved GFLOP/s =
analytic FLOPs / seconds and the fraction = that / peak.
Writes benchmarks/results/encoder_efficiency.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _sync(device: str) -> None:
    import torch
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_burst_gflops(m: int, k: int, n: int, seconds: float = 0.25, bursts: int = 4,
                        device: str = "cpu", dtype: str = "fp32") -> float:
    """Best GFLOP/s over `bursts` bursts of [m, k] x [k, n] matmuls of ~`seconds` each."""
    import torch
    dt_ = getattr(torch, DTYPES[dtype])
    a = torch.randn(m, k, device=device, dtype=dt_)
    b = torch.randn(k, n, device=device, dtype=dt_)
    out = torch.empty(m, n, device=device, dtype=dt_)
    torch.mm(a, b, out=out)  # warm-up
    _sync(device)
    best = 0.0
    for _ in range(bursts):
        reps, t0 = 0, time.perf_counter()
        while True:
            for _ in range(1 if device == "cpu" else 10):
                torch.mm(a, b, out=out)
                reps += 1
            _sync(device)
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        best = max(best, 2.0 * m * k * n * reps / dt / 1e9)
    return best


def matmul_peak(device: str = "cpu", dtype: str = "fp32") -> dict:
    ns = (1024, 2048) if device == "cpu" else (4096, 8192)
    sizes = {f"{n}x{n}x{n}": matmul_burst_gflops(n, n, n, device=device, dtype=dtype) for n in ns}
    return {"best_gflops_per_s": max(sizes.values()), "by_shape": sizes}


def time_encoder(encoder, mel, reps: int, device: str = "cpu") -> float:
    import torch
    from speechbudget.models import whisper_encoder as we
    with torch.inference_mode():
        we.encode(encoder, mel)  # warm-up
        _sync(device)
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            we.encode(encoder, mel)
            _sync(device)
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--windows", default="30,10")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="fp32", choices=sorted(DTYPES),
                    help="weights and matmul dtype (fp16: cuda only)")
    ap.add_argument("--out", default=None,
                    help="default benchmarks/results/encoder_efficiency[_<device>_<precision>]")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    import transformers
    transformers.logging.disable_progress_bar()
    from speechbudget.log_mel import log_mel_batch
    from speechbudget.flops import whisper as wh
    from speechbudget.machine import machine_info
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.data import load_dataset

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA GPU")
    if args.precision == "fp16" and args.device != "cuda":
        raise SystemExit("--precision fp16: cuda only (CPU fp16 matmuls are emulated)")
    dtype = getattr(torch, DTYPES[args.precision])
    dev, prec = args.device, args.precision
    ds = load_dataset(args.data, limit=1)
    audio = ds.load_audio(ds.items[0])
    peak_before = matmul_peak(dev, prec)
    rows = []
    for name in [m.strip() for m in args.models.split(",")]:
        bundle = load_whisper(name, device=dev, dtype=dtype)
        enc = bundle.model.model.encoder
        dims = bundle.arch.dims
        for w in [float(x) for x in args.windows.split(",")]:
            frames = int(round(w * 100))
            mel = log_mel_batch([audio[:int(w * 16000)]] * args.batch, bundle.n_mels, frames,
                                dev).to(dtype)
            parts: dict[str, float] = {}
            wh.encoder_flops(dims, frames, 1, dims.encoder_layers, parts)
            flops = args.batch * sum(parts.values())
            if dev == "cuda":
                torch.cuda.reset_peak_memory_stats()
            s = time_encoder(enc, mel, args.reps, dev)
            mem = torch.cuda.max_memory_allocated() / 2 ** 20 if dev == "cuda" else None
            T = wh.conv_frames(frames)
            ffn = matmul_burst_gflops(args.batch * T, dims.d_model, dims.ffn_dim, 0.2, 3, dev, prec)
            rows.append({"model": name, "window_s": w, "frames": frames, "batch": args.batch,
                         "analytic_gflops": flops / 1e9, "seconds": s,
                         "achieved_gflops_per_s": flops / s / 1e9,
                         "ffn_shape_matmul_gflops_per_s": ffn, "max_memory_mib": mem,
                         "flops_by_part": {k: v * args.batch / 1e9 for k, v in parts.items()}})
            print(json.dumps(rows[-1]), flush=True)
        del bundle, enc
    peak_after = matmul_peak(dev, prec)
    peak = max(peak_before["best_gflops_per_s"], peak_after["best_gflops_per_s"])
    for r in rows:
        r["fraction_of_peak"] = r["achieved_gflops_per_s"] / peak
        r["fraction_of_ffn_shape_matmul"] = (r["achieved_gflops_per_s"]
                                             / r["ffn_shape_matmul_gflops_per_s"])
    res = {"machine": machine_info(args.threads), "command": " ".join(sys.argv[1:]),
           "device": dev, "precision": prec,
           "peak_gflops_per_s": peak, "peak_before": peak_before, "peak_after": peak_after,
           "rows": rows}
    out = Path(args.out) if args.out else HERE / "results" / (
        "encoder_efficiency" + ("" if (dev, prec) == ("cpu", "fp32") else f"_{dev}_{prec}"))
    m = res["machine"]
    lines = [f"# Whisper encoder ({dev}, {prec}): achieved GFLOP/s vs the matmul peak, one "
             "process", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {args.threads} threads, torch {m['torch']}."
             f" Command: `OMP_NUM_THREADS={args.threads} flock /tmp/bench.lock python "
             f"benchmarks/encoder_efficiency.py {' '.join(sys.argv[1:])}`", "",
             f"{prec} matmul peak (best burst of square matmuls, before and after): "
             f"{peak_before['best_gflops_per_s']:.0f} / {peak_after['best_gflops_per_s']:.0f} "
             f"GFLOP/s -> peak {peak:.0f} GFLOP/s.", "",
             "| model | window s | batch | analytic GFLOPs | best s | achieved GFLOP/s | "
             "fraction of peak | FFN-shape matmul GFLOP/s | fraction of FFN-shape |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['window_s']:g} | {r['batch']} | "
                     f"{r['analytic_gflops']:.2f} | {r['seconds']:.3f} | "
                     f"{r['achieved_gflops_per_s']:.0f} | {100 * r['fraction_of_peak']:.0f}% | "
                     f"{r['ffn_shape_matmul_gflops_per_s']:.0f} | "
                     f"{100 * r['fraction_of_ffn_shape_matmul']:.0f}% |")
    lines += ["", "Analytic FLOPs count matmuls and convs only (2 per multiply-add, attention "
              "included); element-wise ops, softmax and layer norms take time but no counted FLOPs,"
              " so the fraction is a lower bound on the matmul kernels' own efficiency."]
    write_results(out, res, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
