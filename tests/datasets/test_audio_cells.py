"""Audio given as table cells (Hugging Face rows, in-memory arrays): read as a file would be."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.audio import load_audio
from speechbudget.datasets import open_dataset
from speechbudget.datasets.base import decode_cell


@pytest.mark.parametrize("subtype,dtype", [("PCM_16", np.int16), ("PCM_32", np.int32),
                                           ("PCM_U8", np.uint8)])
def test_integer_pcm_arrays_are_scaled_like_the_file(tmp_path, subtype, dtype):
    # an int16 array (e.g. from scipy.io.wavfile or a hand-built dataset) was cast to float32
    # unscaled: samples up to 32767 instead of 1, so the log-mel features were far off Whisper's
    rng = np.random.default_rng(0)
    x = (0.5 * np.sin(np.arange(22050) * 0.05) + 0.01 * rng.standard_normal(22050))
    path = tmp_path / "a.wav"
    sf.write(path, x, 22050, subtype=subtype)
    pcm, sr = sf.read(path, dtype="int16" if dtype == np.int16 else "int32", always_2d=False)
    if dtype == np.uint8:  # soundfile has no uint8 reading: the file's own bytes
        import wave
        with wave.open(str(path)) as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), np.uint8)
    pcm = pcm.astype(dtype)
    got = decode_cell({"array": pcm, "sampling_rate": sr}, "row 0")
    np.testing.assert_allclose(got, load_audio(path), atol=1e-6)


def test_integer_arrays_in_an_hf_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    x = (0.25 * np.sin(np.arange(16000) * 0.1)).astype(np.float32)
    pcm = np.round(x * 32768).astype(np.int16)
    table = datasets.Dataset.from_dict({"audio": [{"array": pcm, "sampling_rate": 16000}],
                                        "text": ["hi"]})
    ds = open_dataset(table)
    np.testing.assert_allclose(ds.read_audio(ds.records[0]), x, atol=1 / 32768)


@pytest.mark.parametrize("rate", [0, 1, 999])
def test_a_cell_of_a_sample_rate_no_recording_has_is_refused_as_a_file_is(tmp_path, rate):
    # the in-memory path only refused rates <= 0, while load_audio refuses those below 1000 Hz:
    # a row or bytes cell claiming 1 Hz was resampled to 16 kHz, each sample becoming 16,000
    # (a 600 kB recording: 19 GB, a MemoryError)
    from speechbudget.audio import MIN_SAMPLE_RATE, AudioError
    x = np.full(300, 0.1, np.float32)
    with pytest.raises(AudioError, match=rf"row 0: invalid sample rate {rate} Hz \(below "
                                         rf"{MIN_SAMPLE_RATE} Hz"):
        decode_cell({"array": x, "sampling_rate": rate}, "row 0")
    if rate:  # a WAV file's bytes in the cell (soundfile cannot write a rate of 0)
        path = tmp_path / "damaged.wav"
        sf.write(path, x, rate)
        with pytest.raises(AudioError, match=rf"row 0: invalid sample rate {rate} Hz"):
            decode_cell({"bytes": path.read_bytes(), "path": None}, "row 0")
