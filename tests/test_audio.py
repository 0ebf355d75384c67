"""speechbudget.audio: reading recordings as 16 kHz mono float32 (log-mel: test_log_mel.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbudget.audio import AudioError, load_audio
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.log_mel import log_mel


def _tone(freq: float, seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_load_audio_downmixes_and_resamples(tmp_path):
    sr = 44100
    left, right = _tone(1000.0, 1.0, sr, 3), _tone(1000.0, 1.0, sr, 4)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), sr, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - SAMPLE_RATE) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / audio.size - 1000.0) < 2.0  # pitch kept
    # down-mix: the mean of the two channels
    mono = tmp_path / "mono.wav"
    sf.write(mono, (left + right) / 2, sr, subtype="FLOAT")
    np.testing.assert_allclose(audio, load_audio(mono), atol=2e-4)


def test_load_audio_reads_flac_at_16k(bundled_librispeech):
    item = json.loads((bundled_librispeech / "manifest.jsonl").read_text().splitlines()[0])
    audio = load_audio(bundled_librispeech / item["audio"])
    assert audio.dtype == np.float32
    assert abs(audio.size / SAMPLE_RATE - item["duration_s"]) < 0.01


def test_load_audio_errors_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="missing.wav.*no such"):
        load_audio(tmp_path / "missing.wav")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 20)
    with pytest.raises(AudioError, match="notes.wav.*not a readable audio file"):
        load_audio(text)
    nan = tmp_path / "nan.wav"
    x = _tone(100.0, 0.1, SAMPLE_RATE)
    x[10] = np.nan
    sf.write(nan, x, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav.*non-finite"):
        load_audio(nan)
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path)


def test_an_empty_recording_is_an_empty_waveform(tmp_path):
    # a 0-sample file was an AudioError; openai-whisper and faster-whisper read it as no audio
    # (no segments), so ASR must get an empty transcript (SER refuses it in read_clip). A
    # recording shorter than one 16 kHz sample (1 sample at 44.1 kHz resamples to
    # round(16000 / 44100) = 0 samples) is the same empty recording, from every reader.
    from speechbudget.datasets.base import decode_cell, read_file

    for sr, n in ((SAMPLE_RATE, 0), (44100, 0), (44100, 1), (8000, 0)):
        f = tmp_path / f"e{sr}_{n}.wav"
        sf.write(f, np.full(n, 0.3, np.float32), sr, subtype="FLOAT")
        for got in (load_audio(f), read_file(f, 0.0, None),
                    decode_cell({"array": np.full(n, 0.3), "sampling_rate": sr}, "cell"),
                    decode_cell({"bytes": f.read_bytes(), "path": None}, "cell")):
            assert got.dtype == np.float32 and got.shape == (0,), (sr, n)
    clip = tmp_path / "clip.wav"
    sf.write(clip, _tone(440.0, 1.0, 44100), 44100, subtype="PCM_16")
    assert read_file(clip, 0.0, 1 / 44100).shape == (0,)  # a one-sample segment
    two = tmp_path / "two.wav"  # 2 samples -> round(0.73) = 1 sample: kept
    sf.write(two, np.array([0.3, 0.3], np.float32), 44100, subtype="FLOAT")
    assert load_audio(two).shape == (1,)
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.zeros((0, 2), np.float32), 48000)
    assert load_audio(stereo).shape == (0,)


def test_a_file_name_that_is_not_utf8_is_read(tmp_path):
    # a Latin-1 name ("café" as b"caf\xe9"): Python keeps the byte as a surrogate, which soundfile
    # could not encode, so a valid recording was 'not a readable audio file'
    import os

    from speechbudget.datasets.base import read_file

    name = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.wav")
    x = _tone(440.0, 1.0, 22050)
    with open(name, "wb") as f:
        sf.write(f, x, 22050, subtype="PCM_16", format="WAV")
    reference = load_audio(_copy(name, tmp_path / "cafe.wav"))
    np.testing.assert_array_equal(load_audio(name), reference)
    np.testing.assert_array_equal(read_file(name, 0.25, 0.5), read_file(tmp_path / "cafe.wav",
                                                                         0.25, 0.5))


def _copy(src, dst):
    import shutil

    shutil.copyfile(src, dst)
    return dst


def test_a_file_that_cannot_be_read_is_an_audio_error():
    # the WAV-header check opened the file unguarded: an unreadable file raised a bare OSError
    # ('[Errno 5] Input/output error', no file name) instead of the documented AudioError
    from pathlib import Path

    mem = Path("/proc/self/mem")  # a regular file whose first bytes cannot be read
    if not mem.is_file():
        pytest.skip("no /proc/self/mem here")
    with pytest.raises(AudioError, match=r"/proc/self/mem: cannot be read \(Input/output"):
        load_audio(mem)


def test_a_file_without_read_permission_is_an_audio_error(tmp_path):
    import os

    locked = tmp_path / "locked.wav"
    sf.write(locked, _tone(100.0, 0.1, SAMPLE_RATE), SAMPLE_RATE)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: permissions do not stop reading")
        with pytest.raises(AudioError, match=r"locked.wav: cannot be read \(Permission denied"):
            load_audio(locked)
    finally:
        locked.chmod(0o644)


def test_an_asr_item_whose_file_name_is_not_utf8_has_its_duration(tmp_path):
    # AsrDataset.duration read the header with sf.info(str(path)): 0 s for such a name, which
    # the sweep planner averages into the dataset's mean length
    import os
    from pathlib import Path

    from speechbudget.tasks.asr.data import AsrDataset, AsrItem

    name = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.wav")
    with open(name, "wb") as f:
        sf.write(f, _tone(440.0, 1.5, 16000), 16000, subtype="PCM_16", format="WAV")
    ds = AsrDataset([AsrItem("a", Path(name), "x")], str(tmp_path))
    assert ds.duration(ds.items[0]) == pytest.approx(1.5)


def test_a_recording_of_more_than_8_channels_is_downmixed_over_channels(tmp_path):
    # read through a segment (Kaldi) or as bytes (HF), a 10-channel file was averaged over time
    # (the layout was guessed from the size: over 8 'channels' meant [channels, samples]): 10
    # samples came back instead of the recording
    from speechbudget.datasets.base import decode_cell, read_file
    chans = np.stack([_tone(200.0 + 50 * k, 1.0, SAMPLE_RATE, k) * (k + 1) / 10 for k in range(10)],
                     axis=1)
    path = tmp_path / "array.wav"
    sf.write(path, chans, SAMPLE_RATE, subtype="FLOAT")
    mono = chans.mean(axis=1)
    np.testing.assert_allclose(load_audio(path), mono, atol=1e-6)
    np.testing.assert_allclose(read_file(path, 0.25, 0.5), mono[4000:8000], atol=1e-6)
    np.testing.assert_allclose(decode_cell({"bytes": path.read_bytes(), "path": None}, "cell"),
                               mono, atol=1e-6)


def test_a_truncated_wav_read_through_a_segment_warns(tmp_path):
    # load_audio warned of a WAV cut short of its header; a Kaldi segment of the same file was
    # read without a word, its end silently the file's
    from speechbudget.audio import TruncatedAudioWarning
    from speechbudget.datasets.base import read_file
    p = tmp_path / "cut.wav"
    sf.write(p, _tone(300.0, 1.0, SAMPLE_RATE), SAMPLE_RATE, subtype="PCM_16")
    p.write_bytes(p.read_bytes()[:44 + 16000])  # the header, then half the samples
    with pytest.warns(TruncatedAudioWarning, match=r"cut.wav: truncated WAV: the header claims "
                                                   r"32000 bytes of audio, the file holds 16000"):
        x = read_file(p, 0.25, 0.75)
    assert len(x) == 4000  # 0.25-0.5 s: the segment's end is cut at the file's (< 0.5 s past it)
    folder = tmp_path / "dir.wav"
    folder.mkdir()
    with pytest.raises(AudioError, match="dir.wav: is a directory"):
        read_file(folder, 0.0, 0.5)


# encodings a user's corpus may hold, and the largest sample error each may add (its own
# quantisation: 8-bit and the 8-bit companded codecs ~1/128, lossy Vorbis more)
ENCODINGS = [("wav", "PCM_U8", 1e-2), ("wav", "PCM_16", 1e-4), ("wav", "PCM_24", 1e-6),
             ("wav", "PCM_32", 1e-6), ("wav", "FLOAT", 1e-7), ("wav", "DOUBLE", 1e-7),
             ("wav", "ULAW", 3e-2), ("wav", "ALAW", 3e-2), ("flac", "PCM_24", 1e-6),
             ("ogg", "VORBIS", 5e-2)]


@pytest.mark.parametrize("ext,subtype,tol", ENCODINGS)
def test_each_encoding_reads_as_its_samples(tmp_path, ext, subtype, tol):
    x = _tone(440.0, 0.5, SAMPLE_RATE) * 0.8
    p = tmp_path / f"a.{ext}"
    sf.write(p, x, SAMPLE_RATE, subtype=subtype)
    y = load_audio(p)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() < tol
    # three channels in a WAVE_FORMAT_EXTENSIBLE file (written by hand: libsndfile writes the
    # plain format tag for 3 channels), read as the mean of the channels
    if ext == "wav" and subtype == "PCM_16":
        three = np.stack([x, -x, 0.5 * x], 1)
        p = _extensible_wav(tmp_path / "three.wav", np.round(three * 32767).astype("<i2"))
        np.testing.assert_allclose(load_audio(p), x / 6, atol=1e-4)


def _extensible_wav(path, pcm16):
    """A 16-bit WAV with the WAVE_FORMAT_EXTENSIBLE (0xFFFE) format tag and the PCM sub-format."""
    import struct
    ch = pcm16.shape[1]
    guid = struct.pack("<IHH", 1, 0, 0x10) + bytes.fromhex("800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, ch, SAMPLE_RATE, SAMPLE_RATE * 2 * ch, 2 * ch, 16,
                      22, 16, (1 << ch) - 1) + guid
    data = pcm16.tobytes()
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
                     + b"fmt " + struct.pack("<I", len(fmt)) + fmt
                     + b"data" + struct.pack("<I", len(data)) + data)
    assert (sf.info(path).format, sf.info(path).channels) == ("WAVEX", ch)
    return path


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_resampling_to_16k_keeps_the_band_limited_signal(tmp_path, sr):
    """soxr HQ against the exact signal (not another resampler, whose own filter error is larger:
    scipy's resample_poly is ~1e-3 off here): tones below 4 kHz, written at `sr` as float, are at
    16 kHz within 1e-5 of the same tones, away from the first and last 50 ms (filter edges)."""
    def tones(rate):
        t = np.arange(int(1.0 * rate)) / rate
        return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t + 1)
                + 0.1 * np.sin(2 * np.pi * 1234.5 * t))
    p = tmp_path / "a.wav"
    sf.write(p, tones(sr).astype(np.float32), sr, subtype="FLOAT")
    y = load_audio(p)
    assert len(y) == SAMPLE_RATE
    inner = slice(800, -800)
    assert np.abs(y[inner] - tones(SAMPLE_RATE)[inner]).max() < 1e-5


def test_overflowing_samples_are_refused_for_files_and_arrays(tmp_path):
    """A float WAV of huge finite samples (1e18) overflowed the float32 log-mel: ASR gave an empty
    transcript with exit 0, SER the first label. One check (audio.check_samples) refuses it for
    every reader; int16-range float samples (~3e4) still read (the features are scale-free)."""
    from speechbudget.datasets.base import to_16k_mono
    x = np.sin(2 * np.pi * 300 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    huge = tmp_path / "huge.wav"
    sf.write(huge, (1e18 * x).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"huge.wav: peak amplitude 1e\+18"):
        load_audio(huge)
    with pytest.raises(AudioError, match=r"row 0: peak amplitude 1e\+18"):
        to_16k_mono((1e18 * x).astype(np.float32), SAMPLE_RATE, "row 0")
    loud = tmp_path / "loud.wav"
    sf.write(loud, (32767 * x).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    assert torch.isfinite(log_mel(load_audio(loud))).all()


def test_a_sample_rate_above_any_recording_is_refused(tmp_path):
    """A damaged WAV header claiming 400 MHz: its 4 s of samples were resampled to 7, an empty
    transcript with exit 0 (speechbudget transcribe); now an AudioError naming the file, as a
    rate below MIN_SAMPLE_RATE is (in-memory audio the same)."""
    import struct

    from speechbudget.audio import MAX_SAMPLE_RATE
    from speechbudget.datasets.base import decode_cell

    path = tmp_path / "damaged.wav"
    sf.write(path, np.full(4 * 44100, 0.1, np.float32), 44100, subtype="PCM_16")
    load_audio(path)
    data = bytearray(path.read_bytes())
    fmt = data.find(b"fmt ")
    struct.pack_into("<II", data, fmt + 12, 400_000_000, 800_000_000)  # rate, bytes per second
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError, match=rf"damaged\.wav: invalid sample rate 400000000 Hz "
                                         rf"\(above {MAX_SAMPLE_RATE} Hz"):
        load_audio(path)
    with pytest.raises(AudioError, match="row 0: invalid sample rate 400000000 Hz"):
        decode_cell({"array": np.zeros(100, np.float32), "sampling_rate": 400_000_000}, "row 0")
    sf.write(tmp_path / "hi.wav", np.full(MAX_SAMPLE_RATE, 0.1, np.float32), MAX_SAMPLE_RATE)
    assert len(load_audio(tmp_path / "hi.wav")) == SAMPLE_RATE   # the highest rate still reads


def test_a_broken_symbolic_link_is_named_so(tmp_path):
    # was "a.wav: no such audio file" for a file that is listed in the folder (a corpus linked
    # in whose target moved), with nothing saying where it pointed
    link = tmp_path / "a.wav"
    link.symlink_to(tmp_path / "moved" / "a.wav")
    with pytest.raises(AudioError, match=rf"a\.wav: a broken symbolic link \(to "
                                         rf"{tmp_path}/moved/a\.wav, which does not exist"):
        load_audio(link)
    with pytest.raises(AudioError, match=r"nope\.wav: no such audio file"):
        load_audio(tmp_path / "nope.wav")
