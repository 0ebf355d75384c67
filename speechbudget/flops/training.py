"""Training FLOPs (forward + backward) of SER fine-tuning: `training_flops(config, clips, epochs)`.
(ASR adaptation, distillation's teacher passes included: flops/asr_training.py, on these rules.)

Backward, where gradients flow (autograd computes only what is needed):
    linear y = x·Wᵀ (2·r·i·o forward, r rows):  input gradient 2·r·i·o if x needs a gradient,
                                               weight gradient 2·r·i·o if W is trainable.
    LoRA y += s·B(A(x)) (rank k):  forward 2·r·i·k + 2·r·k·o; backward: A's input gradient if x
                                   needs one, A's weight gradient if A trains (DAMA freezes A in
                                   the middle layers), B's input gradient if A(x) needs one, B's
                                   weight gradient always.
    attention S = QKᵀ, O = softmax(S)·V:  dQ, dK, dS-side dP and dV, each 2·t²·d, only for the
                                   operands that need a gradient.
So frozen layers below the lowest trainable one cost no backward at all; frozen weights above it
cost the input gradient only; trainable weights cost both. The per-layer requires-grad state is
propagated exactly as autograd does (tests compare with FlopCounterMode on the real modules).

The SER head (speechbudget.tasks.ser.heads.SerHead): softmax-weighted sum of the N = L + 1 hidden
states, a tensordot: 2·N·T·H (a matmul; counted); pooling; classifier. Its weights always train.

As speechbudget.tasks.ser.train does, a frozen backbone (no LoRA/DAMA, no unfrozen layers) runs
once per training clip (its features are cached) and each epoch trains the head on the cache
(mean pooling: per-layer means [N, H]; attentive-stats: the hidden states). Otherwise every epoch
runs the backbone forward and backward. Validation/test passes are not included (use `estimate`).
Dropout, SpecAugment masking and layer-drop are not modelled (layer-drop would skip layers).

LoRA/DAMA targets are the layer's own linear modules; in WavLM the attention projections are used
through their weights (F.multi_head_attention_forward), so LoRA on q/k/v/out_proj never runs there.
"""
from __future__ import annotations

from dataclasses import dataclass

from speechbudget.adaptation import dama_plan, frozen_prefix, lora_layers
from speechbudget.architectures import Architecture, WhisperDims, get_architecture
from speechbudget.axes import Adaptation, Config, ConfigError
from speechbudget.flops import wav2vec2 as w2v
from speechbudget.flops.whisper import layer_flops
from speechbudget.flops.estimate import estimate
from speechbudget.flops.lora_rank import check_config_rank
from speechbudget.flops.report import FlopsReport
from speechbudget.geometry import frames_for, stem_tokens

WHISPER_LINEARS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
SSL_LINEARS = ("q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense")
WAVLM_DIRECT = ("q_proj", "k_proj", "v_proj", "out_proj")  # used by weight, bypassing the module


@dataclass
class _Acc:
    fwd: float = 0.0        # LoRA forward (the base forward comes from `estimate`)
    bwd: dict = None

    def add(self, key: str, v: float) -> None:
        if v:
            self.bwd[key] = self.bwd.get(key, 0.0) + v


def _linear(acc: _Acc, group: str, rows: int, i: int, o: int, rg_x: bool, w_train: bool,
            rank: int, a_train: bool) -> bool:
    """Backward (and LoRA forward) of one linear; returns whether its output needs a gradient."""
    f = 2 * rows * i * o
    acc.add(group, (f if rg_x else 0) + (f if w_train else 0))
    if not rank:
        return rg_x or w_train
    fa, fb = 2 * rows * i * rank, 2 * rows * rank * o
    acc.fwd += fa + fb
    rg_a = rg_x or a_train
    acc.add("lora", (fa if rg_x else 0) + (fa if a_train else 0) + (fb if rg_a else 0) + fb)
    return True


