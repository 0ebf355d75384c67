"""Result records shared by tasks, the sweep store and the analysis (plain dataclasses)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ItemResult:
    """One evaluated item (an utterance or a clip) under one configuration.

    ASR: `errors` word errors (S+D+I) against `n_ref` reference words after normalisation.
    SER: `errors` is 0 or 1, `n_ref` is 1, `prediction`/`reference` are labels.
    A failed item has ok=False and `error` saying why (file and reason); it is never dropped.
    """

    item_id: str
    ok: bool
    prediction: str | None = None
    reference: str | None = None
    errors: int | None = None
    n_ref: int | None = None
    decoded_tokens: int | None = None
    audio_s: float | None = None
    chunks: int | None = None
    gflops: float | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds: features/encoder/decoder/...
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ConfigMetrics:
    """What one configuration achieved on a dataset, with its cost.

    `metric` is "wer" (lower is better) or "ua" (higher is better); `error` is the quantity every
    frontier minimises: WER, or 1 - UA.
    """

    config_key: str
    task: str
    metric: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n_items: int = 0                       # items scored (the metric's items)
    n_failed: int = 0                      # items that failed, not in n_items
    gflops: float | None = None            # mean inference GFLOPs per item
    gflops_per_audio_s: float | None = None
    train_gflops: float | None = None      # SER: total training GFLOPs
    rtf: float | None = None               # processing seconds per audio second (this machine)
    rtfx: float | None = None              # audio seconds per processing second
    peak_mem_mb: float | None = None
    timings: dict[str, float] = field(default_factory=dict)  # totals per stage, seconds
    extra: dict[str, Any] = field(default_factory=dict)       # wa, f1, confusion, threads, device...
    # latency as a distribution: per-item seconds at batch size 1 after warm-up, on the
    # `latency_n` items it was measured on (None: not measured); rtf_p50/p90 are percentiles of
    # the per-item latency / audio seconds. `rtf` above is the batched throughput's.
    latency_p50_s: float | None = None
    latency_p90_s: float | None = None
    rtf_p50: float | None = None
    rtf_p90: float | None = None
    latency_n: int = 0

    @property
    def higher_is_better(self) -> bool:
        return self.metric in ("ua", "wa", "accuracy", "f1")

    @property
    def error(self) -> float:
        return 1.0 - self.value if self.higher_is_better else self.value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
