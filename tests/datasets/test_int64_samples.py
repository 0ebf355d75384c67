"""Integer samples in a 64-bit array (what a Hugging Face column of Python ints holds when the
int16 samples were written without their type) were scaled by 2**63: a recording came out about
-186 dBFS, near silence, and was transcribed as nothing (exit 0). They are scaled by the PCM
width that holds them."""
from __future__ import annotations

import numpy as np
import pytest

from speechbudget.audio import AudioError
from speechbudget.datasets.base import pcm_width, to_16k_mono


def test_int64_samples_are_scaled_as_the_pcm_width_that_holds_them():
    t = np.arange(16000) / 16000
    pcm16 = np.round(0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    want = to_16k_mono(pcm16, 16000, "x")
    got = to_16k_mono(pcm16.astype(np.int64), 16000, "x")
    np.testing.assert_array_equal(got, want)
    assert 0.45 < float(np.abs(got).max()) < 0.55
    pcm32 = pcm16.astype(np.int32) * 65536 + 7
    np.testing.assert_array_equal(to_16k_mono(pcm32.astype(np.int64), 16000, "x"),
                                  to_16k_mono(pcm32, 16000, "x"))
    assert pcm_width(np.array([0, 65535], dtype=np.uint64), "x") == "uint16"


def test_int64_samples_beyond_32_bits_are_refused_naming_where():
    with pytest.raises(AudioError, match=r"ds\[3\]: 64-bit integer samples from 0 to 4294967296"):
        to_16k_mono(np.array([0, 2 ** 32], dtype=np.int64), 16000, "ds[3]")


def test_a_hugging_face_column_of_python_ints_is_read_at_its_level():
    datasets = pytest.importorskip("datasets")
    from speechbudget.datasets import open_dataset
    samples = (np.sin(np.arange(8000) / 5) * 16000).astype(np.int16)
    table = datasets.Dataset.from_dict({"audio": [{"array": samples.tolist(),
                                                   "sampling_rate": 16000}], "text": ["x"]})
    ds = open_dataset(table)
    audio = ds.read_audio(ds.records[0])
    assert 0.45 < float(np.abs(audio).max()) < 0.5
