"""Voice-activity filtering on a recording with long pauses: ours (`vad_filter`) vs faster-whisper
(`vad_filter=True`), each also without the filter, side by side in one run.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/asr_vad.py [--minutes 5]
        [--models tiny.en] [--threads 2] [--data ../shared/data/librispeech_sample] [--seed 0]
        [--vad-model auto|silero-vad|faster-whisper|PATH]

The recording: utterances of the sample (manifest order), each followed by a pause drawn
uniformly from `--pause` (default 2-12 s, seeded) of low white noise at `--noise-dbfs` (RMS,
default -60 dBFS), until at least `--minutes` long; the reference is their transcripts joined. The
pauses were chosen to be like a meeting's or an interview's, not tuned to any result. Both
sides: greedy, temperature 0, 30 s window, timestamps, no conditioning on previous text, fp32,
the same CTranslate2 weights (ours converted to HF), the VAD at its defaults (= faster-whisper's
VadOptions). The VAD weights differ: ours are the `silero-vad` package's (6.2.x), faster-whisper
1.2.1 bundles silero-vad 6.0's (docs/asr.md); `--vad-model auto` (the default) adds a row "ours
(fw VAD weights)": ours with `vad_model="faster-whisper"` (its bundled ONNX model, run as it runs
it) when faster-whisper is installed; another value is the model of ours' VAD row (WhisperModel's
`vad_model`), and no row is added. WER after the Whisper normaliser; RTFx = audio
seconds / wall seconds, VAD included (after a warm-up on 5 s; file decoding not timed).
Writes benchmarks/results/asr_vad.{json,md} (or --out).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from asr_longform import ct2_folder, machine_line  # noqa: E402
from results_io import write_results  # noqa: E402

SR = 16000
FW_WEIGHTS = "ours (fw VAD weights)"   # ours with vad_model="faster-whisper" (--vad-model auto)


def build(data: str, minutes: float, pause: tuple[float, float], noise_dbfs: float, seed: int):
    """(audio, reference, utterances, speech seconds) of the recording described above."""
    from speechbudget.tasks.asr.data import load_dataset
    ds = load_dataset(data)
    rng = np.random.default_rng(seed)
    rms = 10 ** (noise_dbfs / 20)
    parts, refs, speech = [], [], 0
    for item in ds.items:
        a = ds.load_audio(item)
        gap = rng.normal(0.0, rms, int(rng.uniform(*pause) * SR)).astype(np.float32)
        parts += [a, gap]
        refs.append(item.text)
        speech += len(a)
        if sum(len(p) for p in parts) >= minutes * 60 * SR:
            break
    return np.concatenate(parts), " ".join(refs), len(refs), speech / SR


def run_ours(model: str, audio: np.ndarray, vad: bool, vad_model: str | None = None) -> dict:
    from speechbudget.whisper_model import WhisperModel
    wm = WhisperModel(model, device="cpu", vad_model=vad_model)
    wm.transcribe(audio[:5 * SR], vad_filter=vad)  # warm-up (and the VAD model's load)
    t0 = time.perf_counter()
    segs, info = wm.transcribe(audio, vad_filter=vad)
    wall = time.perf_counter() - t0
    return {"text": info.text, "wall_s": wall, "segments": len(segs),
            "decoded_s": info.vad.duration_after_vad if info.vad else len(audio) / SR,
            "windows": info.windows, "gflops": info.gflops,
            "vad_gflops": info.vad.gflops if info.vad else 0.0}


def run_fw(folder: str, audio: np.ndarray, threads: int, vad: bool) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel
    m = WhisperModel(folder, device="cpu", compute_type="float32", cpu_threads=threads)
    kw = dict(beam_size=1, temperature=0.0, language="en", condition_on_previous_text=False,
              vad_filter=vad)
    list(m.transcribe(audio[:5 * SR], **kw)[0])
    t0 = time.perf_counter()
    segs, info = m.transcribe(audio, **kw)
    segs = list(segs)
    wall = time.perf_counter() - t0
    return {"text": " ".join(s.text.strip() for s in segs).strip(), "wall_s": wall,
            "segments": len(segs), "decoded_s": info.duration_after_vad}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--models", default="tiny.en")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=str(HERE.parent / "data" / "librispeech_sample"))
    ap.add_argument("--pause", default="2,12", help="pause seconds: low,high (uniform)")
    ap.add_argument("--noise-dbfs", type=float, default=-60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vad-model", default="auto",
                    help="auto (ours with silero-vad's weights, and a row with faster-whisper's "
                    "if it is installed), or the vad_model of ours: silero-vad, faster-whisper "
                    "or a Silero .jit / .onnx file")
    ap.add_argument("--out", default=str(HERE / "results" / "asr_vad"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from speechbudget.machine import machine_info
    from speechbudget.tasks.asr.wer import word_errors
    lo, hi = (float(v) for v in args.pause.split(","))
    audio, ref, n_utts, speech_s = build(args.data, args.minutes, (lo, hi), args.noise_dbfs,
                                         args.seed)
    dur = len(audio) / SR
    import importlib.util
    auto = args.vad_model == "auto"
    ours_vad = None if auto else args.vad_model
    runs = [("ours", False, None), ("ours", True, ours_vad)]
    if auto and importlib.util.find_spec("faster_whisper") is not None:
        runs.append((FW_WEIGHTS, True, "faster-whisper"))
    runs += [("faster-whisper", False, None), ("faster-whisper", True, None)]
    rows = []
    for model in args.models.split(","):
        for side, vad, vad_model in runs:
            r = (run_fw(ct2_folder(model), audio, args.threads, vad) if side == "faster-whisper"
                 else run_ours(model, audio, vad, vad_model))
            e = word_errors(ref, r.pop("text"))
            rows.append({"model": model, "side": side, "vad": vad,
                         "vad_model": (vad_model or "silero-vad") if side != "faster-whisper"
                         and vad else None,
                         "wer": e.errors / e.n_ref, "insertions": e.insertions,
                         "deletions": e.deletions, "substitutions": e.substitutions,
                         "ref_words": e.n_ref, "rtfx": dur / r["wall_s"], **r})
            print(rows[-1], flush=True)
    cmd = "python benchmarks/asr_vad.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out")
    res = {"command": cmd, "machine": machine_info(args.threads), "audio_s": dur,
           "speech_s": speech_s, "utterances": n_utts, "rows": rows}
    md = [f"# VAD: ours vs faster-whisper ({dur / 60:.1f} min, {n_utts} utterances, "
          f"{speech_s / 60:.1f} min of speech, pauses {lo:g}-{hi:g} s of noise at "
          f"{args.noise_dbfs:g} dBFS)", "", f"`{cmd}`", "",
          f"Machine: {machine_line(res['machine'])}.", "",
          "| model | side | VAD | WER | ins / del / sub | audio decoded s | segments | RTFx |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['side']} | {'on' if r['vad'] else 'off'} | "
                  f"{100 * r['wer']:.2f}% | {r['insertions']} / {r['deletions']} / "
                  f"{r['substitutions']} | {r['decoded_s']:.1f} | {r['segments']} | "
                  f"{r['rtfx']:.1f} |")
    for model in args.models.split(","):
        rx = {(r["side"], r["vad"]): r["rtfx"] for r in rows if r["model"] == model}
        md += ["", f"{model}: RTFx ours / faster-whisper, side by side in this run: VAD off "
               f"{rx[('ours', False)] / rx[('faster-whisper', False)]:.2f}x, VAD on "
               f"{rx[('ours', True)] / rx[('faster-whisper', True)]:.2f}x; VAD on / off: ours "
               f"{rx[('ours', True)] / rx[('ours', False)]:.2f}x, faster-whisper "
               f"{rx[('faster-whisper', True)] / rx[('faster-whisper', False)]:.2f}x."]
        if (FW_WEIGHTS, True) in rx:
            md[-1] += (f" {FW_WEIGHTS} / faster-whisper, VAD on: "
                       f"{rx[(FW_WEIGHTS, True)] / rx[('faster-whisper', True)]:.2f}x.")
    print(write_results(args.out, res, md))


if __name__ == "__main__":
    main()
