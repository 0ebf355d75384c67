"""The window's frames past its audio: zeros in the normalised log-mel (the references'
transcribe; the default) or the recording's silence floor (`mel_padding="silence"`, a
zero-padded waveform), chosen per pipeline and per AsrTask."""
from __future__ import annotations

import json

import pytest
import torch

from speechbudget.axes import Config, ConfigError
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.runner import AsrTask
from tests.asr.conftest import noisy_tone


def _padded_frames(bundle, padding):
    cfg = Config(task="asr", model="tiny.en", window=30)
    pipe = AsrPipeline(bundle, cfg, "cpu", **({} if padding is None else {"mel_padding": padding}))
    rows = pipe.rows_for("u", noisy_tone(2.5, seed=4))
    pipe.features(rows)
    r = rows[0]
    return r.mel[:, r.content_frames + 2:], r.mel[:, :r.content_frames]


def test_zeros_by_default_silence_on_request(fake_bundle):
    pad0, speech0 = _padded_frames(fake_bundle, None)
    assert bool((pad0 == 0).all())
    pad1, speech1 = _padded_frames(fake_bundle, "silence")
    torch.testing.assert_close(speech1, speech0, rtol=0, atol=0)   # the audio's frames alike
    assert float(pad1.max()) == float(pad1.min()) < float(speech1.min()) + 1e-6
    assert float(pad1.max()) < 0


def test_a_feature_cache_keeps_the_two_apart(fake_bundle):
    cfg = Config(task="asr", model="tiny.en", window=30)
    cache: dict = {}
    mels = []
    for padding in ("zeros", "silence"):
        pipe = AsrPipeline(fake_bundle, cfg, "cpu", mel_padding=padding)
        rows = pipe.rows_for("u", noisy_tone(1.5, seed=5))
        pipe.features(rows, cache)
        mels.append(rows[0].mel)
    assert not torch.equal(mels[0], mels[1])


def test_bad_values_are_refused(fake_bundle):
    cfg = Config(task="asr", model="tiny.en", window=30)
    with pytest.raises(ConfigError, match="mel_padding"):
        AsrPipeline(fake_bundle, cfg, "cpu", mel_padding="floor")
    with pytest.raises(ValueError, match="mel_padding='floor'"):
        AsrTask(mel_padding="floor")
    assert AsrTask(mel_padding="silence").mel_padding == "silence"


def test_a_sweep_spec_takes_it_and_names_a_bad_value(tmp_path):
    from speechbudget.sweep.driver import build_task_for
    from speechbudget.sweep.work_units import TaskRef
    from speechbudget.sweep.spec import SpecError, load_spec
    base = ("name: mp\ntask: asr\ndata: {data}\ntask_options: {{mel_padding: {v}}}\n"
            "models: [tiny.en]\naxes: {{window: [10]}}\nplan: {{type: grid}}\n")
    good = tmp_path / "good.yaml"
    good.write_text(base.format(data=tmp_path, v="silence"))
    assert load_spec(good).task_options["mel_padding"] == "silence"
    bad = tmp_path / "bad.yaml"
    bad.write_text(base.format(data=tmp_path, v="floor"))
    spec = load_spec(bad)
    with pytest.raises(SpecError, match="line 4.*mel_padding='floor'"):
        build_task_for(spec, TaskRef("asr", json.dumps(spec.task_options)))


def test_asr_eval_takes_it(monkeypatch, tmp_path):
    import speechbudget.tasks.asr.runner as runner
    from typer.testing import CliRunner

    from speechbudget.cli import app
    from speechbudget.records import ConfigMetrics

    seen = []

    def fake_evaluate(cfg, ds, device=None, task=None, **k):
        seen.append(task.mel_padding)
        return ConfigMetrics(cfg.key, "asr", "wer", 0.0, n_items=0), []

    monkeypatch.setattr(runner, "evaluate", fake_evaluate)
    (tmp_path / "manifest.jsonl").write_text('{"audio": "a.wav", "text": "hi"}\n')
    common = ["asr", "eval", "--data", str(tmp_path), "--device", "cpu", "--no-progress"]
    r = CliRunner().invoke(app, [*common, "--mel-padding", "silence", "--json"])
    assert seen == ["silence"], r.output
    r = CliRunner().invoke(app, [*common, "--mel-padding", "floor"])
    assert r.exit_code == 2 and "--mel-padding" in " ".join(r.output.split())


def test_an_encoder_cache_keeps_the_two_apart(fake_bundle):
    """The reuse cache keyed features by the padding but encoder states not: a pipeline with the
    other padding took the first one's encoder output for the same window."""
    cfg = Config(task="asr", model="tiny.en", window=30)
    audio = noisy_tone(1.5, seed=6)
    cache: dict = {}
    for padding in ("zeros", "silence"):
        pipe = AsrPipeline(fake_bundle, cfg, "cpu", mel_padding=padding)
        rows = pipe.rows_for("u", audio)
        pipe.features(rows, cache)
        pipe.encode(rows, 1, cache)
    fresh = AsrPipeline(fake_bundle, cfg, "cpu", mel_padding="silence")
    alone = fresh.rows_for("u", audio)
    fresh.features(alone)
    fresh.encode(alone, 1)
    torch.testing.assert_close(rows[0].enc, alone[0].enc)


def test_whisper_model_takes_it(bundled_librispeech):
    """WhisperModel(mel_padding=) reaches the features: on a short clip in a 30 s window the
    encoder sees different frames past the audio (real tiny.en, one bundled utterance)."""
    from speechbudget import WhisperModel
    from speechbudget.models.loading import load_whisper

    clip = sorted((bundled_librispeech / "audio").rglob("*.flac"))[0]
    bundle = load_whisper("tiny.en")
    out = {}
    for padding in ("zeros", "silence"):
        m = WhisperModel.from_bundle(bundle, device="cpu", mel_padding=padding)
        assert m.mel_padding == padding
        segs, info = m.transcribe(str(clip), timestamps="off")
        out[padding] = (info.text, [s.avg_logprob for s in segs])
    assert out["zeros"][0] and out["silence"][0]
    assert out["zeros"][1] != out["silence"][1]        # the decoder saw other encoder states
    with pytest.raises(ConfigError, match="mel_padding"):
        WhisperModel.from_bundle(bundle, device="cpu", mel_padding="floor")
    with pytest.raises(ConfigError, match="mel_padding"):   # before any weights load
        WhisperModel("no/such-model", device="cpu", mel_padding="floor")
