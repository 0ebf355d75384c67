"""Which LoRA targets an encoder has: `check_lora_targets`, shared by SER and ASR adaptation (and
called by `asr adapt` right after loading, before the teacher pass); `lora_targets_for`, the
targets an adaptation that names none gets on a given encoder; `check_lora_rank`, the rank
(LoRA, or DAMA's per-layer ranks) against the adapted weights' dimensions."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from speechbudget.adaptation import check_rank_limits
from speechbudget.axes import WAVLM_ATTENTION_PROJECTIONS, ConfigError, default_lora_targets


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The transformer layer list of a Whisper encoder or a wav2vec2-family model."""
    for path in ("layers", "encoder.layers"):
        m = encoder
        for part in path.split("."):
            m = getattr(m, part, None)
        if isinstance(m, nn.ModuleList):
            return m
    raise TypeError(f"{type(encoder).__name__}: no encoder layer list (.layers or .encoder.layers)")


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


def check_lora_rank(encoder: nn.Module, adaptation) -> None:
    """ConfigError("adaptation.rank") when a LoRA adapter of `adaptation` (an `axes.Adaptation`,
    method 'lora' or 'dama'; its targets, or the encoder's usual ones) would have a rank above
    min(d_in, d_out) of the weight it adapts: such a rank adds nothing a full-rank update would
    not (it only costs FLOPs), and PiSSA (DAMA) builds a smaller adapter than configured. The
    message names the value and the largest rank this encoder allows. Nothing for other methods.
    The one check for SER (tasks.ser.adapt) and ASR (tasks.asr.adapt, before the teacher pass);
    the rule itself is `adaptation.check_rank_limits`, which the FLOPs path (flops.lora_rank)
    applies to the architecture's dimensions."""
    if adaptation.method not in ("lora", "dama"):
        return
    targets = set(lora_targets_for(encoder, adaptation.targets))
    layers = encoder_layers(encoder)
    inside = {id(m) for layer in layers for m in layer.modules()}

    def limit(named) -> tuple[int, str] | None:
        """The smallest dimension of the targeted weights among `named`, and that weight."""
        dims = [(min(m.in_features, m.out_features), f"{m.out_features}x{m.in_features} {n}")
                for n, m in named if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in targets]
        return min(dims) if dims else None

    check_rank_limits(adaptation, [limit(layer.named_modules()) for layer in layers],
                      limit((n, m) for n, m in encoder.named_modules() if id(m) not in inside))
