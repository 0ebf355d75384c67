"""The adaptation loss on a batch of training utterances (`Sample`): the student encodes its own
log-mel, the frozen decoder runs teacher-forced on the target tokens, and the loss is
KL(teacher || student) ("distill", against the teacher's encoder output) or the cross-entropy
of the reference tokens ("supervised"); `step_groups` gives the shapes a step runs (FLOPs)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from speechbudget.axes import Config
from speechbudget.models import whisper_encoder as we
from speechbudget.tasks.asr.adapt_options import AdapterError


@dataclass
class Sample:
    id: str
    mel: Tensor                 # the student's log-mel [n_mels, frames]
    tokens: list[int]           # the target: the teacher's greedy transcript ("distill") or the
                                # reference transcript ("supervised"); no special tokens
    teacher_enc: Tensor | None  # [T, d] teacher encoder output at 30 s ("distill" only)
    teacher_flops: float = 0.0  # FLOPs of the teacher's greedy pass on this utterance


def _groups(samples: Sequence[Sample]) -> list[list[Sample]]:
    """Samples grouped by their student window (a dynamic window: one forward per length)."""
    groups: dict[int, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.mel.shape[-1], []).append(s)
    return list(groups.values())


def _teacher_forced(group: Sequence[Sample], prompt: Sequence[int], eos: int, dev: Any
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """(ids [B, S], mask of the predicted positions [B, S], the next-token targets [B, S]):
    S = prompt + the longest target; rows padded with eos."""
    P = len(prompt)
    S = P + max(len(s.tokens) for s in group)
    ids = torch.full((len(group), S), eos, dtype=torch.long, device=dev)
    mask = torch.zeros(len(group), S, device=dev)
    for b, s in enumerate(group):
        ids[b, :P] = torch.tensor(list(prompt))
        if s.tokens:
            ids[b, P:P + len(s.tokens)] = torch.tensor(s.tokens)
        mask[b, P - 1:P + len(s.tokens)] = 1.0   # predicts tokens 1..n and <|endoftext|>
    target = torch.cat([ids[:, 1:], torch.full_like(ids[:, :1], eos)], dim=1)
    return ids, mask, target


def adapt_loss(model: nn.Module, config: Config, samples: Sequence[Sample],
               prompt: Sequence[int], eos: int) -> Tensor:
    """The training loss of `config.adaptation.objective` on `samples`:
    "distill": mean KL(teacher || student) over the predicted positions (module docstring);
    "supervised": mean cross-entropy of the reference tokens and <|endoftext|> (teacher forcing).
    Samples are grouped by window (a dynamic window gives each length its own forward)."""
    distill = config.adaptation.objective == "distill"
    dev = next(model.parameters()).device
    total = torch.zeros((), device=dev)
    count = 0
    dec = model.model.decoder
    for group in _groups(samples):
        mel = torch.stack([s.mel for s in group]).to(dev)
        enc_s, _ = we.encode(model.model.encoder, mel, config.stride, config.stride_at,
                             config.pool)
        ids, mask, target = _teacher_forced(group, prompt, eos, dev)
        logp_s = model.proj_out(dec(input_ids=ids, encoder_hidden_states=enc_s,
                                    use_cache=False).last_hidden_state).float().log_softmax(-1)
        if distill:
            if any(s.teacher_enc is None for s in group):
                raise AdapterError("distillation samples need the teacher's encoder output "
                                   "(prepare(), not prepare_supervised())")
            with torch.no_grad():
                enc_t = torch.stack([s.teacher_enc for s in group]).to(dev)
                logp_t = model.proj_out(dec(input_ids=ids, encoder_hidden_states=enc_t,
                                            use_cache=False).last_hidden_state).float() \
                    .log_softmax(-1)
            per = (logp_t.exp() * (logp_t - logp_s)).sum(-1)
        else:
            per = -logp_s.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        total = total + (per * mask).sum()
        count += int(mask.sum().item())
    return total / max(count, 1)


def distill_loss(model: nn.Module, config: Config, samples: Sequence[Sample],
                 prompt: Sequence[int], eos: int) -> Tensor:
    """Mean KL(teacher || student) over the predicted positions of `samples`."""
    if config.adaptation.objective != "distill":
        raise AdapterError(f"adaptation.objective={config.adaptation.objective!r}: "
                           "distill_loss is for 'distill'")
    return adapt_loss(model, config, samples, prompt, eos)


def step_groups(samples: Sequence[Sample], prompt_len: int) -> list[Any]:
    """The shapes a step on `samples` runs (flops.asr_training.StepGroup per window group)."""
    from speechbudget.flops.asr_training import StepGroup
    return [StepGroup(len(g), g[0].mel.shape[-1], prompt_len + max(len(s.tokens) for s in g))
            for g in _groups(samples)]
