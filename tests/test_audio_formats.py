"""load_audio on the WAV variants users have and our samples do not: every PCM width, float,
WAVE_FORMAT_EXTENSIBLE, 1/2/6 channels, telephone to studio rates, very quiet 32-bit recordings,
extra chunks, and WAV files whose writer stopped before finishing the header. The samples are
compared with the exact signal (resampled with soxr) and, where installed, with faster-whisper's
`decode_audio` (PyAV)."""
from __future__ import annotations

import struct
import wave
import warnings

import numpy as np
import pytest

from speechbudget.audio import (AudioError, UnfinishedWavWarning, load_audio, resample_to_16k,
                                unfinished_wav)

EXTENSIBLE_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def tone(sr: int, channels: int, amp: float = 0.5, seconds: float = 0.5) -> np.ndarray:
    """[samples, channels]: a sine per channel (220, 270, ... Hz)."""
    t = np.arange(int(sr * seconds)) / sr
    return np.stack([amp * np.sin(2 * np.pi * (220 + 50 * c) * t) for c in range(channels)], 1)


def encode(x: np.ndarray, kind: str) -> tuple[bytes, int, int]:
    """(interleaved little-endian bytes, bits per sample, format tag) of [samples, channels]."""
    if kind == "u8":
        return np.clip(np.round(x * 128 + 128), 0, 255).astype(np.uint8).tobytes(), 8, 1
    if kind in ("i16", "i24", "i32"):
        bits = int(kind[1:])
        v = np.clip(np.round(x * 2.0 ** (bits - 1)), -2 ** (bits - 1), 2 ** (bits - 1) - 1)
        v = v.astype("<i4").reshape(-1)
        if bits == 16:
            return v.astype("<i2").tobytes(), 16, 1
        if bits == 24:
            return v.view(np.uint8).reshape(-1, 4)[:, :3].tobytes(), 24, 1
        return v.tobytes(), 32, 1
    dtype = {"f32": "<f4", "f64": "<f8"}[kind]
    return x.astype(dtype).tobytes(), 8 * np.dtype(dtype).itemsize, 3


def write_wav(path, data: bytes, sr: int, channels: int, bits: int, tag: int,
              extensible: bool = False, before_data: bytes = b"", data_size: int | None = None,
              riff_size: int | None = None) -> None:
    """A WAV file byte by byte (the `wave` module writes integer PCM only)."""
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, sr, sr * align, align,
                      bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + EXTENSIBLE_GUID_TAIL
    elif tag == 3:
        fmt += struct.pack("<H", 0)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + before_data + b"data"
            + struct.pack("<I", len(data) if data_size is None else data_size) + data
            + b"\0" * (len(data) & 1))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size)
                     + body)


def expected(x: np.ndarray, sr: int) -> np.ndarray:
    return resample_to_16k(x.mean(axis=1).astype(np.float32), sr)


def interior(a: np.ndarray) -> np.ndarray:
    return a[800:-800]  # away from the resampler's first and last 50 ms


# the coarsest step of each width, as a fraction of full scale (8-bit: 1/128)
STEP = {"u8": 1 / 128, "i16": 2 ** -15, "i24": 2 ** -23, "i32": 2 ** -31, "f32": 1e-7,
        "f64": 1e-7}


@pytest.mark.parametrize("kind", list(STEP))
@pytest.mark.parametrize("extensible", [False, True])
@pytest.mark.parametrize("channels,sr", [(1, 8000), (1, 11025), (1, 22050), (1, 44100),
                                         (1, 96000), (2, 48000), (6, 44100)])
def test_every_sample_format_is_read_at_its_scale(tmp_path, kind, extensible, channels, sr):
    x = tone(sr, channels)
    data, bits, tag = encode(x, kind)
    path = tmp_path / f"{kind}.wav"
    write_wav(path, data, sr, channels, bits, tag, extensible)
    got = load_audio(path)
    want = expected(x, sr)
    assert got.dtype == np.float32 and len(got) == len(want) == round(len(x) * 16000 / sr)
    # each sample off by at most half a step (rounding), a little more once resampled
    np.testing.assert_allclose(interior(got), interior(want), rtol=0,
                               atol=STEP[kind] + 3e-5)


