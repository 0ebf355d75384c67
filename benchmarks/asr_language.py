"""Language detection alone: our `WhisperModel.detect_language` vs faster-whisper's
`detect_language`, on every utterance of a LibriSpeech-layout folder, side by side in one run.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/asr_language.py \
        [--data ../shared/data/librispeech_sample] [--model base] [--limit N] [--threads 2] \
        [--vad-filter] [--out benchmarks/results/asr_language]

Both sides: fp32 on the CPU, the same CTranslate2 weights (ours converted to HF), 30 s window,
one detection window (language_detection_segments=1, threshold 0.5: the defaults). With
`--vad-filter` both run their VAD first, ours with faster-whisper's bundled VAD model
(`vad_model="faster-whisper"`), so the speech is the same. Interleaved: each utterance is
detected by both sides in turn, which goes first alternating, so that a change of load on a
shared machine hits both alike; wall seconds (time.perf_counter around each call, the audio
already decoded) are summed over the utterances, after a warm-up of each side on the first
utterance. Reported: each side's language per utterance (the count of "en": the sample is
English), the utterances both put the same language first, |p_ours - p_fw| of
faster-whisper's top language (max and mean) and the max over all 99 languages'
probabilities, the wall seconds and their ratio, ours' GFLOPs of one detection (an encoder pass
of the window and one decoder step: `WhisperModel.language_detection(...).gflops`), and the
machine and command. Writes benchmarks/results/asr_language.{json,md} (or --out).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from asr_longform import ct2_folder, machine_line  # noqa: E402
from results_io import write_results  # noqa: E402


def timed(fn, audio, **kw):
    t0 = time.perf_counter()
    out = fn(audio, **kw)
    return out, time.perf_counter() - t0


def compare(ours, theirs) -> dict:
    """One utterance's row: both sides' top language and probability, and the differences."""
    mine, fw = dict(ours[2]), dict(theirs[2])
    if set(mine) != set(fw):
        raise SystemExit(f"the language codes differ: {sorted(set(mine) ^ set(fw))}")
    return {"ours": ours[0], "ours_p": ours[1], "fw": theirs[0], "fw_p": theirs[1],
            "agree": ours[0] == theirs[0],
            "top_diff": abs(mine[theirs[0]] - fw[theirs[0]]),
            "all_diff": max(abs(mine[c] - fw[c]) for c in fw)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--model", default="base", help="a multilingual model with CTranslate2 "
                    "weights installed (base)")
    ap.add_argument("--limit", type=int, default=None, help="the first N utterances")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vad-filter", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "asr_language"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel as FasterWhisper

    from speechbudget.machine import machine_info
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.whisper_model import WhisperModel
    ds = load_dataset(args.data, limit=args.limit)
    audios = [(item.id, ds.load_audio(item)) for item in ds.items]
    if not audios:
        raise SystemExit(f"{args.data}: no utterances")
    ours = WhisperModel(args.model, device="cpu",
                        vad_model="faster-whisper" if args.vad_filter else None)
    fw = FasterWhisper(ct2_folder(args.model), device="cpu", compute_type="float32",
                       cpu_threads=args.threads)
    kw = dict(vad_filter=args.vad_filter)
    gflops = ours.language_detection(audios[0][1], **kw).gflops(ours.config, reused=False)
    fw.detect_language(audios[0][1], **kw)      # warm-ups
    ours.detect_language(audios[0][1], **kw)
    rows, wall = [], {"ours": 0.0, "fw": 0.0}
    for i, (uid, audio) in enumerate(audios):
        sides = [("ours", ours.detect_language), ("fw", fw.detect_language)]
        got = {}
        for name, fn in (sides if i % 2 == 0 else sides[::-1]):
            got[name], seconds = timed(fn, audio, **kw)
            wall[name] += seconds
        rows.append({"id": uid, "audio_s": len(audio) / 16000, **compare(got["ours"],
                                                                         got["fw"])})
        print(rows[-1], flush=True)
    n = len(rows)
    summary = {
        "utterances": n, "audio_s": sum(r["audio_s"] for r in rows),
        "ours_en": sum(r["ours"] == "en" for r in rows),
        "fw_en": sum(r["fw"] == "en" for r in rows),
        "agree": sum(r["agree"] for r in rows),
        "top_diff_max": max(r["top_diff"] for r in rows),
        "top_diff_mean": sum(r["top_diff"] for r in rows) / n,
        "all_diff_max": max(r["all_diff"] for r in rows),
        "ours_wall_s": wall["ours"], "fw_wall_s": wall["fw"],
        "wall_ratio_ours_over_fw": wall["ours"] / wall["fw"] if wall["fw"] else None,
        "ours_gflops_per_detection": gflops}
    cmd = "python benchmarks/asr_language.py " + " ".join(
        (f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')} {v}")
        for k, v in vars(args).items() if k != "out" and v not in (None, False))
    res = {"command": cmd, "machine": machine_info(args.threads), "model": args.model,
           "vad_filter": args.vad_filter, "summary": summary, "rows": rows}
    s = summary
    ratio = s["wall_ratio_ours_over_fw"]
    md = [f"# Language detection alone: ours vs faster-whisper ({args.model}, fp32, {n} "
          f"utterances, {s['audio_s'] / 60:.1f} min{', VAD on' if args.vad_filter else ''})", "",
          f"`{cmd}`", "", f"Machine: {machine_line(res['machine'])}.", "",
          "| | ours | faster-whisper |", "|---|---|---|",
          f"| top language \"en\" | {s['ours_en']} / {n} | {s['fw_en']} / {n} |",
          f"| wall s (summed, interleaved) | {s['ours_wall_s']:.2f} | {s['fw_wall_s']:.2f} |",
          "", f"Same top language: {s['agree']} / {n}. |p_ours - p_fw| of faster-whisper's "
          f"top language: max {s['top_diff_max']:.2e}, mean {s['top_diff_mean']:.2e}; max over "
          f"all languages' probabilities: {s['all_diff_max']:.2e}. Wall ours / faster-whisper: "
          + (f"{ratio:.2f}x" if ratio is not None else "n/a")
          + f". Ours' GFLOPs per detection (encoder pass + one decoder step): {gflops:.1f}."]
    other = [r for r in rows if not r["agree"] or r["ours"] != "en"]
    if other:
        md += ["", "| utterance | ours | p | faster-whisper | p |", "|---|---|---|---|---|"]
        md += [f"| {r['id']} | {r['ours']} | {r['ours_p']:.3f} | {r['fw']} | {r['fw_p']:.3f} |"
               for r in other]
    print(write_results(args.out, res, md))


if __name__ == "__main__":
    main()
