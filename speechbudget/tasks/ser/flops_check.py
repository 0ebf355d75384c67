"""Measured SER FLOPs: the backbone (built from its config on the `meta` device, no weights) with
all hidden states (Whisper: `models.whisper_encoder.encode_layers`, the same token stride as
`tasks.ser.backbone`), then the real `tasks.ser.heads.SerHead`, counted under
`torch.utils.flop_counter.FlopCounterMode` and broken down as `flops.estimate` does
(`flops.measure.breakdown`). Training: the adaptation applied by `tasks.ser.adapt.apply_adaptation`
(PEFT LoRA/DAMA, top-k unfreeze), forward and backward of `logits.sum()` counted separately.
The check that the analytic SER FLOPs are exact (tests/flops/test_analytic_vs_measured.py).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from speechbudget.architectures import get_architecture
from speechbudget.axes import Config, ConfigError
from speechbudget.flops.measure import breakdown, build_meta
from speechbudget.flops.report import FlopsReport
from speechbudget.geometry import MEL_FRAMES_PER_S, SAMPLE_RATE
from speechbudget.models.whisper_encoder import TokenSelector, encode_layers, encode_layers_from
from speechbudget.tasks.ser.adapt import apply_adaptation
from speechbudget.tasks.ser.heads import SerHead, layer_means


def measure_ser(config: Config, n_classes: int = 6, *, pooling: str = "mean",
                layer_weights: bool = True, head: str = "mlp",
                progress: Callable[[int, int], None] | None = None) -> FlopsReport:
    """Inference FLOPs of an SER `config` on one clip of `config.window` seconds, counted on the
    real backbone + head. `progress(done, total)`, if given: after building, after counting."""
    if config.task != "ser":
        raise ConfigError("task", config.task, "'ser' here; ASR FLOPs are measured by "
                          "speechbudget.flops.measure.measure")
    model = _SerModel(config, n_classes, pooling, layer_weights, head)
    if progress is not None:
        progress(1, 2)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(model.example())
    bd = breakdown(fc.get_flop_counts())
    if progress is not None:
        progress(2, 2)
    return FlopsReport(sum(bd.values()), bd, model.tokens, 0.0, 0, float(config.window),
                       "inference", "measured")


class _SerModel(nn.Module):
    """Backbone (on meta) + the real SER head, run as tasks.ser.backbone runs them."""

    def __init__(self, config: Config, n_classes: int, pooling: str, layer_weights: bool,
                 head: str = "mlp"):
        super().__init__()
        self.config = config
        arch = self.arch = get_architecture(config.model)
        model = build_meta(arch)
        self.backbone = model.model.encoder if arch.is_whisper else model
        L = arch.encoder_layers
        with torch.device("meta"):
            self.head = SerHead(arch.hidden_size, L + 1, n_classes, pooling, layer_weights,
                                kind=head)
        self.attn_select = TokenSelector()
        self.tokens = 0
        self.start = 0  # > 0: forward() takes layer `start`'s input (a cached prefix)

    def example(self) -> torch.Tensor:
        c = self.config
        if self.arch.is_whisper:
            return torch.empty(1, self.arch.dims.n_mels, round(c.window * MEL_FRAMES_PER_S),
                               device="meta")
        return torch.empty(1, round(c.window * SAMPLE_RATE), device="meta")

    def prefix(self, mel: torch.Tensor, j: int) -> torch.Tensor:
        """What a cached prefix stores: layer j's input (the frozen pass to layer j)."""
        c = self.config
        return encode_layers(self.backbone, mel, c.stride, c.stride_at, c.pool, self.attn_select,
                             stop=j)[j]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if self.start:
            states = torch.stack(encode_layers_from(self.backbone, x, self.start))
            self.tokens = states.shape[2]
            mask = torch.ones(1, self.tokens, device=x.device)
            frozen = torch.zeros(1, self.start + 1, states.shape[-1], device=x.device)
            means = torch.cat([frozen, layer_means(states, mask).transpose(0, 1)], dim=1)
            return self.head.forward_pooled(means)
        if self.arch.is_whisper:
            hidden = encode_layers(self.backbone, x, c.stride, c.stride_at, c.pool,
                                   self.attn_select)
        else:
            hidden = list(self.backbone(x, output_hidden_states=True).hidden_states)
        self.tokens = hidden[-1].shape[1]
        hidden = torch.stack(hidden)
        mask = torch.ones(1, self.tokens, device=x.device)
        return self.head(hidden, mask)


def measure_training(config: Config, n_classes: int = 6, *, pooling: str = "mean",
                     layer_weights: bool = True, head: str = "mlp",
                     cached_prefix: int = 0) -> FlopsReport:
    """One SER training step on one clip (no feature cache), measured: the adaptation applied
    through `tasks.ser.adapt.apply_adaptation` (PEFT on meta, plain LoRA init; the FLOPs do not
    depend on the init), forward and `logits.sum().backward()` counted separately; components
    are prefixed 'forward.' / 'backward.' (the backward's module attribution is FlopCounterMode's).
    `cached_prefix` = j > 0: the frozen pass to layer j counted apart ('features.'), then the
    step from layer j's input as training runs it (`tasks.ser.features.prefix_logits`:
    `encode_layers_from`, per-layer means, `SerHead.forward_pooled`)."""
    if config.task != "ser":
        raise ConfigError("task", config.task, "'ser': training FLOPs are defined for SER")
    model = _SerModel(config, n_classes, pooling, layer_weights, head)
    apply_adaptation(model.backbone, config.adaptation, init=True)
    for p in model.head.parameters():
        p.requires_grad_(True)
    x = model.example()
    feats: dict[str, float] = {}
    if cached_prefix:
        with torch.no_grad(), FlopCounterMode(display=False) as pre:
            h = model.prefix(x, cached_prefix)
        feats = {f"features.{k}": v for k, v in breakdown(pre.get_flop_counts()).items()}
        x = h
        model.start = cached_prefix
    # module attribution of backward ops needs the forward under the same counter: count a
    # forward alone, then forward + backward; backward = the difference, component by component
    with torch.no_grad(), FlopCounterMode(display=False) as fwd:
        model(x)
    with FlopCounterMode(display=False) as both:
        model(x).sum().backward()
    f, fb = breakdown(fwd.get_flop_counts()), breakdown(both.get_flop_counts())
    out = {f"forward.{k}": v for k, v in f.items()}
    out.update({f"backward.{k}": fb[k] - f.get(k, 0) for k in fb if fb[k] - f.get(k, 0)})
    out.update(feats)
    return FlopsReport(sum(out.values()), out, model.tokens, 0.0, 0, float(config.window),
                       "training", "measured",
                       notes=(f"total under the counter {both.get_total_flops()}",))
