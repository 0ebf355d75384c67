"""ASR adapter folders and the training checkpoint: writing, reading, checking and loading them.

An adapter folder holds `adapter.safetensors` (the trainable tensors of the encoder) and
`adapter.json` (the configuration it belongs to, a hash of the base model's weights, the options and
the training record: losses, wall time, peak memory; `train_items`: the utterances it trained
on). `load_adapter` refuses an adapter trained for another configuration or another base model,
naming the field that differs. `checkpoint.pt` (`CHECKPOINT_FILE`) in the output folder holds a
run's step, trainable tensors and optimiser state (`adapt.train_adapter` writes and resumes it)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from speechbudget.axes import Config
from speechbudget.models.fingerprint import weights_fingerprint
from speechbudget.tasks.asr.adapt_options import (AdapterError, DistillOptions, TrainRecord,
                                                  options_identity)
from speechbudget.tasks.asr.adapt_trainable import student_model, trainable_state

ADAPTER_FILE = "adapter.safetensors"
INFO_FILE = "adapter.json"
CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = "speechbudget-asr-adapter/1"
FINGERPRINT_KIND = "weights-sha1"   # adapter.json's fingerprint_kind (absent: legacy_fingerprint)


def model_fingerprint(model: nn.Module) -> str:
    """What identifies the base model an adapter belongs to: a hash of every weight it holds
    (models.fingerprint.weights_fingerprint), so two checkpoints under one name differ."""
    return weights_fingerprint(model)


def legacy_fingerprint(model: nn.Module) -> str:
    """The fingerprint of adapters written before FINGERPRINT_KIND (no `fingerprint_kind` in
    their adapter.json): shapes and two sums of three tensors. Only to check those adapters; it
    does not tell apart checkpoints that differ elsewhere."""
    h = hashlib.sha1()
    params = dict(model.named_parameters())
    for name in ("model.encoder.conv1.weight", "model.encoder.layers.0.fc1.weight",
                 "model.decoder.embed_tokens.weight"):
        p = params.get(name)
        if p is None:
            continue
        p = p.detach().float().cpu()
        h.update(f"{name}:{tuple(p.shape)}:{p.sum().item():.6e}:{p.abs().sum().item():.6e}"
                 .encode())
    return h.hexdigest()[:16]


def save_adapter(folder: str | Path, encoder: nn.Module, config: Config, fingerprint: str,
                 options: DistillOptions, record: TrainRecord, bundle: Any = None,
                 train_items: dict | None = None) -> Path:
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(encoder), str(folder / ADAPTER_FILE))
    info = {"format": FORMAT, "config": config.to_dict(), "model_fingerprint": fingerprint,
            "fingerprint_kind": FINGERPRINT_KIND, "model_source": getattr(bundle, "source", None), "options": options_identity(options),
            "train": {**asdict(record), "train_flops": record.train_flops},
            "train_items": train_items}
    (folder / INFO_FILE).write_text(json.dumps(info, indent=1))
    return folder


def read_adapter_info(folder: str | Path) -> dict:
    p = Path(folder) / INFO_FILE
    if not p.exists():
        raise AdapterError(f"{folder}: not an adapter folder (no {INFO_FILE})")
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AdapterError(f"{p}: not readable as JSON ({e}); a damaged adapter folder") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        got = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise AdapterError(f"{p}: format={got!r}, expected {FORMAT!r}")
    for key, kind in (("config", dict), ("model_fingerprint", str)):
        if not isinstance(info.get(key), kind):
            raise AdapterError(f"{p}: {key}={info.get(key)!r}, expected a {kind.__name__}; a "
                               "damaged adapter folder")
    return info


def adapter_config(folder: str | Path, info: dict | None = None) -> Config:
    """The configuration an adapter folder was trained for (`info`: its adapter.json, when
    already read)."""
    from speechbudget.axes import ConfigError
    info = read_adapter_info(folder) if info is None else info
    try:
        return Config.from_dict(info["config"])
    except (ConfigError, TypeError, ValueError) as e:
        raise AdapterError(f"{Path(folder) / INFO_FILE}: config: {e}") from None


# configuration fields that do not change what an adapter is trained to be (the teacher decodes
# greedily without timestamps; the student's log-mel and encoder do not depend on them)
DECODING_ONLY = ("beam_size", "timestamps", "longform")


def training_config(config: Config) -> Config:
    """`config` with its decoding-only fields (DECODING_ONLY) at their defaults: the part of the
    configuration an adapter is trained for."""
    defaults = Config(task="asr", model=config.model)
    return config.with_(**{k: getattr(defaults, k) for k in DECODING_ONLY})


def check_adapter(folder: str | Path, config: Config, model: nn.Module,
                  fingerprint: str | None = None) -> dict:
    """Refuse (AdapterError naming the field) an adapter trained for another configuration or
    another base model (other weights: model_fingerprint; `fingerprint`: that of `model`, when
    already computed); returns its info. Decoding-only fields (beam size, timestamps,
    long-form) may differ: they do not change the adapter."""
    info = read_adapter_info(folder)
    saved = adapter_config(folder, info)
    mine, theirs = training_config(config).to_dict(), training_config(saved).to_dict()
    for k in order_keys(mine, theirs):
        if k == "adaptation":
            for ak in order_keys(mine[k], theirs[k]):
                if mine[k].get(ak) != theirs[k].get(ak):
                    raise AdapterError(f"adapter {folder} was trained for adaptation.{ak}="
                                       f"{theirs[k].get(ak)!r}, not {mine[k].get(ak)!r} "
                                       f"({saved.label} vs {config.label})")
        elif mine.get(k) != theirs.get(k):
            raise AdapterError(f"adapter {folder} was trained for {k}={theirs.get(k)!r}, not "
                               f"{mine.get(k)!r} ({saved.label} vs {config.label})")
    kind = info.get("fingerprint_kind")
    if kind not in (None, FINGERPRINT_KIND):
        raise AdapterError(f"{Path(folder) / INFO_FILE}: fingerprint_kind={kind!r}, expected "
                           f"{FINGERPRINT_KIND!r}; written by a newer speechbudget?")
    if kind is None:        # written before the weights hash: checked the old (weaker) way
        fp = legacy_fingerprint(model)
    else:
        fp = fingerprint if fingerprint is not None else model_fingerprint(model)
    if info["model_fingerprint"] != fp:
        raise AdapterError(f"adapter {folder} was trained on another base model (model "
                           f"fingerprint {info['model_fingerprint']}, this model {fp}; trained "
                           f"from {info.get('model_source')})")
    return info


def check_out_folder(out: str | Path, config: Config, model: nn.Module,
                     options: DistillOptions, fingerprint: str | None = None) -> None:
    """Refuse to train into `out` when it already holds a finished adapter of another
    configuration, base model or training options (it would be overwritten); an adapter of the
    same run is trained again (the result is the same)."""
    out = Path(out)
    if not (out / INFO_FILE).exists():
        return
    try:
        info = check_adapter(out, config, model, fingerprint)
        if info.get("options") != options_identity(options):
            theirs = info.get("options") or {}
            mine = options_identity(options)
            k = next(k for k in order_keys(mine, theirs) if mine.get(k) != theirs.get(k))
            raise AdapterError(f"adapter {out} was trained with {k}={theirs.get(k)!r}, not "
                               f"{mine.get(k)!r}")
    except AdapterError as e:
        raise AdapterError(f"{out} holds another adapter ({e}); remove it or use another "
                           "--out") from None


def order_keys(a: dict, b: dict) -> list:
    """The keys of `a` then those of `b` not in `a`."""
    return list(a) + [x for x in b if x not in a]


def load_into(encoder: nn.Module, state: dict[str, Tensor], where: Any) -> None:
    """Copy the trainable tensors `state` into `encoder` (AdapterError naming `where` when they do
    not match its trainable parameters by name and shape)."""
    own = dict(encoder.named_parameters())
    want = {n for n, p in own.items() if p.requires_grad}
    if set(state) != want:
        extra, missing = sorted(set(state) - want), sorted(want - set(state))
        raise AdapterError(f"{where}: tensors do not match the adaptation (missing "
                           f"{missing[:3]}, unexpected {extra[:3]})")
    with torch.no_grad():
        for n, t in state.items():
            if own[n].shape != t.shape:
                raise AdapterError(f"{where}: {n} has shape {tuple(t.shape)}, the model "
                                   f"{tuple(own[n].shape)}")
            own[n].copy_(t.to(own[n].device, own[n].dtype))


def load_adapter(folder: str | Path, config: Config, base: nn.Module, merge: bool = False
                 ) -> nn.Module:
    """A copy of `base` with the adapter in `folder` (checked against `config` and `base`).
    `merge`: fold LoRA into the weights (inference then costs exactly the stock FLOPs)."""
    from safetensors.torch import load_file
    check_adapter(folder, config, base)
    model = student_model(base, config.adaptation)
    weights = Path(folder) / ADAPTER_FILE
    try:
        state = load_file(str(weights))
    except Exception as e:  # missing, truncated or not safetensors (SafetensorError, OSError)
        raise AdapterError(f"{weights}: cannot be read ({type(e).__name__}: {e}); a damaged "
                           "adapter folder") from None
    load_into(model.model.encoder, state, weights)
    for p in model.parameters():
        p.requires_grad_(False)
    if merge:
        for m in model.modules():
            if hasattr(m, "lora_A") and hasattr(m, "merge"):
                m.merge()
    return model
