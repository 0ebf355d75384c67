"""The trainable parameters of an ASR adaptation: LoRA (PEFT) on the encoder's targets and/or its
top layers (`apply_trainable`), the student model holding them (`student_model`), their state
(`trainable_state`), and the check that a LoRA fits the loaded model (`check_adaptation`)."""
from __future__ import annotations

import copy
from typing import Any

from torch import Tensor, nn

from speechbudget.axes import Adaptation, Config
from speechbudget.tasks.asr.adapt_options import AdapterError


def apply_trainable(encoder: nn.Module, adaptation: Adaptation) -> nn.Module:
    """Freeze the encoder, inject LoRA (PEFT) on `adaptation.targets` if method is 'lora', and
    unfreeze the top `unfreeze_top` layers. In place; returns the encoder."""
    for p in encoder.parameters():
        p.requires_grad_(False)
    if adaptation.method == "dama":
        raise AdapterError("adaptation.method='dama': ASR adaptation supports 'lora' and "
                           "unfreeze_top")
    if adaptation.method == "lora":
        from peft import LoraConfig, inject_adapter_in_model

        from speechbudget.models.lora_targets import check_lora_rank, lora_targets_for
        targets = lora_targets_for(encoder, adaptation.targets)
        check_lora_rank(encoder, adaptation)
        cfg = LoraConfig(r=adaptation.rank, lora_alpha=adaptation.alpha,
                         target_modules=list(targets), lora_dropout=0.0, bias="none")
        inject_adapter_in_model(cfg, encoder)
        for n, p in encoder.named_parameters():
            if "lora_" in n:
                p.requires_grad_(True)
    if adaptation.unfreeze_top:
        for layer in list(encoder.layers)[-adaptation.unfreeze_top:]:
            for p in layer.parameters():
                p.requires_grad_(True)
    return encoder


def check_adaptation(bundle: Any, config: Config) -> None:
    """ConfigError (exit 2) when `config`'s LoRA does not fit the loaded model: a target it lacks,
    or a rank above the adapted weights' dimensions (models.lora_targets). prepare and
    prepare_supervised call it, so a bad rank is refused before the teacher pass."""
    if config.adaptation.method == "lora":
        from speechbudget.models.lora_targets import check_lora_rank
        check_lora_rank(bundle.model.model.encoder, config.adaptation)


def trainable_state(encoder: nn.Module) -> dict[str, Tensor]:
    return {n: p.detach().cpu().contiguous().clone() for n, p in encoder.named_parameters()
            if p.requires_grad}


def student_model(base: nn.Module, adaptation: Adaptation) -> nn.Module:
    """A copy of `base` with the trainable parameters of `adaptation` set up (decoder frozen)."""
    model = copy.deepcopy(base).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    apply_trainable(model.model.encoder, adaptation)
    return model
