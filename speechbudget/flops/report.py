"""FlopsReport: the result of counting, analytic or measured.

Convention (everywhere in speechbudget): 1 multiply-add = 2 FLOPs. Matrix multiplications
(linear layers, the LM head), convolutions and attention (QK^T and AV) are counted; element-wise
ops, softmax, normalisation, activations, embedding lookups and pooling are not (where we know
them they are listed apart in `elementwise`, never added to `total`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONVENTION = ("1 multiply-add = 2 FLOPs; matmuls, convolutions and attention (QK^T, AV) counted; "
              "element-wise ops, softmax, norms, activations, embedding lookups and pooling not "
              "counted (listed apart as 'elementwise' where known)")


@dataclass(slots=True)
class FlopsReport:
    """FLOPs of one configuration. `breakdown` maps component -> FLOPs and sums to `total`."""

    total: float
    breakdown: dict[str, float]
    encoder_tokens: int = 0          # encoder tokens after the token stride (Whisper); frames (SSL)
    decoded_tokens: float = 0.0      # ASR: generated tokens counted (incl. end-of-text)
    prompt_tokens: int = 0           # ASR: decoder prompt tokens counted
    audio_s: float = 0.0             # seconds of audio the count covers
    kind: str = "inference"          # "inference" | "training"
    method: str = "analytic"         # "analytic" | "measured"
    elementwise: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def gflops(self) -> float:
        return self.total / 1e9

    @property
    def gflops_per_audio_s(self) -> float:
        return self.total / 1e9 / self.audio_s if self.audio_s > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "gflops": self.gflops, "breakdown": dict(self.breakdown),
                "encoder_tokens": self.encoder_tokens, "decoded_tokens": self.decoded_tokens,
                "prompt_tokens": self.prompt_tokens, "audio_s": self.audio_s,
                "gflops_per_audio_s": self.gflops_per_audio_s, "kind": self.kind,
                "method": self.method, "elementwise": dict(self.elementwise),
                "notes": list(self.notes), "convention": CONVENTION}

    def scaled(self, factor: float, kind: str | None = None) -> "FlopsReport":
        """The same report times `factor` (e.g. clips x epochs)."""
        return FlopsReport(self.total * factor, {k: v * factor for k, v in self.breakdown.items()},
                           self.encoder_tokens, self.decoded_tokens, self.prompt_tokens,
                           self.audio_s * factor, kind or self.kind, self.method,
                           {k: v * factor for k, v in self.elementwise.items()}, self.notes)
