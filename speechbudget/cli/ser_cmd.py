"""`speechbudget ser train|eval`: speech emotion recognition with a chosen backbone, clip duration
(xT), token stride (xV, Whisper) and adaptation (frozen, LoRA, DAMA, top-k unfreezing)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from speechbudget.cli.app import app
from speechbudget.cli.errors import err_line
from speechbudget.cli.output import console as out_console, inert, line
from speechbudget.cli.options import (AUDIO_COLUMN, AUDIO_ROOT, LABEL_COLUMN, SPEAKER_COLUMN,
                                      TARGETS_HELP, float_option, int_option, parse_targets)

ser_app = typer.Typer(help="Speech emotion recognition: train a head (and adapters) on a "
                           "backbone, evaluate a checkpoint, classify recordings with it.",
                      no_args_is_help=True)
app.add_typer(ser_app, name="ser")
console = out_console()   # user text shown as it is, lines never folded (cli/output.py)


def _model_name(backbone: str, model: str | None, arch_option: str = "--arch") -> str:
    """The architecture name for the Config: `model` (given as `arch_option`), the backbone itself
    if it is a registry name or hub id, or the registry architecture whose dimensions a local
    folder's config has."""
    from speechbudget.architectures import ARCHITECTURES, UnknownModelError, get_architecture

    if model:
        return model
    try:
        return get_architecture(backbone).name
    except UnknownModelError:
        pass
    cfg_path = Path(backbone) / "config.json"
    from speechbudget.models.model_names import is_ct2_folder
    if is_ct2_folder(Path(backbone)):  # its config.json has no dimensions: its conversion's has
        from speechbudget.models.ct2_to_hf import CT2Source, convert_cached
        cfg_path = convert_cached(CT2Source.from_folder(backbone)) / "config.json"
    if not cfg_path.is_file():
        raise typer.BadParameter(f"{backbone!r}: not a registry model, hub id or a model folder "
                                 f"with config.json", param_hint="--model")
    from speechbudget.tasks.ser.backbone import read_model_config
    cfg = read_model_config(cfg_path)  # exit 5 naming the file, not a JSONDecodeError (70)
    if cfg.get("model_type") == "whisper":
        # the encoder's dimensions decide the FLOPs; of the architectures that share them
        # (large-v3 and distil-large-v3), the one whose decoder the folder has too names it
        same = [a for a in ARCHITECTURES.values() if a.is_whisper and (
            cfg.get("d_model"), cfg.get("encoder_layers"), cfg.get("num_mel_bins")) == (
                a.hidden_size, a.encoder_layers, a.dims.n_mels)]
        whole = [a for a in same if (cfg.get("decoder_layers"), cfg.get("vocab_size")) == (
            a.dims.decoder_layers, a.dims.vocab_size)]
        if same:
            return (whole or same)[0].name
    for a in ARCHITECTURES.values():
        if a.is_whisper:
            continue
        if cfg.get("model_type") == a.family and (cfg.get("hidden_size"),
                                                    cfg.get("num_hidden_layers")) == (
                a.hidden_size, a.encoder_layers):
            return a.name
    raise typer.BadParameter(f"{backbone}: its dimensions match no known architecture; pass "
                             f"{arch_option} NAME (the architecture used for FLOPs)",
                             param_hint=arch_option)


def _failed_exit(n: int, what: str) -> None:
    """Exit 1 (docs/security.md: it ran, but items failed), with one line on stderr."""
    err_line(f"{n} clip(s) {what}; --allow-failures to exit 0", "error: ")
    raise typer.Exit(1)


def _data(data: Path, audio: str | None, label: str | None, speaker: str | None,
          audio_root: Path | None = None):
    """The dataset read (with the given column names, if any, and relative audio paths from
    `audio_root`); the files it leaves out (RAVDESS calm/surprised, names of no known pattern)
    are said in one line on stderr."""
    from speechbudget.datasets import Columns
    from speechbudget.tasks.ser.data import load_dataset
    columns = (None if audio is None and label is None and speaker is None
               else Columns(audio=audio, label=label, speaker=speaker))
    ds = load_dataset(data, columns, audio_root=audio_root)  # exit 3
    if ds.skipped:
        f, why = ds.skipped[0]
        err_line(f"{len(ds.skipped)} file(s) of {data} left out of the dataset, e.g. {f}: {why}",
                 "note: ")
    return ds


def _metrics_table(title: str, m) -> Table:
    t = Table(title=title)
    for col in ("UA", "WA", "macro-F1", "clips", "GFLOPs/clip", "train GFLOPs"):
        t.add_column(col, justify="right")
    fmt = lambda x: "-" if x is None else f"{x:,.2f}"  # noqa: E731
    t.add_row(f"{m.ua:.4f}", f"{m.wa:.4f}", f"{m.macro_f1:.4f}", str(m.n),
              fmt(m.inference_gflops), fmt(m.train_gflops))
    return t


