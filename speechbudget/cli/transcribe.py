"""`speechbudget transcribe FILE...`: print Whisper transcripts (any window, stride, beam)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from speechbudget.machine import default_device
from speechbudget.cli.app import app

console = Console()
err = Console(stderr=True)


def transcribe_files(files: list[Path], model: str = "tiny.en", device: str = "cpu",
                     window: str = "30", stride: int = 1, stride_at: str = "output",
                     pool: str = "mean", beam: int = 1, precision: str = "fp32",
                     batch_size: int = 8) -> list[tuple[Path, str | None, str | None]]:
    """(file, transcript or None, error or None) per file, in order; bad files do not stop it."""
    from speechbudget.axes import Config
    from speechbudget.cli.asr_cmd import _stride_at, resolve_model
    from speechbudget.tasks.asr.data import AsrDataset, AsrItem
    from speechbudget.tasks.asr.runner import AsrTask

    arch_name, path = resolve_model(model)
    cfg = Config(task="asr", model=arch_name, window=window, stride=stride,
                 stride_at=_stride_at(stride_at), pool=pool, precision=precision, beam_size=beam)
    items = [AsrItem(f"{i}:{f}", Path(f), text="-") for i, f in enumerate(files)]
    ds = AsrDataset(items, "command line")
    task = AsrTask(batch_size=batch_size, model_path=path, warmup=False)
    out = {}
    for shard in task.shards(cfg, ds):
        for r in task.run_shard(cfg, ds, shard, device):
            out[r.item_id] = r
    return [(Path(f), out[it.id].prediction if out[it.id].ok else None,
             None if out[it.id].ok else out[it.id].error) for f, it in zip(files, items)]


@app.command("transcribe")
def transcribe_cmd(
    files: List[Path] = typer.Argument(..., help="audio files (wav, flac, mp3, ...)"),
    model: str = typer.Option("tiny.en", "--model", help="Whisper name, hub id or local folder"),
    device: Optional[str] = typer.Option(None, "--device", help="cuda | cpu (default: cuda if "
                                                                 "present)"),
    window: str = typer.Option("30", "--window", help="seconds (<= 30) or 'dynamic'"),
    stride: int = typer.Option(1, "--stride", help="keep one encoder token in STRIDE"),
    stride_at: str = typer.Option("output", "--stride-at", help="layer 0..L or 'output'"),
    pool: str = typer.Option("mean", "--pool", help="mean | drop"),
    beam: int = typer.Option(1, "--beam", min=1),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | bf16 | int8-dynamic | fp16 (CUDA only)"),
) -> None:
    """Transcribe audio files; one line per file: `FILE<TAB>transcript`."""

    from speechbudget.axes import ConfigError
    device = device or default_device()
    try:
        results = transcribe_files(list(files), model, device, window, stride, stride_at, pool,
                                   beam, precision)
    except ConfigError as e:
        raise typer.BadParameter(str(e)) from None
    failed = 0
    for f, text, error in results:
        if error is None:
            typer.echo(f"{f}\t{text}")  # a real tab (rich would expand it to spaces)
        else:
            failed += 1
            err.print(f"{f}: {error}", markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)
