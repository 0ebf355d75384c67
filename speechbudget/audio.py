"""Reading recordings: any audio file as 16 kHz mono float32, refused with an AudioError naming
the file when it cannot be used.

    audio = load_audio("clip.flac")              # np.float32 [samples] at 16 kHz, mono

Whisper's log-mel features of such a waveform are in speechbudget.log_mel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from speechbudget.errors import EXIT_DATA, SpeechbudgetError
from speechbudget.geometry import SAMPLE_RATE


# the lowest sample rate read as audio (telephone speech is 8 kHz; a rate below this is a damaged
# or mistaken header, and resampling it to 16 kHz would multiply the samples by 16,000 / rate)
MIN_SAMPLE_RATE = 1000
# the highest sample rate read as audio (768 kHz, the highest any converter records): above it a
# damaged header, whose samples resampled to 16 kHz shrink to nothing (400 MHz: 4 s of samples
# became 7, an empty transcript with exit 0)
MAX_SAMPLE_RATE = 768_000
# the largest |sample| a recording may hold (full scale is 1; a float WAV may exceed it): beyond
# about 1e16 Whisper's float32 mel power overflows (|STFT|^2 ~ (200 A)^2), and wav2vec2's per-clip
# variance near 1e19, so features came out inf/NaN (ASR: an empty transcript, exit 0; SER: the
# first label). 1e12 keeps four orders of magnitude from both, and is far above any recording
MAX_PEAK = 1e12


class AudioError(SpeechbudgetError, ValueError):
    """A recording that cannot be used: the message names the file and what is wrong."""

    exit_code = EXIT_DATA


class TruncatedAudioWarning(UserWarning):
    """A WAV file whose header claims more audio than the file holds (a cut-off download or
    copy); what is there is used."""


def wav_truncation(path: Path) -> tuple[int, int] | None:
    """(bytes of audio the WAV header claims, bytes present) when the file is shorter than its
    header says, else None (also for anything that is not a RIFF/WAVE file)."""
    import struct
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, n = struct.unpack("<4sI", f.read(8))
            if cid == b"data":
                present = size - (pos + 8)
                if n in (0, 0xFFFFFFFF):  # streamed WAVs leave the size unset
                    return None
                return (n, present) if present < n else None
            pos += 8 + n + (n & 1)
    return None


class UnfinishedWavWarning(UserWarning):
    """A WAV file whose header was never finished (its writer stopped before patching the
    sizes in): the data chunk claims 0 bytes, yet audio follows it; what is there is used."""


def unfinished_wav(path: Path) -> tuple[int, int] | None:
    """(offset of the audio, bytes of it present) for a WAV whose header was never finished: its
    data chunk claims 0 bytes and the RIFF size does not cover what follows (0, 0xFFFFFFFF, or
    ending at the data chunk's header: a writer killed before it patched the sizes, e.g.
    Python's `wave` never closed), yet bytes follow; else None (also for an empty recording, or
    an empty data chunk followed by other chunks the RIFF size covers)."""
    import struct
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        riff = struct.unpack("<I", head[4:8])[0]
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, n = struct.unpack("<4sI", f.read(8))
            if cid == b"data":
                start = pos + 8
                covered = riff not in (0, 0xFFFFFFFF) and riff + 8 > start
                return (start, size - start) if n == 0 and size > start and not covered else None
            pos += 8 + n + (n & 1)
    return None


def _read_unfinished(path: Path, start: int, present: int) -> tuple[np.ndarray, int]:
    """The audio of an `unfinished_wav`: its header with the sizes of what is present, read by
    soundfile from memory (libsndfile takes the 0 for an empty recording)."""
    import io
    import struct
    import warnings

    import soundfile as sf
    raw = bytearray(path.read_bytes())
    raw[4:8] = struct.pack("<I", min(len(raw) - 8, 0xFFFFFFFF))
    raw[start - 4:start] = struct.pack("<I", min(present, 0xFFFFFFFF))
    data, sr = sf.read(io.BytesIO(bytes(raw)), dtype="float32", always_2d=True)
    warnings.warn(UnfinishedWavWarning(
        f"{path}: unfinished WAV header: its data chunk claims 0 bytes, but {present} follow "
        f"({len(data) / sr:.2f} s; a recording whose writer stopped before finishing the "
        "file?); using what is there"), stacklevel=4)
    return data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0], int(sr)


def soundfile_name(path: str | Path) -> str | bytes:
    """The name to hand soundfile for `path`: the str, or its file-system bytes when the name is
    not valid in the file-system encoding (a non-UTF-8 byte in a Linux file name, which Python
    keeps as a surrogate and soundfile cannot encode)."""
    import os
    import sys
    name = str(path)
    try:
        name.encode(sys.getfilesystemencoding())
    except UnicodeEncodeError:
        return os.fsencode(name)
    return name


def _read(path: Path) -> tuple[np.ndarray, int]:
    """Decode with soundfile (WAV, FLAC, OGG, MP3 ...); else with PyAV when installed (M4A/MP4,
    WebM, ... as faster-whisper reads them); else librosa (audioread)."""
    import soundfile as sf

    unfinished = unfinished_wav(path)
    if unfinished is not None:
        try:
            return _read_unfinished(path, *unfinished)
        except Exception:  # noqa: BLE001 (not readable so either: the usual reading says why)
            pass
    try:
        data, sr = sf.read(soundfile_name(path), dtype="float32", always_2d=True)  # [samples, ch]
        return data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0], int(sr)
    except Exception as sf_error:  # soundfile cannot decode it: try librosa's other backends
        import warnings

        partial = _read_until_damage(path, sf_error)
        if partial is not None:
            return partial
        errors: dict[str, Exception | str] = {"soundfile": sf_error}
        try:  # PyAV (faster-whisper's decoder): MP4/M4A (AAC), WebM, Matroska, AC-3, WMA ...
            return _read_with_pyav(path)
        except ImportError:
            errors["PyAV"] = "not installed (pip install av reads M4A, MP4, WebM)"
        except Exception as av_error:  # noqa: BLE001 (named with the others below)
            errors["PyAV"] = av_error
        import librosa

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data, sr = librosa.load(str(path), sr=None, mono=True, dtype=np.float32)
            return data, int(sr)
        except Exception as lr_error:
            errors["librosa"] = lr_error
            why = "; ".join(f"{n}: {' '.join(str(e).split()) or type(e).__name__}"
                            for n, e in errors.items())
            what = not_audio_kind(path)
            raise AudioError(f"{path}: not a readable audio file{f' ({what})' if what else ''} "
                             f"({why})") from lr_error


def _read_with_pyav(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream of a file PyAV (FFmpeg) decodes, channels averaged, at its own rate
    (resampled by `resample_to_16k` as any other); ImportError when PyAV is not installed."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        to_float = av.AudioResampler(format="fltp")   # planar float32, same layout and rate
        parts = [f.to_ndarray() for frame in container.decode(stream)
                 for f in to_float.resample(frame)]
        parts += [f.to_ndarray() for f in to_float.resample(None)]
        sr = int(stream.rate or stream.codec_context.sample_rate or 0)
    if not parts:
        raise ValueError("no audio frames decoded")
    data = np.concatenate(parts, axis=1)               # [channels, samples]
    return data.mean(axis=0, dtype=np.float32), sr


def not_audio_kind(path: Path) -> str:
    """What a file no decoder reads is, when its first bytes say: 'a Git LFS pointer, not the
    audio: run git lfs pull', 'an HTML page, not audio: a failed download?', 'a text file, not
    audio'; '' otherwise."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError:
        return ""
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the audio: run git lfs pull"
    lead = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lead.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        return "an HTML or XML page, not audio: a failed download?"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:  # a multi-byte character cut at 512 bytes is still text
        text = head[:e.start].decode("utf-8") if e.start >= len(head) - 3 else ""
    if text and "\0" not in text and all(c.isprintable() or c in "\t\r\n" for c in text):
        return "a text file, not audio"
    return ""


