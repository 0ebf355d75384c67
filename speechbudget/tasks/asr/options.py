"""The pipeline's decoding options (`AsrPipeline`, `whisper_model.WhisperModel`): their defaults,
openai-whisper's and faster-whisper's, and their checks (ConfigError naming the field)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from speechbudget.axes import ConfigError
from speechbudget.typed_numbers import plain_number

# CPU threads for the decoding loop (None: torch's setting). A decoding step is ~90 small ops; with
# more than one intra-op thread each op waits at a thread barrier, which on a busy machine costs
# more than it gains: tiny.en, batch 32, 2-core EPYC under load, 0.20 s/utt with 1 thread vs 1.10
# s/utt with 2 (the encoder's large matmuls keep torch's thread count).
DECODE_THREADS: int | None = 1
NO_SPEECH_THRESHOLD = 0.6  # openai-whisper / faster-whisper defaults
LOGPROB_THRESHOLD = -1.0
COMPRESSION_RATIO_THRESHOLD = 2.4      # openai-whisper / faster-whisper defaults
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
PROMPT_RESET_ON_TEMPERATURE = 0.5


def check_fallback(temperature: float | Sequence[float], best_of: Any) -> tuple[float, ...]:
    """The temperature fallback's options checked (the one place they are): `temperature` one
    number >= 0 or an increasing sequence of them, `best_of` an integer >= 1. Returns the
    temperatures as a tuple of floats; raises ConfigError naming the field."""
    try:
        temps = (temperature,) if isinstance(temperature, (int, float)) else tuple(temperature)
    except TypeError:  # not iterable: a numpy float32 scalar, None, an object
        temps = (temperature,)
    if not temps or any(isinstance(t, bool) or not isinstance(t, (int, float))
                        or not math.isfinite(t) or t < 0 for t in temps) \
            or list(temps) != sorted(temps):
        raise ConfigError("temperature", temperature,
                          "a number >= 0 or an increasing sequence of them")
    if isinstance(best_of, bool) or not isinstance(best_of, int) or best_of < 1:
        raise ConfigError("best_of", best_of, "an integer >= 1")
    return tuple(float(t) for t in temps)


def check_mel_padding(mel_padding: Any) -> None:
    """ConfigError("mel_padding") unless it names a padding of `log_mel.MEL_PADDINGS`: "zeros" in
    the normalised log-mel (faster-whisper's and openai-whisper's transcribe) or "silence" (the
    recording's floor, as a zero-padded waveform; docs/asr.md: for a stride on the encoder
    output)."""
    from speechbudget.log_mel import MEL_PADDINGS
    if mel_padding not in MEL_PADDINGS:
        raise ConfigError("mel_padding", mel_padding, ", ".join(MEL_PADDINGS))


def check_prompt_text(name: str, value: Any) -> str | None:
    """faster-whisper's prompt options (`initial_prompt`, `prefix`, `hotwords`): None or a
    string; ConfigError naming the option otherwise (token ids, bytes, a number: not text)."""
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(name, value, f"a string of text, or None (off); got a "
                                   f"{type(value).__name__}")


def check_clip_timestamps(value: Any) -> tuple[float, ...] | None:
    """faster-whisper's `clip_timestamps`: the clips to decode, "start,end,start,end,..." in
    seconds (a string, as faster-whisper and the CLI take it, its numbers as
    `typed_numbers.plain_number` reads them, or a sequence of numbers). Returns
    the values as floats, or None for the whole recording (None, "0" — faster-whisper's default —,
    "" or an empty sequence). As faster-whisper, an odd count leaves the last clip open (it runs to
    the end of the recording) and an end past the recording stops there. Refused (ConfigError
    naming `clip_timestamps`): a value that is not a number, a negative, NaN or infinite one, a
    clip whose end is not after its start, clips out of order or overlapping (faster-whisper
    decodes those as given: text out of order, or the same speech twice)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "0"):
            return None
        items: list[Any] = [t.strip() for t in text.split(",")]
    elif isinstance(value, (bytes, bytearray, dict)) or not hasattr(value, "__iter__"):
        raise ConfigError("clip_timestamps", value, "'start,end,start,end,...' seconds (a "
                                                    "string or a list of numbers), or None")
    else:
        items = list(value)
    if not items:
        return None
    out = []
    for t in items:
        if isinstance(t, str):
            try:
                v = plain_number(t)
            except ValueError as e:
                raise ConfigError("clip_timestamps", value, f"numbers of seconds; {e}") from None
        elif isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, float, np.number)):
            raise ConfigError("clip_timestamps", value, f"numbers of seconds; {t!r} is not one")
        else:
            v = float(t)
        if not math.isfinite(v) or v < 0:
            raise ConfigError("clip_timestamps", value, f"seconds >= 0; {t} is not")
        out.append(v)
    for k in range(1, len(out)):
        if out[k] < out[k - 1] or (k % 2 == 1 and out[k] == out[k - 1]):
            what = "a clip's end after its start" if k % 2 == 1 else \
                "clips in increasing order, not overlapping"
            raise ConfigError("clip_timestamps", value,
                              f"{what} ('start,end,start,end,...'); {out[k - 1]:g} then "
                              f"{out[k]:g}")
    return tuple(out)


def check_hallucination_silence_threshold(value: Any) -> float | None:
    """faster-whisper's `hallucination_silence_threshold`: None (off) or seconds >= 0;
    ConfigError naming it otherwise."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(float(value)) or float(value) < 0:
        raise ConfigError("hallucination_silence_threshold", value,
                          "seconds >= 0 (a number), or None (off)")
    return float(value)