def _confusion_table(m) -> Table:
    t = Table(title="confusion (rows: reference, columns: prediction)")
    t.add_column("")
    for lab in m.labels:
        t.add_column(inert(lab), justify="right")
    for lab, row in zip(m.labels, m.confusion):
        t.add_row(inert(lab), *map(str, row))
    return t


ALLOW_FAILURES = typer.Option(False, "--allow-failures",
                              help="exit 0 even when some clips could not be read")


@ser_app.command("train")
def train_cmd(
    data: Path = typer.Option(..., "--data", help="manifest.jsonl, a CREMA-D or RAVDESS folder"),
    out: Path = typer.Option(..., "-o", "--out", help="checkpoint folder to write"),
    model: Optional[str] = typer.Option(None, "--model", help="the backbone: registry name, "
                                        "hub id or local model folder (default: tiny.en)"),
    arch: Optional[str] = typer.Option(None, "--arch", help="architecture name for the "
                                       "configuration (default: from --model)"),
    backbone: Optional[str] = typer.Option(None, "--backbone", hidden=True,
                                           help="old spelling of --model (then --model is "
                                                "--arch)"),
    duration: float = float_option(4.0, "--duration", help="clip duration in seconds (xT)"),
    stride: int = int_option(1, "--stride", help="Whisper encoder token stride (xV)"),
    stride_at: str = typer.Option("output", "--stride-at", help="layer index or 'output'"),
    pool: str = typer.Option("mean", "--pool", help="how --stride keeps one token in s: mean | "
                             "drop | attn"),
    adapt: str = typer.Option("none", "--adapt", help="none | lora | dama"),
    rank: Optional[int] = int_option(None, "--rank", help="LoRA rank (DAMA: the outermost "
                                     "layers' rank; default 16)"),
    alpha: Optional[float] = float_option(None, "--alpha", help="LoRA alpha (default 2 x rank)"),
    targets: Optional[str] = typer.Option(None, "--targets", help=TARGETS_HELP),
    unfreeze_top: int = int_option(0, "--unfreeze-top", help="train the top k layers fully"),
    lora_top: int = int_option(0, "--lora-top", help="LoRA in the top k layers only (0: every "
                               "layer); the layers below need no backward pass"),
    train_crop: str = typer.Option("random", "--train-crop", help="random | center: the crop a "
                                   "training backbone sees; center caches the frozen layers "
                                   "below the first that trains (one pass per clip)"),
    pooling: str = typer.Option("mean", "--pooling", help="mean | attentive-stats"),
    head: str = typer.Option("auto", "--head", help="auto | mlp (learned head) | linear "
                             "(regularised LogisticRegression on the standardised layer means; "
                             "with an adapted backbone only with --head-init probe). auto: "
                             "linear for a frozen backbone with mean pooling over all layers, "
                             "else mlp"),
    linear_select: str = typer.Option("validation", "--linear-select", help="--head linear: "
                                      "choose C by the validation fold's UA (validation) or by "
                                      "cross-validation over the training actors (actors)"),
    linear_score: str = typer.Option("ua", "--linear-score", help="--head linear: what the "
                                     "choice of C maximises: the held-out UA (ua) or minus the "
                                     "class-balanced log-loss (log-loss)"),
    head_init: str = typer.Option("random", "--head-init", help="random | probe (LP-FT: fit the "
                                  "head on the frozen backbone first, then fine-tune both with "
                                  "--backbone-lr; the probe is early stopping's epoch 0)"),
    layer_weights: bool = typer.Option(True, "--layer-weights/--last-layer",
                                       help="learned weighted sum of all hidden states, or the "
                                            "last one only"),
    epochs: int = int_option(60, "--epochs"),
    batch_size: int = int_option(16, "--batch-size"),
    lr: float = float_option(1e-3, "--lr", help="head learning rate"),
    backbone_lr: float = float_option(2e-4, "--backbone-lr"),
    folds: int = int_option(5, "--folds", help="speaker-disjoint folds"),
    fold: int = int_option(0, "--fold", help="the held-out test fold (the next one validates)"),
    seed: int = int_option(0, "--seed"),
    audio_column: Optional[str] = AUDIO_COLUMN,
    label_column: Optional[str] = LABEL_COLUMN,
    speaker_column: Optional[str] = SPEAKER_COLUMN,
    audio_root: Optional[Path] = AUDIO_ROOT,
    device: Optional[str] = typer.Option(None, "--device", help="cuda | cpu (default: cuda if "
                                                                 "present)"),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="a progress bar on stderr (features, epochs)"),
    allow_failures: bool = ALLOW_FAILURES,
) -> None:
    """Train on all folds but --fold (early stopping on the next fold), score --fold, save."""
    from speechbudget.machine import check_device, default_device
    device = check_device(device or default_device())  # exit 2 naming it, before any work
    if backbone is None:  # --model is the backbone
        backbone, model, arch_option = model or "tiny.en", arch, "--arch"
    else:                 # the old spelling: --backbone B [--model ARCH]
        model, arch_option = arch or model, "--arch" if arch else "--model"
    if folds < 2:  # a usage error whatever the data (exit 2), not a data error after loading it
        raise typer.BadParameter(f"{folds}: need at least 2 speaker-disjoint folds (one held "
                                 f"out, the others train)", param_hint="--folds")
    if head == "linear" and not layer_weights:  # the linear head reads every layer (it was
        # fitted on all of them, with exit 0, for a user who asked for the last one)
        raise typer.BadParameter("the linear head reads every layer side by side; --last-layer "
                                 "needs --head mlp (or auto)", param_hint="--last-layer")
    if adapt == "none":  # LoRA/DAMA options without LoRA or DAMA were silently ignored
        given = [o for o, v in (("--rank", rank), ("--alpha", alpha), ("--targets", targets))
                 if v is not None]
        if given:
            raise typer.BadParameter(f"{' and '.join(given)}: LoRA/DAMA option(s) that --adapt "
                                     f"none would ignore (add --adapt lora or --adapt dama)",
                                     param_hint="--adapt")
    from speechbudget.axes import Adaptation, Config, ConfigError
    from speechbudget.tasks.ser.api import CheckpointNotSaved, train
    from speechbudget.tasks.ser.options import TrainOptions, check_head

    try:
        rank = 0 if adapt == "none" else 16 if rank is None else rank
        adaptation = Adaptation(method=adapt, rank=rank, alpha=alpha,
                                targets=parse_targets(targets),
                                unfreeze_top=unfreeze_top, lora_top=lora_top)
        config = Config(task="ser", model=_model_name(backbone, model, arch_option),
                        window=duration, stride=stride, stride_at=stride_at, pool=pool,
                        adaptation=adaptation)
    except ConfigError as e:
        raise typer.BadParameter(str(e)) from None
    try:
        options = TrainOptions(epochs=epochs, batch_size=batch_size, lr=lr,
                               backbone_lr=backbone_lr, seed=seed, pooling=pooling,
                               layer_weights=layer_weights, head=head, head_init=head_init,
                               train_crop=train_crop, linear_select=linear_select,
                               linear_score=linear_score)
        check_head(config, options)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    from speechbudget.errors import check_output_dir
    # exit 6 before saying it trains, reading data or training
    check_output_dir(out, "checkpoint folder")
    console.print(f"[bold]SER[/] {inert(config.label)} on {inert(data)} (fold {fold} of {folds}), {device}")
    dataset = _data(data, audio_column, label_column, speaker_column, audio_root)  # exit 3
    # where clips' paths are shown from: --audio-root, the folder given, or the manifest's
    data_root = Path(audio_root) if audio_root else data if data.is_dir() else data.parent
    from speechbudget.cli.progress import progress_bar
    try:
        with progress_bar(progress, f"train {config.label}") as update:
            result = train(config, dataset, out, options, device=device, source=backbone,
                           folds=folds, fold=fold, progress=update)
    except CheckpointNotSaved as e:  # trained and scored: the scores are shown, then the error
        _print_trained(e.result, fold, dataset, data_root)
        raise
    _print_trained(result, fold, dataset, data_root)
    line(f"checkpoint: {out}")
    if result.skipped and not allow_failures:
        _failed_exit(len(result.skipped), "skipped (the checkpoint is written)")


