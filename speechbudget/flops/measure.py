"""Measured FLOPs: the configuration run on the real Hugging Face module, built from its config on
the `meta` device (no weights, no memory), with eager attention, under
`torch.utils.flop_counter.FlopCounterMode`, broken down by module into the same components as
`estimate`.

ASR: the encoder through THE surgery (`models.whisper_encoder.encode`: window and token stride),
then the decoder with its KV cache: the prompt in one pass, then n - 1 generated tokens fed back one
at a time; the LM head (`proj_out`) on the last position of each pass; beam b = a batch of b.
SER needs the real head and adaptation of `tasks.ser`, a layer above this one: its measurement
lives there, in `speechbudget.tasks.ser.flops_check` (`measure_ser`, `measure_training`), built
on `build_meta` and `breakdown` from here.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from speechbudget.architectures import Architecture, get_architecture
from speechbudget.axes import Config, ConfigError
from speechbudget.flops.estimate import estimate, prompt_tokens_for
from speechbudget.geometry import MEL_FRAMES_PER_S, encoder_tokens
from speechbudget.flops.report import FlopsReport

_MATMUL = {"mm", "addmm", "bmm", "baddbmm", "matmul"}

# (pattern on the module path, component); first match wins; attention modules split by op kind
_RULES = [
    (r"attn_select$", "encoder.attn_select"),
    (r"lora_[AB]", "lora"),
    (r"(encoder|backbone)\.conv[12]$", "encoder.conv"),
    (r"feature_extractor\.", "cnn"),
    (r"feature_projection", "feature_projection"),
    (r"pos_conv_embed", "pos_conv"),
    (r"gru_rel_pos_linear", "encoder.rel_pos"),
    (r"decoder\.layers\.\d+\.encoder_attn\.[kv]_proj", "decoder.cross_kv"),
    (r"decoder\.layers\.\d+\.encoder_attn\.(q|out)_proj", "decoder.cross_attn_proj"),
    (r"decoder\.layers\.\d+\.encoder_attn$", "decoder.cross_attention"),
    (r"decoder\.layers\.\d+\.self_attn\.\w+_proj", "decoder.self_attn_proj"),
    (r"decoder\.layers\.\d+\.self_attn$", "decoder.self_attention"),
    (r"decoder\.layers\.\d+\.fc[12]", "decoder.ffn"),
    (r"proj_out", "decoder.lm_head"),
    (r"layers\.\d+\.(self_attn|attention)\.(q|k|v|out)_proj", "encoder.attn_proj"),
    (r"layers\.\d+\.(self_attn|attention)$", "encoder.attention"),  # + F.linear inside: split
    (r"layers\.\d+\.(fc[12]|feed_forward)", "encoder.ffn"),
    (r"head\.attention", "head.pool"),
    (r"head\.classifier", "head.classifier"),
    (r"head$", "head.layer_sum"),
]
_COMPILED = [(re.compile(p), c) for p, c in _RULES]


def _component(path: str) -> str:
    for rx, comp in _COMPILED:
        if rx.search(path):
            return comp
    return "other"


def breakdown(counts: dict[str, dict]) -> dict[str, float]:
    """FlopCounterMode.get_flop_counts() -> component -> FLOPs (each module's own FLOPs, i.e. its
    count less its children's, classified by its path; matmuls written inline in an attention
    module (WavLM's F.multi_head_attention_forward) go to attn_proj (mm/addmm) or attention)."""
    names = [n for n in counts if n != "Global"]
    own: dict[str, dict[str, int]] = {}
    for n in names:
        d = {str(op).split(".")[-1]: v for op, v in counts[n].items()}
        own[n] = d
    for n in names:  # subtract from the nearest ancestor that ran (some are never called)
        parent = n
        while "." in parent:
            parent = parent.rsplit(".", 1)[0]
            if parent in own:
                for op, v in counts[n].items():
                    key = str(op).split(".")[-1]
                    own[parent][key] = own[parent].get(key, 0) - v
                break
    out: dict[str, float] = defaultdict(float)
    for n, d in own.items():
        total = sum(d.values())
        if not total:
            continue
        path = n.split(".", 1)[1] if "." in n else ""
        comp = _component(path)
        if comp == "encoder.attention":
            proj = d.get("mm", 0) + d.get("addmm", 0)
            if proj:
                out["encoder.attn_proj"] += proj
            total -= proj
        out[comp] += total
    return {k: v for k, v in out.items() if v}


def build_meta(arch: Architecture) -> nn.Module:
    """The Hugging Face module of `arch` from its config on the meta device, eager attention."""
    try:
        from speechbudget.models.registry import build_from_config
    except ImportError as e:  # pragma: no cover - registry is part of the package
        raise RuntimeError("speechbudget.models.registry is needed to measure FLOPs") from e
    return build_from_config(arch, device="meta", attn_implementation="eager")


class _Asr(nn.Module):
    def __init__(self, model: nn.Module):
        from speechbudget.models.whisper_encoder import TokenSelector
        super().__init__()
        self.model = model
        self.attn_select = TokenSelector()  # pool "attn": its FLOPs under its own name

    def forward(self, mel: torch.Tensor, config: Config, prompt: int, n: int,
                no_speech_head: bool = False,
                step: Callable[[int], None] | None = None) -> None:
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        from speechbudget.models.whisper_encoder import encode
        m = self.model
        h, _ = encode(m.model.encoder, mel, config.stride, config.stride_at, config.pool,
                      selector=self.attn_select)
        if step is not None:
            step(1)
        b = config.beam_size
        h = h.expand(b, -1, -1)
        ids = torch.zeros(b, prompt, dtype=torch.long, device=mel.device)
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        dec = m.model.decoder
        for i in range(n):
            x = ids if i == 0 else ids[:, :1]
            o = dec(input_ids=x, encoder_hidden_states=h, cache=cache, use_cache=True)
            m.proj_out(o.last_hidden_state[:, -1:])
            if i == 0 and no_speech_head:  # the LM head at the sot position too
                m.proj_out(o.last_hidden_state[:, :1])
            if step is not None:
                step(2 + i)


def measured_tokens(config: Config, decoded_tokens: float | None = None,
                    audio_s: float | None = None) -> int:
    """The whole number of generated tokens `measure` counts for `config` on `audio_s`: the
    given `decoded_tokens`, which must be a positive multiple of the windows (ConfigError), or,
    without it, the planning estimate rounded to a whole number per window (at least 1). Pass it
    to `estimate` too, to compare the two on the same tokens."""
    chunks = config.windows_for(audio_s)[1]
    if decoded_tokens is None:
        per = estimate(config, audio_s=audio_s).decoded_tokens / chunks
        return max(1, round(per)) * chunks
    n = decoded_tokens / chunks
    if n != int(n) or n < 1:
        raise ConfigError("decoded_tokens", decoded_tokens,
                          f"a positive multiple of the {chunks} windows to measure")
    return int(decoded_tokens)


def measure(config: Config, decoded_tokens: int | None = None, audio_s: float | None = None,
            *, prompt_tokens: int | None = None, no_speech_head: bool = False,
            progress: Callable[[int, int], None] | None = None) -> FlopsReport:
    """Inference FLOPs of an ASR `config` counted on the real module (see the module docstring):
    an integer `decoded_tokens` (>= 1) per window; audio longer than the window is counted as
    ceil(audio / window) identical windows with decoded_tokens / windows tokens each. SER:
    `speechbudget.tasks.ser.flops_check.measure_ser`. `progress(done, total)`, if given, is called
    after building the module and after each decoder pass (1 + n steps in all)."""
    if config.task != "asr":
        raise ConfigError("task", config.task, "'asr' here; SER FLOPs are measured by "
                          "speechbudget.tasks.ser.flops_check.measure_ser")
    arch = get_architecture(config.model)
    decoded_tokens = measured_tokens(config, decoded_tokens, audio_s)
    window, chunks = config.windows_for(audio_s)
    n = decoded_tokens // chunks
    P = prompt_tokens_for(arch.english_only) if prompt_tokens is None else prompt_tokens
    frames = round(window * MEL_FRAMES_PER_S)
    total = 2 + int(n)  # build, encoder, n decoder passes
    runner = _Asr(build_meta(arch))
    if progress is not None:
        progress(1, total)
    step = (lambda done: progress(1 + done, total)) if progress is not None else None
    mel = torch.empty(1, arch.dims.n_mels, frames, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        runner(mel, config, P, int(n), no_speech_head, step)
    bd = {k: v * chunks for k, v in breakdown(fc.get_flop_counts()).items()}
    Ts = encoder_tokens(frames, config.stride)
    span = window if audio_s is None else audio_s
    return FlopsReport(sum(bd.values()), bd, Ts, float(decoded_tokens), P, span,
                       "inference", "measured")
