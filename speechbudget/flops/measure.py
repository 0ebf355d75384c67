"""Measured FLOPs: the configuration run on the real Hugging Face module, built from its config on
the `meta` device (no weights, no memory), with eager attention, under
`torch.utils.flop_counter.FlopCounterMode`, broken down by module into the same components as
`estimate`.

ASR: the encoder through THE surgery (`models.whisper_encoder.encode`: window and token stride),
then the decoder with its KV cache: the prompt in one pass, then n - 1 generated tokens fed back one
at a time; the LM head (`proj_out`) on the last position of each pass; beam b = a batch of b.
SER: the backbone with all hidden states (Whisper: `encode` + the same subsampling as
`tasks.ser.backbone`), then `tasks.ser.heads.SerHead`. Training: the adaptation applied by
`tasks.ser.adapt.apply_adaptation` (PEFT LoRA/DAMA, top-k unfreeze), forward and backward of
`logits.sum()` counted separately.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from speechbudget.architectures import Architecture, get_architecture
from speechbudget.axes import Config, ConfigError
from speechbudget.flops.estimate import estimate, prompt_tokens_for
from speechbudget.geometry import MEL_FRAMES_PER_S, SAMPLE_RATE, encoder_tokens
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


def _build(arch: Architecture) -> nn.Module:
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
                no_speech_head: bool = False) -> None:
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        from speechbudget.models.whisper_encoder import encode
        m = self.model
        h, _ = encode(m.model.encoder, mel, config.stride, config.stride_at, config.pool,
                      selector=self.attn_select)
        b = config.beam_size
        h = h.expand(b, -1, -1)
        ids = torch.zeros(b, prompt, dtype=torch.long, device=mel.device)
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        dec = m.model.decoder
        for step in range(n):
            x = ids if step == 0 else ids[:, :1]
            o = dec(input_ids=x, encoder_hidden_states=h, cache=cache, use_cache=True)
            m.proj_out(o.last_hidden_state[:, -1:])
            if step == 0 and no_speech_head:  # the LM head at the sot position too
                m.proj_out(o.last_hidden_state[:, :1])


def measure(config: Config, decoded_tokens: int | None = None, audio_s: float | None = None,
            n_classes: int = 6, *, prompt_tokens: int | None = None, pooling: str = "mean",
            layer_weights: bool = True, head: str = "mlp",
            no_speech_head: bool = False) -> FlopsReport:
    """Inference FLOPs of `config` counted on the real module (see the module docstring). ASR
    needs an integer `decoded_tokens` (>= 1) per window; audio longer than the window is counted
    as ceil(audio / window) identical windows with decoded_tokens / windows tokens each."""
    arch = get_architecture(config.model)
    if config.task == "asr":
        window = config.window_s_for(audio_s) if config.is_dynamic else config.window
        if config.is_dynamic and audio_s is None:
            raise ConfigError("audio_s", None, "seconds of audio: needed for a dynamic window")
        span = window if audio_s is None else audio_s
        chunks = max(1, math.ceil(span / window - 1e-9))
        if decoded_tokens is None:
            decoded_tokens = round(estimate(config, audio_s=audio_s).decoded_tokens)
        n = decoded_tokens / chunks
        if n != int(n) or n < 1:
            raise ConfigError("decoded_tokens", decoded_tokens,
                              f"a positive multiple of the {chunks} windows to measure")
        P = prompt_tokens_for(arch.english_only) if prompt_tokens is None else prompt_tokens
        frames = round(window * MEL_FRAMES_PER_S)
        runner = _Asr(_build(arch))
        mel = torch.empty(1, arch.dims.n_mels, frames, device="meta")
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            runner(mel, config, P, int(n), no_speech_head)
        bd = {k: v * chunks for k, v in breakdown(fc.get_flop_counts()).items()}
        Ts = encoder_tokens(frames, config.stride)
        return FlopsReport(sum(bd.values()), bd, Ts, float(decoded_tokens), P, span,
                           "inference", "measured")
    model = _SerModel(config, n_classes, pooling, layer_weights, head)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(model.example())
    bd = breakdown(fc.get_flop_counts())
    return FlopsReport(sum(bd.values()), bd, model.tokens, 0.0, 0, float(config.window),
                       "inference", "measured")


class _SerModel(nn.Module):
    """Backbone (on meta) + the real SER head, run as tasks.ser.backbone runs them."""

    def __init__(self, config: Config, n_classes: int, pooling: str, layer_weights: bool,
                 head: str = "mlp"):
        super().__init__()
        from speechbudget.tasks.ser.heads import SerHead
        self.config = config
        arch = self.arch = get_architecture(config.model)
        model = _build(arch)
        self.backbone = model.model.encoder if arch.is_whisper else model
        L = arch.encoder_layers
        with torch.device("meta"):
            self.head = SerHead(arch.hidden_size, L + 1, n_classes, pooling, layer_weights,
                                kind=head)
        from speechbudget.models.whisper_encoder import TokenSelector
        self.attn_select = TokenSelector()
        self.tokens = 0

    def example(self) -> torch.Tensor:
        c = self.config
        if self.arch.is_whisper:
            return torch.empty(1, self.arch.dims.n_mels, round(c.window * MEL_FRAMES_PER_S),
                               device="meta")
        return torch.empty(1, round(c.window * SAMPLE_RATE), device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if self.arch.is_whisper:
            from speechbudget.models.whisper_encoder import encode_layers
            hidden = encode_layers(self.backbone, x, c.stride, c.stride_at, c.pool,
                                   self.attn_select)
        else:
            hidden = list(self.backbone(x, output_hidden_states=True).hidden_states)
        self.tokens = hidden[-1].shape[1]
        hidden = torch.stack(hidden)
        mask = torch.ones(1, self.tokens, device=x.device)
        return self.head(hidden, mask)


def measure_training(config: Config, n_classes: int = 6, *, pooling: str = "mean",
                     layer_weights: bool = True) -> FlopsReport:
    """One SER training step on one clip (no feature cache), measured: the adaptation applied
    through `tasks.ser.adapt.apply_adaptation` (PEFT on meta, plain LoRA init; the FLOPs do not
    depend on the init), forward and `logits.sum().backward()` counted separately; components
    are prefixed 'forward.' / 'backward.' (the backward's module attribution is FlopCounterMode's)."""
    if config.task != "ser":
        raise ConfigError("task", config.task, "'ser': training FLOPs are defined for SER")
    from speechbudget.tasks.ser.adapt import apply_adaptation
    model = _SerModel(config, n_classes, pooling, layer_weights)
    apply_adaptation(model.backbone, config.adaptation, init=True)
    for p in model.head.parameters():
        p.requires_grad_(True)
    x = model.example()
    # module attribution of backward ops needs the forward under the same counter: count a
    # forward alone, then forward + backward; backward = the difference, component by component
    with torch.no_grad(), FlopCounterMode(display=False) as fwd:
        model(x)
    with FlopCounterMode(display=False) as both:
        model(x).sum().backward()
    f, fb = breakdown(fwd.get_flop_counts()), breakdown(both.get_flop_counts())
    out = {f"forward.{k}": v for k, v in f.items()}
    out.update({f"backward.{k}": fb[k] - f.get(k, 0) for k in fb if fb[k] - f.get(k, 0)})
    return FlopsReport(sum(out.values()), out, model.tokens, 0.0, 0, float(config.window),
                       "training", "measured",
                       notes=(f"total under the counter {both.get_total_flops()}",))
