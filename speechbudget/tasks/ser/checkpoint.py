"""SER checkpoints: head.safetensors, backbone.safetensors (adapted tensors), ser_config.json."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from speechbudget.axes import Config
from speechbudget.tasks.ser.adapt import trainable_state
from speechbudget.tasks.ser.model import SerModel, build_model
from speechbudget.tasks.ser.options import TrainOptions

CHECKPOINT_VERSION = 1


def save_checkpoint(model: SerModel, out_dir: str | Path, options: TrainOptions,
                    extra: dict[str, Any] | None = None) -> Path:
    """head.safetensors, backbone.safetensors (the adapted backbone tensors) and ser_config.json
    (Config, label set, backbone source, head and training options, anything in `extra`)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()},
              str(out / "head.safetensors"))
    bb = trainable_state(model.backbone.encoder, model.config.adaptation)
    if bb:
        save_file(bb, str(out / "backbone.safetensors"))
    meta = {"version": CHECKPOINT_VERSION, "config": model.config.to_dict(),
            "labels": model.labels, "backbone_source": model.source,
            "options": asdict(options), **(extra or {})}
    (out / "ser_config.json").write_text(json.dumps(meta, indent=2, default=str))
    return out


def load_checkpoint(checkpoint_dir: str | Path, device: str = "cpu",
                    source: str | None = None) -> tuple[SerModel, dict[str, Any]]:
    """A saved SerModel (and its metadata), ready for prediction."""
    from safetensors.torch import load_file

    from speechbudget.models.ct2_reader import ModelFileError

    d = Path(checkpoint_dir)
    meta_path = d / "ser_config.json"
    if not meta_path.is_file():
        raise ModelFileError(f"{d}: not an SER checkpoint (no ser_config.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        config = Config.from_dict(meta["config"])
        options = TrainOptions.from_dict({**meta["options"], "progress": False})
        labels, backbone_source = meta["labels"], meta["backbone_source"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{meta_path}: not a readable SER checkpoint description "
                             f"({type(e).__name__}: {e})") from None
    model = build_model(config, labels, options, source or backbone_source, device, init=True)
    try:
        model.head.load_state_dict(load_file(str(d / "head.safetensors"), device=str(device)))
        saved = (load_file(str(d / "backbone.safetensors"), device=str(device))
                 if (d / "backbone.safetensors").is_file() else None)
    except (OSError, RuntimeError, ValueError) as e:  # missing, truncated or other-shaped
        raise ModelFileError(f"{d}: the checkpoint's weights cannot be loaded "
                             f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None
    if saved is not None:
        missing, unexpected = model.backbone.encoder.load_state_dict(saved, strict=False)
        if unexpected:
            raise ModelFileError(f"{d / 'backbone.safetensors'}: tensors {unexpected[:3]} do not "
                                 f"fit the backbone {model.source}")
    model.eval()
    return model, meta
