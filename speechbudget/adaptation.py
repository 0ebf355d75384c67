"""DAMA's per-layer schedule (Depth-Aware Model Adaptation, arXiv 2602.01008): pure arithmetic on
an `axes.Adaptation`, beside the configuration, so that both `flops` (training FLOPs) and
`tasks.ser.adapt` (the PEFT model) read the same plan. docs/ser.md has the recipe:

    u_i   = i / (L - 1)                      depth of encoder layer i in [0, 1]  (L = 1: u = 0)
    p_i   = |2 u_i - 1| ** power             U profile: 1 at both ends, 0 in the middle
    r_i   = round(min_rank + (max_rank - min_rank) * p_i)   LoRA rank of layer i (0: not adapted)
    a_i   = alpha * r_i / max_rank           alpha/r kept constant across layers
    basis = frozen (only lora_B trains) where p_i < frozen_below and r_i > 0
"""
from __future__ import annotations

from dataclasses import dataclass

DAMA_POWER = 2.0
DAMA_MIN_RANK = 0
DAMA_FROZEN_BELOW = 0.25
DAMA_INIT = "pissa"


def dama_profile(num_layers: int, power: float = DAMA_POWER) -> list[float]:
    """The U-shaped capacity profile p_i in [0, 1] over `num_layers` encoder layers."""
    if num_layers < 1:
        raise ValueError(f"num_layers={num_layers}: expected >= 1")
    if num_layers == 1:
        return [1.0]
    return [abs(2 * i / (num_layers - 1) - 1) ** power for i in range(num_layers)]


def dama_ranks(num_layers: int, max_rank: int, min_rank: int = DAMA_MIN_RANK,
               power: float = DAMA_POWER) -> list[int]:
    """DAMA's LoRA rank per encoder layer: `max_rank` at the first and last layer, falling as
    |2u - 1| ** power towards `min_rank` in the middle (0 = that layer gets no LoRA)."""
    if not isinstance(max_rank, int) or max_rank < 1:
        raise ValueError(f"max_rank={max_rank!r}: expected an integer >= 1")
    if not 0 <= min_rank <= max_rank:
        raise ValueError(f"min_rank={min_rank!r}: expected 0..max_rank ({max_rank})")
    if not power > 0:
        raise ValueError(f"power={power!r}: expected > 0")
    # round half up (not banker's rounding) so that the schedule reads as documented
    return [int(min_rank + (max_rank - min_rank) * p + 0.5) for p in dama_profile(num_layers, power)]


def dama_frozen_basis(num_layers: int, max_rank: int, min_rank: int = DAMA_MIN_RANK,
                      power: float = DAMA_POWER, frozen_below: float = DAMA_FROZEN_BELOW
                      ) -> list[bool]:
    """Per layer: True where the LoRA basis (lora_A) is frozen: the middle layers (p_i <
    frozen_below) that get any LoRA at all."""
    ranks = dama_ranks(num_layers, max_rank, min_rank, power)
    return [p < frozen_below and r > 0 for p, r in zip(dama_profile(num_layers, power), ranks)]


@dataclass(frozen=True)
class DamaPlan:
    ranks: tuple[int, ...]
    alphas: tuple[float, ...]
    frozen_basis: tuple[bool, ...]


def dama_plan(num_layers: int, max_rank: int, alpha: float | None = None,
              min_rank: int = DAMA_MIN_RANK, power: float = DAMA_POWER,
              frozen_below: float = DAMA_FROZEN_BELOW) -> DamaPlan:
    ranks = dama_ranks(num_layers, max_rank, min_rank, power)
    alpha = float(2 * max_rank if alpha is None else alpha)
    return DamaPlan(tuple(ranks), tuple(alpha * r / max_rank for r in ranks),
                    tuple(dama_frozen_basis(num_layers, max_rank, min_rank, power, frozen_below)))


