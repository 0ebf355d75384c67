"""64-bit integer samples (a Hugging Face column of Python ints, written without its type) have
no PCM width; `pcm_width` takes the smallest of 16 or 32 bits that holds them. That is a guess: a
quiet 32-bit recording whose values fit in int16 is read 96 dB too loud, and nothing said so. The
guess is now said (PcmWidthGuessWarning: once per dataset, naming the column, the width chosen
and why); declared int16 / int32 samples are read by their type without a warning."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from speechbudget.datasets.base import PcmWidthGuessWarning, to_16k_mono


def quiet_int32(n=8000, peak=3000):
    """A 32-bit PCM recording at about -57 dBFS: every value fits in int16."""
    return np.round(np.sin(np.arange(n) / 5) * peak).astype(np.int32)


def test_untyped_samples_say_the_width_chosen_and_why():
    samples = quiet_int32().astype(np.int64)
    with pytest.warns(PcmWidthGuessWarning, match=r"^clip\[3\]: integer samples with no declared "
                                                  r"PCM width \(int64\): read as 16-bit PCM "
                                                  r"because every value fits in int16 \(-3000 "
                                                  r"to 3000\); give the samples their PCM type "
                                                  r"\(int32\) if it is 32-bit$"):
        to_16k_mono(samples, 16000, "clip[3]")
    with pytest.warns(PcmWidthGuessWarning, match=r"read as 32-bit PCM because values from "
                                                  r"-40000 to 40000 do not fit in int16"):
        to_16k_mono(np.array([-40000, 0, 40000] * 100, dtype=np.int64), 16000, "clip[4]")


@pytest.mark.parametrize("dtype", ["int16", "int32", "uint8", "float32"])
def test_typed_samples_are_read_without_a_warning(dtype):
    samples = quiet_int32(peak=100).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_16k_mono(samples, 16000, "clip")


def _table(rows, dtype=None):
    datasets = pytest.importorskip("datasets")
    data = {"audio": [{"array": r.tolist(), "sampling_rate": 16000} for r in rows],
            "text": ["x"] * len(rows)}
    if dtype is None:  # Python ints: the column's type is inferred as int64
        return datasets.Dataset.from_dict(data)
    return datasets.Dataset.from_dict(data, features=datasets.Features({
        "audio": {"array": datasets.Sequence(datasets.Value(dtype)),
                  "sampling_rate": datasets.Value("int64")},
        "text": datasets.Value("string")}))


def read_all(ds):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        audio = [ds.read_audio(r) for r in ds.records]
    return audio, [str(w.message) for w in caught if w.category is PcmWidthGuessWarning]


def test_a_hugging_face_column_of_python_ints_says_its_guess_once():
    from speechbudget.datasets import Columns, open_dataset
    table = _table([quiet_int32(), quiet_int32(peak=2000), quiet_int32(peak=1000)])
    ds = open_dataset(table.rename_column("audio", "samples"), Columns(audio="samples"))
    audio, said = read_all(ds)
    assert said == [f"{ds.source}: column 'samples': integer samples with no declared PCM width "
                    "(int64): read as 16-bit PCM because every value fits in int16 (-3000 to "
                    "3000); declare the column's sample dtype (int32) if it is 32-bit (row 0 "
                    "first; said once for this dataset)"]
    assert 0.09 < float(np.abs(audio[0]).max()) < 0.093  # the rule kept: read as int16
    assert read_all(ds)[1] == []  # said once for the dataset, not once per reading


def test_a_column_whose_rows_need_two_widths_says_both():
    from speechbudget.datasets import open_dataset
    ds = open_dataset(_table([quiet_int32(), quiet_int32(peak=100000), quiet_int32(peak=5)]))
    said = read_all(ds)[1]
    assert len(said) == 2
    assert "read as 16-bit PCM" in said[0] and "(row 0 first" in said[0]
    assert "read as 32-bit PCM because values from -100000 to 100000" in said[1]
    assert "(row 1 first" in said[1]


@pytest.mark.parametrize("dtype,peak", [("int16", 0.0916), ("int32", 3000 / 2 ** 31)])
def test_declared_integer_columns_are_read_by_their_type_without_a_warning(dtype, peak):
    from speechbudget.datasets import open_dataset
    ds = open_dataset(_table([quiet_int32(), quiet_int32()], dtype))
    audio, said = read_all(ds)
    assert said == []
    assert float(np.abs(audio[0]).max()) == pytest.approx(peak, rel=2e-3)


def test_declared_int64_is_no_pcm_width_and_is_said():
    from speechbudget.datasets import open_dataset
    said = read_all(open_dataset(_table([quiet_int32()], "int64")))[1]
    assert len(said) == 1 and "no declared PCM width (int64): read as 16-bit" in said[0]
