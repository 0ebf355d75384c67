"""Voice-activity filter: faster-whisper's `vad_filter=True`, with the Silero VAD model.

    vad = SileroVad()                                   # loads the weights once (silero-vad)
    split = split_speech(vad, audio, VadOptions())      # all of the below in one
    chunks = vad.speech_chunks(audio, VadOptions())     # [(start, end)] in samples
    speech = speech_audio(audio, chunks)                # the chunks joined: what is decoded
    times = TimeMap(chunks)                             # decoded time -> recording time
    segments = restore_times(segments, times)

As faster-whisper 1.2.1 (`faster_whisper.vad`): the model gives one speech probability per
512-sample frame (32 ms at 16 kHz), each frame seen with the 64 samples before it as context and
the LSTM state carried from frame to frame; a frame at or above `threshold` starts speech, speech
ends after `min_silence_duration_ms` of frames below `neg_threshold` (threshold - 0.15), chunks
longer than `max_speech_duration_s` are split (at a silence of more than 98 ms if there was
one), and each chunk is padded by `speech_pad_ms` on both sides (half the gap when two chunks are
closer than twice that). The defaults are faster-whisper's `VadOptions`.

The weights are by default the ones the installed `silero-vad` package ships (its
`silero_vad.jit`, read as tensors: the network is run here, batched over the frames, with no
TorchScript call per frame). A `.onnx` Silero model in faster-whisper's layout (inputs "input"
[N, 576], "h", "c" [1, 1, 128]) is run with onnxruntime as faster-whisper runs it
(`vad_model_path("faster-whisper")`: the very file faster-whisper's `vad_filter` uses), on the
same frames (`frame_audio`).
silero-vad 6.0 / 6.1 carry the weights faster-whisper 1.2.1 bundles as `silero_vad_v6.onnx`
(probabilities within 1e-6); 6.2 ships retrained weights, whose boundaries can differ from
faster-whisper's by a frame or two (docs/asr.md). The `silero_vad` package itself is not imported
(its `model` module sets torch's thread count for the whole process): only its files are read.
"""
from __future__ import annotations

import bisect
import dataclasses
import importlib.util
import math
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from speechbudget.axes import ConfigError
from speechbudget.errors import SpeechbudgetError
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.tasks.asr.transcript import Segment

__all__ = ["FRAME", "CONTEXT", "VadOptions", "VadUnavailableError", "SileroVad", "TimeMap",
           "VadResult", "SpeechSplit", "split_speech", "speech_audio", "restore_times",
           "find_model_file", "frame_audio", "check_vad_model", "vad_model_path", "VAD_MODELS"]

FRAME = 512        # samples per speech probability at 16 kHz (32 ms)
CONTEXT = 64       # samples of the previous frame each frame is seen with
BLOCK = 4096       # frames whose convolutions run at once (about 17 MB of activations)
SPLIT_SILENCE_MS = 98  # a silence this long is where an over-long chunk may be split
INSTALL_HINT = "pip install 'speechbudget[vad]'"
COMPARE_HINT = "pip install 'speechbudget[compare]'"
ONNX_BATCH = 10000  # frames per onnxruntime call, the LSTM state carried (faster-whisper's)
VAD_MODELS = ("silero-vad", "faster-whisper")   # the named choices of `vad_model`
# the Silero v5/v6 16 kHz network's weight shapes (its `gflops`; an ONNX file's are not read)
SILERO_SHAPES = {"stft": (258, 1, 256), "out_w": (1, 128, 1), "w_ih": (512, 128),
                 "w_hh": (512, 128), "conv0_w": (128, 129, 3), "conv1_w": (64, 128, 3),
                 "conv2_w": (64, 64, 3), "conv3_w": (128, 64, 3)}


class VadUnavailableError(SpeechbudgetError, ImportError):
    """The voice-activity filter was asked for but silero-vad is not installed (exit 2)."""


