"""Training FLOPs of ASR adaptation (tasks.asr.adapt): one optimiser step, exactly, by component.

A step takes a batch of utterances grouped by their student window (a dynamic window gives each
length its own group); a group of b utterances of `frames` mel frames is fed to the decoder with
S = prompt + longest target positions (teacher forcing, every row padded to S, full causal S x S
attention, the LM head on all S positions). d, F, V, L, Ld as in flops.whisper.

    student encoder forward   flops.whisper.encoder_flops at `frames`, stride, stride position,
                              pool (attn: the selection's q/k recomputation, `attn_select`),
                              + LoRA forward 2·t·i·r + 2·t·r·o per adapted linear; pool "attn"
                              with LoRA on the saliency layer's q/k runs those LoRAs once more
    student decoder forward   per layer: cross K,V 4·Ts·d², self q,k,v,out 8·S·d², self QKᵀ,AV
                              4·S²·d, cross q,out 4·S·d², cross QKᵀ,AV 4·S·Ts·d, fc1,fc2 4·S·d·F;
                              LM head 2·S·d·V
    "distill" also: the teacher decoder forward (no grad) on the same S positions against the
                    teacher's encoder output (Tt = 1500 tokens at 30 s, stride 1)
    backward (flops.training's rules, gradients only where autograd needs them): the decoder is
    frozen, so its weights get no gradient; the gradient reaches the encoder output through the
    cross-attention K/V projections. Layer 0 of the decoder: cross K,V input gradients
    2·(2·Ts·d²), dK and dV of the cross attention and dP (2·S·Ts·d each), out-projection input
    gradient 2·S·d²; its self-attention (on token embeddings only) needs none. Every later layer
    needs every input gradient: self q,k,v,out 8·S·d², dQ,dK,dP,dV 8·S²·d, cross q,out 4·S·d²,
    cross K,V 4·Ts·d², cross dQ,dK,dP,dV 8·S·Ts·d, fc1,fc2 4·S·d·F. LM head input gradient
    2·S·d·V. The encoder's backward is flops.training.backbone_backward on the student's tokens
    (frozen layers below the lowest trainable one cost nothing). The log-softmax / KL / cross
    entropy, layer norms and the optimiser update are element-wise: not counted.

Once per training utterance, "distill" also runs the teacher's greedy pass at 30 s (its
transcript and encoder output, `teacher` below): the inference estimate with the tokens it
generated. The log-mel front end is not counted (as everywhere in speechbudget.flops).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from speechbudget.axes import Config, ConfigError
from speechbudget.flops import whisper as wh
from speechbudget.flops.report import FlopsReport
from speechbudget.flops.training import backbone_backward, selector_lora
from speechbudget.geometry import stem_tokens


@dataclass(frozen=True)
class StepGroup:
    """Utterances of one training step that share a student window."""

    batch: int        # utterances
    frames: int       # the student's mel frames
    positions: int    # decoder positions S (prompt + the longest target of the group)


def teacher_tokens(config: Config) -> int:
    """Encoder tokens of the distillation teacher: the full window, stride 1."""
    return stem_tokens(round((config.arch.max_window_s or 30.0) * 100))


def _decoder_forward(config: Config, S: int, Ts: int, b: int, out: dict[str, float],
                     prefix: str) -> None:
    dims = config.arch.dims
    d, F, Ld, V = dims.d_model, dims.ffn_dim, dims.decoder_layers, dims.vocab_size
    c = b * Ld
    for k, v in (("cross_kv", c * 4 * d * d * Ts), ("self_attn_proj", c * 8 * d * d * S),
                 ("self_attention", c * 4 * S * S * d), ("cross_attn_proj", c * 4 * d * d * S),
                 ("cross_attention", c * 4 * S * Ts * d), ("ffn", c * 4 * d * F * S),
                 ("lm_head", b * 2 * S * d * V)):
        out[f"{prefix}decoder.{k}"] = out.get(f"{prefix}decoder.{k}", 0.0) + v


def _decoder_backward(config: Config, S: int, Ts: int, b: int, out: dict[str, float]) -> None:
    dims = config.arch.dims
    d, F, Ld, V = dims.d_model, dims.ffn_dim, dims.decoder_layers, dims.vocab_size
    acc: dict[str, float] = {}

    def add(k: str, v: float) -> None:
        acc[k] = acc.get(k, 0.0) + b * v

    for i in range(Ld):
        rg = i > 0                       # the layer input depends on the encoder output
        if rg:
            add("self_attn_proj", 8 * S * d * d)
            add("self_attention", 8 * S * S * d)
        add("cross_kv", 4 * Ts * d * d)              # input gradients of the K, V projections
        add("cross_attn_proj", (2 * S * d * d if rg else 0) + 2 * S * d * d)   # q (if rg), out
        add("cross_attention", (2 * S * Ts * d if rg else 0) + 3 * 2 * S * Ts * d)  # dQ; dK dP dV
        add("ffn", 4 * S * d * F)
    add("lm_head", 2 * S * d * V)
    for k, v in acc.items():
        out[f"backward.decoder.{k}"] = out.get(f"backward.decoder.{k}", 0.0) + v


def step_flops(config: Config, groups: Sequence[StepGroup]) -> FlopsReport:
    """FLOPs of one adaptation step of `config` (objective 'distill' or 'supervised') on
    `groups` (the module docstring lists what is counted)."""
    if config.task != "asr" or not config.arch.is_whisper:
        raise ConfigError("task", config.task, "'asr' with a Whisper model")
    a = config.adaptation
    if a.method == "none" and not a.unfreeze_top:
        raise ConfigError("adaptation", a.label, "something that trains (LoRA or unfreeze_top)")
    dims = config.arch.dims
    L = dims.encoder_layers
    out: dict[str, float] = {}
    audio_s = 0.0
    for g in groups:
        b = g.batch
        enc: dict[str, float] = {}
        Ts = wh.encoder_flops(dims, g.frames, config.stride, config.stride_layer, enc, b,
                              config.pool)
        for k, v in enc.items():
            out[f"forward.{k}"] = out.get(f"forward.{k}", 0.0) + v
        T0 = stem_tokens(g.frames)
        tokens = [T0 if i < config.stride_layer else Ts for i in range(L)]
        bwd, lora_fwd, _ = backbone_backward(config, tokens)
        lora_fwd += T0 * selector_lora(config)
        if lora_fwd:
            out["forward.lora"] = out.get("forward.lora", 0.0) + b * lora_fwd
        for k, v in bwd.items():
            out[f"backward.{k}"] = out.get(f"backward.{k}", 0.0) + b * v
        _decoder_forward(config, g.positions, Ts, b, out, "forward.")
        if a.objective == "distill":
            _decoder_forward(config, g.positions, teacher_tokens(config), b, out, "teacher.")
        _decoder_backward(config, g.positions, Ts, b, out)
        audio_s += b * g.frames / 100
    return FlopsReport(sum(out.values()), out, 0, 0.0, 0, audio_s, "training", "analytic")


def run_flops(config: Config, steps: Iterable[Sequence[StepGroup]],
              teacher_pass_flops: float = 0.0) -> FlopsReport:
    """A whole adaptation run: the sum of its steps, plus the teacher's passes (`teacher`)."""
    out: dict[str, float] = {}
    audio_s = 0.0
    for groups in steps:
        r = step_flops(config, groups)
        audio_s += r.audio_s
        for k, v in r.breakdown.items():
            out[k] = out.get(k, 0.0) + v
    if teacher_pass_flops:
        out["teacher.greedy_pass"] = float(teacher_pass_flops)
    return FlopsReport(sum(out.values()), out, 0, 0.0, 0, audio_s, "training", "analytic")
