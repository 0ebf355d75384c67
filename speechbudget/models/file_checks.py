"""Checks of a local model folder's files that name the file at fault: a config.json that is no
JSON object or names another model, a cut weight file (.safetensors or PyTorch .bin), weights of
other shapes than the config gives."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from speechbudget.architectures import SSL_FAMILIES
from speechbudget.models.ct2_reader import ModelFileError
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.transformers_quiet import quiet_transformers


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON file holding an object (a model folder's config.json, a checkpoint's description);
    ModelFileError (exit 5) naming the file and `what` it should be when it cannot be read, is not
    UTF-8 JSON, or holds something other than an object."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable {what} ({type(e).__name__}: "
                             f"{' '.join(str(e).split())})") from None
    if not isinstance(obj, dict):
        raise ModelFileError(f"{path}: not a readable {what} (a JSON {type(obj).__name__}, "
                             "not an object)")
    return obj


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a local Hugging Face folder: its .safetensors files, then its PyTorch
    ones (pytorch_model.bin, or the shards pytorch_model-00001-of-00002.bin ...)."""
    return sorted(folder.glob("*.safetensors")) + sorted(folder.glob("pytorch_model*.bin"))


def weight_shapes(f: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a weight file, from its header (.safetensors) or with the
    tensors on the meta device (.bin: memory-mapped, no weight is read). Raises whatever the
    library raises for a file it cannot read (safetensors' SafetensorError, torch's RuntimeError
    or UnpicklingError)."""
    if f.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(f), framework="pt") as st:
            return {k: tuple(st.get_slice(k).get_shape()) for k in st.keys()}
    state = torch.load(f, map_location="meta", weights_only=True, mmap=True)
    if not isinstance(state, dict):
        raise ValueError(f"a {type(state).__name__}, not a state dict")
    return {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}


def damaged_weights(folder: Path) -> str | None:
    """What is wrong with the first weight file (weight_files) of a local model folder that
    cannot be read ("FILE: truncated or damaged (...)"), or None when every one opens. A
    .safetensors header must describe exactly the bytes the file holds (safe_open checks that
    without reading the tensors), and a .bin is a zip archive whose directory is at its end, so
    a cut file is found here. Called after from_pretrained failed: it names the file, which the
    libraries' own messages do not."""
    if not folder.is_dir():
        return None
    for f in weight_files(folder):
        try:
            weight_shapes(f)
        except Exception as e:  # noqa: BLE001 (SafetensorError, RuntimeError, OSError ...)
            return (f"{f}: truncated or damaged ({' '.join(str(e).split())}); save or download "
                    "the model again")
    return None


def mismatched_weights(folder: Path, cls: Any) -> str | None:
    """The first weight in the folder's weight files (weight_files) whose shape differs from
    the one its config.json gives `cls` (a transformers model class), named with both shapes, or
    None (no such weight, not a model class, or a config that cannot be read). transformers only
    says 'ignore_mismatched_sizes ... look at the above report', a report logged at a level that
    quiet_transformers hides. Shapes come from the file headers (no tensor is read) and the
    model is built on the meta device (no memory)."""
    config_class = getattr(cls, "config_class", None)
    if config_class is None or not folder.is_dir():
        return None
    try:
        with quiet_transformers():
            config = config_class.from_pretrained(str(folder))
        with torch.device("meta"):
            want = {k: tuple(v.shape) for k, v in cls(config).state_dict().items()}
    except Exception:  # noqa: BLE001 - this only adds detail to an error being raised
        return None
    prefix = getattr(cls, "base_model_prefix", "") + "."
    for f in weight_files(folder):
        try:
            shapes = weight_shapes(f)
        except Exception:  # noqa: BLE001 (damaged: damaged_weights names it)
            continue
        for key, got in shapes.items():
            name = next((k for k in (key, key.removeprefix(prefix), prefix + key)
                         if k in want), None)
            if name is not None and got != want[name]:
                return (f"{f}: {key} has shape {list(got)}, and {folder / 'config.json'} "
                        f"makes it {list(want[name])}: the config does not describe "
                        "these weights (a config.json of another model size or "
                        "vocabulary?)")
    return None


def check_whisper_config(folder: Path) -> None:
    """ModelFileError (exit 5) naming config.json when it is not a JSON object (read_json_object);
    ModelLoadError when its model_type names another model ('wav2vec2', 'bert'): transformers
    loads such a config into a WhisperConfig anyway and the failure came later, as an internal
    error. A config.json without model_type is left to from_pretrained."""
    cfg = read_json_object(folder / "config.json", "model config")
    kind = cfg.get("model_type")
    if kind is not None and kind != "whisper":
        ssl = kind in SSL_FAMILIES
        raise ModelLoadError(f"{folder / 'config.json'}: model_type {kind!r}, not a Whisper model"
                             + ("; an SSL encoder serves SER only (ser train --model)" if ssl
                                else ""))