def _read_until_damage(path: Path, error: Exception) -> tuple[np.ndarray, int] | None:
    """A file soundfile opens but cannot decode to its end (a cut-off FLAC: 'flac decoder lost
    sync'): the audio before the damage, with a TruncatedAudioWarning naming the file, as a
    truncated WAV is read; None when nothing decodes."""
    import warnings

    import soundfile as sf
    blocks: list[np.ndarray] = []
    try:
        with sf.SoundFile(soundfile_name(path)) as f:
            sr, frames = int(f.samplerate), f.frames
            try:
                for b in f.blocks(blocksize=4096, dtype="float32", always_2d=True):
                    blocks.append(b.mean(axis=1, dtype=np.float32))
            except Exception:  # noqa: BLE001 (the damage: keep what came before it)
                pass
    except Exception:  # noqa: BLE001 (not opened: not this case)
        return None
    got = sum(len(b) for b in blocks)
    if not got or sr <= 0:
        return None
    if got < frames:
        warnings.warn(TruncatedAudioWarning(
            f"{path}: the audio breaks off after {got / sr:.2f} s of the {frames / sr:.2f} s "
            f"its header claims ({' '.join(str(error).split())}); using what is there"),
            stacklevel=4)
    return np.concatenate(blocks), sr


def check_audio_file(path: Path, stacklevel: int = 2) -> None:
    """Before decoding: an AudioError naming `path` when it is missing, a directory, not a
    regular file, unreadable or 0 bytes long; a TruncatedAudioWarning when it is a WAV shorter than its header
    says (what is there is used), attributed `stacklevel` frames up (2: the caller)."""
    if not path.exists():
        if path.is_symlink():  # a link whose target moved (a corpus linked in, then relocated)
            import os
            raise AudioError(f"{path}: a broken symbolic link (to {os.readlink(path)}, which does "
                             "not exist or loops)")
        raise AudioError(f"{path}: no such audio file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not path.is_file():  # a FIFO or device would block or never end
        raise AudioError(f"{path}: not a regular file (a FIFO, socket or device)")
    try:
        cut = wav_truncation(path)
        empty = path.stat().st_size == 0
    except OSError as e:  # no permission, an I/O error
        raise AudioError(f"{path}: cannot be read ({e.strerror or e})") from None
    if empty:  # not an empty recording (a header and 0 samples): no audio file at all
        raise AudioError(f"{path}: an empty file (0 bytes), not an audio file")
    if cut is not None:
        import warnings
        warnings.warn(TruncatedAudioWarning(
            f"{path}: truncated WAV: the header claims {cut[0]} bytes of audio, the file holds "
            f"{cut[1]} ({100 * cut[1] / cut[0]:.0f}%); using what is there"),
            stacklevel=stacklevel)


def load_audio(path: str | Path) -> np.ndarray:
    """Read a recording as float32 mono at 16 kHz (down-mixed by averaging channels, resampled
    with soxr). Raises AudioError naming the file when it is missing, unreadable, not audio or
    holds non-finite samples. An empty recording (0 samples, or fewer than one 16 kHz sample) is
    an empty array, as openai-whisper and faster-whisper read it (an empty transcript); tasks
    that cannot use one (SER) refuse it themselves."""
    path = Path(path)
    check_audio_file(path, stacklevel=3)
    data, sr = _read(path)
    check_sample_rate(sr, path)
    check_samples(data, path)
    return resample_to_16k(data, sr)


def check_samples(data: np.ndarray, where: str | Path) -> None:
    """Refuse samples no feature can be computed from (an AudioError naming `where`): NaN or inf,
    or a peak above MAX_PEAK (full scale is 1; a float WAV may exceed it). For files
    (load_audio) and in-memory audio alike."""
    if not len(data):
        return
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{where}: the recording holds non-finite samples (NaN or inf)")
    peak = float(np.abs(data).max())
    if peak > MAX_PEAK:
        raise AudioError(f"{where}: peak amplitude {peak:.3g}, where full scale is 1: beyond "
                         f"{MAX_PEAK:g} the features overflow (a float WAV of unscaled or "
                         f"garbage samples?)")


def check_sample_rate(sr: int, where: str | Path) -> None:
    """Refuse a rate below MIN_SAMPLE_RATE or above MAX_SAMPLE_RATE (an AudioError naming
    `where`): resampled to 16 kHz, 1 Hz made each sample 16,000 (a 1 MB file of a damaged header:
    32 GB, a MemoryError or the OOM killer, not a clear line), and 400 MHz left a few samples of
    seconds of audio. For files (load_audio) and in-memory audio alike."""
    if sr < MIN_SAMPLE_RATE:
        raise AudioError(f"{where}: invalid sample rate {sr} Hz (below {MIN_SAMPLE_RATE} Hz, no "
                         f"recording of speech; a damaged header?)")
    if sr > MAX_SAMPLE_RATE:
        raise AudioError(f"{where}: invalid sample rate {sr} Hz (above {MAX_SAMPLE_RATE} Hz, "
                         f"more than any recording has; a damaged header?)")


def resample_to_16k(data: np.ndarray, sr: int) -> np.ndarray:
    """A mono waveform at `sr` Hz as float32 at 16 kHz (soxr HQ; round(n * 16000 / sr) samples).
    An empty one stays empty, and so does one shorter than one 16 kHz sample (e.g. 1 sample at
    44.1 kHz): to every task it is an empty recording (ASR: an empty transcript; SER refuses it
    naming the file)."""
    if sr != SAMPLE_RATE and data.size:
        import soxr  # what librosa.resample(res_type="soxr_hq") calls, without librosa's start-up

        data = soxr.resample(data, sr, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(data, dtype=np.float32).reshape(-1)