def _skipped_reason(dataset, root: Path, clip_id: str, why: str) -> str:
    """A skipped clip named once and short: its reason with the clip's file given relative to
    the data folder `root` where the reason names the file, else `clip_id: reason`."""
    import os
    for c in (x for x in dataset.items if x.id == clip_id):
        if str(c.path) in why:
            rel = os.path.relpath(c.path, root)
            return why if rel.startswith("..") else why.replace(str(c.path), rel)
    return f"{clip_id}: {why}"


def _print_trained(result, fold: int, dataset=None, root: Path | None = None) -> None:
    """What `ser train` trained and how it scored on the held-out fold."""
    if result.skipped:
        cid, why = result.skipped[0]
        why = (f"{cid}: {why}" if dataset is None or root is None
               else _skipped_reason(dataset, root, cid, why))
        console.print(f"[yellow]{len(result.skipped)} clip(s) skipped[/], e.g. {inert(why)}")
    last = result.history[-1] if result.history else {}
    if "C" in last:  # the linear head on a frozen backbone: fitted, no epochs
        how = ("the grid's middle: nothing to choose it on" if last["selection"] == "none" else
               f"chosen by {last['selection']} {last['score']}"
               + (", at an end of the grid" if last["at_edge"] else ""))
        console.print(f"trainable parameters: {result.trainable_params:,}; linear head, C = "
                      f"{last['C']:g} ({how})")
    else:
        console.print(f"trainable parameters: {result.trainable_params:,}; best epoch "
                      f"{result.best_epoch} of {result.epochs_run}")
    console.print(_metrics_table(f"held-out fold {fold}", result.test))


