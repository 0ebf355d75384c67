"""The SER model (backbone + head), what a fit returns, and how a fresh one is built."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import MutableMapping, Sequence

import torch
from torch import Tensor, nn

from speechbudget.axes import Config
from speechbudget.tasks.ser.adapt import apply_adaptation, is_frozen
from speechbudget.tasks.ser.backbone import Backbone, build_backbone
from speechbudget.tasks.ser.heads import SerHead
from speechbudget.tasks.ser.metrics import SerMetrics
from speechbudget.tasks.ser.options import TrainOptions, check_head


class SerModel(nn.Module):
    """Backbone + head + label set + the Config that produced them."""

    def __init__(self, backbone: Backbone, head: SerHead, labels: Sequence[str], config: Config,
                 source: str):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.labels, self.config, self.source = list(labels), config, source

    def forward(self, waves: Tensor, n_valid: Sequence[int]) -> Tensor:
        hidden, mask = self.backbone(waves, n_valid)
        return self.head(hidden, mask)


@dataclass
class TrainResult:
    model: SerModel
    history: list[dict[str, float]]
    best_epoch: int
    val: SerMetrics | None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    trainable_params: int = 0
    n_train: int = 0
    epochs_run: int = 0
    test: SerMetrics | None = None  # set by runner.train
    # LP-FT (head_init "probe"): the frozen fit the head started from, and (refit) the run that
    # chose the epochs; kept for their history, counts and FLOPs, their models dropped (None)
    probe: "TrainResult | None" = None
    selection: "TrainResult | None" = None
    config: Config | None = None  # what was trained (a probe: the frozen configuration)
    prefix: int = 0  # layers below this one ran once per clip (a cached frozen prefix), not per step
    # clips this run passed through the frozen backbone once (features, statistics, the prefix)
    feature_ids: frozenset = frozenset()
    # the labels of the readable clips the returned head was fitted on (a label without one: the
    # head never learned it, and cannot predict it)
    classes: tuple[str, ...] = ()


def build_model(config: Config, labels: Sequence[str], options: TrainOptions,
                source: str | None = None, device: str = "cpu", init: bool | str | None = None,
                encoders: MutableMapping | None = None) -> SerModel:
    """A fresh (seeded) SER model: backbone loaded and adapted, head initialised. A frozen
    backbone reuses the encoder kept in `encoders` (a cache the caller owns), if given."""
    frozen = is_frozen(config.adaptation)
    backbone = build_backbone(config, source, device, encoders if frozen else None)
    torch.manual_seed(options.seed)  # after loading: LoRA init and head init are seeded alike
    if not frozen:
        apply_adaptation(backbone.encoder, config.adaptation, init=init)
    check_head(config, options)
    head = SerHead(backbone.hidden_size, backbone.num_hidden_states, len(labels), options.pooling,
                   options.layer_weights, options.dropout, kind=options.head).to(backbone.device)
    return SerModel(backbone, head, labels, config, source or config.model)
