"""Analytic FLOPs (speechbudget.flops) == FLOPs counted on the real modules (FlopCounterMode on the
meta device), in total and per component, over configurations spanning both families and all axes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from speechbudget.axes import Adaptation, Config
from speechbudget.flops import estimate
from speechbudget.flops.measure import measure
from speechbudget.flops.training import per_clip_training
from speechbudget.tasks.ser.flops_check import measure_ser, measure_training

torch.manual_seed(0)
REL = 1e-9  # exact up to float rounding (0.5% hid two training-FLOPs misses)

A = Adaptation
ASR = [  # (config kwargs, decoded tokens, audio_s)
    (dict(model="tiny.en"), 3, None),
    (dict(model="tiny.en", window=10), 1, None),
    (dict(model="tiny.en", window=0.5), 2, None),                       # short window
    (dict(model="tiny.en", window=0.04), 1, None),                      # shortest: 2 tokens
    (dict(model="tiny.en", window=7.02, stride=2, stride_at=0), 4, None),  # odd token count
    (dict(model="tiny.en", window=5, stride=3, stride_at=1, pool="drop"), 3, None),
    (dict(model="tiny.en", window=5, stride=4, stride_at=4), 2, None),
    (dict(model="tiny.en", window=5, stride=2, stride_at="output"), 5, None),
    (dict(model="tiny.en", window=3, stride=5, stride_at=2, pool="drop"), 2, None),
    (dict(model="tiny.en", window=4, beam_size=3), 3, None),
    (dict(model="tiny.en", window="dynamic"), 4, 3.3),
    (dict(model="tiny.en", window="dynamic", stride=2, stride_at=3), 2, 1.0),
    (dict(model="tiny.en", window=2), 4, 3.9),                          # 2 windows
    (dict(model="tiny", window=6), 3, None),                            # multilingual prompt: 4
    (dict(model="tiny", window=6, stride=2, stride_at=2, pool="drop"), 6, None),
    (dict(model="tiny", window=12, stride=8, stride_at=0), 2, None),
    (dict(model="tiny", window=1, beam_size=2, stride=2), 3, None),
    (dict(model="base", window=4), 2, None),
    (dict(model="base", window=4, stride=2, stride_at=3), 3, None),
    (dict(model="base", window=8, stride=3, stride_at=6, pool="drop"), 2, None),
    (dict(model="base.en", window=2, stride=2, stride_at=5), 5, None),
    (dict(model="base.en", window=30, stride=4, stride_at=1), 1, None),
    (dict(model="large-v3", window=30, stride=2, stride_at=16), 2, None),  # a large one
    (dict(model="tiny.en", window=15, stride=2, stride_at=2, pool="attn"), 3, None),  # attention
    (dict(model="tiny.en", window=5.02, stride=3, stride_at=0, pool="attn"), 2, None),  # selection
    (dict(model="tiny.en", window=4, stride=2, stride_at="output", pool="attn"), 2, None),
    (dict(model="tiny.en", window="dynamic", stride=2, stride_at=4, pool="attn"), 3, 2.3),
    (dict(model="base", window=6, stride=4, stride_at=3, pool="attn"), 2, None),
]
SER = [  # (config kwargs, pooling, layer_weights)
    (dict(model="wav2vec2-base", window=1.0), "mean", True),
    (dict(model="wav2vec2-base", window=0.5), "attentive-stats", True),
    (dict(model="wav2vec2-base", window=0.1), "mean", False),           # shortest clip
    (dict(model="hubert-base", window=1.3), "mean", True),
    (dict(model="hubert-base", window=0.7), "attentive-stats", False),
    (dict(model="wavlm-base-plus", window=1.0), "mean", True),
    (dict(model="wavlm-base-plus", window=0.6), "attentive-stats", True),
    (dict(model="wav2vec2-large-lv60", window=0.5), "mean", True),       # a large (stable LN)
    (dict(model="tiny", window=1.0), "mean", True),
    (dict(model="tiny", window=2.0, stride=2, stride_at=2), "attentive-stats", True),
    (dict(model="base", window=1.5, stride=3, stride_at="output", pool="drop"), "mean", False),
    (dict(model="tiny.en", window=0.74), "mean", True),                  # odd token count
    (dict(model="tiny", window=1.5, stride=2, stride_at=2, pool="attn"), "mean", True),
]
TRAIN = [  # (config kwargs, pooling)
    (dict(model="tiny", window=0.5, adaptation=A("lora", rank=8)), "mean"),
    (dict(model="tiny", window=0.5, adaptation=A(unfreeze_top=1)), "mean"),
    (dict(model="tiny", window=0.5, adaptation=A(unfreeze_top=4)), "attentive-stats"),
    (dict(model="tiny", window=0.6, stride=2, stride_at=2, adaptation=A("lora", rank=4,
                                                                     targets=("k_proj",))), "mean"),
    (dict(model="tiny", window=0.5, adaptation=A("dama", rank=8, targets=("q_proj", "fc1"))),
     "attentive-stats"),
    (dict(model="base", window=0.4, adaptation=A("lora", rank=2, targets=("fc2",), unfreeze_top=2)),
     "mean"),
    (dict(model="wav2vec2-base", window=0.5, adaptation=A("lora", rank=8)), "mean"),
    (dict(model="wav2vec2-base", window=0.5, adaptation=A(unfreeze_top=2)), "attentive-stats"),
    (dict(model="wav2vec2-base", window=0.5, adaptation=A("dama", rank=16)), "mean"),
    (dict(model="hubert-base", window=0.5, adaptation=A("lora", rank=4, targets=(
        "q_proj", "v_proj", "intermediate_dense"), unfreeze_top=1)), "mean"),
    (dict(model="wavlm-base-plus", window=0.5, adaptation=A("lora", rank=8, targets=(
        "intermediate_dense", "output_dense"))), "mean"),
    (dict(model="wavlm-base-plus", window=0.5, adaptation=A(unfreeze_top=3)), "mean"),
    (dict(model="wavlm-base-plus", window=0.5, adaptation=A("dama", rank=4, targets=(
        "gru_rel_pos_linear", "intermediate_dense"))), "attentive-stats"),
    (dict(model="hubert-large", window=0.3, adaptation=A("lora", rank=4, unfreeze_top=1)), "mean"),
    (dict(model="wav2vec2-base", window=0.5), "attentive-stats"),       # frozen backbone
]


def _close(a: float, m: float) -> bool:
    return abs(a - m) <= REL * max(abs(a), abs(m)) + 1e-9


def _check(analytic: dict[str, float], measured: dict[str, float], what: str) -> None:
    for k in sorted(set(analytic) | set(measured)):
        a, m = analytic.get(k, 0.0), measured.get(k, 0.0)
        assert _close(a, m), f"{what}: component {k}: analytic {a:.6g} vs measured {m:.6g}"


def test_at_least_50_configurations():
    assert len(ASR) + len(SER) + len(TRAIN) >= 50


@pytest.mark.parametrize("kw,tokens,audio_s", ASR, ids=[str(i) for i in range(len(ASR))])
def test_asr(kw, tokens, audio_s):
    c = Config(task="asr", **kw)
    a = estimate(c, decoded_tokens=tokens, audio_s=audio_s)
    m = measure(c, decoded_tokens=tokens, audio_s=audio_s)
    assert _close(a.total, m.total), (c.label, a.total, m.total)
    _check(a.breakdown, m.breakdown, c.label)
    assert a.encoder_tokens == m.encoder_tokens


@pytest.mark.parametrize("kw,pooling,lw", SER, ids=[str(i) for i in range(len(SER))])
def test_ser_inference(kw, pooling, lw):
    c = Config(task="ser", **kw)
    a = estimate(c, n_classes=5, pooling=pooling, layer_weights=lw)
    m = measure_ser(c, n_classes=5, pooling=pooling, layer_weights=lw)
    assert _close(a.total, m.total), (c.label, a.total, m.total)
    _check(a.breakdown, m.breakdown, c.label)
    assert a.encoder_tokens == m.encoder_tokens


@pytest.mark.parametrize("kw,pooling", TRAIN, ids=[str(i) for i in range(len(TRAIN))])
def test_training(kw, pooling):
    c = Config(task="ser", **kw)
    a = per_clip_training(c, 4, pooling=pooling, cached_features=False)
    m = measure_training(c, 4, pooling=pooling)
    assert _close(a.total, m.total), (c.label, a.total, m.total)
    # forward: per component; backward: in total (the counter's module attribution of backward
    # ops is not reliable per module)
    fwd = lambda r: {k: v for k, v in r.breakdown.items() if k.startswith("forward.")}  # noqa
    bwd = lambda r: sum(v for k, v in r.breakdown.items() if k.startswith("backward."))  # noqa
    _check(fwd(a), fwd(m), c.label)
    assert _close(bwd(a), bwd(m)), (c.label, bwd(a), bwd(m))


LONGFORM = [  # (config kwargs, windows [(window_s, decoded tokens)], prompt tokens, no-speech head)
    (dict(model="tiny.en"), [(30, 41), (30, 37), (12.4, 9)], 1, False),  # timestamps: sot only
    (dict(model="tiny.en", window=10), [(10, 12), (10, 3), (4.02, 2)], 2, True),  # no timestamps
    (dict(model="tiny", beam_size=2), [(30, 20), (8.5, 5)], 3, True),   # multilingual, beam 2
    (dict(model="base", window=10, stride=2, stride_at=3), [(10, 7), (10, 8)], 3, True),
    (dict(model="tiny.en", window="dynamic"), [(30, 50), (7.46, 6)], 1, False),
    # conditioned on the previous text: <|startofprev|> + 223 tokens + <|startoftranscript|>
    (dict(model="tiny.en"), [(30, 40), (30, 33)], 225, False),
    (dict(model="base", window=10), [(10, 9), (10, 11)], 1 + 60 + 3, True),   # no timestamps
]


@pytest.mark.parametrize("kw,windows,prompt,head", LONGFORM,
                         ids=[str(i) for i in range(len(LONGFORM))])
def test_asr_timestamped_multi_window(kw, windows, prompt, head):
    """Long-form decoding as the runner counts it (runner._window_gflops): each window with its
    own length, token count (timestamp tokens included), prompt and the no-speech LM-head row."""
    c = Config(task="asr", **kw)
    a_tot = m_tot = 0.0
    for w, n in windows:
        cw = c.with_(window=w)
        a = estimate(cw, decoded_tokens=n, prompt_tokens=prompt, no_speech_head=head)
        m = measure(cw, decoded_tokens=n, prompt_tokens=prompt, no_speech_head=head)
        _check(a.breakdown, m.breakdown, f"{cw.label} window {w}")
        a_tot, m_tot = a_tot + a.total, m_tot + m.total
    assert _close(a_tot, m_tot)


def test_attn_select_is_listed_apart():
    c = Config(task="asr", model="tiny.en", window=15, stride=2, stride_at=2, pool="attn")
    a = estimate(c, decoded_tokens=3)
    d, T = c.arch.dims.d_model, 750
    assert a.breakdown["encoder.attn_select"] == 4 * T * d * d + 2 * T * T * d
    mean = estimate(c.with_(pool="mean"), decoded_tokens=3)
    assert a.total - mean.total == a.breakdown["encoder.attn_select"]


FALLBACK = [  # (config kwargs, window_s, attempts [(temperature, prompt, tokens per hypothesis)])
    (dict(model="tiny.en"), 30, [(0.0, 1, [60]), (0.2, 1, [40, 52, 9]), (0.4, 1, [12, 20])]),
    (dict(model="tiny.en", window=10, beam_size=2), 10, [(0.0, 120, [21, 21]),
                                                          (0.2, 120, [14, 3])]),
    (dict(model="base", window=15, stride=2, stride_at=2), 15, [(0.0, 4, [5]),
                                                                  (0.2, 4, [8])]),
]


@pytest.mark.parametrize("kw,window,attempts", FALLBACK, ids=[str(i) for i in range(len(FALLBACK))])
def test_asr_temperature_fallback_counts_every_attempt(kw, window, attempts):
    """`windows.window_gflops` of a window decoded several times (temperature fallback, best_of
    samples, a previous-text prompt) == FlopCounterMode: one encoder pass, then the decoder of
    every attempt and hypothesis."""
    from speechbudget.tasks.asr.windows import Attempt, Row, window_gflops
    c = Config(task="asr", **kw)
    frames = int(window * 100)
    row = Row("x", np.zeros(frames * 160, np.float32), frames, float(window), timestamps=True)
    row.attempts = [Attempt(t, [], 0.0, 0.0, 0.0, False, False, max(ns) - 1, p, ns)
                    for t, p, ns in attempts]
    cw = c.with_(window=window)
    first_t, first_p, first_n = attempts[0]
    K = c.beam_size
    assert first_n == [first_n[0]] * K
    measured = measure(cw, decoded_tokens=first_n[0], prompt_tokens=first_p).total
    one = cw.with_(beam_size=1)
    for _, p, ns in attempts[1:]:
        for n in ns:
            m = measure(one, decoded_tokens=n, prompt_tokens=p)
            measured += sum(v for k, v in m.breakdown.items() if k.startswith("decoder."))
    analytic = window_gflops(c, row) * 1e9
    assert _close(analytic, measured), (c.label, analytic, measured)
    no_fallback = window_gflops(c, Row("y", row.audio, frames, float(window),
                                       attempts=row.attempts[:1])) * 1e9
    assert analytic > no_fallback


@pytest.mark.parametrize("model,window,ak", [
    ("tiny", 0.5, dict(rank=8, unfreeze_top=3)),                  # layers 1, 2: frozen basis
    ("wavlm-base-plus", 0.24, dict(rank=4, targets=("intermediate_dense",), unfreeze_top=5)),
])
def test_training_dama_unfrozen_middle_layer_trains_its_basis(model, window, ak):
    """DAMA freezes lora_A in the middle layers, but `unfreeze_top` then trains those layers'
    every parameter, lora_A too (tasks.ser.adapt.apply_adaptation): its weight gradient is
    computed. Exact, since the missing term is far below the 0.5 % tolerance of test_training."""
    c = Config(task="ser", model=model, window=window, adaptation=A("dama", **ak))
    a = per_clip_training(c, 4, cached_features=False)
    m = measure_training(c, 4)
    bwd = lambda r: sum(v for k, v in r.breakdown.items() if k.startswith("backward."))  # noqa
    assert bwd(a) == bwd(m) and a.total == m.total, (c.label, bwd(a), bwd(m))


@pytest.mark.parametrize("kw,ak", [
    (dict(stride=2, stride_at=2), dict(method="lora", rank=4)),                   # q_proj
    (dict(stride=3, stride_at="output"), dict(method="dama", rank=4, targets=("q_proj", "k_proj"))),
    (dict(stride=2, stride_at=0), dict(method="lora", rank=2, targets=("k_proj", "fc1"))),
])
def test_training_attn_selector_runs_the_lora_of_its_layer(kw, ak):
    """pool 'attn' while training LoRA on q/k: the selector recomputes the saliency layer's q/k
    through the adapted projections (TokenSelector), so their LoRA forward runs once more on
    the full-resolution tokens (no backward: only indices leave the selector). Exact. The counter
    files the selector's adapted base q/k under encoder.attn_proj (the module it calls), the
    analytic count under encoder.attn_select: compared together."""
    c = Config(task="ser", model="tiny", window=0.5, pool="attn", adaptation=A(**ak), **kw)
    a = per_clip_training(c, 4, cached_features=False)
    m = measure_training(c, 4)
    assert a.total == m.total, (c.label, a.total, m.total)

    def fwd(r):
        d = {k: v for k, v in r.breakdown.items() if k.startswith("forward.")}
        d["forward.encoder.attn_proj"] += d.pop("forward.encoder.attn_select", 0.0)
        return d
    assert fwd(a) == fwd(m), c.label
