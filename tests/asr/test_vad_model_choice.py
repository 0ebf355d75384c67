"""The VAD model's choice (`WhisperModel(vad_model=...)`, `transcribe --vad-model`): with
"faster-whisper", the silero_vad_v6.onnx faster-whisper 1.2.1 bundles, run with onnxruntime as
its `SileroVADModel` runs it, gives its probabilities, its chunks and its transcript."""
from __future__ import annotations

import json

import numpy as np
import pytest

from speechbudget.axes import ConfigError
from speechbudget.models.load_error import ModelLoadError
from speechbudget.tasks.asr import vad, vad_rules
from tests.asr.conftest import run_transcribe_cli, tiny_en_model
from tests.asr.test_vad import SR, fw_transcribe, recording  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def fw_onnx():
    """Ours on faster-whisper's bundled ONNX model (skips without faster-whisper)."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("onnxruntime")
    return vad.SileroVad(vad.vad_model_path("faster-whisper"))


def fw_probs(audio: np.ndarray) -> np.ndarray:
    """faster-whisper's own probabilities: its model on the audio padded as it pads it."""
    fv = pytest.importorskip("faster_whisper.vad")
    padded = np.pad(audio, (0, vad_rules.FRAME - len(audio) % vad_rules.FRAME))
    return np.asarray(fv.get_vad_model()(padded)).reshape(-1)


def fw_chunks(audio: np.ndarray, options: vad_rules.VadOptions) -> list[tuple[int, int]]:
    fv = pytest.importorskip("faster_whisper.vad")
    return [(c["start"], c["end"])
            for c in fv.get_speech_timestamps(audio, fv.VadOptions(**vars(options)))]


def test_the_faster_whisper_choice_is_its_bundled_onnx(fw_onnx):
    import faster_whisper
    from pathlib import Path
    assert fw_onnx.path == Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"
    assert fw_onnx.backend == "onnxruntime"


@pytest.mark.parametrize("cut", [0, 1])
def test_probabilities_and_chunks_are_faster_whispers(fw_onnx, recording, cut):
    """On the recording (cut: to whole frames, where a full frame of zeros is added), the
    probabilities and the chunks are faster-whisper's."""
    audio = recording[0]
    if cut:
        audio = audio[:len(audio) // vad_rules.FRAME * vad_rules.FRAME]
    ours = fw_onnx.speech_probs(audio)
    theirs = fw_probs(audio)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    for options in (vad_rules.VadOptions(), vad_rules.VadOptions(min_silence_duration_ms=300,
                                                     speech_pad_ms=100)):
        assert fw_onnx.speech_chunks(audio, options) == fw_chunks(audio, options)


def test_the_lstm_state_is_carried_across_onnx_batches(fw_onnx, recording):
    """More than ONNX_BATCH frames (faster-whisper's 10000 a call): the same probabilities."""
    audio = recording[0]
    long = np.tile(audio, vad.ONNX_BATCH * vad_rules.FRAME // len(audio) + 1)[
        :vad.ONNX_BATCH * vad_rules.FRAME + 3 * vad_rules.FRAME + 100]
    np.testing.assert_allclose(fw_onnx.speech_probs(long), fw_probs(long), rtol=0, atol=1e-6)


def test_the_onnx_model_costs_the_networks_gflops(fw_onnx):
    try:
        jit = vad.SileroVad()
    except vad.VadUnavailableError as e:
        pytest.skip(f"silero-vad is not installed ({e})")
    assert jit.shapes == {**jit.shapes, **vad.SILERO_SHAPES}
    assert jit.gflops(SR * 60) > 0
    assert fw_onnx.gflops(SR * 60) == pytest.approx(jit.gflops(SR * 60))


def test_a_missing_package_is_named(monkeypatch):
    import importlib.util
    import sys
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: None if name == "faster_whisper" else real(name))
    with pytest.raises(vad.VadUnavailableError, match=r"pip install 'speechbudget\[compare\]'"):
        vad.vad_model_path("faster-whisper")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: None if name == "onnxruntime" else real(name))
    with pytest.raises(vad.VadUnavailableError, match="onnxruntime"):
        vad.vad_model_path("faster-whisper")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)     # import onnxruntime fails
    with pytest.raises(vad.VadUnavailableError, match="onnxruntime package"):
        vad.onnx_session(vad.Path("x.onnx"))


