"""The configuration space: validation names the field, equal settings hash equal, round trips."""
from __future__ import annotations

import pytest

from speechbudget.axes import Adaptation, Config, ConfigError, parse_window


def test_round_trip_json_yaml_and_hash():
    c = Config(task="asr", model="openai/whisper-small", window="750f", stride=2, stride_at="4",
               pool="drop", precision="bf16", beam_size=2)
    assert c.model == "small" and c.window == 15.0 and c.stride_at == 4
    assert Config.from_json(c.to_json()) == c
    assert Config.from_yaml(c.to_yaml()) == c
    assert hash(Config.from_dict(c.to_dict())) == hash(c)
    assert len({c, Config.from_json(c.to_json())}) == 1
    assert c.key == Config.from_json(c.to_json()).key and len(c.key) == 16


def test_stride_one_is_canonical():
    a = Config(task="asr", model="tiny.en", stride=1, stride_at=2, pool="drop")
    b = Config(task="asr", model="tiny.en")
    assert a == b and a.key == b.key


def test_distinct_configs_have_distinct_keys():
    keys = {Config(task="asr", model="base", window=w, stride=s, stride_at=at).key
            for w in (10, 15, 30) for s in (2, 3) for at in (0, 3, "output")}
    assert len(keys) == 3 * 2 * 3


@pytest.mark.parametrize("kwargs, field", [
    (dict(task="asr", model="tiny.en", window=31), "window"),
    (dict(task="asr", model="tiny.en", window=0), "window"),
    (dict(task="asr", model="tiny.en", window=10.005), "window"),
    (dict(task="asr", model="tiny.en", window="ten"), "window"),
    (dict(task="asr", model="tiny.en", stride=2, stride_at=5), "stride_at"),
    (dict(task="asr", model="tiny.en", stride=0), "stride"),
    (dict(task="asr", model="tiny.en", stride=2, pool="max"), "pool"),
    (dict(task="asr", model="whisper-huge"), "model"),
    (dict(task="asr", model="wav2vec2-base"), "model"),
    (dict(task="tts", model="tiny.en"), "task"),
    (dict(task="asr", model="tiny.en", precision="fp8"), "precision"),
    (dict(task="asr", model="tiny.en", beam_size=0), "beam_size"),
    (dict(task="ser", model="wav2vec2-base", window="dynamic"), "window"),
    (dict(task="ser", model="wav2vec2-base", stride=2), "stride"),
    (dict(task="ser", model="tiny.en", adaptation=Adaptation(unfreeze_top=5)), "adaptation.unfreeze_top"),
])
def test_invalid_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as e:
        Config(**kwargs)
    assert e.value.field == field
    assert field in str(e.value)


def test_adaptation_validation():
    with pytest.raises(ConfigError, match="adaptation.rank"):
        Adaptation(method="lora", rank=0)
    with pytest.raises(ConfigError, match="adaptation.rank"):
        Adaptation(method="none", rank=4)
    with pytest.raises(ConfigError, match="adaptation.method"):
        Adaptation(method="prefix")
    a = Adaptation(method="lora", rank=16, unfreeze_top=4)
    assert a.alpha == 32.0 and a.targets is None and a.label == "lora16+top4"
    assert Config(task="asr", model="tiny.en", adaptation=a).adaptation.targets == (
        "q_proj", "v_proj")
    with pytest.raises(ConfigError, match="adaptation.targets"):   # one name, not its letters
        Adaptation(method="lora", rank=4, targets="q_proj")
    with pytest.raises(ConfigError, match="adaptation.targets"):
        Adaptation(method="lora", rank=4, targets=())


def test_lora_targets_default_to_the_backbones_usual_ones():
    """No targets named: q/v projections, except on WavLM, whose attention never calls them
    (its feed-forward layers). Keys of configurations from before the default moved into
    Config are unchanged (these two were computed by the code before it)."""
    lora = Adaptation(method="lora", rank=8)
    whisper = Config(task="asr", model="tiny.en", adaptation=lora)
    assert whisper.adaptation.targets == ("q_proj", "v_proj")
    assert whisper.key == "ff35fe8994c23946"
    dama = Config(task="ser", model="base", window=2, adaptation=Adaptation("dama", 16))
    assert dama.key == "2cd77911dd439274"
    wavlm = Config(task="ser", model="wavlm-base-plus", window=2, adaptation=lora)
    assert wavlm.adaptation.targets == ("intermediate_dense", "output_dense")
    assert Config.from_json(wavlm.to_json()) == wavlm
    with pytest.raises(ConfigError, match="no q_proj for WavLM"):    # named: still refused
        Config(task="ser", model="wavlm-base-plus", window=2,
               adaptation=Adaptation("lora", 8, targets=("q_proj",)))
    assert Config(task="ser", model="wavlm-base-plus", window=2).adaptation.targets == ()


