"""Tasks: ASR (Whisper, WER) and SER (emotion recognition, UA). `get_task` builds one by name."""
from __future__ import annotations

from typing import Any


def get_task(name: str, **options: Any):
    """The Task (see tasks.base) for "asr" or "ser", with task options (batch size, folds...)."""
    if name == "asr":
        from speechbudget.tasks.asr.runner import AsrTask
        return AsrTask(**options)
    if name == "ser":
        from speechbudget.tasks.ser.runner import SerTask
        return SerTask(**options)
    raise ValueError(f"unknown task {name!r}: expected 'asr' or 'ser'")