def test_bad_choices_and_files_are_named(tmp_path):
    for bad in (5, True, "", ["x"]):
        with pytest.raises(ConfigError, match="vad_model"):
            vad.check_vad_model(bad)
    with pytest.raises(ModelLoadError, match="nope.onnx: no such Silero VAD file"):
        vad.vad_model_path(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="junk.onnx: not an ONNX Silero VAD model") as e:
        vad.SileroVad(junk)
    assert "\n" not in str(e.value)
    try:   # silero-vad's own .onnx takes the sample rate too: not faster-whisper's layout
        other = vad.find_model_file("silero_vad.onnx")
    except vad.VadUnavailableError:
        return
    pytest.importorskip("onnxruntime")
    with pytest.raises(ModelLoadError, match="silero_vad.onnx: not a Silero VAD v5/v6 ONNX"):
        vad.SileroVad(other)


def test_whisper_model_refuses_a_bad_vad_model_before_loading(monkeypatch, tmp_path):
    from speechbudget import WhisperModel
    from speechbudget.models import loading

    def boom(*a, **k):
        raise AssertionError("the model was loaded before vad_model was checked")
    monkeypatch.setattr(loading, "load_whisper", boom)
    with pytest.raises(ConfigError, match="vad_model"):
        WhisperModel("tiny.en", device="cpu", vad_model=3)
    with pytest.raises(ModelLoadError, match="nope.jit"):
        WhisperModel("tiny.en", device="cpu", vad_model=tmp_path / "nope.jit")


def tiny_with(choice):
    """tiny.en (skips without it) with this vad_model."""
    base = tiny_en_model()
    return type(base).from_bundle(base.bundle, device="cpu", vad_model=choice)


@pytest.mark.slow
def test_transcription_with_faster_whispers_vad_is_faster_whispers(fw_onnx, recording):
    """transcribe(vad_filter=True) with vad_model="faster-whisper": faster-whisper's chunks,
    text and segment times (greedy, no conditioning), the one documented difference kept (times
    clamped to the end of the decoded audio, test_vad)."""
    pytest.importorskip("faster_whisper")
    audio = recording[0]
    wm = tiny_with("faster-whisper")
    segs, info = wm.transcribe(audio, vad_filter=True)
    chunks = fw_chunks(audio, vad_rules.VadOptions())
    assert info.vad.chunks == tuple((s / SR, e / SR) for s, e in chunks)
    theirs, finfo = fw_transcribe(audio)          # faster-whisper with its own VAD
    assert finfo.duration_after_vad == info.duration_after_vad
    assert [s.text for s in segs] == [s.text.strip() for s in theirs]
    last = vad_rules.TimeMap(chunks).original(info.duration_after_vad, is_end=True)
    assert np.allclose([(s.start, s.end) for s in segs],
                       [(min(s.start, last), min(s.end, last)) for s in theirs], atol=1e-3)
    from speechbudget.batched_pipeline import BatchedInferencePipeline
    _, binfo = BatchedInferencePipeline(wm).transcribe(audio, batch_size=4)   # the same VAD
    assert binfo.vad.chunks == tuple((s / SR, e / SR)
                                     for s, e in fw_chunks(audio, binfo.vad.options))


def test_cli_vad_model_is_refused_without_the_filter_and_names_a_bad_file(recording_wav,
                                                                         monkeypatch, tmp_path):
    from speechbudget.models import loading

    def boom(*a, **k):
        raise AssertionError("the model was loaded before --vad-model was checked")
    monkeypatch.setattr(loading, "load_whisper", boom)
    r = run_transcribe_cli([str(recording_wav), "--vad-model", "faster-whisper"])
    assert r.exit_code == 2 and "--vad-model" in r.output and "--vad" in r.output, r.output
    r = run_transcribe_cli([str(recording_wav), "--vad", "--vad-model", ""])
    assert r.exit_code == 2 and "--vad-model" in r.output, r.output
    missing = tmp_path / "missing.onnx"
    r = run_transcribe_cli([str(recording_wav), "--vad", "--vad-model", str(missing)])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 5 and len(lines) == 1 and "missing.onnx" in lines[0], r.output
    junk = tmp_path / "junk.jit"
    junk.write_bytes(b"not a model")
    r = run_transcribe_cli([str(recording_wav), "--batched", "--vad-model", str(junk)])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 5 and len(lines) == 1 and "junk.jit: not a Silero" in lines[0], r.output


@pytest.mark.slow
def test_cli_vad_model_faster_whisper_prints_faster_whispers_chunks(fw_onnx, recording_wav):
    from speechbudget.audio import load_audio
    r = run_transcribe_cli([str(recording_wav), "--format", "json", "--vad",
                            "--vad-model", "faster-whisper"])
    assert r.exit_code == 0, r.output
    chunks = fw_chunks(load_audio(recording_wav), vad_rules.VadOptions())
    assert json.loads(r.stdout)["info"]["vad"]["chunks"] == [[s / SR, e / SR] for s, e in chunks]
