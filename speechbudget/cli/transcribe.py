"""`speechbudget transcribe FILE...`: print Whisper transcripts (any window, stride, beam)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from rich.console import Console

from speechbudget.cli.app import app

err = Console(stderr=True)


def transcribe_files(files: list[Path], model: str = "tiny.en", device: str | None = None,
                     window: str = "30", stride: int = 1, stride_at: str = "output",
                     pool: str = "mean", beam: int = 1, precision: str = "fp32",
                     batch_size: int = 8, timestamps: str = "on", longform: str = "sequential",
                     progress: Callable[[int, int], None] | None = None
                     ) -> list[tuple[Path, list | None, Any, str | None]]:
    """(file, segments or None, TranscriptionInfo or None, error or None) per file, in order,
    through `speechbudget.WhisperModel`; a bad file does not stop the others. Files are decoded
    `batch_size` recordings at a time (windows batched across them); `progress(done, total)`,
    if given, after each group, counting files (unreadable ones count when they are read)."""
    from speechbudget.errors import SpeechbudgetError
    from speechbudget.tasks.asr.transcribe import as_audio
    from speechbudget.whisper_model import WhisperModel

    wm = WhisperModel(model, device=device, precision=precision, window=window, stride=stride,
                      stride_at=stride_at, pool=pool)
    out: dict = {}
    done = 0
    for start in range(0, len(files), max(1, batch_size)):
        group = files[start:start + max(1, batch_size)]
        good = []
        for f in group:
            try:
                good.append((f, as_audio(f)))
            except SpeechbudgetError as e:  # AudioError: its message names the file
                out[f] = (None, None, str(e))
            except Exception as e:  # anything a decoder library raises
                out[f] = (None, None, f"{f}: {type(e).__name__}: {e}")
        if good:
            res = wm.transcribe_batch([a for _, a in good], beam_size=beam,
                                      timestamps=timestamps, longform=longform,
                                      batch_size=batch_size)
            for (f, _), (segs, info) in zip(good, res):
                out[f] = (segs, info, None)
        done += len(group)
        if progress is not None:
            progress(done, len(files))
    return [(Path(f), *out[f]) for f in files]


def _prepare_output_dir(output_dir: Path, files: list[Path], formats: tuple[str, ...]) -> None:
    """Create --output-dir, or fail (OutputError, exit 6) before any model loads: a folder that
    cannot be created or written, or two different inputs with one stem (`a/x.wav` and
    `b/x.flac` would both write `x.<fmt>`, the second silently replacing the first)."""
    from speechbudget.errors import OutputError, make_output_dir
    taken: dict[str, Path] = {}
    for f in files:
        first = taken.setdefault(f.stem, f)
        if first != f and first.resolve() != f.resolve():
            name = f"{f.stem}.{formats[0]}" if len(formats) == 1 else f"{f.stem}.*"
            raise OutputError(f"--output-dir {output_dir}: {first} and {f} would both be "
                              f"written to {output_dir / name}; transcribe them into "
                              "separate folders")
    make_output_dir(output_dir, "--output-dir")


@app.command("transcribe")
def transcribe_cmd(
    files: List[Path] = typer.Argument(..., help="audio files (wav, flac, mp3, ...)"),
    model: str = typer.Option("tiny.en", "--model", help="Whisper name, hub id or local folder"),
    device: Optional[str] = typer.Option(None, "--device", help="cuda | cpu (default: cuda if "
                                                                 "present)"),
    window: str = typer.Option("30", "--window", help="seconds (<= 30) or 'dynamic'"),
    stride: int = typer.Option(1, "--stride", help="keep one encoder token in STRIDE"),
    stride_at: str = typer.Option("output", "--stride-at", help="layer 0..L or 'output'"),
    pool: str = typer.Option("mean", "--pool", help="mean | drop | attn"),
    beam: int = typer.Option(1, "--beam", min=1),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | bf16 | int8-dynamic | fp16 (CUDA only)"),
    fmt: str = typer.Option("txt", "--format", help="txt | srt | vtt | tsv | json | all (every "
                                                     "format, into --output-dir)"),
    output_dir: Optional[Path] = typer.Option(None, "-o", "--out", "--output-dir",
                                              help="folder: write FILE.<format> there instead "
                                                   "of printing"),
    timestamps: str = typer.Option("on", "--timestamps", help="on | off | auto (on when the "
                                                              "audio is longer than the window)"),
    longform: str = typer.Option("sequential", "--longform", help="sequential | chunks (the old "
                                                                  "equal-chunk rule)"),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="a progress bar on stderr (files transcribed)"),
) -> None:
    """Transcribe audio files of any length. txt: one line per file `FILE<TAB>transcript`;
    srt / vtt / tsv / json: segments with times (printed, or written to --output-dir); printed
    json is one line per file (JSON Lines) with its "file"; srt / vtt / tsv print one file only
    (several need --output-dir); all: every format, FILE.<format> each, into --output-dir."""
    from speechbudget.errors import OutputError, write_atomic
    from speechbudget.tasks.asr.subtitles import ALL, FORMATS, render, to_json
    if fmt not in FORMATS + (ALL,):
        raise typer.BadParameter(f"{fmt!r}: expected one of {', '.join(FORMATS + (ALL,))}",
                                 param_hint="--format")
    formats = FORMATS if fmt == ALL else (fmt,)

    if output_dir is not None:
        _prepare_output_dir(output_dir, list(files), formats)  # before any work, not after it
    elif fmt == ALL:
        raise typer.BadParameter(f"{ALL} writes one file per format ({', '.join(FORMATS)}): "
                                 "add --output-dir", param_hint="--format")
    elif fmt in ("srt", "vtt", "tsv") and len(files) > 1:
        # printed one after another, the documents would run together: cue numbers restarting,
        # no blank line between the last cue of one and the first of the next (tsv: its header
        # again), no file named
        raise typer.BadParameter(f"{fmt} prints one document, and {len(files)} files were given:"
                                 " add --output-dir to write one FILE." + fmt + " per input, or "
                                 "print them with --format json (one line per file)",
                                 param_hint="--format")

    from speechbudget.axes import ConfigError
    from speechbudget.cli.progress import progress_bar
    try:
        with progress_bar(progress, "transcribing") as update:
            results = transcribe_files(list(files), model, device, window, stride, stride_at,
                                       pool, beam, precision, timestamps=timestamps,
                                       longform=longform, progress=update)
    except ConfigError as e:
        raise typer.BadParameter(str(e)) from None
    failed = 0
    unwritten: list[Path] = []   # a file that cannot be written does not stop the others
    for f, segs, info, error in results:
        if error is None:
            if output_dir is not None:
                for one in formats:
                    target = output_dir / f"{f.stem}.{one}"
                    try:
                        write_atomic(target, render(segs, one, info.to_dict()))
                    except OSError as e:
                        unwritten.append(target)
                        err.print(f"--output-dir: cannot write {target}: {e.strerror or e}",
                                  markup=False, highlight=False)
            elif fmt == "txt":
                # a real tab (rich would expand it); the text on its one line (a decoded
                # line break or tab would split it)
                typer.echo(f"{f}\t{' '.join(info.text.split())}")
            elif fmt == "json":  # JSON Lines: one document per file, each naming its file
                typer.echo(to_json(segs, info.to_dict(), file=str(f), indent=None), nl=False)
            else:
                typer.echo(render(segs, fmt, info.to_dict()), nl=False)
        else:
            failed += 1
            err.print(error if error.startswith(str(f)) else f"{f}: {error}", markup=False,
                      highlight=False)
    if unwritten:
        raise OutputError(f"--output-dir {output_dir}: {len(unwritten)} of "
                          f"{len(formats) * (len(results) - failed)} outputs could not be "
                          "written (see above)")
    if failed:
        raise typer.Exit(1)
