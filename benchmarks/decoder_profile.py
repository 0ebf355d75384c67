"""Where our ASR time goes: features vs encoder vs decoder, and inside a decoder step, by op kind.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/decoder_profile.py \
        [--model tiny.en] [--limit 16] [--batch-sizes 1,8,16] [--precisions fp32,int8-dynamic]

1. Stages: `AsrPipeline.run` (default configuration: 30 s window, greedy) on the first `--limit`
   utterances at each batch size; the pipeline's own per-row stage clocks (features, encoder,
   decoder), summed. Decoding runs with the pipeline's DECODE_THREADS (1 thread).
2. Decoder steps: seconds per decoding step (one token for every live row) = decoder seconds /
   steps, where the steps of a batch are its longest row's generated tokens + 1 (the loop runs
   until the last row ends). This is the per-step cost a time predictor needs, by model, batch and
   precision.
3. Inside the decoder: `torch.profiler` over the decoding of one batch, the self CPU time of every
   aten op grouped into kinds: LM head (the [rows, d] x [d, vocab] matmul, found by its shape),
   other matmuls (linear/addmm/mm, self- and cross-attention projections, FFN), attention (SDPA),
   layer norm, element-wise (add, gelu, mul, masked_fill, ...), data movement (index_select,
   copy_, cat, slice/view/transpose, ...), argmax; and the rest of the wall time (Python,
   the dispatcher and the profiler's own cost) as "Python + dispatch overhead".
Writes benchmarks/results/decoder_profile.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

KINDS = {
    "matmul": ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear",
               "quantized::linear_dynamic", "aten::baddbmm"),
    "attention": ("aten::scaled_dot_product_attention", "aten::_scaled_dot_product_flash_attention_for_cpu",
                  "aten::_scaled_dot_product_attention_math", "aten::softmax", "aten::_softmax"),
    "layer_norm": ("aten::layer_norm", "aten::native_layer_norm"),
    "elementwise": ("aten::add", "aten::add_", "aten::gelu", "aten::mul", "aten::mul_",
                    "aten::masked_fill_", "aten::masked_fill", "aten::div", "aten::sub",
                    "aten::embedding", "aten::fill_", "aten::zero_", "aten::eq", "aten::ne"),
    "data_movement": ("aten::index_select", "aten::copy_", "aten::cat", "aten::stack",
                      "aten::slice", "aten::view", "aten::transpose", "aten::reshape",
                      "aten::expand", "aten::select", "aten::split", "aten::split_with_sizes",
                      "aten::narrow", "aten::as_strided", "aten::contiguous", "aten::clone",
                      "aten::empty", "aten::empty_strided", "aten::unsqueeze", "aten::t",
                      "aten::_unsafe_view", "aten::index", "aten::resize_", "aten::to",
                      "aten::_to_copy", "aten::pad", "aten::constant_pad_nd", "aten::new_zeros",
                      "aten::zeros", "aten::squeeze", "aten::permute", "aten::detach",
                      "aten::alias", "aten::lift_fresh", "aten::item",
                      "aten::_local_scalar_dense"),
    "argmax": ("aten::argmax",),
}


def kind_of(name: str, shapes, vocab: int) -> str:
    if name in KINDS["matmul"] and shapes and any(
            s and len(s) == 2 and vocab in s for s in shapes):
        return "lm_head"
    for k, names in KINDS.items():
        if name in names:
            return k
    return "other_ops"


def profile_decode(pipe, rows, batch_size: int, vocab: int) -> dict:
    """Self CPU time by kind over decoding `rows` (encoder states already computed)."""
    from torch.profiler import ProfilerActivity, profile
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        pipe.decode(rows, batch_size)  # sets the pipeline's decoding threads itself
    wall = time.perf_counter() - t0
    # self time of top-level aten ops only is not exposed; sum self times of all events
    by_kind: dict[str, float] = {}
    top_ops: dict[str, float] = {}
    for ev in prof.key_averages(group_by_input_shape=True):
        k = kind_of(ev.key, ev.input_shapes, vocab)
        s = ev.self_cpu_time_total / 1e6
        by_kind[k] = by_kind.get(k, 0.0) + s
        top_ops[ev.key] = top_ops.get(ev.key, 0.0) + s
    ops = sum(by_kind.values())
    by_kind["python_dispatch_overhead"] = max(0.0, wall - ops)
    return {"wall_s_profiled": wall, "by_kind_s": by_kind,
            "by_kind_fraction": {k: v / wall for k, v in by_kind.items()},
            "top_ops_s": dict(sorted(top_ops.items(), key=lambda kv: -kv[1])[:15])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--batch-sizes", default="1,8,16")
    ap.add_argument("--precisions", default="fp32,int8-dynamic")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--out", default=str(HERE / "results" / "decoder_profile"))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    import transformers
    transformers.logging.disable_progress_bar()
    from speechbudget.axes import Config
    from speechbudget.machine import machine_info
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    from speechbudget.tasks.asr.precision import cast_for_precision

    ds = load_dataset(args.data, limit=args.limit)
    audios = [ds.load_audio(it) for it in ds.items]
    audio_s = sum(len(a) for a in audios) / 16000
    bundle = load_whisper(args.model)
    vocab = bundle.model.config.vocab_size
    res: dict = {"machine": machine_info(args.threads), "model": args.model,
                 "utterances": len(audios), "audio_s": audio_s, "runs": []}
    for prec in args.precisions.split(","):
        model = cast_for_precision(bundle.model, prec, "cpu")
        pipe = AsrPipeline(bundle, Config(task="asr", model=args.model, precision=prec),
                           model=model)
        pipe.warm_up()
        for bs in [int(b) for b in args.batch_sizes.split(",")]:
            rows = [r for it, a in zip(ds.items, audios) for r in pipe.rows_for(it.id, a)]
            order = sorted(rows, key=lambda r: -r.audio_s)
            t0 = time.perf_counter()
            pipe.run(order, bs)
            wall = time.perf_counter() - t0
            stages = {k: sum(r.t[k] for r in rows) for k in ("features", "encoder", "decoder")}
            steps = sum(max(r.generated or len(r.tokens) for r in order[i:i + bs]) + 1
                        for i in range(0, len(order), bs))
            tokens = sum(r.generated or len(r.tokens) for r in rows)
            run = {"precision": prec, "batch": bs, "wall_s": wall, "stages_s": stages,
                   "stage_fraction": {k: v / wall for k, v in stages.items()},
                   "decoder_steps": steps, "tokens": tokens,
                   "decoder_s_per_step": stages["decoder"] / steps,
                   "decoder_s_per_token": stages["decoder"] / max(tokens, 1),
                   "rtfx": audio_s / wall}
            run["decoder_profile"] = profile_decode(pipe, order, bs, vocab)
            res["runs"].append(run)
            print(json.dumps({k: v for k, v in run.items() if k != "decoder_profile"}),
                  flush=True)
        del model, pipe
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    m = res["machine"]
    lines = [f"# {args.model}: where the time goes ({len(audios)} utterances, {audio_s:.0f} s)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {args.threads} threads (decoder: the "
             f"pipeline's 1), torch {m['torch']}. Command: `OMP_NUM_THREADS={args.threads} flock "
             f"/tmp/bench.lock python benchmarks/decoder_profile.py {' '.join(sys.argv[1:])}`", "",
             "## Stages (seconds; fraction of wall)", "",
             "| precision | batch | wall s | features | encoder | decoder | steps | ms / step "
             "| ms / token | RTFx |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        st, fr = r["stages_s"], r["stage_fraction"]
        lines.append(f"| {r['precision']} | {r['batch']} | {r['wall_s']:.2f} | "
                     + " | ".join(f"{st[k]:.2f} ({100 * fr[k]:.0f}%)"
                                  for k in ("features", "encoder", "decoder"))
                     + f" | {r['decoder_steps']} | {1000 * r['decoder_s_per_step']:.1f} | "
                       f"{1000 * r['decoder_s_per_token']:.1f} | {r['rtfx']:.1f} |")
    kinds = ["lm_head", "matmul", "attention", "layer_norm", "elementwise", "data_movement",
             "argmax", "other_ops", "python_dispatch_overhead"]
    lines += ["", "## Inside the decoder (profiled run; fraction of its wall time)", "",
              "| precision | batch | profiled wall s | " + " | ".join(kinds) + " |",
              "|---|---|---|" + "---|" * len(kinds)]
    for r in res["runs"]:
        p = r["decoder_profile"]
        lines.append(f"| {r['precision']} | {r['batch']} | {p['wall_s_profiled']:.2f} | "
                     + " | ".join(f"{100 * p['by_kind_fraction'].get(k, 0):.0f}%" for k in kinds)
                     + " |")
    lines += ["", "The profiler adds its own cost per op (counted in the overhead column), so the "
              "profiled wall time is above the stage clock's decoder time."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