@ser_app.command("eval")
def eval_cmd(
    checkpoint: Path = typer.Argument(..., help="a folder written by `ser train`"),
    data: Path = typer.Option(..., "--data", help="manifest.jsonl, a CREMA-D or RAVDESS folder"),
    held_out: bool = typer.Option(False, "--held-out", help="only the checkpoint's test fold "
                                  "clips (same dataset)"),
    audio_column: Optional[str] = AUDIO_COLUMN,
    label_column: Optional[str] = LABEL_COLUMN,
    speaker_column: Optional[str] = SPEAKER_COLUMN,
    audio_root: Optional[Path] = AUDIO_ROOT,
    as_json: bool = typer.Option(False, "--json", help="print metrics and items as JSON to "
                                 "stdout"),
    json_out: Optional[Path] = typer.Option(None, "-o", "--out",
                                            help="write metrics and items to this JSON file"),
    device: Optional[str] = typer.Option(None, "--device", help="cuda | cpu (default: cuda if "
                                                                 "present)"),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="a progress bar on stderr (clips scored)"),
    allow_failures: bool = ALLOW_FAILURES,
) -> None:
    """Score a checkpoint: UA, WA, macro-F1, confusion matrix, FLOPs per clip."""
    from speechbudget.errors import (OutputError, check_output_file, make_output_dir,
                                     write_atomic)
    from speechbudget.models.ct2_reader import ModelFileError
    from speechbudget.tasks.ser.checkpoint import read_meta
    from speechbudget.tasks.ser.api import evaluate

    from speechbudget.machine import check_device, default_device
    device = check_device(device or default_device())  # exit 2 naming it, before any work
    if json_out:  # before any work (exit 6), not after it
        make_output_dir(json_out.parent, "--out")
        check_output_file(json_out, "--out")
    meta = read_meta(checkpoint)  # exit 5 for a folder that is not a checkpoint, before the data
    ids = None
    if held_out:
        ids = meta.get("test_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            # without them --held-out would score every clip, the training clips too
            raise ModelFileError(f"{checkpoint / 'ser_config.json'}: no list of test_ids (the "
                                 f"held-out clips); --held-out needs a checkpoint written by "
                                 f"`ser train`")
    from speechbudget.cli.progress import progress_bar
    from speechbudget.errors import DatasetError
    dataset = _data(data, audio_column, label_column, speaker_column, audio_root)  # exit 3
    if ids is not None:  # the checkpoint's held-out ids must be clips of this dataset
        known = {c.id for c in dataset.items}
        missing = [i for i in ids if i not in known]
        if missing:
            raise DatasetError(f"{data}: {len(missing)} of the checkpoint's {len(ids)} held-out "
                               f"clips are not in it (e.g. {missing[0]!r}); --held-out needs "
                               f"the dataset the checkpoint was trained on")
    with progress_bar(progress, f"scoring {checkpoint}") as update:
        # the held-out fold: scored as `ser train` scored it, a label it never trained on said
        m, items = evaluate(checkpoint, dataset, device=device, ids=ids, progress=update,
                            untrained="warn" if held_out else "error")
    doc = {"metrics": m.to_dict(), "items": [i.to_dict() for i in items]}
    failed = [i for i in items if not i.ok]
    write_error = None  # a write that fails after the scoring: the results are still printed
    if json_out:
        try:
            write_atomic(json_out, json.dumps(doc, indent=2, default=str), "--out")
        except OutputError as e:  # e.g. disk full, or a folder (/proc) that passed the check
            write_error = e
    if as_json:
        typer.echo(json.dumps(doc, indent=2, default=str))
        if write_error:
            raise write_error
        if failed and not allow_failures:
            _failed_exit(len(failed), "failed")
        return
    console.print(_metrics_table(f"{inert(checkpoint)} on {inert(data)}", m))
    console.print(_confusion_table(m))
    if failed:
        console.print(f"[yellow]{len(failed)} clip(s) failed[/], e.g. {inert(failed[0].error)}")
    if write_error:
        raise write_error
    if json_out:
        line(f"wrote {json_out}")
    if failed and not allow_failures:
        _failed_exit(len(failed), "failed")
