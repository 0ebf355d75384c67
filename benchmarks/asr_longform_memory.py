"""Peak memory of long-form transcription (ours): does it stay bounded as the recording grows?

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/asr_longform_memory.py \
        [--minutes 10,60] [--model tiny.en] [--data ../shared/data/librispeech_sample] [--threads 2]

Each measurement runs in a fresh subprocess (what an earlier one allocated cannot hide or inflate
it): load the model, build the recording as benchmarks/asr_longform.py does (`AsrDataset.joined`:
utterances joined with 0.4 s pauses; if the data set holds less than asked, that recording is
repeated end to end until it is long enough), then transcribe it once (30 s window, timestamps,
greedy, batch 8: the sequential long-form rule computes features per window) inside
`speechbudget.memory.MemoryPeak`, which reports the peak increase of the bytes allocated through
malloc over their value at its start (model and waveform already loaded). Reported with the waveform's own size, so the increase can
be read as "a few windows" or "grows with the recording". Writes
benchmarks/results/asr_longform_memory.{json,md} (or `--out`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SR = 16000


def child(minutes: float, model: str, data: str, threads: int) -> dict:
    import os

    import numpy as np
    import torch
    torch.set_num_threads(threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from speechbudget.memory import MemoryPeak, rss_bytes
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.transcribe import transcribe
    bundle = load_whisper(model, device="cpu")
    audio, _, n_utts = load_dataset(data).joined(minutes * 60)
    copies = 1
    if len(audio) < minutes * 60 * SR:
        copies = int(np.ceil(minutes * 60 * SR / max(1, len(audio))))
        audio = np.tile(audio, copies)
    audio = np.ascontiguousarray(audio[:int(minutes * 60 * SR)], dtype=np.float32)
    transcribe(audio[:5 * SR], bundle=bundle)   # warm-up (first-call allocations)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    with MemoryPeak() as peak:
        _, info = transcribe(audio, bundle=bundle)
    wall = time.perf_counter() - t0
    return {"minutes": len(audio) / SR / 60, "utterances": n_utts, "copies": copies,
            "waveform_mb": audio.nbytes / 2**20, "rss_before_mb": (rss0 or 0) / 2**20,
            "peak_increase_mb": peak.increase_mb, "counts": peak.source, "windows": info.windows,
            "wall_s": wall, "rtfx": len(audio) / SR / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", default="10,60")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "asr_longform_memory"))
    ap.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.model, args.data, args.threads)))
        return
    from speechbudget.machine import machine_info
    rows = []
    for m in [float(x) for x in args.minutes.split(",")]:
        cmd = [sys.executable, __file__, "--child", str(m), "--model", args.model,
               "--data", args.data, "--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    command = (f"python benchmarks/asr_longform_memory.py --minutes {args.minutes} --model "
               f"{args.model} --data {args.data} --threads {args.threads}")
    res = {"command": command, "machine": machine_info(args.threads), "model": args.model,
           "rows": rows}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    md = [f"# Long-form peak memory (ours, {args.model}, fresh process per row)", "",
          f"`{command}`", "", "| minutes | waveform MB | peak increase MB (allocated, MemoryPeak) | windows | RTFx |",
          "|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['minutes']:.1f} | {r['waveform_mb']:.0f} | {r['peak_increase_mb']:.0f} | "
                  f"{r['windows']} | {r['rtfx']:.1f} |")
    path.with_suffix(".md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
