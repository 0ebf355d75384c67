"""Window (xT) x token stride (xV) for Whisper tiny.en and base: WER, FLOPs, time, and how much of
each FLOPs saving the wall clock realises.

    python benchmarks/asr_axes.py [--models tiny.en,base] [--limit N] [--threads 2]
        [--data ../shared/data/librispeech_sample] [--batch-size 16] [--timestamps auto|on,off]

Per model: window {10, 15, 20, 30, dynamic} x {stride 1, stride 2 after layer L/2 (mean pool),
stride 2 on the encoder output (mean pool)}, greedy, fp32; with `--timestamps on,off` each
configuration twice, Whisper's timestamp decoding forced on and off (`Config.timestamps`), so the
window's own cost in accuracy can be read apart from how the audio is cut into windows (the default
`auto`: timestamps only where the audio is longer than the window). All configurations run side
by side in one process, shard by shard (so the machine's load affects them alike), sharing log-mel features and
encoder states through a per-shard cache: a cache hit is charged the time it took to compute, so
each configuration's timings are its own full cost. For every configuration against the 30 s,
stride-1 baseline of the same model:
  flops_ratio = GFLOPs / baseline GFLOPs,  time_ratio = processing s / baseline processing s,
  realised = (1 - time_ratio) / (1 - flops_ratio)   (share of the FLOPs saving seen in wall time),
for the whole pipeline and for the encoder alone (encoder FLOPs from the FLOPs breakdown).
Also: dynamic vs 30 s speed-up on the clips of at most 10 s.
Writes benchmarks/results/asr_axes.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))


def configs_for(model: str, timestamps: str = "auto"):
    from speechbudget.architectures import get_architecture
    from speechbudget.axes import Config
    half = get_architecture(model).encoder_layers // 2
    out = []
    for w in (30, 20, 15, 10, "dynamic"):
        for stride, at in ((1, "output"), (2, half), (2, "output")):
            out.append(Config(task="asr", model=model, window=w, stride=stride, stride_at=at,
                              timestamps=timestamps))
    return out


def encoder_gflops(config, item) -> float:
    from speechbudget.flops import estimate
    rep = estimate(config, decoded_tokens=item.decoded_tokens, audio_s=item.audio_s)
    return sum(v for k, v in rep.breakdown.items() if k.startswith("encoder")) / 1e9


def summarise(task, configs, items) -> tuple[dict, list[str]]:
    """One timestamps mode of one model: rows against its own 30 s, stride-1 baseline."""
    rows = []
    base_cfg = configs[0]
    for c in configs:
        res = items[c.key]
        m = task.aggregate(c, res)
        ok = [r for r in res if r.ok]
        proc = sum(m.timings[s] for s in ("features", "encoder", "decoder"))
        short = [r for r in ok if r.audio_s <= 10.0]
        rows.append({
            "label": c.label, "config": c.to_dict(), "wer": m.value,
            "ci": [m.ci_low, m.ci_high], "gflops_per_utt": m.gflops,
            "encoder_gflops_per_utt": sum(encoder_gflops(c, r) for r in ok) / len(ok),
            "encoder_ms_per_utt": m.extra["encoder_ms_per_utt"],
            "decoder_ms_per_utt": m.extra["decoder_ms_per_utt"],
            "processing_s": proc, "encoder_s": m.timings["encoder"], "rtfx": m.rtfx,
            "chunks": m.extra["chunks"], "failed": m.n_failed,
            "short_processing_s": sum(sum(r.timings[s] for s in ("features", "encoder",
                                                                  "decoder")) for r in short),
            "short_n": len(short)})
    base = rows[0]
    assert base["label"] == base_cfg.label
    for r in rows:
        fr = r["gflops_per_utt"] / base["gflops_per_utt"]
        tr = r["processing_s"] / base["processing_s"]
        efr = r["encoder_gflops_per_utt"] / base["encoder_gflops_per_utt"]
        etr = r["encoder_s"] / base["encoder_s"]
        r.update(flops_ratio=fr, time_ratio=tr, enc_flops_ratio=efr, enc_time_ratio=etr,
                 realised=(1 - tr) / (1 - fr) if abs(1 - fr) > 0.02 else None,
                 enc_realised=(1 - etr) / (1 - efr) if abs(1 - efr) > 0.02 else None)
    dyn = next(r for r in rows if r["config"]["window"] == "dynamic"
               and r["config"]["stride"] == 1)
    dyn_speedup = base["short_processing_s"] / dyn["short_processing_s"] \
        if dyn["short_processing_s"] else None
    md = ["| configuration | WER % [95% CI] | GFLOPs/utt | enc ms/utt | dec ms/utt | RTFx | "
          "windows | FLOPs ratio | time ratio | realised | enc FLOPs ratio | enc time ratio "
          "| enc realised |", "|" + "---|" * 13]
    f = lambda x, p=2: "-" if x is None else f"{x:.{p}f}"  # noqa: E731
    for r in rows:
        md.append(f"| {r['label']} | {100 * r['wer']:.2f} [{100 * r['ci'][0]:.2f}, "
                  f"{100 * r['ci'][1]:.2f}] | {r['gflops_per_utt']:.1f} | "
                  f"{r['encoder_ms_per_utt']:.0f} | {r['decoder_ms_per_utt']:.0f} | "
                  f"{r['rtfx']:.1f} | {r['chunks']} | {r['flops_ratio']:.2f} | "
                  f"{r['time_ratio']:.2f} | {f(r['realised'])} | {r['enc_flops_ratio']:.2f} | "
                  f"{r['enc_time_ratio']:.2f} | {f(r['enc_realised'])} |")
    md += ["", f"Dynamic window vs 30 s on the {base['short_n']} clips of at most 10 s: "
           f"{f(dyn_speedup)}x faster (goal >= 2.5x).", ""]
    return {"rows": rows, "dynamic_vs_30s_speedup_short_clips": dyn_speedup,
            "short_clips": base["short_n"]}, md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--timestamps", default="auto", help="comma-separated Config.timestamps "
                    "modes (auto, on, off); each gets its own table and its own 30 s baseline")
    ap.add_argument("--mel-padding", default="zeros", choices=("zeros", "silence"),
                    help="what fills a window past its audio: zeros in the normalised log-mel "
                    "(the references' transcribe, the default) or the silence floor (a "
                    "zero-padded waveform); AsrTask(mel_padding=...)")
    ap.add_argument("--out", default=str(HERE / "results" / "asr_axes"))
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    import transformers
    transformers.logging.disable_progress_bar()
    from asr_vs_faster_whisper import machine

    from speechbudget.tasks.asr.runner import AsrTask

    task = AsrTask(batch_size=args.batch_size, max_items=args.limit,
                   mel_padding=args.mel_padding)
    ds = task.load_dataset(args.data)
    results: dict = {"data": args.data, "utterances": len(ds), "machine": machine(args.threads),
                     "batch_size": args.batch_size, "mel_padding": args.mel_padding,
                     "models": {}}
    md = [f"# Window x stride on {len(ds)} LibriSpeech utterances", "",
          f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
          f"{args.threads} threads, torch {results['machine']['torch']}. Command: "
          f"`python benchmarks/asr_axes.py {' '.join(sys.argv[1:])}`", "",
          "realised = (1 - time ratio) / (1 - FLOPs ratio): the share of the FLOPs saving that the "
          "wall clock shows (1 = all of it).", ""]
    modes = args.timestamps.split(",")
    for model in args.models.split(","):
        by_mode = {ts: configs_for(model, ts) for ts in modes}
        configs = [c for cs in by_mode.values() for c in cs]
        items = {c.key: [] for c in configs}
        t_start = time.perf_counter()
        for shard in task.shards(configs[0], ds):
            cache: dict = {}  # per shard: bounded memory; features and encoder states shared
            for c in configs:
                items[c.key].extend(task.run_shard(c, ds, shard, "cpu", cache))
            print(f"{model}: {shard.shard_id} done ({time.perf_counter() - t_start:.0f} s)",
                  flush=True)
        for ts, mode_configs in by_mode.items():
            entry, table = summarise(task, mode_configs, items)
            name = model if ts == "auto" else f"{model}, timestamps {ts}"
            results["models"][model if ts == "auto" else f"{model}|ts-{ts}"] = entry
            md += [f"## {name}", ""] + table
            print("\n".join(table), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"wrote {out}.json and .md")


if __name__ == "__main__":
    main()
