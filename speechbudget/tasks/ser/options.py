"""SER training options and the head they resolve to (pure: no I/O, no model).

`TrainOptions` holds every knob of `tasks.ser.train.fit`; `head="auto"` is made concrete per
configuration by `TrainOptions.for_config` (`auto_head`), and `check_head` says when a head cannot
train with a configuration's backbone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from speechbudget.axes import Config
from speechbudget.tasks.ser.adapt import is_frozen
from speechbudget.tasks.ser.heads import HEAD_KINDS, POOLINGS
from speechbudget.tasks.ser.linear_select import SCORES, SELECTIONS

LINEAR_C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)
SEED_MAX = 2**32 - 1  # the largest seed every generator a fit seeds takes (scikit-learn's)
HEAD_INITS = ("random", "probe")


@dataclass
class TrainOptions:
    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3            # head
    backbone_lr: float = 2e-4   # LoRA / DAMA / unfrozen layers
    weight_decay: float = 0.05
    warmup_ratio: float = 0.1
    patience: int = 15          # epochs without a better validation UA before stopping
    seed: int = 0
    pooling: str = "mean"
    layer_weights: bool = True
    dropout: float = 0.5
    train_crop: str = "random"  # for a training backbone; cached features are centre crops
    cache_prefix: bool = True   # centre crops: cache the frozen layers below the first that trains
    head: str = "mlp"           # "linear": LogisticRegression on the standardised layer means
    linear_c: tuple[float, ...] = LINEAR_C_GRID  # inverse L2 strengths tried
    linear_select: str = "validation"  # how C is chosen: "validation" UA, or "actors" (grouped CV)
    linear_cv_folds: int = 5    # "actors": folds of actors (fewer with fewer actors)
    linear_score: str = "ua"    # what the choice of C maximises: held-out "ua" or "log-loss"
    head_init: str = "random"   # "probe": LP-FT for a training backbone (see the module text)
    probe_epochs: int = 60      # epochs of an MLP probe (head_init "probe")
    refit: bool = True          # after choosing on validation: refit on training + validation
    eval_batch_size: int = 16
    progress: bool = False      # fit() draws its own bar on stderr (when given no callback)

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling={self.pooling!r}: expected one of {', '.join(POOLINGS)}")
        if self.head not in HEAD_KINDS + ("auto",):
            raise ValueError(f"head={self.head!r}: expected one of "
                             f"{', '.join(HEAD_KINDS + ('auto',))}")
        if self.head == "linear" and self.pooling != "mean":
            raise ValueError(f"head='linear' needs pooling='mean', got {self.pooling!r}")
        self.linear_c = tuple(float(c) for c in self.linear_c)
        if not self.linear_c or not all(c > 0 for c in self.linear_c):
            raise ValueError(f"linear_c={self.linear_c!r}: expected one or more numbers > 0")
        if self.linear_select not in SELECTIONS:
            raise ValueError(f"linear_select={self.linear_select!r}: expected one of "
                             f"{', '.join(SELECTIONS)}")
        if self.linear_score not in SCORES:
            raise ValueError(f"linear_score={self.linear_score!r}: expected one of "
                             f"{', '.join(SCORES)}")
        if int(self.linear_cv_folds) < 2:
            raise ValueError(f"linear_cv_folds={self.linear_cv_folds!r}: expected an integer >= 2")
        if self.head_init not in HEAD_INITS:
            raise ValueError(f"head_init={self.head_init!r}: expected one of "
                             f"{', '.join(HEAD_INITS)}")
        if self.train_crop not in ("random", "center"):
            raise ValueError(f"train_crop={self.train_crop!r}: expected 'random' or 'center'")
        if not 0 <= int(self.seed) <= SEED_MAX:
            # numpy's default_rng takes no negative seed, scikit-learn's LogisticRegression none
            # above 2**32 - 1 (ValueErrors, exit 70, after loading and extracting features)
            raise ValueError(f"seed={self.seed!r}: expected an integer 0..{SEED_MAX}")
        for name in ("epochs", "batch_size", "eval_batch_size", "patience", "probe_epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected an integer >= 1")
        # an infinite learning rate trained to NaN weights and saved them (exit 0)
        if not (0 < self.lr < math.inf and 0 < self.backbone_lr < math.inf
                and 0 <= self.dropout < 1):
            raise ValueError(f"lr={self.lr}, backbone_lr={self.backbone_lr}, dropout="
                             f"{self.dropout}: learning rates must be finite and > 0, dropout "
                             f"in [0, 1)")

    def for_config(self, config: Config) -> "TrainOptions":
        """These options with head "auto" made concrete for `config` (`auto_head`)."""
        if self.head != "auto":
            return self
        return replace(self, head=auto_head(config, self.pooling, self.layer_weights))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainOptions":
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"unknown training option {bad[0]!r}; options are {sorted(known)}")
        return cls(**d)


def auto_head(config: Config, pooling: str = "mean", layer_weights: bool = True) -> str:
    """The head `ser train` uses by default: "linear" for a frozen backbone with mean pooling over
    all layers (the better head on held-out actors in benchmarks/ser_axes.py's duration table,
    "linear - MLP"; docs/ser.md), else "mlp" (the only head that trains from scratch with an
    adapted backbone, and the one for other poolings or the last layer)."""
    if is_frozen(config.adaptation) and pooling == "mean" and layer_weights:
        return "linear"
    return "mlp"


def check_head(config: Config, options: TrainOptions) -> None:
    """ValueError naming the option when the head cannot train with this configuration's
    backbone: the linear head is fitted on a frozen backbone, or probed first (LP-FT)."""
    options = options.for_config(config)
    if options.head == "linear" and not is_frozen(config.adaptation) \
            and options.head_init != "probe":
        raise ValueError(f"head='linear' is fitted on cached features of a frozen backbone; "
                         f"adaptation {config.adaptation.label!r} trains the backbone (use "
                         f"head='mlp', or head_init='probe' to fine-tune the fitted head)")
