"""The options of `speechbudget transcribe` read and checked before any model loads: each bad
value is a usage error naming its flag (exit 2), or the domain error of what it names."""
from __future__ import annotations

import math
from typing import Any, Sequence

import typer

from speechbudget.typed_numbers import plain_number


def batched_options(batched: bool, timestamps: str | None, longform: str,
                    temperature: tuple[float, ...], clips: Sequence[float] | None,
                    prefix: str | None, condition_on_previous_text: bool,
                    threshold: float | None) -> str:
    """--timestamps (default: on, off with --batched, faster-whisper's batched default), and
    the options --batched does not use refused before any model loads (usage error, exit 2)."""
    if not batched:
        return timestamps or "on"
    unused = {"--longform": longform != "sequential", "--prefix": prefix is not None,
              "--condition-on-previous-text": condition_on_previous_text,
              "--hallucination-silence-threshold": threshold is not None,
              "--temperature": len(temperature) > 1}
    for flag, given in unused.items():
        if given:
            raise typer.BadParameter("not used by --batched (each speech chunk is decoded once, "
                                     "on its own, as faster-whisper's BatchedInferencePipeline)",
                                     param_hint=flag)
    if clips is not None and len(clips) % 2:
        raise typer.BadParameter("--batched takes START,END pairs", param_hint="--clip-timestamps")
    if timestamps not in (None, "on", "off"):
        raise typer.BadParameter(f"{timestamps!r}: on or off with --batched",
                                 param_hint="--timestamps")
    return timestamps or "off"


def cue_options(max_line_width: int | None, max_line_count: int | None,
                 max_words_per_line: int | None, highlight_words: bool, word_timestamps: bool,
                 formats: tuple[str, ...]):
    """The srt/vtt word-cue options (`subtitles.CueOptions`), or a usage error (exit 2) when they
    cannot apply: without --word-timestamps (as openai-whisper refuses them) or without an srt /
    vtt output; an option that changes nothing is a warning, as openai-whisper's."""
    import warnings

    from speechbudget.tasks.asr.subtitles import CueOptions
    cues = CueOptions(max_line_width, max_line_count, max_words_per_line, highlight_words)
    if not cues.any:
        return cues
    given = [name for name, v in (("--max-line-width", max_line_width),
                                  ("--max-line-count", max_line_count),
                                  ("--max-words-per-line", max_words_per_line),
                                  ("--highlight-words", highlight_words or None)) if v is not None]
    if not word_timestamps:
        raise typer.BadParameter(f"{', '.join(given)} cut subtitle cues from words: add "
                                 "--word-timestamps", param_hint=given[0])
    if not {"srt", "vtt"} & set(formats):
        raise typer.BadParameter(f"{', '.join(given)} shape srt / vtt cues, and --format is "
                                 f"{formats[0]}: use --format srt, vtt or all",
                                 param_hint=given[0])
    for why in cues.unused():
        warnings.warn("--" + why.replace("_", "-").replace(" max-", " --max-"), stacklevel=2)
    return cues


def language_option(language: str, task: str, model: str) -> str | None:
    """--language (a code, or auto: None) and --task checked before any model loads where the
    model's vocabulary is known without it (a registry name): a usage error naming the option,
    with the close codes. Hub ids and folders are checked once loaded (WhisperModel)."""
    from speechbudget.architectures import UnknownModelError, get_architecture
    from speechbudget.tasks.asr.language import TASKS, close_codes, vocabulary_codes
    if task not in TASKS:
        raise typer.BadParameter(f"{task!r}: expected transcribe or translate",
                                 param_hint="--task")
    code = None if language == "auto" else language
    try:
        arch = get_architecture(model)
    except UnknownModelError:
        return code
    vocab = getattr(arch.dims, "vocab_size", None)
    if not arch.is_whisper or vocab is None:
        return code
    codes = vocabulary_codes(vocab)
    if codes == ("en",):
        if task == "translate":
            raise typer.BadParameter(f"translate: {arch.name} is an English-only model (it does "
                                     "not translate); use a multilingual one (e.g. base)",
                                     param_hint="--task")
        if code not in (None, "en"):
            raise typer.BadParameter(f"{language!r}: en or auto ({arch.name} is an "
                                     "English-only model)", param_hint="--language")
        return code
    if code is not None and code not in codes:
        close = close_codes(code, codes)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise typer.BadParameter(f"{language!r}: not one of {arch.name}'s {len(codes)} language "
                                 f"codes ({hint}auto: detect it; e.g. {', '.join(codes[:5])})",
                                 param_hint="--language")
    return code


def check_choices(timestamps: str | None, longform: str) -> None:
    """--timestamps and --longform refused before any model loads (a usage error naming the
    flag, exit 2); WhisperModel.transcribe_batch checks them too, but only once the model has
    loaded (and names the field, not the flag)."""
    from speechbudget.axes import LONGFORM_RULES, TIMESTAMPS
    for flag, value, allowed in (("--timestamps", timestamps, TIMESTAMPS),
                                 ("--longform", longform, LONGFORM_RULES)):
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"{value!r}: expected one of {', '.join(allowed)}",
                                     param_hint=flag)


