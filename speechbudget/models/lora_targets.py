"""Which LoRA targets an encoder has: `check_lora_targets`, shared by SER and ASR adaptation (and
called by `asr adapt` right after loading, before the teacher pass); `lora_targets_for`, the
targets an adaptation that names none gets on a given encoder."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from speechbudget.axes import WAVLM_ATTENTION_PROJECTIONS, ConfigError, default_lora_targets


def is_wavlm(encoder: nn.Module) -> bool:
    """WavLM's encoder: the only one with gated relative position biases."""
    return any(n.endswith("gru_rel_pos_linear") for n, _ in encoder.named_modules())


def lora_targets_for(encoder: nn.Module, targets: Sequence[str] | None) -> tuple[str, ...]:
    """`targets`, checked against `encoder`; None gives the backbone's usual ones (as `Config`
    chooses them by the architecture's family)."""
    chosen = tuple(default_lora_targets("wavlm" if is_wavlm(encoder) else "other")
                   if targets is None else targets)
    check_lora_targets(encoder, chosen)
    return chosen


def check_lora_targets(encoder: nn.Module, targets: Sequence[str]) -> None:
    """ConfigError("adaptation.targets") naming the targets that are no nn.Linear leaf of
    `encoder` (with the ones it has), or WavLM attention projections, which LoRA cannot adapt."""
    names = {n.rsplit(".", 1)[-1] for n, m in encoder.named_modules() if isinstance(m, nn.Linear)}
    missing = [t for t in targets if t not in names]
    if missing:
        raise ConfigError("adaptation.targets", missing, f"no such Linear module in "
                          f"{type(encoder).__name__}; available: {', '.join(sorted(names))}")
    bypassed = [t for t in targets if t in WAVLM_ATTENTION_PROJECTIONS]
    if bypassed and is_wavlm(encoder):
        # WavLM's attention calls F.multi_head_attention_forward with these modules' weights, so
        # a LoRA wrapper around them would never run: training would silently adapt nothing.
        raise ConfigError("adaptation.targets", bypassed, "WavLM's attention reads these "
                          "weights directly, so LoRA on them has no effect; target the "
                          "feed-forward layers instead (intermediate_dense, output_dense)")