def layer_schedule(config: Config, dama_schedule: tuple[list[int], list[bool]] | None = None
                   ) -> tuple[list[int], list[bool], list[bool]]:
    """Per encoder layer: (LoRA rank (0 = none), LoRA A trains, whole layer trains)."""
    a = config.adaptation
    L = config.arch.encoder_layers
    full = [i >= L - a.unfreeze_top for i in range(L)]
    if a.method == "lora":
        return lora_layers(a, L), [True] * L, full
    if a.method == "dama":
        if dama_schedule is None:
            plan = dama_plan(L, a.rank, a.alpha)
            ranks, frozen = list(plan.ranks), list(plan.frozen_basis)
        else:
            ranks, frozen = list(dama_schedule[0]), list(dama_schedule[1])
            if len(ranks) != L or len(frozen) != L:
                raise ConfigError("dama_schedule", dama_schedule, f"{L} ranks and {L} flags")
        # an unfrozen top layer trains all of its parameters, its LoRA basis too (as
        # tasks.ser.adapt.apply_adaptation: unfreeze_top sets requires_grad after DAMA's freeze)
        return ranks, [not f or u for f, u in zip(frozen, full)], full
    return [0] * L, [True] * L, full


def _check_targets(arch: Architecture, targets: tuple[str, ...]) -> None:
    names = WHISPER_LINEARS if arch.is_whisper else SSL_LINEARS + (
        ("gru_rel_pos_linear",) if arch.family == "wavlm" else ())
    bad = [t for t in targets if t not in names]
    if bad:
        raise ConfigError("adaptation.targets", list(targets),
                          f"linear modules of an encoder layer of {arch.name}: {', '.join(names)}")


