"""Whisper's log-mel features of a 16 kHz mono waveform (speechbudget.audio.load_audio reads one).

    mel = log_mel(audio, n_mels=80)              # torch [80, 3000]: a 30 s window, zero-padded
    mel = log_mel(audio, n_frames=1000)          # torch [80, 1000]: a 10 s window (xT)

`log_mel` is openai/whisper's `log_mel_spectrogram` (whisper/audio.py): the waveform is zero-padded
(or cut) to `n_frames * 160` samples *before* the STFT, as Whisper pads 30 s of silence; a centred
torch STFT (n_fft 400, hop 160, Hann) gives n_frames + 1 frames and the last is dropped; slaney mel
filters from librosa; log10 clamped at 1e-10, floored at (max - 8), then (x + 4) / 4.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from speechbudget.geometry import HOP_LENGTH, N_FFT, SAMPLE_RATE, WINDOW_FRAMES


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
    n = WINDOW_FRAMES if n_frames is None else int(n_frames)
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
                 device: str | torch.device = "cpu", block_frames: int = WINDOW_FRAMES) -> float:
    """The peak log10 mel power of a whole recording: what faster-whisper's `transcribe` floors
    its log-mel at (peak - 8) before it cuts windows out of it. Its FeatureExtractor pads 160
    zeros and drops the last STFT frame, so the maximum is over mel frames 0..floor(samples / 160)
    (every content frame and the partial one after them); the one or two frames after those, which
    see only the last `samples % 160` (+ 40) samples at the start of their window, are not in it
    (openai-whisper's `log_mel_spectrogram(audio, padding=N_SAMPLES)` counts them: the two differ
    only where those last samples are the loudest). Computed `block_frames` at a time
    (`log_mel_span`'s frames, unfloored), so a long recording never holds its whole log-mel."""
    x = _as_tensor(audio, None)
    frames = x.shape[-1] // HOP_LENGTH + 1   # faster-whisper's FeatureExtractor's frames
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
