"""Inputs a new user has and the bundled data does not: a 0-byte file, a manifest saved as UTF-16
(Windows 'Unicode'), paths written with Windows separators. Each was refused or failed with a
message that did not say what was wrong."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.audio import AudioError, load_audio
from speechbudget.datasets import open_dataset


def test_a_zero_byte_file_is_named_empty(tmp_path):
    # was: 'not a readable audio file (soundfile: ... Format not recognised.; librosa: EOFError)'
    (tmp_path / "a.wav").write_bytes(b"")
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path / "a.wav")
    assert str(e.value) == f"{tmp_path / 'a.wav'}: an empty file (0 bytes), not an audio file"
    # a recording of 0 samples (a header, no audio) stays an empty recording
    sf.write(tmp_path / "b.wav", np.zeros(0, np.float32), 16000)
    assert load_audio(tmp_path / "b.wav").shape == (0,)
