"""The LoRA rank of a configuration against its architecture's dimensions, for the FLOPs path:
`estimate` and the training FLOPs refuse a rank that training refuses (the rule is
`adaptation.check_rank_limits`, which `models.lora_targets.check_lora_rank` applies to the loaded
modules), so `speechbudget flops --adapt lora --rank 5000` is exit 2, not an estimate."""
from __future__ import annotations

from speechbudget.adaptation import check_rank_limits
from speechbudget.architectures import Architecture
from speechbudget.axes import Config


def target_shapes(arch: Architecture) -> dict[str, tuple[int, int]]:
    """(d_out, d_in) of each Linear of an encoder layer of `arch`, by module name."""
    d = arch.dims
    if arch.is_whisper:
        D, F = d.d_model, d.ffn_dim
        return {"q_proj": (D, D), "k_proj": (D, D), "v_proj": (D, D), "out_proj": (D, D),
                "fc1": (F, D), "fc2": (D, F)}
    D, F = d.hidden_size, d.ffn_dim
    shapes = {"q_proj": (D, D), "k_proj": (D, D), "v_proj": (D, D), "out_proj": (D, D),
              "intermediate_dense": (F, D), "output_dense": (D, F)}
    if arch.family == "wavlm":   # gated relative position bias: Linear(head_dim, 8)
        shapes["gru_rel_pos_linear"] = (8, D // d.num_heads)
    return shapes


def check_config_rank(config: Config) -> None:
    """ConfigError("adaptation.rank") when a LoRA/DAMA adapter of `config` would have a rank above
    min(d_in, d_out) of a weight it targets in the architecture (see the module docstring).
    Targets that are no Linear of an encoder layer are left to the target checks."""
    a = config.adaptation
    if a.method not in ("lora", "dama"):
        return
    shapes = target_shapes(config.arch)
    dims = [(min(shapes[t]), f"{shapes[t][0]}x{shapes[t][1]} {t}") for t in a.targets
            if t in shapes]
    limit = min(dims) if dims else None
    check_rank_limits(a, [limit] * config.arch.encoder_layers)
