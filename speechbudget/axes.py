"""The configuration space: one frozen, validated, hashable value per configuration.

Axes (after the study's notation):
  xN  `model`      — which architecture (size);
  xT  `window`     — ASR: input window in seconds (<= 30 for Whisper) or "dynamic" (fitted to
                     each utterance, plus `dynamic_margin_s`); SER: clip duration in seconds;
  xV  `stride`     — keep one encoder token in `stride`, by `pool` ("mean" of each group of
                     `stride` tokens, "drop" all but the first, or "attn": keep the ceil(T/s)
                     tokens that receive the most attention, in time order), applied after encoder layer
                     `stride_at` (0 = before the first layer, L = after the last, before the final
                     layer norm) or on the encoder "output" (after the final layer norm).
plus `adaptation` (none | LoRA | DAMA, optionally with the top-k layers unfrozen), `precision`
and, for ASR, `beam_size`.

Equivalent settings are canonicalised (stride 1 ignores where/how it applies), so two configurations
that compute the same thing compare and hash equal.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from typing import Any, Literal

from speechbudget.architectures import Architecture, UnknownModelError, get_architecture
from speechbudget.geometry import ENCODER_TOKENS_PER_S, MEL_FRAMES_PER_S, seekable_s
from speechbudget.typed_numbers import is_digits

TASKS = ("asr", "ser")
POOLS = ("mean", "drop", "attn")
PRECISIONS = ("fp32", "bf16", "int8-dynamic", "fp16")  # fp16: CUDA only (see cast_for_precision)
ADAPT_METHODS = ("none", "lora", "dama")
ADAPT_OBJECTIVES = ("supervised", "distill")
DYNAMIC = "dynamic"
TIMESTAMPS = ("auto", "on", "off")
LONGFORM_RULES = ("sequential", "chunks")
MIN_SER_DURATION_S = 0.1
DEFAULT_LORA_TARGETS = ("q_proj", "v_proj")
# WavLM's attention calls F.multi_head_attention_forward with these modules' weights (no LoRA hook)
WAVLM_ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
# ...so LoRA on WavLM defaults to its feed-forward layers, the Linear layers it does call
WAVLM_LORA_TARGETS = ("intermediate_dense", "output_dense")


def default_lora_targets(family: str) -> tuple[str, ...]:
    """The LoRA target modules an adaptation gets when it names none: the attention's query and
    value projections, except on WavLM, whose attention bypasses them (its feed-forward layers)."""
    return WAVLM_LORA_TARGETS if family == "wavlm" else DEFAULT_LORA_TARGETS


from speechbudget.errors import SpeechbudgetError  # noqa: E402


class ConfigError(SpeechbudgetError, ValueError):
    """An invalid configuration value; names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: Any, allowed: str):
        self.field = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {field_name}={value!r}: {allowed}")


