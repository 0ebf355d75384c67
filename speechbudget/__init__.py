"""speechbudget: where to spend a speech model's compute (model size, input window, token stride).

`WhisperModel` (speechbudget.whisper_model) is exported lazily: `import speechbudget` stays cheap
(no torch) until it is used."""
from typing import Any

from speechbudget.axes import Adaptation, Config, ConfigError
from speechbudget.architectures import ARCHITECTURES, get_architecture

__version__ = "0.1.0"
__all__ = ["Adaptation", "Config", "ConfigError", "ARCHITECTURES", "get_architecture",
           "WhisperModel", "BatchedInferencePipeline", "Segment", "TranscriptionInfo",
           "__version__"]

_LAZY = {"WhisperModel": "speechbudget.whisper_model", "Segment": "speechbudget.whisper_model",
         "TranscriptionInfo": "speechbudget.whisper_model",
         "BatchedInferencePipeline": "speechbudget.batched_pipeline"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'speechbudget' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
