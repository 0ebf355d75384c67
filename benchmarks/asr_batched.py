"""Batched long-form transcription: ours (`BatchedInferencePipeline`) vs faster-whisper's
`BatchedInferencePipeline`, at batch 8 and 16, with ours sequential (`WhisperModel.transcribe`)
as the baseline, side by side in one run.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/asr_batched.py [--minutes 10]
        [--models tiny.en] [--threads 2] [--batch-sizes 8,16] [--seed 0]

The recording: benchmarks/asr_vad.py's `build` (utterances of the sample in manifest order, each
followed by a pause drawn from `--pause`, default 2-12 s, of low noise at `--noise-dbfs`, until at
least `--minutes` long; the reference is their transcripts joined). Rows:
  - ours sequential, fp32: `WhisperModel.transcribe` (the seek rule over the whole recording,
    timestamps, no VAD): the baseline;
  - ours batched, fp32 and int8-dynamic (torch dynamic int8 of nn.Linear): Silero VAD, speech
    merged into chunks of at most 30 s, chunks decoded `batch` at a time, without timestamps;
  - faster-whisper 1.2.1 batched, float32 and int8, the same CTranslate2 weights.
All greedy, temperature 0, English, the batched pipelines at their defaults otherwise
(without_timestamps, the VAD at min_silence 160 ms, max speech 30 s; the VAD weights differ:
silero-vad 6.2 here, 6.0 bundled in faster-whisper, docs/asr.md). WER after the Whisper
normaliser; RTFx = audio seconds / wall seconds, VAD included, after a warm-up on the first 20 s
(file decoding not timed). Ratios: RTFx over ours sequential, and ours / faster-whisper at the
same batch and precision (fp32 ~ float32, int8-dynamic ~ int8). Writes
benchmarks/results/asr_batched.{json,md} (or --out).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from asr_longform import ct2_folder, machine_line  # noqa: E402
from asr_vad import SR, build  # noqa: E402
from results_io import write_results  # noqa: E402

DECODE = dict(beam_size=1, temperature=0.0, language="en")
WARM_S = 20


def timed(fn) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def ours_rows(model: str, audio, batches: list[int], vad_model: str | None = None
              ) -> list[dict]:
    from speechbudget import BatchedInferencePipeline, WhisperModel
    rows = []
    wm = WhisperModel(model, device="cpu", vad_model=vad_model)
    wm.transcribe(audio[:WARM_S * SR], **DECODE)
    (segs, info), wall = timed(lambda: wm.transcribe(audio, **DECODE))
    rows.append({"side": "ours", "mode": "sequential", "precision": "fp32", "batch": None,
                 "text": info.text, "wall_s": wall, "segments": len(segs),
                 "windows": info.windows, "gflops": info.gflops, "vad_gflops": 0.0})
    for precision in ("fp32", "int8-dynamic"):
        bp = BatchedInferencePipeline(wm if precision == "fp32" else
                                      WhisperModel(model, device="cpu", precision=precision,
                                                   vad_model=vad_model))
        bp.transcribe(audio[:WARM_S * SR], **DECODE)
        for batch in batches:
            (segs, info), wall = timed(lambda: bp.transcribe(audio, batch_size=batch, **DECODE))
            rows.append({"side": "ours", "mode": "batched", "precision": precision,
                         "batch": batch, "text": info.text, "wall_s": wall,
                         "segments": len(segs), "windows": info.windows,
                         "gflops": info.gflops, "vad_gflops": info.vad.gflops})
    return rows


def fw_rows(folder: str, audio, batches: list[int], threads: int) -> list[dict]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    rows = []
    for compute in ("float32", "int8"):
        bp = BatchedInferencePipeline(WhisperModel(folder, device="cpu", compute_type=compute,
                                                   cpu_threads=threads))
        list(bp.transcribe(audio[:WARM_S * SR], **DECODE)[0])
        for batch in batches:
            def run():
                segs, _ = bp.transcribe(audio, batch_size=batch, **DECODE)
                return list(segs)
            segs, wall = timed(run)
            rows.append({"side": "faster-whisper", "mode": "batched", "precision": compute,
                         "batch": batch, "text": " ".join(s.text.strip() for s in segs).strip(),
                         "wall_s": wall, "segments": len(segs)})
    return rows


PAIR = {"fp32": "float32", "int8-dynamic": "int8"}


def ratios(rows: list[dict]) -> None:
    """Each row's RTFx / ours sequential's, and ours batched / faster-whisper's (same model,
    batch and precision pair), in place."""
    for r in rows:
        base = next(b for b in rows if b["model"] == r["model"] and b["mode"] == "sequential")
        r["rtfx_over_sequential"] = r["rtfx"] / base["rtfx"]
        if r["side"] == "ours" and r["mode"] == "batched":
            fw = next((f for f in rows if f["model"] == r["model"] and f["batch"] == r["batch"]
                       and f["side"] == "faster-whisper"
                       and f["precision"] == PAIR[r["precision"]]), None)
            if fw is not None:
                r["rtfx_over_faster_whisper"] = r["rtfx"] / fw["rtfx"]
                r["wer_minus_faster_whisper_points"] = 100 * (r["wer"] - fw["wer"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--models", default="tiny.en")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="8,16")
    ap.add_argument("--data", default=str(HERE.parent / "data" / "librispeech_sample"))
    ap.add_argument("--pause", default="2,12", help="pause seconds: low,high (uniform)")
    ap.add_argument("--noise-dbfs", type=float, default=-60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vad-model", default=None,
                    help="ours' VAD model (WhisperModel's vad_model: silero-vad, faster-whisper "
                         "= its bundled ONNX, or a path; default: silero-vad)")
    ap.add_argument("--out", default=str(HERE / "results" / "asr_batched"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from speechbudget.machine import machine_info
    from speechbudget.tasks.asr.wer import word_errors
    lo, hi = (float(v) for v in args.pause.split(","))
    batches = [int(b) for b in args.batch_sizes.split(",")]
    audio, ref, n_utts, speech_s = build(args.data, args.minutes, (lo, hi), args.noise_dbfs,
                                         args.seed)
    dur = len(audio) / SR
    rows = []
    for model in args.models.split(","):
        ours = ours_rows(model, audio, batches, args.vad_model)
        for r in ours + fw_rows(ct2_folder(model), audio, batches, args.threads):
            e = word_errors(ref, r.pop("text"))
            rows.append({"model": model, **r, "wer": e.errors / e.n_ref,
                         "insertions": e.insertions, "deletions": e.deletions,
                         "substitutions": e.substitutions, "ref_words": e.n_ref,
                         "rtfx": dur / r["wall_s"]})
            print({k: v for k, v in rows[-1].items()}, flush=True)
    ratios(rows)
    cmd = "python benchmarks/asr_batched.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out")
    res = {"command": cmd, "machine": machine_info(args.threads), "audio_s": dur,
           "speech_s": speech_s, "utterances": n_utts, "rows": rows}
    md = [f"# Batched long-form: ours vs faster-whisper ({dur / 60:.1f} min, {n_utts} "
          f"utterances, {speech_s / 60:.1f} min of speech, pauses {lo:g}-{hi:g} s of noise at "
          f"{args.noise_dbfs:g} dBFS)", "", f"`{cmd}`", "",
          f"Machine: {machine_line(res['machine'])}.", "",
          "| model | side | mode | precision | batch | WER | ins / del / sub | segments | RTFx "
          "| x ours sequential | ours / faster-whisper RTFx | WER - faster-whisper (points) |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vs = r.get("rtfx_over_faster_whisper")
        dw = r.get("wer_minus_faster_whisper_points")
        md.append(f"| {r['model']} | {r['side']} | {r['mode']} | {r['precision']} | "
                  f"{r['batch'] or '-'} | {100 * r['wer']:.2f}% | {r['insertions']} / "
                  f"{r['deletions']} / {r['substitutions']} | {r['segments']} | "
                  f"{r['rtfx']:.1f} | {r['rtfx_over_sequential']:.2f}x | "
                  f"{'-' if vs is None else f'{vs:.2f}x'} | "
                  f"{'-' if dw is None else f'{dw:+.2f}'} |")
    md += ["", "Ours batched: without timestamps, each speech chunk decoded once "
           "(tasks/asr/batched.py); GFLOPs of the decoding and of the VAD are in the json."]
    print(write_results(args.out, res, md))


if __name__ == "__main__":
    main()
