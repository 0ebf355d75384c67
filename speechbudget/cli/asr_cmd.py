"""`speechbudget asr eval`: Whisper WER and cost of one configuration (window xT, stride xV)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from speechbudget.machine import default_device
from speechbudget.cli.app import app
from speechbudget.cli.errors import err_line
from speechbudget.cli.output import console as out_console, inert, line
from speechbudget.cli.options import (AUDIO_COLUMN, AUDIO_ROOT, ID_COLUMN, SPEAKER_COLUMN,
                                      TARGETS_HELP, TEXT_COLUMN, float_option, int_option,
                                      parse_targets)
from speechbudget.typed_numbers import is_digits

asr_app = typer.Typer(help="Speech recognition with Whisper: WER, FLOPs, latency and RTF of one "
                           "configuration.", no_args_is_help=True)
app.add_typer(asr_app, name="asr")
console = out_console()   # user text shown as it is, lines never folded (cli/output.py)
err_console = Console(stderr=True)


def resolve_model(model: str) -> tuple[str, str | None]:
    """(architecture name for the Config, weights path or None): a registry name / hub id is used
    as is; a local folder (HF or CTranslate2) is loaded to find its architecture (the registry
    one of the same dimensions: ConfigError, exit 2, when there is none)."""
    from speechbudget.architectures import UnknownModelError, get_architecture
    try:
        return get_architecture(model).name, None
    except UnknownModelError:
        pass
    from speechbudget.models.loading import load_whisper
    from speechbudget.models.model_names import looks_like_path, model_path, no_such_folder
    if not model_path(model).exists():
        raise typer.BadParameter(no_such_folder(model) if looks_like_path(model) else
                                 f"{model!r}: not a known Whisper name, hub id or model folder",
                                 param_hint="--model")
    from speechbudget.tasks.asr.transcribe import registry_name
    # a folder's weights are named by the folder: the registry architecture of their dimensions
    return registry_name(load_whisper(model).arch), model


def _stride_at(value: str) -> int | str:
    return int(value) if is_digits(value) else value


def metrics_table(title: str, rows) -> Table:
    """rows: (label, ConfigMetrics) pairs."""
    t = Table(title=title)
    for col in ("configuration", "WER % [95% CI]", "GFLOPs/utt", "enc ms/utt", "dec ms/utt",
                "RTF", "RTFx", "utts", "failed"):
        t.add_column(col, justify="right" if col != "configuration" else "left")
    for label, m in rows:
        wer = "-" if m.n_items == 0 or m.value != m.value else (
            f"{100 * m.value:.2f} [{100 * m.ci_low:.2f}, {100 * m.ci_high:.2f}]")
        fmt = lambda x, p=2: "-" if x is None else f"{x:,.{p}f}"  # noqa: E731
        t.add_row(inert(label), wer, fmt(m.gflops), fmt(m.extra.get("encoder_ms_per_utt"), 1),
                  fmt(m.extra.get("decoder_ms_per_utt"), 1), fmt(m.rtf, 3), fmt(m.rtfx, 1),
                  str(m.n_items), str(m.n_failed))
    return t


@asr_app.command("eval")
def eval_cmd(
    data: str = typer.Option(..., "--data", help="JSONL/CSV/TSV manifest, a folder holding "
                             "manifest.jsonl or metadata.csv/.tsv, a Kaldi data dir, a Hugging "
                             "Face save_to_disk folder, a LibriSpeech folder, or "
                             "hf:NAME[:CONFIG[:SPLIT]]"),
    model: str = typer.Option("tiny.en", "--model", help="Whisper name, hub id or local folder"),
    window: str = typer.Option("30", "--window", help="seconds (<= 30), e.g. 15, or 'dynamic'"),
    stride: int = int_option(1, "--stride", help="keep one encoder token in STRIDE (xV)"),
    stride_at: str = typer.Option("output", "--stride-at",
                                  help="encoder layer index 0..L after which the stride applies, "
                                       "or 'output'"),
    pool: str = typer.Option("mean", "--pool", help="mean | drop | attn"),
    batch_size: int = int_option(8, "--batch-size", min=1),
    beam: int = int_option(1, "--beam", min=1, help="beam size (1 = greedy)"),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | bf16 | int8-dynamic | fp16 (CUDA only)"),
    device: str = typer.Option(None, "--device", help="cuda | cpu (default: cuda if present)"),
    limit: Optional[int] = int_option(None, "--limit", min=1, help="first N items only"),
    as_json: bool = typer.Option(False, "--json", help="print metrics and per-utterance results "
                                 "as JSON to stdout (WER as a fraction and in percent)"),
    json_out: Optional[Path] = typer.Option(None, "-o", "--out", help="write metrics and "
                                            "per-utterance results to this JSON file"),
    audio_column: Optional[str] = AUDIO_COLUMN,
    text_column: Optional[str] = TEXT_COLUMN,
    speaker_column: Optional[str] = SPEAKER_COLUMN,
    id_column: Optional[str] = ID_COLUMN,
    audio_root: Optional[Path] = AUDIO_ROOT,
    threads: Optional[int] = int_option(None, "--threads", min=1, help="torch CPU threads"),
    allow_failures: bool = typer.Option(False, "--allow-failures",
                                        help="exit 0 even when some utterances failed"),
    adapter: Optional[Path] = typer.Option(None, "--adapter", help="an adapter folder from "
                                           "`asr adapt` (it must match the configuration)"),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="a progress bar on stderr (utterances)"),
    mel_padding: str = typer.Option("zeros", "--mel-padding",
                                    help="what fills a window past its audio: zeros (in the "
                                    "log-mel, as faster-whisper) | silence (the recording's "
                                    "floor, as a zero-padded waveform; for a stride on the "
                                    "encoder output)"),
    language: str = typer.Option("en", "--language",
                                 help="the data's language code (de, fr, ...): the decoder "
                                 "prompt <|CODE|><|transcribe|> (multilingual models only) and "
                                 "the WER normaliser (English's for en, Whisper's basic one "
                                 "otherwise); no 'auto': a WER should not depend on detection"),
) -> None:
    """Evaluate one configuration: WER [CI], GFLOPs per utterance, encoder/decoder time, RTF."""
    import torch

    from speechbudget.axes import Config, ConfigError
    from speechbudget.tasks.asr.runner import AsrTask, evaluate

    from speechbudget.errors import (OutputError, SpeechbudgetError, check_output_file,
                                     finite_json, write_atomic)
    from speechbudget.machine import check_device

    if json_out:
        check_output_file(json_out, "--out")  # before any work, not after it
    if threads:
        torch.set_num_threads(threads)
    device = check_device(device or default_device())
    arch_name, path = resolve_model(model)
    from speechbudget.tasks.asr.eval_language import check_eval_language
    try:  # a code the model decodes (an English-only model: en), before the data and model load
        language = check_eval_language(language, model=arch_name)
    except ConfigError as e:
        raise typer.BadParameter(f"{language!r}: expected {e.allowed}",
                                 param_hint="--language") from None
    try:
        cfg = Config(task="asr", model=arch_name, window=window, stride=stride,
                     stride_at=_stride_at(stride_at), pool=pool, precision=precision,
                     beam_size=beam)
    except ConfigError as e:
        raise typer.BadParameter(str(e)) from None
    from speechbudget.tasks.asr.precision import check_precision
    try:  # before the model loads
        check_precision(cfg.precision, device)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--precision") from None
    if adapter is not None:
        from speechbudget.tasks.asr.adapt_options import AdapterError
        from speechbudget.tasks.asr.adapter_files import adapter_config
        try:
            cfg = cfg.with_(adaptation=adapter_config(adapter).adaptation)
        except AdapterError as e:
            raise typer.BadParameter(str(e), param_hint="--adapter") from None
    try:
        task = AsrTask(batch_size=batch_size, max_items=limit, model_path=path, adapter=adapter,
                       mel_padding=mel_padding, language=language)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--mel-padding") from None
    try:  # an adapter was trained with the English prompt: refused before the data loads
        task.check_language(cfg)
    except ConfigError as e:
        raise typer.BadParameter(f"{language!r}: expected {e.allowed}",
                                 param_hint="--language") from None
    from speechbudget.tasks.asr.data import Columns, load_dataset
    ds = load_dataset(data, limit, Columns(audio=audio_column, text=text_column,
                                           speaker=speaker_column, id=id_column),
                      audio_root=audio_root)  # exit 3
    if adapter is not None:  # a supervised adapter is scored on held-out utterances only
        from speechbudget.tasks.asr.adapt import held_out_problems
        seen = held_out_problems(adapter, ds.items, ds.source)
        if seen:
            raise typer.BadParameter(
                f"{len(seen)} of the {len(ds)} evaluated utterances were used to train this "
                f"supervised adapter; evaluate held-out utterances (first: "
                f"{next(iter(seen.values()))})", param_hint="--adapter")
    from rich.progress import Progress
    with Progress(console=err_console, transient=True, disable=not progress) as prog:
        bar = prog.add_task(f"{cfg.label}", total=len(ds))
        try:
            metrics, items = evaluate(cfg, ds, device=device, task=task,
                                      progress=lambda n: prog.advance(bar, n))
        except ValueError as e:  # AdapterError: an adapter for another configuration or model
            if adapter is None or isinstance(e, SpeechbudgetError):
                raise  # not the adapter's: a domain error keeps its own exit code
            raise typer.BadParameter(str(e), param_hint="--adapter") from None
    # which weights ran, as load_whisper's bundle describes them: a hub id of a registry
    # architecture ('openai/whisper-tiny.en') is that architecture, so its bundled offline
    # weights when installed, where transcribe / WhisperModel load the hub id itself
    from speechbudget.models.loading import weights_source
    try:
        source = weights_source(path or cfg.model)
    except SpeechbudgetError as e:  # the results are not lost over it
        source = f"unknown ({e})"
    doc = finite_json({"config": cfg.to_dict(), "mel_padding": mel_padding,  # strict JSON
                       "model_source": source,
                       **({} if language == "en" else {"language": language}),
                       "metrics": metrics.to_dict(),
                       "wer_percent": None if metrics.value != metrics.value
                       else 100 * metrics.value,
                       "items": [r.to_dict() for r in items]})
    write_error = None  # a write that fails after the run: the results are still printed
    if json_out:
        try:
            write_atomic(json_out, json.dumps(doc, indent=1), "--out")
        except OutputError as e:  # e.g. disk full, or a folder (/proc) that passed the check
            write_error = e
    failed = bool(metrics.n_failed) and not allow_failures
    if as_json:
        typer.echo(json.dumps(doc, indent=1))
        if write_error:
            raise write_error
        if failed:
            raise typer.Exit(1)
        return
    notes = "" if mel_padding == "zeros" else f", mel padding {mel_padding}"  # not the defaults
    notes += "" if language == "en" else f", language {language}"
    console.print(metrics_table(f"ASR on {inert(ds.source)} ({device}, {metrics.extra['threads']} "
                                f"threads{notes})", [(cfg.label, metrics)]))
    typer.echo(f"weights: {source}" + (f" (--model {model}: the registry architecture "
                                       f"{cfg.model})" if path is None and model != cfg.model
                                       else ""))   # plain: a long path is not folded
    if metrics.n_failed:
        console.print(f"[yellow]{metrics.n_failed} of {len(items)} utterances failed:[/yellow]")
        for f in metrics.extra["failures"][:10]:
            line(f"  {f['item_id']}: {f['error']}")
    if write_error:
        raise write_error
    if json_out:
        line(f"wrote {json_out}")
    if failed:
        err_line(f"{metrics.n_failed} of {len(items)} utterances failed (--allow-failures to "
                 "exit 0)", "error: ")
        raise typer.Exit(1)


@asr_app.command("adapt")
def adapt_cmd(
    data: str = typer.Option(..., "--data", help="audio to adapt on (manifest, folder, ...); "
                             "transcripts are used only by --adapt supervised"),
    out: Path = typer.Option(..., "-o", "--out", help="adapter folder (resumes from its checkpoint)"),
    model: str = typer.Option("tiny.en", "--model", help="Whisper name, hub id or local folder"),
    window: str = typer.Option("15", "--window", help="seconds (<= 30) or 'dynamic'"),
    stride: int = int_option(1, "--stride", help="keep one encoder token in STRIDE"),
    stride_at: str = typer.Option("output", "--stride-at", help="layer 0..L or 'output'"),
    pool: str = typer.Option("mean", "--pool", help="mean | drop | attn"),
    adapt: str = typer.Option("distill", "--adapt", help="distill (label-free, towards the "
                              "same model at 30 s / stride 1) | supervised (cross-entropy on "
                              "the data's transcripts)"),
    rank: int = int_option(8, "--rank", min=0, help="LoRA rank on the encoder (0: none)"),
    targets: Optional[str] = typer.Option(None, "--targets", help=TARGETS_HELP),
    unfreeze_top: int = int_option(0, "--unfreeze-top", min=0, help="train the top K "
                                   "encoder layers fully"),
    steps: int = int_option(100, "--steps", min=1),
    batch_size: int = int_option(8, "--batch-size", min=1),
    lr: float = float_option(1e-3, "--lr"),
    seed: int = int_option(0, "--seed"),
    limit: Optional[int] = int_option(None, "--limit", min=1, help="first N items only"),
    threads: Optional[int] = int_option(None, "--threads", min=1, help="torch CPU threads"),
    audio_column: Optional[str] = AUDIO_COLUMN,
    text_column: Optional[str] = TEXT_COLUMN,
    speaker_column: Optional[str] = SPEAKER_COLUMN,
    id_column: Optional[str] = ID_COLUMN,
    audio_root: Optional[Path] = AUDIO_ROOT,
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="a progress bar on stderr (training steps)"),
) -> None:
    """Train one adapter for one configuration: by self-distillation towards the same model at
    30 s / stride 1 (no transcripts), or supervised on the data's transcripts; writes
    OUT/adapter.safetensors and OUT/adapter.json (with its training FLOPs and wall time)."""
    import torch
    from rich.progress import Progress

    from speechbudget.axes import Config, ConfigError
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr import adapt as ad
    from speechbudget.tasks.asr.adapt_options import AdapterError, DistillOptions
    from speechbudget.tasks.asr.adapter_files import check_out_folder
    from speechbudget.tasks.asr.data import Columns, load_dataset

    if adapt not in ("distill", "supervised"):
        raise typer.BadParameter(f"{adapt!r}: expected 'distill' or 'supervised'",
                                 param_hint="--adapt")
    if threads:
        torch.set_num_threads(threads)
    arch_name, path = resolve_model(model)
    try:
        base = Config(task="asr", model=arch_name, window=window, stride=stride,
                      stride_at=_stride_at(stride_at), pool=pool)
        cfg = ad.distill_config(base, rank=rank, unfreeze_top=unfreeze_top, steps=steps,
                                targets=parse_targets(targets), objective=adapt)
        opts = DistillOptions(batch_size=batch_size, lr=lr, seed=seed)
    except (ConfigError, AdapterError) as e:
        raise typer.BadParameter(str(e)) from None
    from speechbudget.errors import check_output_dir
    check_output_dir(out, "--out")  # before any work, not after the teacher pass
    # read as `asr eval` reads it (the same column options and audio root); a DatasetError is
    # exit 3
    ds = load_dataset(data, limit=limit, need_text=False, audio_root=audio_root,
                      columns=Columns(audio=audio_column, text=text_column,
                                      speaker=speaker_column, id=id_column))
    err = Console(stderr=True)
    bundle = load_whisper(path or arch_name)
    if cfg.adaptation.method == "lora":  # PEFT would fail only after the teacher pass
        from speechbudget.models.lora_targets import check_lora_rank, check_lora_targets
        try:
            check_lora_targets(bundle.model.model.encoder, cfg.adaptation.targets)
        except ConfigError as e:
            raise typer.BadParameter(str(e), param_hint="--targets") from None
        try:
            check_lora_rank(bundle.model.model.encoder, cfg.adaptation)
        except ConfigError as e:
            raise typer.BadParameter(str(e), param_hint="--rank") from None
    try:  # an adapter of another configuration there: refused before the teacher pass
        check_out_folder(out, cfg, bundle.model, opts)
    except AdapterError as e:
        raise typer.BadParameter(str(e), param_hint="--out") from None
    # an item without usable audio is skipped and said, as evaluation records it (a DatasetError,
    # exit 3, only when none is left)
    read = ad.read_training_audio(ds)
    if read.skipped:
        err_line(read.skipped_line())
    usable = read.items
    keys = {it.id: ad.utterance_key(it, ds.source) for it in usable}  # recorded in adapter.json
    import time
    t0 = time.perf_counter()
    try:
        if adapt == "supervised":
            samples = ad.prepare_supervised(
                bundle, cfg, [(it.id, a, it.text) for it, a in zip(usable, read.audio)],
                source=ds.source)
        else:
            items = [(it.id, a) for it, a in zip(usable, read.audio)]
            err.print(f"teacher pass on {len(items)} utterances (30 s, stride 1)...")
            samples = ad.prepare(bundle, cfg, items)
        # transient, and only on a terminal (the CLI's convention): the 'wrote ...' line below
        # keeps the first and last loss
        with Progress(console=err, transient=True,
                      disable=not (progress and err.is_terminal)) as prog:
            bar = prog.add_task(cfg.label, total=steps)
            res = ad.train_adapter(bundle, cfg, samples, out, opts,
                             teacher_s=time.perf_counter() - t0, item_keys=keys,
                             progress=lambda s, loss: prog.update(
                                 bar, completed=s, description=f"{cfg.label} loss {loss:.4f}"))
    except AdapterError as e:
        raise typer.BadParameter(str(e)) from None
    r = res.record
    line(f"wrote {res.path} ({r.steps} steps, {r.wall_s:.0f} s, loss {r.losses[0]:.4f} -> "
         f"{r.losses[-1]:.4f}, {r.train_flops / 1e12:.3f} training TFLOPs, peak "
         + (f"{r.peak_mem_mb:.0f} MB)" if r.peak_mem_mb is not None else "not measured)"),
         err=True)
