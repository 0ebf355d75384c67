"""Whisper's input geometry: the facts every path (features, encoder, FLOPs, SER, timestamps) shares.

    16 kHz audio -> log-mel with a 160-sample hop: 100 mel frames per second (3000 per 30 s window)
    conv stem (conv2: kernel 3, stride 2, padding 1): ceil(frames / 2) encoder tokens, 50 per second
    timestamp tokens <|0.00|> .. <|30.00|>: one per 0.02 s (one encoder token)

No imports: any layer may use it.
"""
from __future__ import annotations

SAMPLE_RATE = 16000            # samples per second
N_FFT = 400                    # STFT size (25 ms)
HOP_LENGTH = 160               # samples per mel frame (10 ms)
MEL_FRAMES_PER_S = SAMPLE_RATE // HOP_LENGTH   # 100
WINDOW_S = 30                  # Whisper's trained window
WINDOW_FRAMES = WINDOW_S * MEL_FRAMES_PER_S    # 3000
STEM_STRIDE = 2                # conv2 stride
ENCODER_TOKENS_PER_S = MEL_FRAMES_PER_S // STEM_STRIDE   # 50
TIMESTAMP_RESOLUTION_S = 0.02  # seconds per timestamp token step


def stem_tokens(frames: int) -> int:
    """Encoder tokens out of the conv stem for `frames` mel frames: ceil(frames / 2)."""
    return (int(frames) - 1) // STEM_STRIDE + 1


def encoder_tokens(frames: int, stride: int = 1) -> int:
    """Encoder tokens after the conv stem and a token stride: ceil(stem_tokens / stride)."""
    return -(-stem_tokens(frames) // int(stride))


def frames_for(seconds: float) -> int:
    """Mel frames of `seconds` of audio (rounded)."""
    return int(round(seconds * MEL_FRAMES_PER_S))


def samples_for(seconds: float) -> int:
    """Samples of `seconds` of audio (rounded)."""
    return int(round(seconds * SAMPLE_RATE))


def seekable_s(audio_s: float) -> float:
    """The part of `audio_s` seconds a window can start in: whole 10 ms mel frames (openai-whisper
    and faster-whisper count floor(samples / 160) content frames). A few trailing samples are no
    window of their own (tasks.asr.pipeline seeks by the same rule)."""
    return int(max(0.0, audio_s) * MEL_FRAMES_PER_S + 1e-6) / MEL_FRAMES_PER_S
