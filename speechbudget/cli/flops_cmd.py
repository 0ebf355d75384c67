"""`speechbudget flops`: analytic FLOPs of one configuration, by component; `--measure` adds the
count on the real module (FlopCounterMode on the meta device) and the difference."""
from __future__ import annotations

import json
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from speechbudget.cli.app import app
from speechbudget.cli.options import TARGETS_HELP, float_option, int_option, parse_targets
from speechbudget.errors import finite_json
from speechbudget.typed_numbers import is_digits

console = Console()

# ConfigError fields whose option is not spelt --<field with dashes>
OPTION_OF = {"decoded_tokens": "--tokens", "beam_size": "--beam", "adaptation.method": "--adapt",
             "adaptation.rank": "--rank", "adaptation.targets": "--targets",
             "adaptation.unfreeze_top": "--unfreeze-top", "adaptation.lora_top": "--lora-top",
             "adaptation": "--adapt", "n_train_clips": "--train-clips"}


def option_for(field: str) -> str:
    """The command-line option of a ConfigError's field (`--beam` for beam_size, ...)."""
    return OPTION_OF.get(field, "--" + field.replace("_", "-"))


def _measure(config, tokens: float | None, audio_s: float | None, kw: dict, progress: bool):
    """The count on the real module: ASR in `flops.measure`, SER in `tasks.ser.flops_check`
    (it needs the SER head); a transient bar on stderr unless `progress` is False."""
    from speechbudget.cli.progress import progress_bar
    if config.task == "ser":
        from speechbudget.tasks.ser.flops_check import measure_ser as run
        kw = dict(kw)
    else:
        from speechbudget.flops.measure import measure as run
        kw = dict(decoded_tokens=tokens, audio_s=audio_s)
    with progress_bar(progress, f"counting {config.label}") as update:
        return run(config, progress=update, **kw)


