"""`speechbudget ser predict CHECKPOINT FILE...`: the emotion of each recording, by a checkpoint
written by `ser train` (speechbudget.tasks.ser.predict: the preprocessing `ser eval` scores with).

One line per file on stdout, tab-separated: the file as given, the label, `p=` its probability,
then (--top-k K) the next K-1 labels as LABEL=probability. A file that cannot be classified is one
line on stderr naming it and why; the others go on, and the exit status is 1 (0 with
--allow-failures). A folder that is no checkpoint: one line naming its missing ser_config.json,
exit 5 (docs/security.md)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from speechbudget.cli.errors import err_line
from speechbudget.cli.options import int_option
from speechbudget.cli.output import shown
from speechbudget.cli.ser_cmd import ser_app


def _tsv_line(p, top_k: int) -> str:
    """FILE, LABEL, p=P, then the next top_k - 1 labels as LABEL=P (tab-separated); the file and
    labels with control characters (a tab or newline in a name) written as escapes."""
    rest = [f"{shown(lab)}={q:.4f}" for lab, q in p.top(top_k)[1:]]
    return "\t".join([shown(p.source), shown(p.label), f"p={p.score:.4f}", *rest])


@ser_app.command("predict")
def predict_cmd(
    checkpoint: Path = typer.Argument(..., help="a folder written by `ser train`"),
    files: List[str] = typer.Argument(..., help="recordings to classify: any format "
                                      "`transcribe` reads; channels averaged, resampled to "
                                      "16 kHz"),
    top_k: int = int_option(1, "--top-k", min=1, help="also print the next K-1 most probable "
                            "labels and their probabilities"),
    as_json: bool = typer.Option(False, "--json", help="print the predictions (every label's "
                                 "probability) as JSON to stdout instead of lines"),
    json_out: Optional[Path] = typer.Option(None, "-o", "--out",
                                            help="also write the predictions to this JSON file"),
    batch_size: int = int_option(16, "--batch-size", min=1, help="recordings per forward pass"),
    device: Optional[str] = typer.Option(None, "--device", help="cuda | cpu (default: cuda if "
                                                                 "present)"),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="a progress bar on stderr (files classified)"),
    allow_failures: bool = typer.Option(False, "--allow-failures",
                                        help="exit 0 even when some files could not be "
                                             "classified"),
) -> None:
    """Classify recordings by the emotion a trained checkpoint predicts.

    Each is cut to the checkpoint's clip duration D as `ser eval` cuts a clip (a longer one: its
    centre D seconds; a shorter one: zero-padded)."""
    from speechbudget.errors import check_output_file, make_output_dir, write_atomic
    from speechbudget.machine import check_device, default_device
    from speechbudget.tasks.ser.checkpoint import read_meta

    device = check_device(device or default_device())  # exit 2 naming it, before any work
    if json_out:  # before any work (exit 6), not after it
        make_output_dir(json_out.parent, "--out")
        check_output_file(json_out, "--out")
    read_meta(checkpoint)  # exit 5 naming the missing ser_config.json, before loading torch

    from speechbudget.cli.progress import progress_bar
    from speechbudget.tasks.ser.predict import SerPredictor

    clf = SerPredictor(checkpoint, device)
    rows: list[dict] = []
    failed = 0
    with progress_bar(progress, f"classifying with {checkpoint}") as update:
        for start in range(0, len(files), batch_size):  # printed as each batch is done
            group = files[start:start + batch_size]
            for f, p in zip(group, clf(group, batch_size, errors="return")):
                if isinstance(p, Exception):
                    failed += 1
                    why = str(p)
                    rows.append({"file": f, "error": why})
                    err_line(why if why.startswith((f, str(Path(f)))) else f"{f}: {why}")
                    continue
                rows.append(p.to_dict())
                if not as_json:
                    typer.echo(_tsv_line(p, top_k))
            if update is not None:
                update(min(len(files), start + batch_size), len(files))
    doc = {"checkpoint": str(checkpoint), "labels": clf.labels, "duration_s": clf.duration_s,
           "predictions": rows}
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    if json_out:  # after the lines are printed: a write that fails is exit 6 naming it
        write_atomic(json_out, json.dumps(doc, indent=2), "--out")
    if failed and not allow_failures:
        err_line(f"{failed} of {len(files)} file(s) could not be classified; --allow-failures "
                 "to exit 0", "error: ")
        raise typer.Exit(1)
