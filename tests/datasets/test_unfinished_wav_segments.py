"""A segment of a WAV whose header was never finished (data chunk 0 bytes, audio after it: a
writer killed before it patched the sizes) was cut from the empty recording soundfile's header
reading describes: 'the segment starts after the end of the recording (0.00 s)', or an empty
segment from 0, while load_audio reads the whole file. It is cut from what load_audio reads, with
its UnfinishedWavWarning naming the file."""
from __future__ import annotations

import struct
import warnings
import wave

import numpy as np
import pytest

from speechbudget.audio import AudioError, UnfinishedWavWarning, load_audio, unfinished_wav
from speechbudget.datasets import open_dataset, read_file


def unfinished(path, seconds=2.0, rate=16000):
    """A WAV as Python's `wave` leaves it when its writer is killed after an empty first write:
    the header written with sizes 0, the audio after it, the sizes never patched."""
    t = np.arange(int(seconds * rate)) / rate
    samples = np.round(0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframesraw(b"")
        w.writeframesraw(samples.tobytes())
        w._file.flush()  # noqa: SLF001
        left = path.read_bytes()  # the file as a kill leaves it
    path.write_bytes(left)  # close() patched the sizes: put the unpatched file back
    assert struct.unpack("<I", left[40:44]) == (0,)
    assert unfinished_wav(path) == (44, samples.nbytes)
    return path


def read_warned(path, start, end, read=read_file):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        audio = read(path, start, end)
    assert [type(w.message) for w in caught] == [UnfinishedWavWarning]
    assert str(caught[0].message).startswith(f"{path}: unfinished WAV header")
    return audio


@pytest.mark.parametrize("start,end", [(0.5, 1.0), (0.0, 0.5), (1.5, None), (1.25, 2.3)])
def test_a_segment_of_an_unfinished_wav_is_cut_from_its_audio(tmp_path, start, end):
    path = unfinished(tmp_path / "rec.wav")
    with pytest.warns(UnfinishedWavWarning):
        whole = load_audio(path)
    assert len(whole) == 32000
    got = read_warned(path, start, end)
    a, b = int(round(start * 16000)), None if end is None else int(round(end * 16000))
    np.testing.assert_array_equal(got, whole[a:b])
    assert len(got) > 0


def test_a_segment_past_the_end_of_an_unfinished_wav_names_its_real_length(tmp_path):
    path = unfinished(tmp_path / "rec.wav")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnfinishedWavWarning)
        with pytest.raises(AudioError, match=r"rec\.wav \[2\.5-3 s\]: the segment starts after "
                                             r"the end of the recording \(2\.00 s\)"):
            read_file(path, 2.5, 3.0)
        with pytest.raises(AudioError, match=r"ends 1\.00 s after the end of the recording "
                                             r"\(2\.00 s\)"):
            read_file(path, 1.0, 3.0)


def test_kaldi_segments_of_an_unfinished_wav(tmp_path):
    k = tmp_path / "k"
    k.mkdir()
    unfinished(k / "rec.wav", seconds=3.0, rate=8000)  # resampled as load_audio does
    (k / "wav.scp").write_text("r1 rec.wav\n")
    (k / "segments").write_text("u1 r1 0.0 1.0\nu2 r1 1.0 2.5\nu3 r1 2.5 -1\n")
    (k / "text").write_text("u1 A\nu2 B\nu3 C\n")
    ds = open_dataset(k)
    with pytest.warns(UnfinishedWavWarning):
        whole = load_audio(k / "rec.wav")
    got = [read_warned(r.path, r.start_s, r.end_s, lambda *_, r=r: ds.read_audio(r))
           for r in ds.records]
    assert [len(g) for g in got] == [16000, 24000, 8000]
    np.testing.assert_array_equal(np.concatenate(got), whole)