def test_adaptation_mapping_round_trip():
    a = Adaptation("lora", 4, lora_top=1, targets=("fc1",))
    assert a.to_dict() == {"method": "lora", "rank": 4, "alpha": 8.0, "targets": ["fc1"],
                           "unfreeze_top": 0, "lora_top": 1}
    assert Adaptation.from_dict(a.to_dict()) == a
    assert Adaptation.from_dict({"method": "lora", "rank": 4}).targets is None
    with pytest.raises(ConfigError, match="adaptation.top"):
        Adaptation.from_dict({"method": "lora", "rank": 4, "top": 1})
    with pytest.raises(ConfigError, match="adaptation"):
        Config(task="asr", model="tiny.en", adaptation="lora")


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="windw"):
        Config.from_dict({"task": "asr", "model": "tiny.en", "windw": 10})
    with pytest.raises(ConfigError, match="adaptation.rnk"):
        Config.from_dict({"task": "ser", "model": "tiny.en", "adaptation": {"method": "lora", "rnk": 4}})


def test_dynamic_window_fits_the_utterance():
    c = Config(task="asr", model="tiny.en", window="dynamic", dynamic_margin_s=0.5)
    assert c.window_s_for(3.33) == pytest.approx(3.84)  # 3.83 s -> 192 encoder frames
    assert c.window_s_for(100.0) == 30.0
    assert parse_window("1500f") == 30.0 and parse_window("15s") == 15.0


def test_ser_duration_and_labels():
    c = Config(task="ser", model="wav2vec2-base", window=4,
               adaptation=Adaptation(method="dama", rank=16, unfreeze_top=4))
    assert c.window == 4.0 and "dama16+top4" in c.label
    assert Config(task="ser", model="wav2vec2-large-robust", window=45).window == 45.0


def test_lora_on_wavlm_attention_is_refused_with_the_field_named():
    with pytest.raises(ConfigError) as e:
        Config(task="ser", model="wavlm-base-plus",
               adaptation=Adaptation(method="lora", rank=8, targets=("q_proj", "v_proj")))
    assert e.value.field == "adaptation.targets" and "WavLM" in str(e.value)
    ok = Config(task="ser", model="wavlm-base-plus",
                adaptation=Adaptation(method="lora", rank=8, targets=("intermediate_dense",)))
    assert ok.adaptation.targets == ("intermediate_dense",)


@pytest.mark.parametrize("kw, field", [({"pool": "maen"}, "pool"), ({"stride_at": -1}, "stride_at"),
                                       ({"stride_at": "top"}, "stride_at"),
                                       ({"stride_at": True}, "stride_at")])
def test_a_misspelt_pool_or_stride_position_is_refused_at_stride_1_too(kw, field):
    # stride 1 makes pool and position irrelevant (canonical 'mean' @ 'output'), but a value that
    # is valid for no stride is a mistake: it was silently dropped
    with pytest.raises(ConfigError) as e:
        Config(task="asr", model="tiny.en", stride=1, **kw)
    assert e.value.field == field
    # a layer index (even one the model lacks) stays irrelevant at stride 1
    assert Config(task="asr", model="tiny.en", stride=1, stride_at=9).stride_at == "output"


def test_a_dynamic_window_for_empty_audio_without_margin_is_one_encoder_token():
    # it was 0 s: estimate() divided by it (ZeroDivisionError)
    from speechbudget.flops import estimate
    c = Config(task="asr", model="tiny.en", window="dynamic", dynamic_margin_s=0)
    assert c.window_s_for(0.0) == pytest.approx(0.02) and c.window_s_for(0.011) == c.window_s_for(0)
    assert estimate(c, audio_s=0.0).total > 0


def test_a_few_trailing_samples_are_no_window_of_their_own():
    """The pipeline starts a window only where a whole mel frame is left (as openai-whisper and
    faster-whisper do); the estimate and the timestamp choice count the same way. 30 s + 5
    samples was 2 windows in the FLOPs and decoded with timestamps, though it runs as one."""
    c = Config(task="asr", model="tiny.en", window=30)
    assert c.windows_for(30 + 5 / 16000) == (30.0, 1) and not c.timestamps_for(30 + 5 / 16000)
    assert c.windows_for(30.01) == (30.0, 2) and c.timestamps_for(30.01)   # one whole frame
    assert c.windows_for(30.0) == (30.0, 1) and c.windows_for(0.004) == (30.0, 1)
    assert Config(task="asr", model="tiny.en", window=10).windows_for(3 + 5 / 16000) == (10.0, 1)
