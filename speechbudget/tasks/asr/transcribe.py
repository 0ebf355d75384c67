"""Transcribe recordings of any length with segments and times: the Python API.

    from speechbudget.tasks.asr.transcribe import transcribe
    segments, info = transcribe("talk.flac", model="tiny.en")            # path or 16 kHz array
    for s in segments:
        print(f"[{s.start:.2f} -> {s.end:.2f}] {s.text}")
    segments, info = transcribe(audio, model="base", window=10, stride=2, timestamps="auto")

Any configuration of the study runs (window 0.04..30 s or "dynamic", token stride, beam, precision);
audio longer than the window goes through Whisper's sequential long-form rule (`longform`
"sequential", or the old "chunks" for comparison); silence gives no segment. `info` holds the
duration, the windows decoded, the no-speech windows, the decoded tokens and the analytic GFLOPs.
Writers for txt / srt / vtt / json are in `tasks.asr.subtitles`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from speechbudget.axes import Config
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.tasks.asr.pipeline import (LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD, AsrPipeline,
                                             Segment, Transcript, cast_for_precision)

_BUNDLES: dict[tuple[str, str], Any] = {}


def load_bundle(model: str, device: str) -> Any:
    """A loaded WhisperBundle (registry name, hub id or local HF/CTranslate2 folder), kept for
    later calls in this process."""
    key = (str(model), device)
    if key not in _BUNDLES:
        from speechbudget.models.loading import load_whisper
        _BUNDLES[key] = load_whisper(str(model), device=device)
    return _BUNDLES[key]


def as_audio(audio: str | Path | np.ndarray) -> np.ndarray:
    if isinstance(audio, (str, Path)):
        from speechbudget.audio import load_audio
        return load_audio(audio)
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim != 1:
        raise ValueError(f"audio of shape {a.shape}: expected a 1-D 16 kHz mono waveform or a path")
    return a


def transcribe_many(audios: Sequence[str | Path | np.ndarray], model: str = "tiny.en", *,
                    window: float | str = 30, stride: int = 1, stride_at: int | str = "output",
                    pool: str = "mean", beam_size: int = 1, precision: str = "fp32",
                    timestamps: str = "on", longform: str = "sequential",
                    device: str | None = None, batch_size: int = 8,
                    no_speech_threshold: float | None = NO_SPEECH_THRESHOLD,
                    logprob_threshold: float | None = LOGPROB_THRESHOLD,
                    bundle: Any = None) -> list[tuple[list[Segment], dict[str, Any]]]:
    """`transcribe` for several recordings at once, batched (each with its own seek)."""
    from speechbudget.machine import default_device
    device = device or default_device()
    bundle = bundle if bundle is not None else load_bundle(model, device)
    cfg = Config(task="asr", model=bundle.arch.name, window=window, stride=stride,
                 stride_at=stride_at, pool=pool, precision=precision, beam_size=beam_size,
                 timestamps=timestamps, longform=longform)
    pipe = AsrPipeline(bundle, cfg, device,
                       model=cast_for_precision(bundle.model, precision, device))
    pipe.no_speech_threshold, pipe.logprob_threshold = no_speech_threshold, logprob_threshold
    items = [(f"{i}", as_audio(a)) for i, a in enumerate(audios)]
    out = pipe.transcribe_items(items, batch_size)
    return [(out[i].segments, _info(cfg, out[i], len(a) / SAMPLE_RATE, pipe)) for i, a in items]


def transcribe(audio: str | Path | np.ndarray, model: str = "tiny.en", **kw: Any
               ) -> tuple[list[Segment], dict[str, Any]]:
    """(segments, info) of one recording (see the module docstring; options as
    `transcribe_many`)."""
    return transcribe_many([audio], model, **kw)[0]


def _info(cfg: Config, tr: Transcript, duration_s: float, pipe: AsrPipeline) -> dict[str, Any]:
    from speechbudget.flops.estimate import estimate
    from speechbudget.geometry import MEL_FRAMES_PER_S
    tokens = [r.generated + (0 if r.by_limit or r.by_loop else 1) for r in tr.windows]
    gflops = 0.0
    for r, n in zip(tr.windows, tokens):
        cw = cfg.with_(window=r.frames / MEL_FRAMES_PER_S, timestamps="auto",
                       longform="sequential")
        gflops += estimate(cw, decoded_tokens=n, prompt_tokens=r.prompt_tokens,
                           no_speech_head=pipe.decoder_for(r.timestamps).no_speech_extra).gflops
    return {"duration_s": duration_s, "text": tr.text, "windows": len(tr.windows),
            "no_speech_windows": tr.no_speech_windows, "silent_windows": tr.silent_windows,
            "decoded_tokens": sum(tokens),
            "gflops": gflops, "stopped_by_limit": sum(r.by_limit for r in tr.windows),
            "repetition_cut": sum(r.by_loop for r in tr.windows), "config": cfg.to_dict()}