def backbone_backward(config: Config, tokens: list[int], rg_in: bool = False,
                      dama_schedule=None) -> tuple[dict[str, float], float, bool]:
    """(backward FLOPs by component, LoRA forward FLOPs, whether the output needs a gradient)
    of the encoder layers, layer i running on tokens[i] tokens."""
    arch = config.arch
    _check_targets(arch, config.adaptation.targets)
    check_config_rank(config)
    ranks, a_train, full = layer_schedule(config, dama_schedule)
    targets = set(config.adaptation.targets)
    wavlm = arch.family == "wavlm"
    if arch.is_whisper:
        D, F, heads = arch.dims.d_model, arch.dims.ffn_dim, arch.dims.n_heads
        fc1, fc2 = "fc1", "fc2"
    else:
        D, F, heads = arch.dims.hidden_size, arch.dims.ffn_dim, arch.dims.num_heads
        fc1, fc2 = "intermediate_dense", "output_dense"
    # pre-LN layers (Whisper, wav2vec2 "stable layer norm"): a trainable layer's own layer norm
    # makes the attention input need a gradient even where the layer input does not
    pre_ln = arch.is_whisper or arch.dims.do_stable_layer_norm
    acc = _Acc(bwd={})
    rg = rg_in
    for i, t in enumerate(tokens):
        w = full[i]

        def lin(name: str, rows: int, n_in: int, n_out: int, rg_x: bool, group: str) -> bool:
            r = ranks[i] if name in targets and not (wavlm and name in WAVLM_DIRECT) else 0
            return _linear(acc, group, rows, n_in, n_out, rg_x, w, r, a_train[i])

        rx = rg or (w and pre_ln)
        rq = lin("q_proj", t, D, D, rx, "encoder.attn_proj")
        rk = lin("k_proj", t, D, D, rx, "encoder.attn_proj")
        rv = lin("v_proj", t, D, D, rx, "encoder.attn_proj")
        rbias = lin("gru_rel_pos_linear", t * heads, D // heads, 8, rx, "encoder.rel_pos") \
            if wavlm else False
        s = 2 * t * t * D
        acc.add("encoder.attention", (s if rq else 0) + (s if rk else 0))
        rp = rq or rk or rbias
        acc.add("encoder.attention", (s if rp else 0) + (s if rv else 0))
        ro = lin("out_proj", t, D, D, rp or rv, "encoder.attn_proj")
        rg = rg or ro or w          # (a trainable layer norm also makes it need a gradient)
        rh = lin(fc1, t, D, F, rg, "encoder.ffn")
        rf = lin(fc2, t, F, D, rh, "encoder.ffn")
        rg = rg or rf
    return acc.bwd, acc.fwd, rg


def selector_lora(config: Config) -> float:
    """LoRA forward FLOPs per full-resolution token of the pool "attn" selector: it recomputes
    the saliency layer's q/k through the layer's own (LoRA-adapted) projections
    (models.whisper_encoder.TokenSelector), so their LoRA runs on the T tokens once more (no
    backward: only the kept indices leave it)."""
    a = config.adaptation
    if config.pool != "attn" or config.stride == 1 or a.method == "none":
        return 0.0
    L = config.arch.encoder_layers
    j = L - 1 if config.stride_layer >= L else max(config.stride_layer - 1, 0)
    rank = layer_schedule(config)[0][j]
    d = config.arch.dims.d_model
    return sum(2 * d * rank + 2 * rank * d for t in ("q_proj", "k_proj") if t in a.targets)


def head_train(hidden: int, n_states: int, frames: int, n_classes: int, pooling: str,
               layer_weights: bool, rg_hidden: bool, head: str = "mlp") -> tuple[dict, dict]:
    """(forward, backward) FLOPs by head component on `frames` frames (1 for cached means).
    head "linear": one pass = logits 2·N·H·C on the pooled, concatenated standardised layer means
    + weight gradient 2·N·H·C (+ input gradient 2·N·H·C when the backbone trains: LP-FT)."""
    fwd: dict[str, float] = {}
    bwd: dict[str, float] = {}
    if head == "linear":
        c = 2 * n_states * hidden * n_classes
        fwd["head.classifier"] = c
        bwd["head.classifier"] = c + (c if rg_hidden else 0)
        return fwd, bwd
    rg = rg_hidden
    if layer_weights:
        f = 2 * n_states * frames * hidden          # tensordot(softmax(w), hidden)
        fwd["head.layer_sum"] = f
        bwd["head.layer_sum"] = f + (f if rg_hidden else 0)  # dw; dhidden if the backbone trains
        rg = True
    P = hidden
    if pooling == "attentive-stats":
        a, b = 2 * frames * hidden * w2v.ATTN_POOL_HIDDEN, 2 * frames * w2v.ATTN_POOL_HIDDEN
        fwd["head.pool"] = a + b
        bwd["head.pool"] = a + (a if rg else 0) + 2 * b
        rg = True
        P = 2 * hidden
    c1, c2 = 2 * P * w2v.HEAD_HIDDEN, 2 * w2v.HEAD_HIDDEN * n_classes
    fwd["head.classifier"] = c1 + c2
    bwd["head.classifier"] = c1 + (c1 if rg else 0) + 2 * c2
    return fwd, bwd


def training_flops(config: Config, n_train_clips: int, epochs: int, n_classes: int = 6, *,
                   pooling: str = "mean", layer_weights: bool = True,
                   cached_features: bool | None = None,
                   dama_schedule: tuple[list[int], list[bool]] | None = None,
                   head: str = "mlp", cached_prefix: int = 0,
                   feature_clips: int | None = None) -> FlopsReport:
    """FLOPs of training SER on `n_train_clips` clips of `config.window` seconds for `epochs`.
    What runs once per clip (a frozen backbone's features; a cached frozen prefix, see
    `per_clip_training`) counts `feature_clips` times (default: once per training clip; 0 when
    the caller counts the feature passes itself, as `tasks.ser.metrics.fit_training_gflops`
    does for a whole fit)."""
    if config.task != "ser":
        raise ConfigError("task", config.task, "'ser': training FLOPs are defined for SER "
                                               "fine-tuning")
    feature_clips = n_train_clips if feature_clips is None else feature_clips
    for name, v in (("n_train_clips", n_train_clips), ("epochs", epochs),
                    ("feature_clips", feature_clips)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(name, v, "an integer >= 0")
    per = per_clip_training(config, n_classes, pooling=pooling, layer_weights=layer_weights,
                            cached_features=cached_features, dama_schedule=dama_schedule,
                            head=head, cached_prefix=cached_prefix)
    out: dict[str, float] = {}
    for k, v in per.breakdown.items():
        once = k.startswith("features.") or (
            k.startswith("forward.") and not k.startswith("forward.head.") and
            per.notes and per.notes[0] == "cached")
        out[k] = v * (feature_clips if once else n_train_clips * epochs)
    return FlopsReport(sum(out.values()), out, per.encoder_tokens, 0.0, 0,
                       per.audio_s * n_train_clips * epochs, "training", "analytic",
                       notes=per.notes)


def feature_flops(config: Config, n_classes: int = 6) -> float:
    """The frozen backbone's forward on one clip of `config.window` seconds (every hidden state,
    no head): what a feature cache computes once per clip."""
    inf = estimate(config.with_(adaptation=Adaptation()), n_classes=n_classes,
                   layer_weights=False)
    return float(sum(v for k, v in inf.breakdown.items() if not k.startswith("head.")))


def per_clip_training(config: Config, n_classes: int = 6, *, pooling: str = "mean",
                      layer_weights: bool = True, cached_features: bool | None = None,
                      dama_schedule=None, head: str = "mlp",
                      cached_prefix: int = 0) -> FlopsReport:
    """One training step on one clip: forward + backward, by component. With cached features
    (frozen backbone) the backbone forward is marked to run once ('cached' in notes) and the head
    works on the cache. `cached_prefix` = j > 0 (a Whisper backbone that trains, layers below j
    frozen, mean pooling, the token stride at or below layer j): the conv stem and layers 0..j-1
    run once per clip ('features.*' components; their hidden states' means and layer j's input
    are cached), each step runs layers j..L-1 forward and backward, and the head works on the
    per-layer means (as `tasks.ser.train` does with `TrainOptions.cache_prefix`)."""
    if config.task != "ser":
        raise ConfigError("task", config.task, "'ser': training FLOPs are defined for SER")
    inf = estimate(config, n_classes=n_classes, pooling=pooling, layer_weights=False)
    arch = get_architecture(config.model)
    a = config.adaptation
    frozen = a.method == "none" and a.unfreeze_top == 0
    cached = frozen if cached_features is None else cached_features
    if cached and not frozen:
        raise ConfigError("cached_features", cached_features,
                          "False unless the backbone is frozen (it trains)")
    L, H = arch.encoder_layers, arch.hidden_size
    T = inf.encoder_tokens
    if isinstance(arch.dims, WhisperDims):
        T0 = stem_tokens(frames_for(config.window))          # conv stem output, before the stride
        tokens = [T0 if i < config.stride_layer else T for i in range(L)]
    else:
        T0, tokens = T, [T] * L
    bwd, lora_fwd, rg_out = backbone_backward(config, tokens, False, dama_schedule)
    lora_fwd += T0 * selector_lora(config)    # pool "attn": the saliency layer's q/k LoRA again
    out = {f"forward.{k}": v for k, v in inf.breakdown.items() if not k.startswith("head.")}
    if cached_prefix:
        _check_prefix(config, cached_prefix, cached, pooling)
        suffix: dict[str, float] = {}
        for t in tokens[cached_prefix:]:
            for k, v in layer_flops(arch.dims, t).items():
                suffix[k] = suffix.get(k, 0.0) + v
        feats = {f"features.{k[len('forward.'):]}": v - suffix.get(k[len("forward."):], 0.0)
                 for k, v in out.items()}
        out = {f"forward.{k}": v for k, v in suffix.items()}
        out.update({k: v for k, v in feats.items() if v})
    if lora_fwd:
        out["forward.lora"] = lora_fwd
    head_frames = 1 if (cached or cached_prefix) and pooling == "mean" else T
    hf, hb = head_train(H, L + 1, head_frames, n_classes, pooling, layer_weights, rg_out, head)
    for k, v in hf.items():
        out[f"forward.{k}"] = v
    for k, v in bwd.items():
        out[f"backward.{k}"] = v
    for k, v in hb.items():
        out[f"backward.{k}"] = v
    return FlopsReport(sum(out.values()), out, T, 0.0, 0, inf.audio_s, "training", "analytic",
                       notes=("cached",) if cached else
                       (f"cached prefix {cached_prefix}",) if cached_prefix else ())


def _check_prefix(config: Config, j: int, cached: bool, pooling: str) -> None:
    """ConfigError unless layers below `j` can be cached as `per_clip_training` describes."""
    L = config.arch.encoder_layers
    if isinstance(j, bool) or not isinstance(j, int) or j < 0:
        raise ConfigError("cached_prefix", j, "an integer >= 0")
    if cached or not config.arch.is_whisper or pooling != "mean":
        raise ConfigError("cached_prefix", j, "0 unless a Whisper backbone trains with mean "
                                              "pooling")
    if j > frozen_prefix(config.adaptation, L):
        raise ConfigError("cached_prefix", j, f"at most {frozen_prefix(config.adaptation, L)}: "
                          f"the frozen layers below the first that trains "
                          f"({config.adaptation.label})")
    if config.stride > 1 and config.stride_layer > j:
        raise ConfigError("cached_prefix", j, f"at least the stride's layer "
                          f"({config.stride_layer}): the cached states must be subsampled")
