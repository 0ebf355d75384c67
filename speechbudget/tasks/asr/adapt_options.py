"""ASR adaptation's training options and record (pure: no I/O, no model): `DistillOptions`
(`options_identity`: the options that change what is trained), `TrainRecord` (what training
records: adapter.json's `train`) and `AdapterError`."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


class AdapterError(ValueError):
    """An adapter that does not fit: the message names the field (or file) and both values."""


@dataclass(frozen=True)
class DistillOptions:
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 25
    snapshot_steps: tuple[int, ...] = ()   # also save a full adapter at these steps (step-NNNN/)

    def __post_init__(self) -> None:
        for name in ("batch_size", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise AdapterError(f"{name}={v!r}: expected an integer >= 1")
        if not self.lr > 0:
            raise AdapterError(f"lr={self.lr!r}: expected a number > 0")


@dataclass
class TrainRecord:
    steps: int = 0
    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0         # training steps (this run and any earlier runs resumed from)
    teacher_s: float = 0.0      # the teacher passes
    peak_mem_mb: float | None = None  # peak RSS sampled during the steps; None: not measurable
    items: int = 0
    step_flops: float = 0.0     # FLOPs of the optimiser steps (flops.asr_training.step_flops)
    teacher_flops: float = 0.0  # FLOPs of the teacher's greedy passes (once per utterance)
    flops_breakdown: dict[str, float] = field(default_factory=dict)

    @property
    def train_flops(self) -> float:
        """Everything this adapter cost to train: the teacher passes and the steps."""
        return self.step_flops + self.teacher_flops


def options_identity(options: DistillOptions) -> dict:
    """The options that change what is trained (not how often it is checkpointed)."""
    d = asdict(options)
    d.pop("checkpoint_every")
    d.pop("snapshot_steps")
    return d
