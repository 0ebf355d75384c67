"""The pipeline's decoding options (`AsrPipeline`, `whisper_model.WhisperModel`): their defaults,
openai-whisper's and faster-whisper's, and their checks (ConfigError naming the field)."""
from __future__ import annotations

import math
from typing import Any, Sequence

from speechbudget.axes import ConfigError

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
    """ConfigError("mel_padding") unless it names a padding of `audio.MEL_PADDINGS`: "zeros" in
    the normalised log-mel (faster-whisper's and openai-whisper's transcribe) or "silence" (the
    recording's floor, as a zero-padded waveform; docs/asr.md: for a stride on the encoder
    output)."""
    from speechbudget.audio import MEL_PADDINGS
    if mel_padding not in MEL_PADDINGS:
        raise ConfigError("mel_padding", mel_padding, ", ".join(MEL_PADDINGS))


def check_prompt_text(name: str, value: Any) -> str | None:
    """faster-whisper's prompt options (`initial_prompt`, `prefix`, `hotwords`): None or a
    string; ConfigError naming the option otherwise (token ids, bytes, a number: not text)."""
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(name, value, f"a string of text, or None (off); got a "
                                   f"{type(value).__name__}")
