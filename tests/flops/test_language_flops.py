"""The FLOPs of language detection (`flops.estimate.language_detection_flops`) == FLOPs counted
(FlopCounterMode) on the step `tasks.asr.language` runs: `WhisperDecoderRunner.sot_logits` (one
decoder step on <|startoftranscript|>, cross K/V of the window's encoder tokens, the LM head over
the vocabulary), and with `encoder=True` the window's encoder pass too; registry dimensions,
random weights."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from speechbudget.axes import Config, ConfigError
from speechbudget.flops.estimate import language_detection_flops
from speechbudget.geometry import MEL_FRAMES_PER_S


@pytest.fixture(scope="module")
def tiny():
    from speechbudget.models.registry import build_from_config
    torch.manual_seed(0)
    return build_from_config("tiny", device="cpu")


def counted(fn) -> int:
    """FLOPs FlopCounterMode counts in `fn`, SDPA on its math kernel (its matmuls counted)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


@pytest.mark.parametrize("axes", [dict(window=30), dict(window=4.02),
                                  dict(window=8, stride=2, stride_at="output"),
                                  dict(window=6, stride=3, stride_at=2, pool="drop")])
def test_detection_step_flops_equal_counted(tiny, axes):
    from speechbudget.models import whisper_encoder as we
    from speechbudget.models.registry import whisper_tokens
    from speechbudget.tasks.asr.decode import WhisperDecoderRunner
    from speechbudget.tasks.asr.decode_options import DecodeOptions
    cfg = Config(task="asr", model="tiny", **axes)
    frames = round(cfg.window * MEL_FRAMES_PER_S)
    tok = whisper_tokens(51865)
    runner = WhisperDecoderRunner(tiny, DecodeOptions(prompt_ids=(tok.sot,), eos_id=tok.eot))
    mel = torch.randn(1, 80, frames)
    with torch.inference_mode():
        enc, _ = we.encode(tiny.model.encoder, mel, cfg.stride, cfg.stride_at, cfg.pool)
    step = counted(lambda: runner.sot_logits(enc))
    assert step == pytest.approx(language_detection_flops(cfg, frames), rel=1e-9)
    with torch.inference_mode():
        encoder = counted(lambda: we.encode(tiny.model.encoder, mel, cfg.stride, cfg.stride_at,
                                            cfg.pool))
    assert encoder + step == pytest.approx(language_detection_flops(cfg, frames, encoder=True),
                                           rel=1e-9)


def test_frames_must_be_positive():
    with pytest.raises(ConfigError) as e:
        language_detection_flops(Config(task="asr", model="tiny"), 0)
    assert e.value.field == "frames"
