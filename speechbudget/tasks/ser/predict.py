"""Classify new, unlabelled recordings with a checkpoint written by `ser train`:

    preds = predict("runs/ser", ["a.wav", "b.flac", waveform_16k])   # list[Prediction]
    preds[0].label, preds[0].probs["HAP"], preds[0].top(3)

    clf = SerPredictor("runs/ser")          # load once, call on as many batches as you like
    clf(["c.mp3"]), clf(audio_array)         # one input alone is a list of one prediction

The preprocessing is the one `ser eval` scores with (`features.predict_logits`, no second path):
the checkpoint is rebuilt by `load_checkpoint` (its Config: clip duration D, token stride and
pool, adaptation with its LoRA/DAMA tensors; its head, linear or MLP; its backbone, a registry
name, local HF folder or CTranslate2 folder), each recording is read as `ser eval` reads a clip
(`data.read_clip`: `audio.load_audio`, any format it decodes, channels averaged, resampled to
16 kHz; empty or shorter than `data.MIN_CLIP_S` refused) and cut to D seconds by
`data.crop_or_pad` in "center" mode: a longer recording is classified on its centre D seconds
(the rest is not heard), a shorter one is zero-padded and the padding masked, as the held-out
clips of `ser train` and `ser eval` are. The probabilities are the softmax of those logits.

Inputs: a path (str or os.PathLike), a 1-D float array of samples in [-1, 1] at 16 kHz (numpy,
list or torch tensor), or, as Hugging Face's audio-classification pipeline takes it, a dict
{"array" (or "raw"): samples, "sampling_rate": Hz} (resampled to 16 kHz with the same resampler as
files). A recording that cannot be used is an AudioError naming it; `errors="return"` puts that
AudioError in the result list at its place instead, so that one bad input does not stop the
others (`ser predict`: one stderr line for it, the others go on, exit 1).
"""
from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from speechbudget.audio import AudioError, check_sample_rate, check_samples, resample_to_16k
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.tasks.ser.checkpoint import load_checkpoint
from speechbudget.tasks.ser.data import Clip, check_clip_audio, read_clip
from speechbudget.tasks.ser.features import batches, predict_logits
from speechbudget.tasks.ser.scoring import NON_FINITE


@dataclass(frozen=True)
class Prediction:
    """One recording's class: `label` (the most probable), `probs` (label -> probability in the
    checkpoint's label order, summing to 1), `duration_s` (the clip duration D the checkpoint
    classifies), `audio_s` (the recording's length at 16 kHz) and `source` (the path as given, or
    "array #i" for the i-th input)."""

    source: str
    label: str
    probs: dict[str, float]
    duration_s: float
    audio_s: float

    @property
    def score(self) -> float:
        """The probability of `label`."""
        return self.probs[self.label]

    @property
    def cropped(self) -> bool:
        """Whether the recording is longer than D (only its centre D seconds were classified)."""
        return int(round(self.audio_s * SAMPLE_RATE)) > int(round(self.duration_s * SAMPLE_RATE))

    def top(self, k: int | None = None) -> list[tuple[str, float]]:
        """The k most probable (label, probability), most probable first (all labels: None);
        equal probabilities keep the checkpoint's label order."""
        ranked = sorted(self.probs.items(), key=lambda kv: -kv[1])
        return ranked if k is None else ranked[:max(0, k)]

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.source, "label": self.label, "score": self.score,
                "probs": dict(self.probs), "duration_s": self.duration_s,
                "audio_s": self.audio_s, "cropped": self.cropped}


def _is_single(audios: Any) -> bool:
    """One input given alone (a path, an array, a dict, a list of samples; encoded bytes or a
    file object, to be refused by name), not a sequence of inputs."""
    if isinstance(audios, (str, os.PathLike, dict, np.ndarray, bytes, bytearray)) \
            or hasattr(audios, "read") or type(audios).__module__.startswith("torch"):
        return True
    # a waveform as a list of samples (numbers), not a list of inputs
    return isinstance(audios, (list, tuple)) and len(audios) > 0 \
        and all(isinstance(x, numbers.Number) for x in audios)


def _samples(audio: Any, where: str) -> np.ndarray:
    """A 1-D float32 waveform from an array-like input (AudioError naming `where` otherwise)."""
    if type(audio).__module__.startswith("torch"):  # detached, on the CPU, bf16/fp16 as float32
        audio = audio.detach().cpu()
        audio = audio.float() if audio.is_floating_point() else audio
    try:
        a = np.asarray(audio)
    except (TypeError, ValueError) as e:  # a ragged list
        raise AudioError(f"{where}: not an array of samples ({e})") from None
    if a.dtype.kind in "OUSV" or a.dtype.kind == "b":
        raise AudioError(f"{where}: {type(audio).__name__} is no audio input: expected a path, a "
                         f"1-D float array at {SAMPLE_RATE} Hz, or "
                         "{'array': samples, 'sampling_rate': Hz}")
    if a.dtype.kind != "f":  # integer PCM: its scale depends on its width
        raise AudioError(f"{where}: samples of dtype {a.dtype}: expected floats in [-1, 1] "
                         f"(integer PCM: divide by its full scale)")
    if a.ndim != 1:
        raise AudioError(f"{where}: an array of shape {a.shape}: expected one 1-D mono waveform "
                         "(average the channels first)")
    return np.ascontiguousarray(a, dtype=np.float32)