@app.command("flops")
def flops_cmd(
    ctx: typer.Context,
    model: str = typer.Option("tiny.en", "--model", help="Architecture name or hub id."),
    task: str = typer.Option("asr", "--task", help="asr | ser"),
    window: str = typer.Option("30", "--window", help="Seconds (ASR window / SER clip), "
                                                      "'750f' encoder frames, or 'dynamic'."),
    stride: int = int_option(1, "--stride", help="Keep one encoder token in STRIDE (Whisper)."),
    stride_at: str = typer.Option("output", "--stride-at", help="Encoder layer 0..L or 'output'."),
    pool: str = typer.Option("mean", "--pool", help="mean | drop | attn"),
    tokens: Optional[float] = float_option(None, "--tokens", help="Generated tokens (incl. "
                                           "end-of-text); default: tokens/s x audio seconds + 1."),
    audio_s: Optional[float] = float_option(None, "--audio-s", help="Seconds of audio (needed "
                                            "for --window dynamic; longer than the window: "
                                            "several windows)."),
    beam: int = int_option(1, "--beam", help="Beam size (ASR)."),
    n_classes: int = int_option(6, "--n-classes", help="SER classes."),
    pooling: str = typer.Option("mean", "--pooling", help="SER head pooling: mean | "
                                                          "attentive-stats."),
    method: str = typer.Option("none", "--adapt", help="SER adaptation: none | lora | dama."),
    rank: int = int_option(0, "--rank", help="LoRA rank (DAMA: largest rank)."),
    targets: Optional[str] = typer.Option(None, "--targets", help=TARGETS_HELP),
    unfreeze_top: int = int_option(0, "--unfreeze-top", help="Train the top k layers fully."),
    lora_top: int = int_option(0, "--lora-top", help="LoRA in the top k layers only (0: all)."),
    train_clips: Optional[int] = int_option(None, "--train-clips", help="SER: also report "
                                            "training FLOPs for this many clips..."),
    epochs: Optional[int] = int_option(None, "--epochs", help="...and this many epochs (>= 1, "
                                       "as `ser train`; default 1)."),
    cached_prefix: Optional[int] = int_option(None, "--cached-prefix",
                                              help="SER training: layers below this one run "
                                                   "once per clip (a cached frozen prefix, "
                                                   "`ser train --train-crop center`); 0: none "
                                                   "(default)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    do_measure: bool = typer.Option(False, "--measure", help="Also count on the real module "
                                                             "(meta device) and show the difference."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="A progress bar on "
                                  "stderr while --measure counts."),
) -> None:
    """FLOPs of one configuration, by component (1 multiply-add = 2 FLOPs)."""
    from speechbudget.axes import Adaptation, Config, ConfigError
    from speechbudget.flops import CONVENTION, estimate, training_flops

    try:
        if method == "none" and targets is not None:   # LoRA's option: Adaptation drops it
            raise typer.BadParameter(f"{targets}: the layers LoRA/DAMA adapt; give --adapt lora "
                                     "or dama", param_hint="--targets")
        adaptation = Adaptation(method=method, rank=rank, unfreeze_top=unfreeze_top,
                                lora_top=lora_top, targets=parse_targets(targets))
        config = Config(task=task, model=model, window=window, stride=stride,
                        stride_at=int(stride_at) if is_digits(stride_at) else stride_at, pool=pool,
                        adaptation=adaptation, beam_size=beam)
        kw = dict(n_classes=n_classes, pooling=pooling) if task == "ser" else {}
        if config.task == "asr":   # the SER head's options: typed with ASR, they were ignored
            for name, param in (("--n-classes", "n_classes"), ("--pooling", "pooling")):
                # typed, not defaulted (by name: typer ships its own click's ParameterSource)
                if getattr(ctx.get_parameter_source(param), "name", None) == "COMMANDLINE":
                    raise typer.BadParameter(f"{ctx.params[param]}: the SER head's option; "
                                             f"applies to --task ser", param_hint=name)
        if config.task == "ser":   # one clip of --window seconds: no decoding, no audio length
            for name, value in (("--tokens", tokens), ("--audio-s", audio_s)):
                if value is not None:
                    raise typer.BadParameter(f"{value:g}: applies to --task asr; SER counts one "
                                             f"clip of --window seconds", param_hint=name)
        if do_measure and config.task == "asr":  # both on the whole tokens the count can run
            from speechbudget.flops.measure import measured_tokens
            tokens = measured_tokens(config, tokens, audio_s)
        report = estimate(config, decoded_tokens=tokens, audio_s=audio_s, **kw)
        measured = None
        if do_measure:
            measured = _measure(config, tokens, audio_s, kw, progress=progress)
        train = None
        if train_clips is None:   # training options without training FLOPs asked for
            for name, value in (("--epochs", epochs), ("--cached-prefix", cached_prefix)):
                if value is not None:
                    raise typer.BadParameter(f"{value}: a training option; give --train-clips "
                                             "for training FLOPs", param_hint=name)
        epochs = 1 if epochs is None else epochs
        cached_prefix = 0 if cached_prefix is None else cached_prefix
        if epochs < 1:   # `ser train` runs at least one; 0 counted a feature pass, no training
            raise typer.BadParameter(f"{epochs}: an integer >= 1 (as ser train --epochs)",
                                     param_hint="--epochs")
        if train_clips is not None:
            train = training_flops(config, train_clips, epochs, n_classes, pooling=pooling,
                                   cached_prefix=cached_prefix)
    except ConfigError as e:
        raise typer.BadParameter(str(e), param_hint=option_for(e.field)) from None
    if as_json:
        out = {"config": config.to_dict(), "analytic": report.to_dict()}
        if measured is not None:
            out["measured"] = measured.to_dict()
            out["difference"] = measured.total - report.total
        if train is not None:
            out["training"] = train.to_dict()
        typer.echo(json.dumps(finite_json(out), indent=2, allow_nan=False))
        return
    table = Table(title=f"FLOPs of {config.label}")
    table.add_column("component")
    table.add_column("GFLOPs", justify="right")
    table.add_column("share", justify="right")
    if measured is not None:
        table.add_column("measured GFLOPs", justify="right")
        table.add_column("difference", justify="right")
    keys = list(report.breakdown) + [k for k in (measured.breakdown if measured else {})
                                     if k not in report.breakdown]
    for k in keys:
        a = report.breakdown.get(k, 0.0)
        row = [k, f"{a / 1e9:,.4f}", f"{100 * a / report.total:.1f}%" if report.total else "-"]
        if measured is not None:
            m = measured.breakdown.get(k, 0.0)
            row += [f"{m / 1e9:,.4f}", f"{(m - a) / 1e9:+,.4f}"]
        table.add_row(*row)
    total = ["total", f"{report.gflops:,.4f}", "100%"]
    if measured is not None:
        rel = (measured.total - report.total) / report.total if report.total else 0.0
        total += [f"{measured.gflops:,.4f}", f"{rel:+.3%}"]
    table.add_row(*total, style="bold")
    console.print(table)
    per_s = report.gflops_per_audio_s   # NaN for 0 s of audio (JSON: null)
    per_text = (f"{per_s:,.3f} GFLOPs per second of audio ({report.audio_s:g} s)"
                if report.audio_s > 0 else "no GFLOPs per second of audio (0 s of audio)")
    lines = [f"total {report.gflops:,.3f} GFLOPs; {per_text}"]
    if task == "asr":
        lines.append(f"encoder tokens {report.encoder_tokens}; decoder: {report.prompt_tokens} "
                     f"prompt tokens in one pass + {report.decoded_tokens:g} generated tokens "
                     f"(each fed back but the last)")
    else:
        lines.append(f"encoder frames {report.encoder_tokens}; head: {pooling} pooling, "
                     f"{n_classes} classes")
    for k, v in report.elementwise.items():
        lines.append(f"not counted (element-wise): {k} {v / 1e9:,.6f} G adds")
    if train is not None:
        lines.append(f"training: {train.gflops:,.1f} GFLOPs for {train_clips} clips x {epochs} "
                     f"epochs (forward + backward)")
    lines.append(f"convention: {CONVENTION}")
    for line in lines:
        console.print(line)