def test_the_integer_widths_written_by_the_wave_module_agree(tmp_path):
    x = tone(22050, 2)
    for width in (1, 2, 3, 4):
        kind = {1: "u8", 2: "i16", 3: "i24", 4: "i32"}[width]
        path = tmp_path / f"{kind}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(width)
            w.setframerate(22050)
            w.writeframes(encode(x, kind)[0])
        np.testing.assert_allclose(interior(load_audio(path)), interior(expected(x, 22050)),
                                   rtol=0, atol=STEP[kind] + 3e-5)


@pytest.mark.parametrize("dbfs", [-100, -120, -140])
@pytest.mark.parametrize("extensible", [False, True])
def test_a_very_quiet_32_bit_recording_keeps_its_level(tmp_path, dbfs, extensible):
    # the format comes from the header (PCM 32-bit integer), never from the sample values: a
    # recording below -96 dBFS holds values a 16-bit file could hold, and is still 32-bit
    amp = 10 ** (dbfs / 20)
    x = tone(16000, 1, amp=amp)
    data, bits, tag = encode(x, "i32")
    assert np.abs(np.frombuffer(data, "<i4")).max() < 2 ** 15
    path = tmp_path / "quiet.wav"
    write_wav(path, data, 16000, 1, bits, tag, extensible)
    got = load_audio(path)
    assert abs(float(np.abs(got).max()) / amp - 1) < 0.02
    np.testing.assert_allclose(got, x[:, 0], rtol=0, atol=2 ** -31)


def test_extra_chunks_and_odd_sizes(tmp_path):
    x = tone(16000, 1)
    data, bits, tag = encode(x, "i16")
    info = b"INFOISFT" + struct.pack("<I", 14) + b"Lavf58.76.100\0"
    extra = (b"LIST" + struct.pack("<I", len(info)) + info + b"fact" + struct.pack("<I", 4)
             + struct.pack("<I", len(x)) + b"junk" + struct.pack("<I", 3) + b"abc\0")
    write_wav(tmp_path / "extra.wav", data, 16000, 1, bits, tag, before_data=extra)
    np.testing.assert_allclose(load_audio(tmp_path / "extra.wav"), x[:, 0], atol=2 ** -15)
    write_wav(tmp_path / "odd.wav", data[:-1], 16000, 1, bits, tag)  # half a sample at the end
    assert len(load_audio(tmp_path / "odd.wav")) == len(x) - 1
    write_wav(tmp_path / "empty.wav", b"", 16000, 1, bits, tag)
    assert len(load_audio(tmp_path / "empty.wav")) == 0


def test_agrees_with_faster_whisper_decode_audio(tmp_path):
    fw = pytest.importorskip("faster_whisper.audio")
    for kind, channels, sr in [("i16", 1, 8000), ("i24", 2, 44100), ("f32", 1, 48000),
                               ("u8", 1, 22050)]:
        x = tone(sr, channels)
        data, bits, tag = encode(x, kind)
        path = tmp_path / f"{kind}.wav"
        write_wav(path, data, sr, channels, bits, tag)
        got, ref = load_audio(path), fw.decode_audio(str(path))
        assert len(got) == len(ref)
        # PyAV hands back 16-bit samples and resamples with ffmpeg's swr, not soxr
        np.testing.assert_allclose(interior(got), interior(ref), rtol=0,
                                   atol=STEP[kind] + 2 ** -14)


# --- a WAV whose writer stopped before finishing the header ----------------------------------

def test_a_wav_whose_header_was_never_finished_is_read_with_a_warning(tmp_path):
    # Python's `wave` writes the header at the first frames and patches the sizes on close: a
    # recorder killed (or never closed) after an empty first write leaves 'data' 0 bytes long
    # and the RIFF size 36, the audio after it. It was read as an empty recording: an empty
    # transcript with exit 0 (speechbudget transcribe), where faster-whisper reads the audio.
    x = tone(16000, 1, seconds=2.0)
    data, bits, tag = encode(x, "i16")
    path = tmp_path / "unfinished.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframesraw(b"")
        w.writeframesraw(data)
        w._file.flush()  # noqa: SLF001
        left = path.read_bytes()  # the file as a kill leaves it
    path.write_bytes(left)  # close() patched the sizes: put the unpatched file back
    assert struct.unpack("<I", left[40:44]) == (0,) and len(left) == 44 + len(data)
    assert unfinished_wav(path) == (44, len(data))
    with pytest.warns(UnfinishedWavWarning, match=r"unfinished\.wav: unfinished WAV header: "
                                                  r"its data chunk claims 0 bytes, but 64000 "
                                                  r"follow \(2\.00 s"):
        got = load_audio(path)
    np.testing.assert_allclose(got, x[:, 0], atol=2 ** -15)