@dataclasses.dataclass(frozen=True)
class VadOptions:
    """faster-whisper's `VadOptions`, with its defaults; a bad value raises ConfigError."""

    threshold: float = 0.5                 # a frame at or above it is speech
    neg_threshold: float | None = None     # below it, silence (None: max(threshold - 0.15, 0.01))
    min_speech_duration_ms: int = 0        # shorter chunks are dropped
    max_speech_duration_s: float = math.inf  # longer chunks are split
    min_silence_duration_ms: int = 2000    # silence that ends a chunk
    speech_pad_ms: int = 400               # added on each side of a chunk

    def __post_init__(self) -> None:
        def number(name: str, lo: float, hi: float = math.inf, none: bool = False) -> None:
            v = getattr(self, name)
            if none and v is None:
                return
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) \
                    or not lo <= v <= hi:
                span = f"in [{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
                raise ConfigError(f"vad_parameters.{name}", v,
                                  f"a number {span}" + (", or None" if none else ""))
        number("threshold", 0.0, 1.0)
        number("neg_threshold", 0.0, 1.0, none=True)
        number("min_speech_duration_ms", 0.0)
        number("max_speech_duration_s", 0.0)
        number("min_silence_duration_ms", 0.0)
        number("speech_pad_ms", 0.0)

    @classmethod
    def of(cls, value: "VadOptions | Mapping[str, Any] | None") -> "VadOptions":
        """`vad_parameters` as faster-whisper takes it: None (the defaults), a dict of fields or
        a VadOptions; ConfigError naming an unknown key or a bad value."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError("vad_parameters", value, "None, a dict of VadOptions fields or a "
                                                       "VadOptions")
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(value) - set(fields), key=str)
        if unknown:
            raise ConfigError("vad_parameters", unknown[0], f"one of {', '.join(fields)}")
        return cls(**value)

    @property
    def silence_threshold(self) -> float:
        return max(self.threshold - 0.15, 0.01) if self.neg_threshold is None \
            else self.neg_threshold


def find_model_file(name: str = "silero_vad.jit") -> Path:
    """The weights file `name` in the installed silero-vad package (found without importing it);
    VadUnavailableError naming the extra to install when there is none."""
    spec = importlib.util.find_spec("silero_vad")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "data" / name
        if path.is_file():
            return path
    raise VadUnavailableError("the voice-activity filter (vad_filter / --vad) needs the "
                              f"silero-vad package: {INSTALL_HINT}")


def check_vad_model(choice: Any) -> "str | Path | None":
    """`vad_model` checked: None (silero-vad's weights), "silero-vad", "faster-whisper", or a
    path (a Path: an existing file); ConfigError for another value, ModelLoadError naming a
    path that is not a file. Nothing is loaded."""
    from speechbudget.models.load_error import ModelLoadError
    if choice is None or choice in VAD_MODELS:
        return choice
    if isinstance(choice, bool) or not isinstance(choice, (str, Path)) or not str(choice):
        raise ConfigError("vad_model", choice, "None, 'silero-vad', 'faster-whisper' or the "
                                               "path of a Silero .jit / .onnx file")
    path = Path(choice)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such Silero VAD file (vad_model: a .jit or .onnx "
                             "file, 'silero-vad' or 'faster-whisper')")
    return path


def vad_model_path(choice: "str | Path | None" = None) -> Path:
    """The weights file of a `vad_model` choice (check_vad_model): None / "silero-vad": the
    silero-vad package's `silero_vad.jit`; "faster-whisper": the `assets/silero_vad_v6.onnx`
    faster-whisper bundles (VadUnavailableError naming the `compare` extra without it); a path:
    itself. VadUnavailableError too for a .onnx file without onnxruntime."""
    choice = check_vad_model(choice)
    if choice is None or choice == "silero-vad":
        return find_model_file()
    if choice == "faster-whisper":
        spec = importlib.util.find_spec("faster_whisper")
        if spec is None or spec.origin is None:
            raise VadUnavailableError("vad_model 'faster-whisper' (its bundled Silero VAD) "
                                      f"needs the faster-whisper package: {COMPARE_HINT}")
        path = Path(spec.origin).parent / "assets" / "silero_vad_v6.onnx"
    else:
        path = Path(choice)
    if path.suffix.lower() == ".onnx" and importlib.util.find_spec("onnxruntime") is None:
        raise VadUnavailableError(f"{path}: an ONNX Silero VAD model is run with the "
                                  f"onnxruntime package: pip install onnxruntime (or "
                                  f"{COMPARE_HINT})")
    return path


def frame_audio(audio: np.ndarray) -> np.ndarray:
    """`audio` (16 kHz) as the Silero model's input rows [frames, CONTEXT + FRAME], framed as
    faster-whisper frames it: zeros pad the recording to whole frames (a full frame of them when
    it already is), each frame is preceded by the last 64 samples of the one before (zeros for
    the first), and the last frame's own last 64 samples are zeros."""
    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    frames = np.zeros(((len(a) // FRAME + 1), FRAME), np.float32)
    frames.reshape(-1)[:len(a)] = a
    frames[-1, -CONTEXT:] = 0.0   # faster-whisper's framing zeroes them (its context array
    #                               is a view of the frames), so its last probability does
    context = np.zeros((len(frames), CONTEXT), np.float32)
    context[1:] = frames[:-1, -CONTEXT:]
    return np.concatenate([context, frames], axis=1)


def onnx_session(path: Path) -> Any:
    """An onnxruntime session on a Silero VAD .onnx file, with faster-whisper's options (CPU, 1
    intra-op and 1 inter-op thread); ModelLoadError naming the file when it is not one."""
    from speechbudget.models.load_error import ModelLoadError
    try:
        import onnxruntime
    except ImportError:
        raise VadUnavailableError(f"{path}: an ONNX Silero VAD model is run with the "
                                  f"onnxruntime package: pip install onnxruntime (or "
                                  f"{COMPARE_HINT})") from None
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 4
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"],
                                               sess_options=opts)
    except Exception as e:  # a truncated or foreign file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelLoadError(f"{path}: not an ONNX Silero VAD model ({first})") from None
    inputs = {i.name: list(i.shape) for i in session.get_inputs()}
    if set(inputs) != {"input", "h", "c"} or inputs["input"][-1] != CONTEXT + FRAME \
            or len(session.get_outputs()) != 3:
        raise ModelLoadError(f"{path}: not a Silero VAD v5/v6 ONNX model in faster-whisper's "
                             f"layout (inputs input [N, {CONTEXT + FRAME}], h, c; this one: "
                             f"{', '.join(f'{k} {v}' for k, v in inputs.items())})")
    return session


class SileroVad:
    """The Silero VAD network (16 kHz) with its weights: `speech_probs` (one per frame) and
    `speech_chunks`. The weights stay on the CPU (the model is ~0.3 M parameters). `path`: a
    TorchScript file (default: silero-vad's), or a `.onnx` one run with onnxruntime
    (`backend` says which)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else find_model_file()
        self.decoder_rnn: Any = None   # torch.nn.LSTM, built on first use
        self.session: Any = None       # the onnxruntime session of a .onnx file
        if self.path.suffix.lower() == ".onnx":
            self.backend = "onnxruntime"
            self.session = onnx_session(self.path)
            self.weights: dict[str, Any] = {}
            self.shapes = dict(SILERO_SHAPES)   # the same network: its analytic cost
            self.hidden = int(self.session.get_inputs()[1].shape[-1])
            return
        self.backend = "torch"
        self.load_torchscript()

    def load_torchscript(self) -> None:
        import torch
        from speechbudget.models.load_error import ModelLoadError
        try:
            with warnings.catch_warnings():  # torch 2.13 deprecates jit.load; the file is one
                warnings.simplefilter("ignore", DeprecationWarning)
                state = torch.jit.load(str(self.path), map_location="cpu").state_dict()
        except Exception as e:  # a truncated or foreign file
            raise ModelLoadError(f"{self.path}: not a Silero VAD TorchScript file ({e})") from None
        names = {"stft": "stft.forward_basis_buffer", "out_w": "decoder.decoder.2.weight",
                 "out_b": "decoder.decoder.2.bias", "w_ih": "decoder.rnn.weight_ih",
                 "w_hh": "decoder.rnn.weight_hh", "b_ih": "decoder.rnn.bias_ih",
                 "b_hh": "decoder.rnn.bias_hh"}
        for i in range(4):
            names[f"conv{i}_w"] = f"encoder.{i}.reparam_conv.weight"
            names[f"conv{i}_b"] = f"encoder.{i}.reparam_conv.bias"
        missing = [k for k in names.values() if f"_model.{k}" not in state]
        if missing:
            raise ModelLoadError(f"{self.path}: not a Silero VAD v5/v6 model (no {missing[0]})")
        self.weights = {k: state[f"_model.{v}"].float() for k, v in names.items()}
        self.shapes = {k: tuple(w.shape) for k, w in self.weights.items()}
        self.hidden = int(self.weights["w_hh"].shape[1])

    # ---- the network -------------------------------------------------------------------------
    def speech_probs(self, audio: np.ndarray) -> np.ndarray:
        """P(speech) of each 512-sample frame of `audio` (16 kHz), framed by `frame_audio`
        (faster-whisper's framing); an ONNX model runs as faster-whisper's `SileroVADModel`
        does (ONNX_BATCH frames a call, h and c carried)."""
        rows = frame_audio(audio)
        if self.session is not None:
            h = np.zeros((1, 1, self.hidden), np.float32)
            c = np.zeros((1, 1, self.hidden), np.float32)
            probs = []
            for i in range(0, len(rows), ONNX_BATCH):
                p, h, c = self.session.run(None, {"input": rows[i:i + ONNX_BATCH], "h": h,
                                                  "c": c})
                probs.append(np.asarray(p, np.float32).reshape(-1))
            return np.concatenate(probs)
        import torch
        x = torch.from_numpy(rows)
        state = None
        out = []
        with torch.no_grad():
            for i in range(0, len(x), BLOCK):
                p, state = self.run(x[i:i + BLOCK], state)
                out.append(p)
        return torch.cat(out).numpy()

    def run(self, x: Any, state: Any = None) -> tuple[Any, Any]:
        """(P(speech) per row, LSTM state) of `x`: [frames, 576] samples (context + frame), the
        frames in time order; `state` carries on from the frames before."""
        import torch
        import torch.nn.functional as F
        w = self.weights
        h = F.pad(x, (0, CONTEXT), mode="reflect").unsqueeze(1)
        h = F.conv1d(h, w["stft"], stride=w["stft"].shape[-1] // 2)   # real and imaginary parts
        half = w["stft"].shape[0] // 2
        h = torch.sqrt(h[:, :half] ** 2 + h[:, half:] ** 2)            # magnitude
        for i, stride in enumerate((1, 2, 2, 1)):
            h = F.relu(F.conv1d(h, w[f"conv{i}_w"], w[f"conv{i}_b"], stride=stride, padding=1))
        h = h.squeeze(-1)                                               # [frames, hidden]
        seq, state = self.lstm(h, state)
        p = torch.sigmoid(F.relu(seq) @ w["out_w"][:, :, 0].T + w["out_b"])
        return p[:, 0], state

    def lstm(self, h: Any, state: Any) -> tuple[Any, Any]:
        """The decoder's LSTM cell run over the frames `h` [frames, features] in order (torch's
        one-layer LSTM holding the cell's weights); `state` (h, c), None at the start."""
        import torch
        if self.decoder_rnn is None:
            w = self.weights
            rnn = torch.nn.LSTM(int(w["w_ih"].shape[1]), self.hidden).requires_grad_(False)
            for name, key in (("weight_ih_l0", "w_ih"), ("weight_hh_l0", "w_hh"),
                              ("bias_ih_l0", "b_ih"), ("bias_hh_l0", "b_hh")):
                getattr(rnn, name).copy_(w[key])
            self.decoder_rnn = rnn
        with torch.no_grad():
            seq, state = self.decoder_rnn(h.unsqueeze(1), state)
        return seq[:, 0], state

    def gflops(self, n_samples: int) -> float:
        """Analytic GFLOPs of `speech_probs` on `n_samples` (2 per multiply-add of the
        convolutions, the LSTM and the output layer; element-wise work left out, as
        `flops.estimate` does for Whisper)."""
        w = self.shapes
        frames = n_samples // FRAME + 1
        length = (FRAME + 2 * CONTEXT - w["stft"][-1]) // (w["stft"][-1] // 2) + 1
        macs = w["stft"][0] * w["stft"][-1] * length
        for i, stride in enumerate((1, 2, 2, 1)):
            out_ch, in_ch, k = w[f"conv{i}_w"]
            length = (length + 2 - k) // stride + 1
            macs += out_ch * in_ch * k * length
        macs += w["w_ih"][0] * (w["w_ih"][1] + self.hidden) + math.prod(w["out_w"])
        return 2.0 * macs * frames / 1e9

    # ---- probabilities -> chunks -------------------------------------------------------------
    def speech_chunks(self, audio: np.ndarray, options: VadOptions | None = None
                      ) -> list[tuple[int, int]]:
        """The speech chunks of `audio` (16 kHz) as (start, end) samples, in order."""
        options = options or VadOptions()
        return chunks_from_probs(self.speech_probs(audio), len(audio), options)


def chunks_from_probs(probs: Sequence[float], n_samples: int, options: VadOptions,
                      sampling_rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """faster-whisper's rules (the module's docstring) on one probability per FRAME samples."""
    per_ms = sampling_rate / 1000
    pad = per_ms * options.speech_pad_ms
    min_speech = per_ms * options.min_speech_duration_ms
    min_silence = per_ms * options.min_silence_duration_ms
    # a chunk may grow to this many samples before it is split (its padding still to come)
    max_speech = sampling_rate * options.max_speech_duration_s - FRAME - 2 * pad
    split_silence = per_ms * SPLIT_SILENCE_MS
    on, off = options.threshold, options.silence_threshold

    found: list[list[int]] = []
    start: int | None = None        # the open chunk's start (None: not in speech)
    quiet_from = 0                  # where the current run of silence began (0: none)
    split_at = 0                    # the end of the last silence > 98 ms in this chunk (0: none)
    resume_at = 0                   # where speech came back after it (0: not yet)
    for i, p in enumerate(probs):
        t = i * FRAME
        if p >= on and quiet_from:  # speech again: the silence did not end the chunk
            quiet_from = 0
            if resume_at < split_at:
                resume_at = t
        if p >= on and start is None:
            start = t
            continue
        if start is not None and t - start > max_speech:
            if split_at:            # cut at the last long-enough silence
                found.append([start, split_at])
                start = resume_at if resume_at >= split_at else None
                quiet_from = split_at = resume_at = 0
            else:                   # no silence to cut at: cut here
                found.append([start, t])
                start, quiet_from, split_at, resume_at = None, 0, 0, 0
                continue
        if start is not None and p < off:
            quiet_from = quiet_from or t
            if t - quiet_from > split_silence:
                split_at = quiet_from
            if t - quiet_from >= min_silence:
                if quiet_from - start > min_speech:
                    found.append([start, quiet_from])
                start, quiet_from, split_at, resume_at = None, 0, 0, 0
    if start is not None and n_samples - start > min_speech:
        found.append([start, n_samples])
    return pad_chunks(found, pad, n_samples)


def pad_chunks(found: list[list[int]], pad: float, n_samples: int) -> list[tuple[int, int]]:
    """Each chunk widened by `pad` samples on both sides, within the recording; two chunks
    closer than 2 x pad share the gap between them (half each)."""
    if found:
        found[0][0] = int(max(0, found[0][0] - pad))
    for here, after in zip(found, found[1:]):
        gap = after[0] - here[1]
        if gap < 2 * pad:
            here[1] += gap // 2
            after[0] = int(max(0, after[0] - gap // 2))
        else:
            here[1] = int(min(n_samples, here[1] + pad))
            after[0] = int(max(0, after[0] - pad))
    if found:
        found[-1][1] = int(min(n_samples, found[-1][1] + pad))
    return [(int(s), int(e)) for s, e in found]


def speech_audio(audio: np.ndarray, chunks: Sequence[tuple[int, int]]) -> np.ndarray:
    """The chunks of `audio` joined end to end (what is decoded); empty when there are none."""
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate([audio[s:e] for s, e in chunks]).astype(np.float32, copy=False)


class TimeMap:
    """Maps a time of the joined speech (`speech_audio`) back to the recording, as
    faster-whisper's `SpeechTimestampsMap`: a time belongs to the chunk it falls in (a time
    exactly at a chunk's end, as an end, to that chunk) and moves by the silence removed before
    that chunk; the result is rounded to 10 ms (2 decimals)."""

    def __init__(self, chunks: Sequence[tuple[int, int]], sampling_rate: int = SAMPLE_RATE,
                 decimals: int = 2):
        self.sampling_rate, self.decimals = sampling_rate, decimals
        self.ends: list[int] = []           # each chunk's end in the joined audio, in samples
        self.shift: list[float] = []        # seconds removed before each chunk
        removed, last_end = 0, 0
        for start, end in chunks:
            removed += start - last_end
            last_end = end
            self.ends.append(end - removed)
            self.shift.append(removed / sampling_rate)

    def chunk_of(self, time: float, is_end: bool = False) -> int:
        sample = int(time * self.sampling_rate)
        if is_end and sample in self.ends:
            return self.ends.index(sample)
        return min(bisect.bisect(self.ends, sample), len(self.ends) - 1)

    def original(self, time: float, chunk: int | None = None, is_end: bool = False) -> float:
        """`time` (seconds of the joined speech) in seconds of the recording."""
        if chunk is None:
            chunk = self.chunk_of(time, is_end)
        return round(self.shift[chunk] + time, self.decimals)


def restore_times(segments: Iterable[Segment], times: TimeMap) -> list[Segment]:
    """The segments with their (and their words') times in the recording, as faster-whisper's
    `restore_speech_timestamps`: a word's start and end move with the chunk its middle is in,
    and a segment with words then spans them; one without words maps its start, and its end as
    an end."""
    out = []
    for seg in segments:
        if seg.words:
            words = []
            for w in seg.words:
                chunk = times.chunk_of((w.start + w.end) / 2)
                words.append(w._replace(start=times.original(w.start, chunk),
                                        end=times.original(w.end, chunk)))
            out.append(dataclasses.replace(seg, start=words[0].start, end=words[-1].end,
                                           words=words))
        else:
            out.append(dataclasses.replace(seg, start=times.original(seg.start),
                                           end=times.original(seg.end, is_end=True)))
    return out


@dataclasses.dataclass(frozen=True)
class VadResult:
    """What the filter kept of one recording (`TranscriptionInfo.vad`)."""

    options: VadOptions
    chunks: tuple[tuple[float, float], ...]   # the speech decoded: (start, end) seconds
    duration_after_vad: float                 # their total, seconds (faster-whisper's name)
    gflops: float                             # the VAD network's own analytic cost; not in
    #                                           TranscriptionInfo.gflops (docs/asr.md)

    def to_dict(self) -> dict[str, Any]:
        return {"options": dataclasses.asdict(self.options),
                "chunks": [list(c) for c in self.chunks],
                "duration_after_vad": self.duration_after_vad, "gflops": self.gflops}


@dataclasses.dataclass(frozen=True)
class SpeechSplit:
    """A recording cut to its speech: the audio to decode and how to give its times back."""

    speech: np.ndarray                  # the chunks joined (empty: no speech)
    chunks: list[tuple[int, int]]       # (start, end) samples of the recording
    result: VadResult

    def restore(self, segments: Iterable[Segment]) -> list[Segment]:
        """Segments of `speech` with the recording's times (`restore_times`)."""
        return restore_times(segments, TimeMap(self.chunks)) if self.chunks else list(segments)


def split_speech(model: SileroVad, audio: np.ndarray, options: VadOptions | None = None
                 ) -> SpeechSplit:
    """`audio` (16 kHz) through the filter: its speech chunks, joined."""
    options = options or VadOptions()
    chunks = model.speech_chunks(audio, options)
    result = VadResult(options, tuple((s / SAMPLE_RATE, e / SAMPLE_RATE) for s, e in chunks),
                       sum(e - s for s, e in chunks) / SAMPLE_RATE, model.gflops(len(audio)))
    return SpeechSplit(speech_audio(audio, chunks), chunks, result)
