"""Audio input: read any recording as 16 kHz mono float32, and Whisper's log-mel features.

    audio = load_audio("clip.flac")              # np.float32 [samples] at 16 kHz, mono
    mel = log_mel(audio, n_mels=80)              # torch [80, 3000]: a 30 s window, zero-padded
    mel = log_mel(audio, n_frames=1000)          # torch [80, 1000]: a 10 s window (xT)

`log_mel` is openai/whisper's `log_mel_spectrogram` (whisper/audio.py): the waveform is zero-padded
(or cut) to `n_frames * 160` samples *before* the STFT, as Whisper pads 30 s of silence; a centred
torch STFT (n_fft 400, hop 160, Hann) gives n_frames + 1 frames and the last is dropped; slaney mel
filters from librosa; log10 clamped at 1e-10, floored at (max - 8), then (x + 4) / 4.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from speechbudget.errors import EXIT_DATA, SpeechbudgetError
from speechbudget.geometry import HOP_LENGTH, N_FFT, SAMPLE_RATE
from speechbudget.geometry import WINDOW_FRAMES as CHUNK_FRAMES  # 30 s of mel frames


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


@lru_cache(maxsize=8)
def _mel_filters_np(n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels).astype(np.float32)


def mel_filters(n_mels: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """Slaney mel filterbank [n_mels, 201] as Whisper's mel_filters.npz (80 or 128 bins)."""
    if n_mels <= 0:
        raise ValueError(f"n_mels={n_mels}: expected a positive number of mel bins (80 or 128)")
    return torch.from_numpy(_mel_filters_np(n_mels)).to(device)


def _as_tensor(audio: np.ndarray | torch.Tensor, device: str | torch.device | None
               ) -> torch.Tensor:
    """A 1-D waveform as a tensor: float32 on `device`, or (None) where it is, uncopied."""
    x = torch.as_tensor(audio) if not isinstance(audio, torch.Tensor) else audio
    if x.dim() != 1:
        raise ValueError(f"audio of shape {tuple(x.shape)}: expected a 1-D mono waveform")
    return x if device is None else x.to(device=device, dtype=torch.float32)


