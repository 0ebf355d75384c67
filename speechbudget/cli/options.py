"""Options that several commands share, parsed one way."""
from __future__ import annotations

TARGETS_HELP = ("LoRA target modules, comma-separated (default: the backbone's usual ones, "
                "q_proj,v_proj; on WavLM, whose attention bypasses them, "
                "intermediate_dense,output_dense)")


def parse_targets(text: str | None) -> tuple[str, ...] | None:
    """`--targets a,b` as a tuple of names; None (not given) leaves the choice to the backbone.
    An empty or blank list stays empty, so the configuration refuses it by name."""
    if text is None:
        return None
    return tuple(t.strip() for t in text.split(",") if t.strip())