def read_input(audio: Any, where: str) -> np.ndarray:
    """The 16 kHz mono waveform `ser eval` would classify for one input (module text); AudioError
    naming `where` when it cannot be used."""
    if isinstance(audio, (str, os.PathLike)):
        return read_clip(Clip(id=where, path=Path(audio), label="", speaker=""))
    if isinstance(audio, (bytes, bytearray)) or hasattr(audio, "read"):
        raise AudioError(f"{where}: encoded bytes or a file object are not read; pass a path or "
                         "decoded samples")
    sr = SAMPLE_RATE
    if isinstance(audio, dict):
        key = "array" if "array" in audio else "raw" if "raw" in audio else None
        if key is None or "sampling_rate" not in audio:
            raise AudioError(f"{where}: a dict needs 'array' (or 'raw') and 'sampling_rate'; it "
                             f"has {sorted(map(str, audio))}")
        sr = audio["sampling_rate"]
        if isinstance(sr, bool) or not isinstance(sr, (int, np.integer, float)) or sr != int(sr):
            raise AudioError(f"{where}: sampling_rate {sr!r}: expected a whole number of Hz")
        sr = int(sr)
        check_sample_rate(sr, where)
        audio = audio[key]
    data = _samples(audio, where)
    check_samples(data, where)
    return check_clip_audio(resample_to_16k(data, sr), where)  # as data.read_clip a file


class SerPredictor:
    """A checkpoint loaded once for prediction (`device` default: cuda when present)."""

    def __init__(self, checkpoint_dir: str | Path, device: str | None = None):
        from speechbudget.machine import check_device, default_device

        self.device = check_device(device or default_device())
        self.checkpoint = Path(checkpoint_dir)
        self.model, self.meta = load_checkpoint(self.checkpoint, self.device)

    @property
    def labels(self) -> list[str]:
        return list(self.model.labels)

    @property
    def duration_s(self) -> float:
        """D: every recording is centre-cropped or zero-padded to it."""
        return self.model.backbone.duration

    def __call__(self, audios: Any, batch_size: int = 16, errors: str = "raise",
                 progress: Callable[[int, int], None] | None = None
                 ) -> list[Prediction | AudioError]:
        """One Prediction per input, in order (module text). `errors`: "raise" (the first input
        that cannot be used raises its AudioError) or "return" (it takes that input's place in
        the list). `progress(done, total)`: inputs done, after each batch of `batch_size`."""
        if errors not in ("raise", "return"):
            raise ValueError(f"errors={errors!r}: expected 'raise' or 'return'")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}: expected a whole number >= 1")
        items = [audios] if _is_single(audios) else list(audios)
        out: list[Prediction | AudioError] = []
        for sl in batches(len(items), batch_size):
            out.extend(self._batch(items[sl], sl.start, batch_size, errors))
            if progress is not None:
                progress(sl.stop, len(items))
        return out

    def _batch(self, items: Sequence[Any], first: int, batch_size: int, errors: str
               ) -> list[Prediction | AudioError]:
        got: list[Prediction | AudioError | None] = []
        clips, audio, where_of = [], {}, {}
        for i, a in enumerate(items, first):
            where = str(a) if isinstance(a, (str, os.PathLike)) else f"array #{i}"
            try:
                audio[str(i)] = read_input(a, where)
            except AudioError as e:
                if errors == "raise":
                    raise
                got.append(e)
                continue
            clips.append(Clip(id=str(i), path=Path(where), label="", speaker=""))
            where_of[str(i)] = where
            got.append(None)
        logits = predict_logits(self.model, clips, audio, None, batch_size)
        probs = logits.softmax(-1)  # as scoring.item_results gives `ser eval`'s probs
        done = iter(zip(clips, logits, probs))
        labels, d = self.labels, self.duration_s
        for k, slot in enumerate(got):
            if slot is not None:
                continue
            c, row, p = next(done)
            if not bool(row.isfinite().all()):
                e = AudioError(NON_FINITE.format(path=where_of[c.id]))
                if errors == "raise":
                    raise e
                got[k] = e
                continue
            got[k] = Prediction(source=where_of[c.id], label=labels[int(row.argmax())],
                                probs={lab: float(x) for lab, x in zip(labels, p.tolist())},
                                duration_s=d, audio_s=len(audio[c.id]) / SAMPLE_RATE)
        return got  # type: ignore[return-value]


def predict(checkpoint_dir: str | Path, audios: Any | Iterable[Any], device: str | None = None,
            batch_size: int = 16, errors: str = "raise",
            progress: Callable[[int, int], None] | None = None) -> list[Prediction | AudioError]:
    """Load the checkpoint and classify `audios` (a sequence of inputs, or one input alone: a list
    of one); see `SerPredictor.__call__` and the module text."""
    return SerPredictor(checkpoint_dir, device)(audios, batch_size, errors, progress)