@pytest.mark.parametrize("riff_size", [0, 0xFFFFFFFF])
def test_a_streamed_wav_with_zero_sizes_is_read(tmp_path, riff_size):
    x = tone(44100, 2)
    data, bits, tag = encode(x, "i24")
    path = tmp_path / "streamed.wav"
    write_wav(path, data, 44100, 2, bits, tag, data_size=0, riff_size=riff_size)
    with pytest.warns(UnfinishedWavWarning):
        got = load_audio(path)
    np.testing.assert_allclose(interior(got), interior(expected(x, 44100)), atol=3e-5)


def test_an_empty_data_chunk_followed_by_chunks_is_an_empty_recording(tmp_path):
    info = b"INFOISFT" + struct.pack("<I", 4) + b"abc\0"
    path = tmp_path / "empty_list.wav"
    # a finished empty recording with a LIST chunk after its data: the RIFF size covers it
    write_wav(path, b"LIST" + struct.pack("<I", len(info)) + info, 16000, 1, 16, 1,
              data_size=0)
    assert unfinished_wav(path) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_audio(path)) == 0


# --- what is not audio --------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"hello, this is text\n" * 20,
                                     b"RIFF\x10\x00\x00\x00WAVEjunkjunk"])
def test_a_file_that_is_not_audio_is_one_line_naming_it(tmp_path, content):
    path = tmp_path / "not_audio.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError) as e:
        load_audio(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: not a readable audio file") and "\n" not in msg


def test_a_directory_is_named(tmp_path):
    with pytest.raises(AudioError, match=r": is a directory, not an audio file$"):
        load_audio(tmp_path)


# --- containers libsndfile does not read (phone voice memos, browser recordings) ------------

def write_with_pyav(path, fmt: str, codec: str, x: np.ndarray, sr: int) -> None:
    av = pytest.importorskip("av")
    with av.open(str(path), "w", format=fmt) as c:
        stream = c.add_stream(codec, rate=sr)
        stream.layout = "mono"
        pcm = np.round(x * 32767).astype(np.int16)
        for i in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, i:i + 1024], format="s16",
                                               layout="mono")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)


@pytest.mark.parametrize("name,fmt,codec", [("memo.m4a", "mp4", "aac"),
                                            ("call.webm", "webm", "libopus")])
def test_m4a_and_webm_are_read_as_faster_whisper_reads_them(tmp_path, name, fmt, codec):
    # they were 'not a readable audio file (soundfile: Format not recognised.; librosa:
    # NoBackendError)' (speechbudget transcribe memo.m4a: exit 1), where faster-whisper reads
    # them with PyAV; PyAV, when installed, is now tried after soundfile
    fw = pytest.importorskip("faster_whisper.audio")
    path = tmp_path / name
    sr = 48000 if codec == "libopus" else 16000
    write_with_pyav(path, fmt, codec, tone(sr, 1, seconds=1.0)[:, 0], sr)
    got, ref = load_audio(path), fw.decode_audio(str(path))
    assert abs(len(got) - len(ref)) <= 1 and len(got) > 0.9 * 16000
    n = min(len(got), len(ref))
    np.testing.assert_allclose(interior(got[:n]), interior(ref[:n]), rtol=0, atol=1e-3)


def test_without_pyav_the_message_says_what_would_read_it(tmp_path, monkeypatch):
    import sys
    path = tmp_path / "memo.m4a"
    write_with_pyav(path, "mp4", "aac", tone(16000, 1)[:, 0], 16000)
    monkeypatch.setitem(sys.modules, "av", None)   # import av: ImportError
    with pytest.raises(AudioError) as e:
        load_audio(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: not a readable audio file (soundfile: ")
    assert "PyAV: not installed (pip install av reads M4A, MP4, WebM)" in msg, msg


@pytest.mark.parametrize("content,kind", [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 12345\n",
     "a Git LFS pointer, not the audio: run git lfs pull"),
    (b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n",
     "an HTML or XML page, not audio: a failed download?"),
    (b"id,text\nclip1,hello world\n", "a text file, not audio"),
])
def test_a_text_file_in_place_of_audio_says_what_it_is(tmp_path, content, kind):
    path = tmp_path / "clip.flac"
    path.write_bytes(content)
    with pytest.raises(AudioError) as e:
        load_audio(path)
    assert str(e.value).startswith(f"{path}: not a readable audio file ({kind}) (soundfile: ")
    assert "\n" not in str(e.value)