@dataclass(frozen=True)
class Adaptation:
    """How the backbone is adapted. `method` none with `unfreeze_top` 0 is a frozen backbone.

    `rank` is the LoRA rank (for DAMA the largest per-layer rank, given to the outermost layers);
    `alpha` defaults to 2 x rank; `unfreeze_top` trains the top k encoder layers fully;
    `lora_top` puts LoRA in the top k encoder layers only (0: every layer; SER, method 'lora'),
    so that the frozen layers below need no backward pass and their output can be cached.
    `objective` is what trains them: "supervised" (labels: SER's classes) or "distill" (ASR only:
    label-free self-distillation towards the same model at 30 s / stride 1, see
    tasks.asr.adapt); `steps` the optimiser steps of a distilled adapter (part of its identity).
    Both are left out of the serialised form at their defaults, so older keys are unchanged.
    `targets` None means the backbone's usual LoRA targets (`default_lora_targets`): `Config`
    makes it concrete for its model, so a configuration always names its targets.
    """

    method: Literal["none", "lora", "dama"] = "none"
    rank: int = 0
    alpha: float | None = None
    targets: tuple[str, ...] | None = None
    unfreeze_top: int = 0
    objective: str = "supervised"
    steps: int = 0
    lora_top: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.lora_top, bool) or not isinstance(self.lora_top, int) \
                or self.lora_top < 0:
            raise ConfigError("adaptation.lora_top", self.lora_top, "an integer >= 0")
        if self.lora_top and self.method != "lora":
            raise ConfigError("adaptation.lora_top", self.lora_top,
                              "0 unless adaptation.method is 'lora' (DAMA's ranks follow the "
                              "depth of every layer)")
        if self.objective not in ADAPT_OBJECTIVES:
            raise ConfigError("adaptation.objective", self.objective,
                              f"one of {', '.join(ADAPT_OBJECTIVES)}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ConfigError("adaptation.steps", self.steps, "an integer >= 0")
        if self.objective == "distill" and self.method == "none" and not self.unfreeze_top:
            raise ConfigError("adaptation.objective", self.objective,
                              "'distill' needs something to train: method 'lora' (a rank) or "
                              "unfreeze_top > 0")
        if self.method not in ADAPT_METHODS:
            raise ConfigError("adaptation.method", self.method, f"one of {', '.join(ADAPT_METHODS)}")
        if isinstance(self.targets, list):
            object.__setattr__(self, "targets", tuple(self.targets))
        if not isinstance(self.unfreeze_top, int) or isinstance(self.unfreeze_top, bool) \
                or self.unfreeze_top < 0:
            raise ConfigError("adaptation.unfreeze_top", self.unfreeze_top, "an integer >= 0")
        if self.method == "none":
            if self.rank != 0:
                raise ConfigError("adaptation.rank", self.rank, "0 when adaptation.method is 'none'")
            # canonical: no LoRA settings without LoRA
            object.__setattr__(self, "alpha", None)
            object.__setattr__(self, "targets", ())
            return
        if not isinstance(self.rank, int) or isinstance(self.rank, bool) or self.rank <= 0:
            raise ConfigError("adaptation.rank", self.rank, "an integer > 0 for LoRA/DAMA")
        if self.alpha is None:
            object.__setattr__(self, "alpha", float(2 * self.rank))
        elif not float(self.alpha) > 0:
            raise ConfigError("adaptation.alpha", self.alpha, "a number > 0")
        else:
            object.__setattr__(self, "alpha", float(self.alpha))
        if self.targets is not None and (
                not isinstance(self.targets, tuple) or not self.targets
                or not all(isinstance(t, str) and t for t in self.targets)):
            raise ConfigError("adaptation.targets", self.targets,
                              "a non-empty list of module names, e.g. ['q_proj', 'v_proj'], or "
                              "none for the backbone's usual ones")

    def to_dict(self) -> dict[str, Any]:
        """The canonical mapping: `objective`, `steps` and `lora_top` only where not at their
        defaults (so keys from before they existed are unchanged)."""
        d = asdict(self)
        d["targets"] = None if self.targets is None else list(self.targets)
        for k, default in (("objective", "supervised"), ("steps", 0), ("lora_top", 0)):
            if d[k] == default:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Adaptation":
        """An Adaptation from its mapping; an unknown key is a ConfigError naming it."""
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ConfigError(f"adaptation.{bad[0]}", d[bad[0]],
                              f"not an adaptation field; fields are {', '.join(sorted(known))}")
        d = dict(d)
        if isinstance(d.get("targets"), list):
            d["targets"] = tuple(d["targets"])
        return cls(**d)

    @property
    def label(self) -> str:
        parts = [] if self.method == "none" else [f"{self.method}{self.rank}"]
        if self.lora_top:
            parts[0] += f"@top{self.lora_top}"
        if self.unfreeze_top:
            parts.append(f"top{self.unfreeze_top}")
        if self.objective == "distill":
            parts.append(f"distill{self.steps}")
        elif self.steps:  # supervised ASR adaptation for a number of steps
            parts.append(f"sup{self.steps}")
        return "+".join(parts) or "frozen"


def parse_window(value: Any) -> float | str:
    """Window as given by a user: seconds (15, "15", "15s"), encoder frames ("750f"), "dynamic"."""
    if isinstance(value, str):
        v = value.strip().lower()
        if v == DYNAMIC:
            return DYNAMIC
        # ASCII digits only ([0-9]: \d also matches other scripts' digits)
        m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*(s|sec|f|frames)?", v)
        if not m:
            raise ConfigError("window", value, "seconds (e.g. 15 or '15s'), encoder frames "
                                               "(e.g. '750f'), or 'dynamic'")
        num = float(m.group(1))
        return num / ENCODER_TOKENS_PER_S if m.group(2) in ("f", "frames") else num
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError("window", value, "a number of seconds or 'dynamic'")
    return float(value)


@dataclass(frozen=True)
class Config:
    """One point of the joint space. Construct with keywords; invalid values raise ConfigError."""

    task: Literal["asr", "ser"]
    model: str
    window: float | str = 30.0
    stride: int = 1
    stride_at: int | str = "output"
    pool: Literal["mean", "drop", "attn"] = "mean"
    adaptation: Adaptation = field(default_factory=Adaptation)
    precision: Literal["fp32", "bf16", "int8-dynamic", "fp16"] = "fp32"
    beam_size: int = 1
    dynamic_margin_s: float = 1.0
    # ASR: timestamp tokens "on" / "off", or "auto" (on for audio longer than the window, which
    # the sequential long-form rule needs to seek; off for audio that fits one window)
    timestamps: Literal["auto", "on", "off"] = "auto"
    # ASR, audio longer than the window: "sequential" (Whisper's: decode a window, keep its
    # complete segments, seek to the last complete timestamp) or "chunks" (equal, non-overlapping
    # chunks decoded on their own: the old rule, kept for comparison)
    longform: Literal["sequential", "chunks"] = "sequential"

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if self.task not in TASKS:
            raise ConfigError("task", self.task, f"one of {', '.join(TASKS)}")
        try:
            arch = get_architecture(self.model)
        except UnknownModelError as e:
            raise ConfigError("model", self.model, str(e).split(": ", 1)[1]) from None
        set_("model", arch.name)
        if self.task == "asr" and not arch.is_whisper:
            raise ConfigError("model", self.model, "ASR runs Whisper models only")
        if isinstance(self.adaptation, dict):
            set_("adaptation", Adaptation.from_dict(self.adaptation))
        if not isinstance(self.adaptation, Adaptation):
            raise ConfigError("adaptation", self.adaptation, "an Adaptation or its mapping")
        if self.adaptation.method != "none" and self.adaptation.targets is None:
            set_("adaptation", replace(self.adaptation,
                                       targets=default_lora_targets(arch.family)))
        self._check_window(arch)
        self._check_stride(arch)
        bypassed = sorted(set(self.adaptation.targets) & set(WAVLM_ATTENTION_PROJECTIONS))
        if arch.family == "wavlm" and bypassed:
            raise ConfigError("adaptation.targets", list(self.adaptation.targets),
                              f"no {', '.join(bypassed)} for WavLM: its attention reads those weights "
                              "directly, so LoRA there would never run; target the feed-forward "
                              "layers (intermediate_dense, output_dense)")
        if self.adaptation.objective == "distill" and self.task != "asr":
            raise ConfigError("adaptation.objective", "distill", "'supervised' for SER "
                              "(self-distillation is defined for ASR)")
        if self.adaptation.unfreeze_top > arch.encoder_layers:
            raise ConfigError("adaptation.unfreeze_top", self.adaptation.unfreeze_top,
                              f"at most the {arch.encoder_layers} encoder layers of {arch.name}")
        if self.adaptation.lora_top and self.task != "ser":
            raise ConfigError("adaptation.lora_top", self.adaptation.lora_top,
                              "0 for ASR (LoRA in the top layers only is an SER option)")
        if self.adaptation.lora_top > arch.encoder_layers:
            raise ConfigError("adaptation.lora_top", self.adaptation.lora_top,
                              f"at most the {arch.encoder_layers} encoder layers of {arch.name}")
        if self.precision not in PRECISIONS:
            raise ConfigError("precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        if not isinstance(self.beam_size, int) or isinstance(self.beam_size, bool) or self.beam_size < 1:
            raise ConfigError("beam_size", self.beam_size, "an integer >= 1")
        if self.task == "ser" and self.beam_size != 1:
            raise ConfigError("beam_size", self.beam_size, "1 for SER (no decoding)")
        self._check_longform()

    def _check_longform(self) -> None:
        ts = self.timestamps
        if isinstance(ts, bool):
            ts = "on" if ts else "off"
        if ts not in TIMESTAMPS:
            raise ConfigError("timestamps", self.timestamps, f"one of {', '.join(TIMESTAMPS)}")
        if self.longform not in LONGFORM_RULES:
            raise ConfigError("longform", self.longform, f"one of {', '.join(LONGFORM_RULES)}")
        if self.task == "ser":  # canonical: no decoding
            ts = "auto"
            object.__setattr__(self, "longform", "sequential")
        object.__setattr__(self, "timestamps", ts)

    def timestamps_for(self, audio_s: float) -> bool:
        """Whether an utterance of `audio_s` seconds is decoded with timestamp tokens."""
        if self.timestamps == "auto":
            return (self.longform == "sequential"
                    and seekable_s(audio_s) > self.window_s_for(audio_s) + 1e-9)
        return self.timestamps == "on"

    def _check_window(self, arch: Architecture) -> None:
        window = parse_window(self.window)
        object.__setattr__(self, "window", window)
        m = self.dynamic_margin_s
        if isinstance(m, bool) or not isinstance(m, (int, float)):
            raise ConfigError("dynamic_margin_s", m, "a number of seconds >= 0 (not a string)")
        if window == DYNAMIC:
            if self.task != "asr":
                raise ConfigError("window", window, "a clip duration in seconds for SER")
            if not self.dynamic_margin_s >= 0:
                raise ConfigError("dynamic_margin_s", self.dynamic_margin_s, "a number >= 0")
            object.__setattr__(self, "dynamic_margin_s", float(self.dynamic_margin_s))
            return
        object.__setattr__(self, "dynamic_margin_s", 1.0)  # meaningless for a fixed window: default
        limit = arch.max_window_s
        lo = MIN_SER_DURATION_S if self.task == "ser" else 2 / ENCODER_TOKENS_PER_S
        if not window >= lo or (limit is not None and window > limit):
            hi = f"{limit:g}" if limit is not None else "inf"
            raise ConfigError("window", window, f"seconds in [{lo:g}, {hi}] for {arch.name}")
        if arch.is_whisper:
            frames = window * MEL_FRAMES_PER_S
            if abs(frames - round(frames)) > 1e-6 or round(frames) % 2:
                raise ConfigError("window", window, "a whole number of encoder frames (multiples "
                                                    "of 0.02 s) for Whisper")

    def _check_stride(self, arch: Architecture) -> None:
        if not isinstance(self.stride, int) or isinstance(self.stride, bool) or self.stride < 1:
            raise ConfigError("stride", self.stride, "an integer >= 1")
        if self.pool not in POOLS:  # a misspelt value is refused at stride 1 too
            raise ConfigError("pool", self.pool, f"one of {', '.join(POOLS)}")
        at = self.stride_at
        if at != "output" and not is_digits(at) and (
                isinstance(at, bool) or not isinstance(at, int) or at < 0):
            raise ConfigError("stride_at", at, "an encoder layer index >= 0, or 'output'")
        if self.stride == 1:  # canonical: where/how a no-op stride applies does not matter
            object.__setattr__(self, "stride_at", "output")
            object.__setattr__(self, "pool", "mean")
            return
        if not arch.is_whisper:
            raise ConfigError("stride", self.stride, "1 for non-Whisper encoders (token stride "
                                                     "is implemented for Whisper encoders)")
        L = arch.encoder_layers
        at = self.stride_at
        if is_digits(at):
            at = int(at)
            object.__setattr__(self, "stride_at", at)
        if at == "output":
            return
        if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= L:
            raise ConfigError("stride_at", at, f"an encoder layer index 0..{L} of {arch.name}, "
                                               "or 'output'")

    # ---- derived ------------------------------------------------------------------------
    @property
    def arch(self) -> Architecture:
        return get_architecture(self.model)

    @property
    def stride_layer(self) -> int:
        """Number of encoder layers that run before the stride (L for 'output')."""
        return self.arch.encoder_layers if self.stride_at == "output" else int(self.stride_at)

    @property
    def is_dynamic(self) -> bool:
        return self.window == DYNAMIC

    def window_s_for(self, audio_s: float) -> float:
        """The window used for an utterance of `audio_s` seconds (dynamic: fitted, capped; at
        least one encoder token, so empty audio with no margin still has a window)."""
        if not self.is_dynamic:
            return float(self.window)
        frames = 2 * max(1, int(-(-(audio_s + self.dynamic_margin_s) * ENCODER_TOKENS_PER_S // 1)))
        cap = self.arch.max_window_s or float("inf")
        return min(frames / MEL_FRAMES_PER_S, cap)

    def windows_for(self, audio_s: float | None = None) -> tuple[float, int]:
        """(window seconds, number of windows) for `audio_s` seconds of audio (None: one window):
        longer audio is cut into ceil(audio / window) windows, counting whole mel frames only
        (`geometry.seekable_s`: a few trailing samples are no window of their own). A dynamic
        window needs audio_s."""
        if self.is_dynamic and audio_s is None:
            raise ConfigError("audio_s", None, "seconds of audio: needed for a dynamic window")
        window = self.window_s_for(audio_s)
        span = window if audio_s is None else seekable_s(audio_s)
        return window, max(1, math.ceil(span / window - 1e-9))

    @property
    def label(self) -> str:
        w = "dyn" if self.is_dynamic else f"{self.window:g}s"
        parts = [self.model, w]
        if self.stride > 1:
            at = "out" if self.stride_at == "output" else f"L{self.stride_at}"
            parts.append(f"s{self.stride}@{at}-{self.pool}")
        if self.adaptation.method != "none" or self.adaptation.unfreeze_top:
            parts.append(self.adaptation.label)
        if self.precision != "fp32":
            parts.append(self.precision)
        if self.beam_size > 1:
            parts.append(f"beam{self.beam_size}")
        if self.task == "asr" and self.timestamps != "auto":
            parts.append(f"ts-{self.timestamps}")
        if self.task == "asr" and self.longform != "sequential":
            parts.append(self.longform)
        return " ".join(parts)

    # ---- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["adaptation"] = self.adaptation.to_dict()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @cached_property
    def key(self) -> str:
        """Stable identity (hash of the canonical JSON) used by the results store. Computed once
        per Config (the store, the report and the analysis read it in loops): a Config is frozen,
        and a changed copy (`with_`, dataclasses.replace) is a new one with its own key."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(unknown[0], d[unknown[0]], f"not a configuration field; fields are "
                                                         f"{', '.join(sorted(known))}")
        d = dict(d)
        if isinstance(d.get("adaptation"), dict):
            d["adaptation"] = Adaptation.from_dict(d["adaptation"])
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> "Config":
        return cls.from_dict(json.loads(s))

    def to_yaml(self) -> str:
        import yaml
        return yaml.safe_dump(self.to_dict(), sort_keys=True)

    @classmethod
    def from_yaml(cls, s: str) -> "Config":
        import yaml
        return cls.from_dict(yaml.safe_load(s))

    def with_(self, **changes: Any) -> "Config":
        """A copy with some axes changed (validated again)."""
        return replace(self, **changes)
