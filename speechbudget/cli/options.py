"""Options that several commands share, parsed one way."""
from __future__ import annotations

import math
import re
from typing import Any, Callable

import typer

from speechbudget.typed_numbers import PLAIN_NUMBER, plain_int, plain_number

TARGETS_HELP = ("LoRA target modules, comma-separated (default: the backbone's usual ones, "
                "q_proj,v_proj; on WavLM, whose attention bypasses them, "
                "intermediate_dense,output_dense)")


def parse_targets(text: str | None) -> tuple[str, ...] | None:
    """`--targets a,b` as a tuple of names; None (not given) leaves the choice to the backbone.
    An empty or blank list stays empty, so the configuration refuses it by name."""
    if text is None:
        return None
    return tuple(t.strip() for t in text.split(",") if t.strip())


# ---- numbers typed on the command line: every int and float option reads its value here
# (typer's own reading, pydantic's, takes `1_0` as 10 and `nan`, `inf` as numbers; checked for
# every command's options by tests/cli/test_numeric_options.py)
def number_parser(kind: type, low: float | None = None,
                  high: float | None = None) -> Callable[[Any], Any]:
    """The parser of an int (`kind` int: `typed_numbers.plain_int`) or float option (float:
    `typed_numbers.plain_number`, finite) whose value must lie in [low, high] (None: no bound):
    the number, or a usage error (exit 2) that click prefixes with the option's name and that
    names the value as typed. A default given as a number is taken as it is."""
    read = plain_int if kind is int else plain_number

    def parse(value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return kind(value)
        try:
            v = read(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
        if low is not None and v < low:
            raise typer.BadParameter(f"{value!r} is below {low}, the smallest value allowed")
        if high is not None and v > high:
            raise typer.BadParameter(f"{value!r} is above {high}, the largest value allowed")
        return kind(v)
    return parse


def int_option(default: Any, *param_decls: str, min: int | None = None,
               max: int | None = None, **kwargs: Any) -> Any:
    """typer.Option of an integer, read by `number_parser` (typer checks no `min`/`max` where a
    parser is given: they are passed on for the help's range only, and checked by the parser)."""
    return typer.Option(default, *param_decls, min=min, max=max,
                        parser=number_parser(int, min, max), **kwargs)


def float_option(default: Any, *param_decls: str, min: float | None = None,
                 max: float | None = None, **kwargs: Any) -> Any:
    """typer.Option of a finite number, read by `number_parser` (see `int_option`)."""
    return typer.Option(default, *param_decls, min=min, max=max,
                        parser=number_parser(float, min, max), **kwargs)


# ---- how a manifest is read: one definition for every command that reads one (`asr eval`,
# `asr adapt`, `ser train`, `ser eval`; a sweep file's `data:` mapping names the same keys)
AUDIO_COLUMN = typer.Option(None, "--audio-column", help="manifest/CSV column with the audio path")
TEXT_COLUMN = typer.Option(None, "--text-column", help="column with the transcript")
LABEL_COLUMN = typer.Option(None, "--label-column", help="column with the emotion label")
SPEAKER_COLUMN = typer.Option(None, "--speaker-column", help="column with the speaker (SER's "
                              "folds are speaker-disjoint)")
ID_COLUMN = typer.Option(None, "--id-column", help="column with the item id")
AUDIO_ROOT = typer.Option(None, "--audio-root", help="folder the manifest's (LJSpeech "
                          "metadata's, Kaldi wav.scp's) relative audio paths start from "
                          "(default: its own folder)")


# ---- how the answer is chosen: one definition for `recommend` and `report` (whose page
# leads with the same recommendation)
RTF_STAT = typer.Option("mean", "--rtf-stat",
                        help="what --max-rtf bounds: mean (default: the batched run's throughput "
                             "RTF), p50 or p90 (per-utterance RTF at batch size 1 after warm-up; "
                             "needs a sweep that timed latency, task_options.latency_items)")
TOLERANCE = float_option(None, "--tolerance",
                         help="non-inferiority margin in points of the metric (0.5 = 0.5 WER "
                              "points): a cheaper configuration shown (paired 95%) to be worse by "
                              "at most this much is acceptable")
COST = typer.Option("gflops", "--cost", help="what 'cheapest' means: gflops, rtf or peak_mem_mb")


# ---- the budget limits (`recommend`, `report`, `demo`): a plain number in the option's own unit
NON_FINITE = re.compile(r"[-+]?(?:nan|inf|infinity)", re.ASCII | re.IGNORECASE)
LIMIT_UNITS = {"--max-gflops": ("GFLOPs per item", "50"),
               "--max-rtf": ("seconds of compute per second of audio", "0.3"),
               "--max-mem-mb": ("MB (2**20 bytes) of peak memory", "500")}


def limit_parser(option: str):
    """The parser of a limit option: the number as typed (`typed_numbers.PLAIN_NUMBER`), or a
    usage error (exit 2) that names the value and the unit the option takes ("5GFLOPs", "2 GiB",
    "", "1_0" are no numbers; before, the line said only 'unable to parse string as a number').
    nan and inf are passed on, to be refused there by name. Whether it is > 0 and finite is
    `recommend_cmd.limits_from`'s check, shared with the library callers."""
    unit, example = LIMIT_UNITS[option]

    def parse(text) -> float:
        if isinstance(text, (int, float)):
            return float(text)
        s = str(text).strip()
        if NON_FINITE.fullmatch(s):      # limits_from: 'a finite number > 0'
            return float(s)
        if not PLAIN_NUMBER.fullmatch(s):             # float() also read 1_0 (as 10) and '١٢'
            raise typer.BadParameter(f"{text!r} is not a number: {option} takes a plain number "
                                     f"of {unit}, without a unit (e.g. {option} {example})")
        v = float(s)
        if math.isinf(v):     # 1e400: not the typed value
            raise typer.BadParameter(f"{text!r} is beyond the largest number: {option} takes "
                                     f"a finite number > 0 of {unit}")
        return v
    return parse
