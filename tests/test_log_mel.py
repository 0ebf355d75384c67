"""speechbudget.log_mel: Whisper's log-mel features (against Hugging Face's feature extractor and
openai-whisper's transcribe)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from speechbudget.geometry import SAMPLE_RATE
from speechbudget.log_mel import log_mel, log_mel_batch, mel_filters


def _tone(freq: float, seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("n_mels", [80, 128])
def test_log_mel_matches_hf_feature_extractor(n_mels):
    # HF's WhisperFeatureExtractor is an independent (numpy) implementation of the same features
    from transformers import WhisperFeatureExtractor

    audio = _tone(440.0, 3.3, SAMPLE_RATE)
    ref = WhisperFeatureExtractor(feature_size=n_mels)(
        audio, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features[0]
    mel = log_mel(audio, n_mels=n_mels)
    assert mel.shape == (n_mels, 3000) and mel.dtype == torch.float32
    np.testing.assert_allclose(mel.numpy(), ref, atol=1e-5)


def test_log_mel_window_pads_and_cuts():
    audio = _tone(300.0, 2.0, SAMPLE_RATE)
    short = log_mel(audio, n_frames=100)  # 1 s window: cut
    assert short.shape == (80, 100)
    # cutting the waveform before the STFT: equals the log-mel of the first second alone
    torch.testing.assert_close(short, log_mel(audio[:16000], n_frames=100))
    long = log_mel(audio, n_frames=400)  # 4 s window: zero-padded, padded frames at the floor
    assert long.shape == (80, 400)
    assert torch.allclose(long[:, -50:], long.min().expand(80, 50))
    assert long[:, :150].max() > long.min() + 1.0


def test_log_mel_batch_equals_single_and_accepts_tensors():
    a, b = _tone(200.0, 1.5, SAMPLE_RATE, 1), 0.01 * _tone(900.0, 0.7, SAMPLE_RATE, 2)
    batch = log_mel_batch([a, torch.from_numpy(b)], n_mels=80, n_frames=200)
    assert batch.shape == (2, 80, 200)
    torch.testing.assert_close(batch[0], log_mel(a, n_frames=200), rtol=0, atol=0)
    torch.testing.assert_close(batch[1], log_mel(b, n_frames=200), rtol=0, atol=0)


def test_mel_filters_are_slaney():
    f = mel_filters(80)
    assert f.shape == (80, 201)
    # slaney area normalisation: each filter's peak shrinks as it widens
    assert f.max(dim=1).values[0] > f.max(dim=1).values[-1]


def test_log_mel_rejects_bad_shapes():
    with pytest.raises(ValueError, match="1-D"):
        log_mel(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="n_frames"):
        log_mel(np.zeros(100, np.float32), n_frames=0)


def test_log_mel_one_frame_is_a_clear_value_error():
    # n_frames=1 (160 samples) passed the check and torch.stft's reflect padding raised
    # 'RuntimeError: Argument #4: Padding size should be less than ...'
    for f in (log_mel, lambda a, n_frames: log_mel_batch([a], n_frames=n_frames)):
        with pytest.raises(ValueError, match=r"n_frames=1: expected at least 2 mel frames"):
            f(np.ones(1000, np.float32), n_frames=1)
    assert log_mel(np.ones(1000, np.float32), n_frames=2).shape == (80, 2)


def _openai_log10_mel(audio: np.ndarray, n_mels: int = 80) -> torch.Tensor:
    """openai-whisper's log_mel_spectrogram(audio, padding=N_SAMPLES) before its floor: the
    recording + 30 s of zeros, a centred STFT, the last frame dropped, log10 clamped at 1e-10."""
    x = torch.from_numpy(np.concatenate([audio, np.zeros(480000, np.float32)]))
    st = torch.stft(x, 400, 160, window=torch.hann_window(400), return_complex=True)
    return (mel_filters(n_mels) @ st[..., :-1].abs() ** 2).clamp(min=1e-10).log10()


@pytest.mark.parametrize("n", [50, 150, 201, 16000, 16000 * 7 + 37])
def test_log_mel_span_is_the_window_transcribe_cuts_out_of_the_recording(n):
    """openai-whisper / faster-whisper `transcribe`: mel = the whole recording's log-mel floored
    at its peak - 8 (faster-whisper's: over frames 0..n // 160, see the test below); a window =
    mel[:, seek:seek + content], zero-padded to 3000 frames."""
    from speechbudget.log_mel import log_mel_peak, log_mel_span
    rng = np.random.default_rng(n)
    audio = (rng.standard_normal(n) * rng.uniform(0.01, 0.5)).astype(np.float32)
    full = _openai_log10_mel(audio)
    peak = float(full[:, :n // 160 + 1].max())
    assert log_mel_peak(audio, block_frames=300) == pytest.approx(peak, abs=1e-5)
    norm = (torch.maximum(full, torch.tensor(peak - 8)) + 4) / 4
    frames = -(-n // 160)
    for seek in sorted({0, 1, 2, frames // 2, max(0, frames - 2)}):
        content = max(1, min(3000, frames - seek))
        got = log_mel_span(audio, seek, content, 3000, peak=peak)
        want = torch.nn.functional.pad(norm[:, seek:seek + content], (0, 3000 - content))
        torch.testing.assert_close(got, want, atol=2e-5, rtol=0)
        assert got.shape == (80, 3000) and bool((got[:, content:] == 0).all())


def test_log_mel_span_rejects_an_empty_or_oversized_span():
    from speechbudget.log_mel import log_mel_span
    a = np.ones(1600, np.float32)
    for start, content, frames in ((0, 0, 100), (0, 101, 100), (-1, 5, 100)):
        with pytest.raises(ValueError, match="start|n_content"):
            log_mel_span(a, start, content, frames)


@pytest.mark.parametrize("seconds", [0.73, 3.3, 12.0])
def test_log_mel_span_silence_padding_is_the_zero_padded_waveform(seconds):
    """padding="silence": the window's frames past its audio hold what zero samples give there,
    so a recording that fits its window reads as Hugging Face's `log_mel` of the waveform
    zero-padded (the same peak: the padding adds none) in every frame but the two whose STFT
    straddles the end of the audio; "zeros" (the default) leaves 0 there."""
    from speechbudget.log_mel import log_mel_peak, log_mel_span
    audio = _tone(523.0, seconds, SAMPLE_RATE, seed=3)
    content = len(audio) // 160
    ref = log_mel(audio, n_frames=3000)
    peak = log_mel_peak(audio)
    got = log_mel_span(audio, 0, content, 3000, peak=peak, padding="silence")
    torch.testing.assert_close(got[:, :content - 1], ref[:, :content - 1], atol=2e-5, rtol=0)
    torch.testing.assert_close(got[:, content + 2:], ref[:, content + 2:], atol=1e-6, rtol=0)
    zeros = log_mel_span(audio, 0, content, 3000, peak=peak)
    torch.testing.assert_close(zeros[:, :content], got[:, :content], atol=0, rtol=0)
    assert bool((zeros[:, content:] == 0).all()) and float(got[0, -1]) < -0.3
    with pytest.raises(ValueError, match="padding"):
        log_mel_span(audio, 0, content, 3000, padding="floor")


@pytest.mark.parametrize("k", [0, 1, 80, 121, 159])
def test_log_mel_peak_is_faster_whispers_maximum(k):
    """faster-whisper 1.2.1's FeatureExtractor (what its `transcribe` floors at max - 8) pads 160
    zeros, keeps mel frames 0..floor(samples / 160) and takes their maximum: the one or two
    frames after those, which see only the recording's last `samples % 160` (+ 40) samples at
    their window's start, are not in it (openai-whisper's `padding=N_SAMPLES` log-mel counts
    them). We counted them: with the recording loudest in its last samples, our floor was up to
    ~2 (log10) above faster-whisper's."""
    fe = pytest.importorskip("faster_whisper.feature_extractor")
    from speechbudget.log_mel import log_mel_peak, log_mel_span
    rng = np.random.default_rng(k)
    n = 160 * 50 + k
    audio = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    audio[-5:] = 0.9                                    # the loudest: the last 5 samples
    theirs = fe.FeatureExtractor(feature_size=80)(audio)   # normalised: (max(x, peak-8) + 4) / 4
    assert theirs.shape[-1] == n // 160 + 1
    peak = log_mel_peak(audio, block_frames=7)
    assert peak == pytest.approx(float(theirs.max()) * 4 - 4, abs=1e-4)
    content = n // 160
    got = log_mel_span(audio, 0, content, 3000, peak=peak)[:, :content]
    np.testing.assert_allclose(got.numpy(), theirs[:, :content], atol=1e-4)