def _log_mel_padded(x: torch.Tensor, n_mels: int, n_frames: int) -> torch.Tensor:
    """x: [B, n_frames * 160] (already padded/cut) -> [B, n_mels, n_frames]."""
    window = torch.hann_window(N_FFT, device=x.device)
    stft = torch.stft(x, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel = mel_filters(n_mels, x.device) @ magnitudes
    log_spec = torch.clamp(mel, min=1e-10).log10()
    peak = log_spec.amax(dim=(-2, -1), keepdim=True)  # per example, as in Whisper for one input
    log_spec = torch.maximum(log_spec, peak - 8.0)
    return (log_spec + 4.0) / 4.0


def _fit(x: torch.Tensor, n_samples: int) -> torch.Tensor:
    if x.shape[-1] >= n_samples:
        return x[..., :n_samples]
    return torch.nn.functional.pad(x, (0, n_samples - x.shape[-1]))


def _check_frames(n_frames: int | None) -> int:
    n = CHUNK_FRAMES if n_frames is None else int(n_frames)
    if n < 2:  # 1 frame = 160 samples, fewer than the centred STFT's reflect padding (200) needs
        raise ValueError(f"n_frames={n_frames}: expected at least 2 mel frames (one encoder "
                         "token)")
    return n


def log_mel(audio: np.ndarray | torch.Tensor, n_mels: int = 80, n_frames: int | None = None,
            device: str | torch.device = "cpu") -> torch.Tensor:
    """Whisper log-mel of a 16 kHz waveform: [n_mels, n_frames] (n_frames None -> 3000, 30 s).
    The waveform is zero-padded or cut to n_frames * 160 samples before the STFT."""
    n = _check_frames(n_frames)
    x = _fit(_as_tensor(audio, device), n * HOP_LENGTH)
    return _log_mel_padded(x[None], n_mels, n)[0]


def log_mel_peak(audio: np.ndarray | torch.Tensor, n_mels: int = 80,
                 device: str | torch.device = "cpu", block_frames: int = CHUNK_FRAMES) -> float:
    """The peak log10 mel power of a whole recording: what openai-whisper's
    `log_mel_spectrogram(audio, padding=N_SAMPLES)` floors at (peak - 8) before its `transcribe`
    cuts windows out of it. Computed `block_frames` at a time (`log_mel_span`'s frames, unfloored),
    so a long recording never holds its whole log-mel."""
    x = _as_tensor(audio, None)
    frames = -(-(x.shape[-1] + N_FFT // 2) // HOP_LENGTH)   # every frame that sees a sample
    return max(float(_log10_mel(_frames_of(x, s, min(block_frames, frames - s), device),
                                n_mels).max()) for s in range(0, frames, block_frames))


# what fills a window's frames past its audio (`log_mel_span`'s `padding`): "zeros", 0 in the
# normalised log-mel (openai-whisper's and faster-whisper's transcribe); "silence", the value
# digital silence has there (the recording's floor, as when the waveform is zero-padded: Hugging
# Face's feature extractor, openai-whisper's `pad_or_trim(audio)` before `log_mel_spectrogram`)
MEL_PADDINGS = ("zeros", "silence")


def log_mel_span(audio: np.ndarray | torch.Tensor, start: int, n_content: int,
                 n_frames: int | None = None, n_mels: int = 80, peak: float | None = None,
                 device: str | torch.device = "cpu", padding: str = "zeros") -> torch.Tensor:
    """One window of a long recording as openai-whisper's and faster-whisper's `transcribe` see
    it: mel frames [start, start + n_content) of the log-mel of the whole recording (zero-padded
    by 30 s; centred STFT, reflect-padded at its start), floored at `peak` - 8 (the recording's
    `log_mel_peak`; None: this span's own), normalised, then zero-padded *in the normalised
    log-mel* to `n_frames` (their `pad_or_trim` of the mel segment) -> [n_mels, n_frames].

    Only the samples the span's frames see are read (200 either side), so the result is exact
    without the whole recording's log-mel. `log_mel` instead zero-pads the *waveform* before the
    STFT (as Hugging Face's WhisperFeatureExtractor); the two differ in the padded frames (about
    -0.5 there against 0 here) and in the floor. `padding="silence"` fills the padded frames with
    what zero samples give there instead (the floor, normalised: (max(peak - 8, -10) + 4) / 4),
    i.e. the frames of the recording zero-padded as a waveform, but for the two frames whose
    STFT straddles the end of the audio (see MEL_PADDINGS)."""
    if padding not in MEL_PADDINGS:
        raise ValueError(f"padding={padding!r}: expected one of {', '.join(MEL_PADDINGS)}")
    n = _check_frames(n_frames)
    if not 0 < n_content <= n:
        raise ValueError(f"n_content={n_content}: expected 1..n_frames ({n}) mel frames of audio")
    if start < 0:
        raise ValueError(f"start={start}: expected a mel frame index >= 0")
    log_spec = _log10_mel(_frames_of(_as_tensor(audio, None), start, n_content, device), n_mels)
    floor = (float(log_spec.max()) if peak is None else peak) - 8.0
    log_spec = (torch.clamp(log_spec, min=floor) + 4.0) / 4.0
    fill = 0.0 if padding == "zeros" else (max(floor, -10.0) + 4.0) / 4.0   # log10(1e-10) = -10
    return torch.nn.functional.pad(log_spec, (0, n - n_content), value=fill)


def _frames_of(x: torch.Tensor, start: int, n: int, device: str | torch.device) -> torch.Tensor:
    """The samples STFT frames [start, start + n) of `x` (+ trailing zeros) see, on `device`
    (only they are moved there): the centred STFT's frame t covers samples [t * 160 - 200,
    t * 160 + 200) of `x` reflect-padded by 200 at its start; past the end of `x` there are only
    zeros (Whisper's 30 s of padding)."""
    half = N_FFT // 2
    lo, hi = start * HOP_LENGTH - half, (start + n - 1) * HOP_LENGTH + half
    parts = []
    if lo < 0:   # torch.stft(center=True)'s reflect padding: x[1..200] reversed
        head = x[1:half + 1].flip(0)
        head = torch.nn.functional.pad(head, (half - head.shape[0], 0))   # x shorter than 201
        parts.append(head[half + lo:])
    parts.append(x[max(lo, 0):max(hi, 0)])
    got = sum(p.shape[0] for p in parts)
    if got < hi - lo:
        parts.append(x.new_zeros(hi - lo - got))
    return torch.cat(parts).to(device=device, dtype=torch.float32)


def _log10_mel(seg: torch.Tensor, n_mels: int) -> torch.Tensor:
    """log10 mel power (clamped at 1e-10) of the STFT frames a `_frames_of` span holds."""
    window = torch.hann_window(N_FFT, device=seg.device)
    stft = torch.stft(seg, N_FFT, HOP_LENGTH, window=window, center=False, return_complex=True)
    mel = mel_filters(n_mels, seg.device) @ (stft.abs() ** 2)
    return torch.clamp(mel, min=1e-10).log10()


def log_mel_batch(audios: Sequence[np.ndarray | torch.Tensor], n_mels: int = 80,
                  n_frames: int | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """`log_mel` of each waveform, stacked: [B, n_mels, n_frames]; identical to calling
    `log_mel` one by one (the max - 8 floor is per example)."""
    if len(audios) == 0:
        raise ValueError("log_mel_batch: got an empty list of waveforms")
    n = _check_frames(n_frames)
    x = torch.stack([_fit(_as_tensor(a, device), n * HOP_LENGTH) for a in audios])
    return _log_mel_padded(x, n_mels, n)