def full_finetuning(num_layers: int):
    """The full fine-tuning reference: every encoder (transformer) layer trains, i.e.
    `Adaptation(unfreeze_top=num_layers)`. The convolutional stem (Whisper conv1/conv2 and its
    positional table; the wav2vec2 CNN feature encoder) and Whisper's final LayerNorm stay frozen,
    as in the usual SER fine-tuning recipes that freeze the feature encoder."""
    from speechbudget.axes import Adaptation

    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
        raise ValueError(f"num_layers={num_layers!r}: expected an integer >= 1")
    return Adaptation(unfreeze_top=num_layers)


def lora_layers(adaptation, num_layers: int, rank: int | None = None) -> list[int]:
    """LoRA rank per encoder layer (0: no LoRA there) of `adaptation` (an `axes.Adaptation`):
    `rank` in every layer, or in the top `lora_top` layers only; DAMA's plan; none: all 0.
    `rank` replaces `adaptation.rank` (what another rank would give)."""
    rank = adaptation.rank if rank is None else rank
    if adaptation.method == "dama":
        return list(dama_ranks(num_layers, rank))
    if adaptation.method != "lora":
        return [0] * num_layers
    first = num_layers - adaptation.lora_top if adaptation.lora_top else 0
    return [rank if i >= first else 0 for i in range(num_layers)]


def frozen_prefix(adaptation, num_layers: int) -> int:
    """How many encoder layers, from the bottom, have nothing that trains (no LoRA, not
    unfrozen): their output is the frozen model's, needs no gradient and can be cached.
    `num_layers` for a frozen backbone."""
    trains = [r > 0 for r in lora_layers(adaptation, num_layers)]
    for i in range(num_layers - adaptation.unfreeze_top, num_layers):
        trains[i] = True
    return next((i for i, t in enumerate(trains) if t), num_layers)


def check_rank_limits(adaptation, layer_limits, outside_limit=None) -> None:
    """The rank rule, on dimensions alone (shared by `models.lora_targets.check_lora_rank`, which
    reads them off the loaded modules, and `flops.lora_rank`, off the architecture): a LoRA
    adapter of rank r on a weight of d_out x d_in adds nothing a full-rank update would not once
    r > min(d_in, d_out) (it only costs FLOPs), and PiSSA (DAMA) builds a smaller adapter than
    configured. `layer_limits`: per encoder layer, (min(d_in, d_out), 'd_out x d_in name') of its
    smallest targeted weight, or None (no targeted weight there); `outside_limit`: the same for
    targeted weights outside the layers (plain LoRA on every layer adapts those too; lora_top and
    DAMA name the layers). ConfigError("adaptation.rank") naming the value, the weight and the
    largest rank that fits; nothing for methods other than 'lora' and 'dama'."""
    from speechbudget.axes import ConfigError

    if adaptation.method not in ("lora", "dama"):
        return
    n = len(layer_limits)
    limits = list(layer_limits) + [outside_limit]
    where = [f"encoder layer {i}" for i in range(n)] + ["the encoder"]

    def ranks(rank: int) -> list[int]:
        outside = rank if adaptation.method == "lora" and not adaptation.lora_top else 0
        return lora_layers(adaptation, n, rank) + [outside]

    def fits(rank: int) -> bool:
        return all(lim is None or r <= lim[0] for r, lim in zip(ranks(rank), limits))

    if fits(adaptation.rank):
        return
    k, r, (lim_k, weight) = next((k, r, lim) for k, (r, lim) in enumerate(
        zip(ranks(adaptation.rank), limits)) if lim is not None and r > lim[0])
    # each layer's rank grows with `rank` (LoRA: equal to it; DAMA: round(rank * p_i)), and no
    # layer's rank exceeds `rank`: the largest that fits is at most the largest dimension
    top = min(adaptation.rank - 1, max(lim[0] for lim in limits if lim is not None))
    allowed = next((x for x in range(top, 0, -1) if fits(x)), 0)
    lead = f"DAMA gives {where[k]} rank {r}; " if adaptation.method == "dama" else ""
    raise ConfigError("adaptation.rank", adaptation.rank,
                      f"{lead}the {weight} weight of {where[k]} takes a LoRA rank of at most "
                      f"min(d_in, d_out) = {lim_k} (a larger one adds only FLOPs); use a rank "
                      f"of at most {allowed} for this model")
