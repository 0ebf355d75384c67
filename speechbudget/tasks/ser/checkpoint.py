"""SER checkpoints: head.safetensors, backbone.safetensors (adapted tensors), ser_config.json."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from speechbudget.axes import Config
from speechbudget.errors import OutputError, write_atomic
from speechbudget.tasks.ser.adapt import trainable_state
from speechbudget.tasks.ser.data import LABELS
from speechbudget.tasks.ser.model import SerModel, build_model
from speechbudget.tasks.ser.options import TrainOptions

CHECKPOINT_VERSION = 1


def save_checkpoint(model: SerModel, out_dir: str | Path, options: TrainOptions,
                    extra: dict[str, Any] | None = None) -> Path:
    """head.safetensors, backbone.safetensors (the adapted backbone tensors) and ser_config.json
    (Config, label set, backbone source (a local folder as an absolute path), head and training
    options, anything in `extra`).
    Into a folder that holds an older checkpoint: its ser_config.json goes first and comes back
    last (a save cut short leaves no checkpoint rather than a mix of two), each file is written
    whole (`write_atomic`), and an older backbone.safetensors is removed when this model has no
    adapted tensors (else reloading would put the older run's weights into this backbone)."""
    from safetensors.torch import save

    out = Path(out_dir)
    try:  # a full disk, a read-only folder: one line naming the folder, exit 6
        out.mkdir(parents=True, exist_ok=True)
        meta_path = out / "ser_config.json"
        meta_path.unlink(missing_ok=True)
        write_atomic(out / "head.safetensors", save(
            {k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}))
        bb = trainable_state(model.backbone.encoder, model.config.adaptation)
        if bb:
            write_atomic(out / "backbone.safetensors", save(bb))
        else:
            (out / "backbone.safetensors").unlink(missing_ok=True)
        source = model.source
        # a local folder, as an absolute path: a relative one named another folder, or none,
        # when the checkpoint is loaded from another directory
        if Path(source).expanduser().is_dir():
            source = str(Path(source).expanduser().resolve())
        meta = {"version": CHECKPOINT_VERSION, "config": model.config.to_dict(),
                "labels": model.labels, "backbone_source": source,
                "options": asdict(options), **(extra or {})}
        write_atomic(meta_path, json.dumps(meta, indent=2, default=str))
    except OSError as e:
        raise OutputError(f"{out}: cannot write the checkpoint ({e.strerror or e}"
                          + (f": {e.filename}" if e.filename else "") + ")") from None
    return out


def _check_head_fits(saved: dict, model: SerModel, path: Path) -> None:
    """ModelFileError naming `path` when its per-layer statistics are of another backbone (another
    number of hidden states or width: a head.safetensors copied from another checkpoint), instead
    of torch's size-mismatch list cut at 300 characters."""
    from speechbudget.models.ct2_reader import ModelFileError
    want = model.head.feature_mean.shape
    got = saved.get("feature_mean")
    if got is not None and tuple(got.shape) != tuple(want):
        raise ModelFileError(
            f"{path}: a head for {got.shape[0]} hidden states of width {got.shape[-1]}, but the "
            f"checkpoint's backbone {model.source} has {want[0]} of width {want[-1]}: the head "
            f"was trained on another backbone")


def _check_labels(labels: Any, meta_path: Path) -> None:
    """`labels` of ser_config.json names the head's outputs, in order. `ser train` always writes
    the six shared emotions in the order of `data.LABELS` (the set is fixed: another dataset's
    emotions are written as these codes), so a label outside them, or one twice, was never
    written by it: predictions would name it. ModelFileError naming the file and the field."""
    from speechbudget.models.ct2_reader import ModelFileError

    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ModelFileError(f"{meta_path}: labels {labels!r}: expected a list of label names "
                             f"({', '.join(LABELS)}, as ser train writes them)")
    seen: set[str] = set()
    for x in labels:
        if x not in LABELS:
            raise ModelFileError(f"{meta_path}: labels: {x!r} is not one of the labels ser train "
                                 f"writes ({', '.join(LABELS)})")
        if x in seen:
            raise ModelFileError(f"{meta_path}: labels: {x!r} appears twice (each names one of "
                                 "the head's outputs)")
        seen.add(x)


def _check_outputs(labels: list[str], head: dict, meta_path: Path) -> None:
    """The head's outputs (the size of its classifier's last bias in head.safetensors) are as
    many as `labels`, and `labels` are the six in the order ser train writes them (the head's
    outputs in that order); else ModelFileError naming ser_config.json's field."""
    from speechbudget.models.ct2_reader import ModelFileError

    biases = [k for k in head if k.startswith("classifier.") and k.endswith(".bias")]
    last = max(biases, key=lambda k: [int(p) for p in k.split(".")[1:-1] if p.isdecimal()],
               default=None)
    n_out = int(head[last].shape[0]) if last is not None else None
    if n_out is not None and n_out != len(labels):
        raise ModelFileError(f"{meta_path}: labels: {len(labels)} labels for the head's {n_out} "
                             "outputs (head.safetensors)")
    if labels != list(LABELS):
        raise ModelFileError(f"{meta_path}: labels {labels}: not the six labels in the order "
                             f"ser train writes them, {', '.join(LABELS)} (the head's outputs, in "
                             "that order)")


def read_meta(checkpoint_dir: str | Path) -> dict[str, Any]:
    """A checkpoint's ser_config.json as a dict; ModelFileError (exit 5) naming the folder or
    file when it is missing, not a regular file, not UTF-8 JSON or not an object."""
    from speechbudget.models.ct2_reader import ModelFileError
    from speechbudget.models.file_checks import read_json_object

    d = Path(checkpoint_dir)
    meta_path = d / "ser_config.json"
    if not meta_path.is_file():
        raise ModelFileError(f"{d}: not an SER checkpoint (no ser_config.json)")
    return read_json_object(meta_path, "SER checkpoint description")


def load_checkpoint(checkpoint_dir: str | Path, device: str = "cpu",
                    source: str | None = None) -> tuple[SerModel, dict[str, Any]]:
    """A saved SerModel (and its metadata), ready for prediction."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from speechbudget.models.ct2_reader import ModelFileError

    d = Path(checkpoint_dir)
    meta = read_meta(d)
    meta_path = d / "ser_config.json"
    version = meta.get("version", CHECKPOINT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or \
            not 1 <= version <= CHECKPOINT_VERSION:  # a newer layout was read as this one
        raise ModelFileError(f"{meta_path}: checkpoint version {version!r}; this speechbudget "
                             f"reads versions 1..{CHECKPOINT_VERSION} (a checkpoint written by "
                             f"a newer one?)")
    try:
        config = Config.from_dict(meta["config"])
        options = TrainOptions.from_dict({**meta["options"], "progress": False})
        labels, backbone_source = meta["labels"], meta["backbone_source"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{meta_path}: not a readable SER checkpoint description "
                             f"({type(e).__name__}: {e})") from None
    if source is None and Path(str(backbone_source)).is_absolute() and \
            not Path(backbone_source).is_dir():  # save_checkpoint writes a local folder so
        raise ModelFileError(f"{meta_path}: the backbone it was trained on, {backbone_source}, "
                             f"is no longer a folder (moved or removed?)")
    _check_labels(labels, meta_path)
    for name in ("head.safetensors", "backbone.safetensors"):  # a FIFO would block the read
        if (d / name).exists() and not (d / name).is_file():
            raise ModelFileError(f"{d / name}: not a regular file (a folder, FIFO or device)")
    model = build_model(config, labels, options, source or backbone_source, device, init=True)
    # the backbone tensors save_checkpoint writes for this adaptation: all of them, nothing else
    expected = set(trainable_state(model.backbone.encoder, config.adaptation))
    bb_path = d / "backbone.safetensors"
    try:
        # read on the CPU, then copied into the model's tensors wherever they are: safetensors
        # takes no device spelling torch does ('cpu:0' was "device cpu:0 is invalid", a
        # damaged-checkpoint error for a valid --device)
        head = load_file(str(d / "head.safetensors"), device="cpu")
        _check_head_fits(head, model, d / "head.safetensors")
        _check_outputs(labels, head, meta_path)
        model.head.load_state_dict(head)
        saved = load_file(str(bb_path), device="cpu") if bb_path.is_file() else {}
        missing, unexpected = sorted(expected - set(saved)), sorted(set(saved) - expected)
        if missing:
            raise ModelFileError(f"{bb_path}: " + ("missing" if not bb_path.is_file() else
                                 f"{len(missing)} adapted tensor(s) missing, e.g. {missing[0]}")
                                 + f"; adaptation {config.adaptation.label!r} trains the backbone")
        if unexpected:
            raise ModelFileError(f"{bb_path}: tensors {unexpected[:3]} do not fit the backbone "
                                 f"{model.source} with adaptation {config.adaptation.label!r}")
        model.backbone.encoder.load_state_dict(saved, strict=False)
    except (OSError, RuntimeError, ValueError, SafetensorError) as e:
        if isinstance(e, ModelFileError):
            raise
        # missing, truncated or other-shaped
        raise ModelFileError(f"{d}: the checkpoint's weights cannot be loaded "
                             f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None
    model.eval()
    return model, meta