def parse_temperatures(text: str) -> tuple[float, ...]:
    """`--temperature`: one number >= 0 (`0`: greedy / beam, no fallback) or a comma-separated
    increasing list of them (the fallback schedule, e.g. `0,0.2,0.4,0.6,0.8,1.0`); a usage error
    (exit 2) naming --temperature otherwise."""
    def bad(why: str) -> typer.BadParameter:
        return typer.BadParameter(f"{text!r}: {why}; expected a number >= 0 or an increasing "
                                  "comma-separated list, e.g. 0,0.2,0.4,0.6,0.8,1.0",
                                  param_hint="--temperature")
    items = [t.strip() for t in text.split(",")]
    if not any(items):
        raise bad("no temperature given")
    if not all(items):
        raise bad("an empty item in the list")
    temps = []
    for t in items:
        try:
            v = plain_number(t)
        except ValueError as e:
            raise bad(str(e)) from None
        if v < 0:
            raise bad(f"{t} is not a number >= 0")
        temps.append(v)
    if temps != sorted(temps):
        raise bad("the temperatures are not in increasing order")
    return tuple(temps)


def parse_threshold(text: str, option: str, lo: float, hi: float) -> float | None:
    """A fallback / no-speech threshold: a number in [lo, hi], or `off` (also `none`, as
    openai-whisper's `None`) to turn the test off; a usage error naming `option` otherwise."""
    if text.strip().lower() in ("off", "none"):
        return None
    span = (f"in [{lo:g}, {hi:g}]" if math.isfinite(lo) and math.isfinite(hi)
            else f">= {lo:g}" if math.isfinite(lo) else f"<= {hi:g}")
    try:
        v = plain_number(text)
    except ValueError as e:
        raise typer.BadParameter(f"{e}: expected a number {span}, or off",
                                 param_hint=option) from None
    if not lo <= v <= hi:
        raise typer.BadParameter(f"{text!r}: expected a number {span}, or off", param_hint=option)
    return v


def vad_setup(vad: bool, min_silence_ms: int | None,
                    vad_model: str | None = None) -> tuple[dict[str, Any] | None, Any]:
    """(--vad's VadOptions fields, the VAD model to transcribe with: None for the default, else
    the `SileroVad` loaded here from --vad-model, its file read once: this very object is
    the one WhisperModel runs). A usage error (exit 2) for --vad-min-silence-ms or
    --vad-model without --vad / --batched, VadUnavailableError (exit 2, naming the extra) when
    the package the chosen VAD model needs is not installed, ModelLoadError (exit 5, naming the
    file) for a --vad-model file that is not a Silero model: all before any model loads."""
    if not vad:
        for value, flag in ((min_silence_ms, "--vad-min-silence-ms"),
                            (vad_model, "--vad-model")):
            if value is not None:
                raise typer.BadParameter("it sets the voice-activity filter: add --vad (or "
                                         "--batched)", param_hint=flag)
        return None, None
    from speechbudget.tasks.asr.vad import SileroVad, vad_model_path
    if vad_model is not None and not vad_model:
        raise typer.BadParameter("'': expected faster-whisper, silero-vad or the path of a "
                                 "Silero .jit / .onnx file", param_hint="--vad-model")
    path = vad_model_path(vad_model)
    # a chosen model is loaded here (small): not a Silero model, exit 5 before Whisper loads
    loaded = None if vad_model is None else SileroVad(path)
    return None if min_silence_ms is None else {"min_silence_duration_ms": min_silence_ms}, loaded


def longform_options(clip_timestamps: str | None, threshold: str | None, vad: bool,
                      word_timestamps: bool, longform: str) -> dict[str, Any]:
    """--clip-timestamps and --hallucination-silence-threshold checked before any model loads:
    a usage error (exit 2) for a value that is not clips, with --vad (the clips replace the
    filter; faster-whisper ignores its vad_filter then), the threshold without
    --word-timestamps (its rule reads the words; faster-whisper ignores it then), either with
    --longform chunks (rules of the sequential seek loop)."""
    from speechbudget.axes import ConfigError
    from speechbudget.tasks.asr.options import (check_clip_timestamps,
                                                check_hallucination_silence_threshold)
    try:
        clips = check_clip_timestamps(clip_timestamps)
    except ConfigError as e:
        raise typer.BadParameter(str(e), param_hint="--clip-timestamps") from None
    try:
        seconds = None if threshold is None else plain_number(threshold)
    except ValueError as e:
        raise typer.BadParameter(f"{e}: expected seconds >= 0",
                                 param_hint="--hallucination-silence-threshold") from None
    try:
        threshold = check_hallucination_silence_threshold(seconds)
    except ConfigError as e:
        raise typer.BadParameter(str(e), param_hint="--hallucination-silence-threshold") from None
    if clips is not None and vad:
        raise typer.BadParameter("the clips are what is decoded: leave out --vad (or the clips)",
                                 param_hint="--clip-timestamps")
    if threshold is not None and not word_timestamps:
        raise typer.BadParameter("its rule reads the words' times and probabilities: add "
                                 "--word-timestamps",
                                 param_hint="--hallucination-silence-threshold")
    for flag, on in (("--clip-timestamps", clips is not None),
                     ("--hallucination-silence-threshold", threshold is not None)):
        if on and longform != "sequential":
            raise typer.BadParameter("a rule of the sequential seek loop: use --longform "
                                     "sequential", param_hint=flag)
    return dict(clip_timestamps=clips, hallucination_silence_threshold=threshold)
