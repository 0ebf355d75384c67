"""The one home of Whisper's geometry agrees with the modules that use it."""
from __future__ import annotations

from speechbudget import geometry as g


def test_facts():
    assert g.SAMPLE_RATE // g.HOP_LENGTH == g.MEL_FRAMES_PER_S == 100
    assert g.WINDOW_FRAMES == 3000 and g.stem_tokens(g.WINDOW_FRAMES) == 1500
    assert g.ENCODER_TOKENS_PER_S * g.TIMESTAMP_RESOLUTION_S == 1


def test_stem_tokens_is_the_conv_stem_output_length():
    import torch
    conv = torch.nn.Conv1d(1, 1, 3, stride=2, padding=1)
    for frames in (1, 2, 3, 999, 1000, 1001, 3000):
        assert g.stem_tokens(frames) == conv(torch.zeros(1, 1, frames)).shape[-1]
    assert g.encoder_tokens(1000, 3) == 167 and g.encoder_tokens(3000, 1) == 1500
    assert g.frames_for(10) == 1000 and g.samples_for(0.05) == 800
