"""speechbudget: where to spend a speech model's compute (model size, input window, token stride)."""
from speechbudget.axes import Adaptation, Config, ConfigError
from speechbudget.architectures import ARCHITECTURES, get_architecture

__version__ = "0.1.0"
__all__ = ["Adaptation", "Config", "ConfigError", "ARCHITECTURES", "get_architecture", "__version__"]
