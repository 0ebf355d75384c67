"""SER data as users bring it: folder layouts named otherwise than the datasets' own copies."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.tasks.ser.data import load_dataset


def _write(path, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(8000, np.float32) + 0.01, 16000, format=fmt)


@pytest.mark.parametrize("ext,fmt", [("WAV", "WAV"), ("flac", "FLAC")])
def test_a_flat_cremad_folder_of_upper_case_wav_or_flac_names_is_cremad(tmp_path, ext, fmt):
    # load_cremad reads .WAV and .flac; the folder test only looked for *.wav (exit 3,
    # "not a SER dataset")
    for name in ("1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_DFA_SAD_LO"):
        _write(tmp_path / f"{name}.{ext}", fmt)
    ds = load_dataset(tmp_path)
    assert [(c.speaker, c.label) for c in ds.items] == [
        ("1001", "ANG"), ("1001", "HAP"), ("1002", "SAD")]
