"""SER on audio as users bring it: odd sample rates, formats and damaged headers; each clip is
read or skipped naming the file, never a crash."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.audio import AudioError
from speechbudget.tasks.ser.data import Clip, read_clip
from speechbudget.tasks.ser.features import read_clips


@pytest.mark.parametrize("rate", [1, 999])
def test_a_sample_rate_no_recording_has_is_a_skipped_clip(tmp_path, rate):
    # 1 Hz: each sample became 16,000; a 600 kB file's 300,000 were 4.8e9 (19 GB), a MemoryError
    # that read_clips did not catch (exit 70), or the OOM killer (3,000 here: 192 MB before)
    path = tmp_path / "damaged.wav"
    sf.write(path, np.full(3000, 0.1, np.float32), rate)
    clip = Clip("a", path, "ANG", "s1")
    with pytest.raises(AudioError, match=rf"damaged\.wav: invalid sample rate {rate} Hz"):
        read_clip(clip)
    audio, skipped = read_clips([clip])
    assert not audio and skipped[0][0] == "a" and "sample rate" in skipped[0][1]


@pytest.mark.parametrize("rate,subtype", [(8000, "ULAW"), (8000, "PCM_16"), (44100, "PCM_24"),
                                          (48000, "FLOAT"), (16000, "PCM_32")])
def test_common_rates_and_sample_formats_read_at_16k(tmp_path, rate, subtype):
    path = tmp_path / f"x_{rate}_{subtype}.wav"
    t = np.arange(rate) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate, subtype=subtype)
    audio = read_clip(Clip("x", path, "ANG", "s1"))
    assert len(audio) == 16000 and 0.25 < np.abs(audio).max() < 0.35


def test_a_float_wav_of_huge_samples_is_a_skipped_clip(tmp_path):
    # 1e18 (finite, so load_audio read it): the log-mel power overflowed, the clip's probs were
    # NaN (invalid JSON in ser eval --json) and it was scored as the first label, ok=True
    path = tmp_path / "huge.wav"
    t = np.arange(16000) / 16000
    sf.write(path, (1e18 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000,
             subtype="FLOAT")
    audio, skipped = read_clips([Clip("h", path, "SAD", "s1")])
    assert not audio and "huge.wav: peak amplitude 1e+18" in skipped[0][1]
    # a float WAV written with int16-range values is still read (the features are scale-free)
    sf.write(path, (32767 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000,
             subtype="FLOAT")
    assert len(read_clip(Clip("h", path, "SAD", "s1"))) == 16000
