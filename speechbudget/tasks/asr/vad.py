"""Voice-activity filter: faster-whisper's `vad_filter=True`, with the Silero VAD model.

    vad = SileroVad()                                   # loads the weights once (silero-vad)
    split = split_speech(vad, audio, VadOptions())      # all of the below in one
    chunks = vad.speech_chunks(audio, VadOptions())     # [(start, end)] in samples
    speech = speech_audio(audio, chunks)                # the chunks joined: what is decoded
    times = TimeMap(chunks)                             # decoded time -> recording time
    segments = restore_times(segments, times)

This module holds the network and `split_speech`; the rules (`VadOptions`, the chunks, the time
map) are `vad_rules`.

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

import importlib.util
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from speechbudget.axes import ConfigError
from speechbudget.errors import SpeechbudgetError
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.tasks.asr.vad_rules import (FRAME, SpeechSplit, VadOptions, VadResult,
                                              chunks_from_probs, speech_audio)

__all__ = ["CONTEXT", "VadUnavailableError", "SileroVad", "split_speech", "find_model_file",
           "frame_audio", "check_vad_model", "vad_model_path", "VAD_MODELS"]

CONTEXT = 64       # samples of the previous frame each frame is seen with
BLOCK = 4096       # frames whose convolutions run at once (about 17 MB of activations)
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


def check_vad_model(choice: Any) -> "str | Path | SileroVad | None":
    """`vad_model` checked: None (silero-vad's weights), "silero-vad", "faster-whisper", a
    path (a Path: an existing file) or an already loaded `SileroVad` (returned as it is: its
    file is not read again); ConfigError for another value, ModelLoadError naming a path that
    is not a file. Nothing is loaded."""
    from speechbudget.models.load_error import ModelLoadError
    if choice is None or isinstance(choice, SileroVad) or (isinstance(choice, str)
                                                           and choice in VAD_MODELS):
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


def split_speech(model: SileroVad, audio: np.ndarray, options: VadOptions | None = None
                 ) -> SpeechSplit:
    """`audio` (16 kHz) through the filter: its speech chunks, joined."""
    options = options or VadOptions()
    chunks = model.speech_chunks(audio, options)
    result = VadResult(options, tuple((s / SAMPLE_RATE, e / SAMPLE_RATE) for s, e in chunks),
                       sum(e - s for s, e in chunks) / SAMPLE_RATE, model.gflops(len(audio)))
    return SpeechSplit(speech_audio(audio, chunks), chunks, result)
