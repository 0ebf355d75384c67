"""How the SER backbone is adapted: frozen, LoRA (PEFT), top-k unfreezing, DAMA.

DAMA (Depth-Aware Model Adaptation, arXiv 2602.01008) as defined here (docs/ser.md has the recipe):

    u_i   = i / (L - 1)                      depth of encoder layer i in [0, 1]  (L = 1: u = 0)
    p_i   = |2 u_i - 1| ** power             U profile: 1 at both ends, 0 in the middle
    r_i   = round(min_rank + (max_rank - min_rank) * p_i)   LoRA rank of layer i (0: not adapted)
    a_i   = alpha * r_i / max_rank           alpha/r kept constant across layers
    init  = PiSSA (SVD of the frozen weight: A, B from its top-r singular triplets)
    basis = frozen (lora_A.requires_grad = False) where p_i < frozen_below and r_i > 0

LoRA and DAMA go through PEFT (`rank_pattern`, `alpha_pattern`, `layers_to_transform`,
`init_lora_weights`) on the encoder module only (the schedule itself is pure arithmetic in
`speechbudget.adaptation`, beside the configuration, so that `flops` can use it too);
`unfreeze_top` trains the top k encoder layers fully on top of any method; `lora_top` puts plain
LoRA in the top k layers only. The backbone weights that change are those `trainable_state`
returns.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from speechbudget.adaptation import DAMA_INIT, dama_plan
from speechbudget.axes import Adaptation
from speechbudget.models.lora_targets import check_lora_rank, encoder_layers, lora_targets_for

# ---- applying an adaptation to an encoder module ----------------------------------------------

def lora_config(adaptation: Adaptation, num_layers: int, init: bool | str | None = None):
    """The PEFT LoraConfig for a LoRA or DAMA adaptation of an encoder with `num_layers` layers.
    `init` overrides the weight initialisation (True: plain LoRA init, e.g. before loading a
    checkpoint, where the SVD would be wasted)."""
    from peft import LoraConfig

    targets = list(adaptation.targets)
    if adaptation.method == "lora":
        top = ({"layers_to_transform": list(range(num_layers - adaptation.lora_top, num_layers)),
                "layers_pattern": "layers"} if adaptation.lora_top else {})
        return LoraConfig(r=adaptation.rank, lora_alpha=adaptation.alpha, target_modules=targets,
                          lora_dropout=0.0, bias="none",
                          init_lora_weights=True if init is None else init, **top)
    if adaptation.method != "dama":
        raise ValueError(f"adaptation.method={adaptation.method!r} has no LoRA config")
    plan = dama_plan(num_layers, adaptation.rank, adaptation.alpha)
    layers = [i for i, r in enumerate(plan.ranks) if r > 0]
    tgt = "|".join(targets)
    rank_pattern = {rf"layers\.{i}\..*({tgt})": plan.ranks[i] for i in layers}
    alpha_pattern = {rf"layers\.{i}\..*({tgt})": plan.alphas[i] for i in layers}
    return LoraConfig(r=adaptation.rank, lora_alpha=adaptation.alpha, target_modules=targets,
                      layers_to_transform=layers, layers_pattern="layers",
                      rank_pattern=rank_pattern, alpha_pattern=alpha_pattern, lora_dropout=0.0,
                      bias="none", init_lora_weights=DAMA_INIT if init is None else init)


def apply_adaptation(encoder: nn.Module, adaptation: Adaptation, init: bool | str | None = None
                     ) -> nn.Module:
    """Adapt `encoder` in place (PEFT layers injected) and set requires_grad accordingly:
    everything frozen except LoRA weights (DAMA: lora_A frozen in the middle layers) and the
    top `unfreeze_top` layers. Returns the encoder."""
    for p in encoder.parameters():
        p.requires_grad_(False)
    layers = encoder_layers(encoder)
    L = len(layers)
    if adaptation.unfreeze_top > L:
        raise ValueError(f"adaptation.unfreeze_top={adaptation.unfreeze_top}: the encoder has "
                         f"only {L} layers")
    if adaptation.method in ("lora", "dama"):
        from peft import inject_adapter_in_model

        adaptation = replace(adaptation, targets=lora_targets_for(encoder, adaptation.targets))
        check_lora_rank(encoder, adaptation)  # before PEFT builds (and PiSSA decomposes) it
        inject_adapter_in_model(lora_config(adaptation, L, init), encoder)
        for n, p in encoder.named_parameters():
            if "lora_" in n:
                p.requires_grad_(True)
        if adaptation.method == "dama":
            frozen = dama_plan(L, adaptation.rank, adaptation.alpha).frozen_basis
            for i, layer in enumerate(layers):
                if frozen[i]:
                    for n, p in layer.named_parameters():
                        if "lora_A" in n:
                            p.requires_grad_(False)
    for layer in list(layers)[L - adaptation.unfreeze_top:] if adaptation.unfreeze_top else []:
        for p in layer.parameters():
            p.requires_grad_(True)
    return encoder


def is_frozen(adaptation: Adaptation) -> bool:
    """True when the backbone does not train (its features can be cached)."""
    return adaptation.method == "none" and adaptation.unfreeze_top == 0


def trainable_state(encoder: nn.Module, adaptation: Adaptation) -> dict[str, torch.Tensor]:
    """The backbone tensors a checkpoint must store: trainable ones, and for PiSSA-initialised
    DAMA the residual base weights of the adapted modules (PiSSA rewrites W to W - BA)."""
    keep = {n for n, p in encoder.named_parameters() if p.requires_grad}
    # DAMA's frozen lora_A and the PiSSA residual weights changed without being trainable
    if adaptation.method in ("lora", "dama"):
        keep |= {n for n, _ in encoder.named_parameters() if "lora_" in n or "base_layer" in n}
    return {n: p.detach().cpu().contiguous() for n, p in encoder.named_parameters() if n in keep}


def count_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
