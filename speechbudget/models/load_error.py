"""The error raised for weights that cannot be loaded (exit 5, as ModelFileError)."""
from __future__ import annotations

from speechbudget.errors import EXIT_MODEL, SpeechbudgetError


class ModelLoadError(SpeechbudgetError, OSError):
    """Weights that could not be loaded: the message names the model and what to do."""

    exit_code = EXIT_MODEL
