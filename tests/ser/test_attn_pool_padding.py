"""pool "attn" on a short clip in a longer window: the selector ranked every token of the window,
padding included, so a clip of under a second in a 4 s window at stride 4 kept no audio token at
all (frame mask all zero: mean pooling gave a zero vector, attentive-stats NaN). The SER backbone
now passes each clip's audio token count; padding ranks after every audio token, so
min(kept, audio tokens) audio tokens are kept. Without counts (ASR) the selection is unchanged."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from speechbudget.log_mel import log_mel_batch
from speechbudget.axes import Config
from speechbudget.geometry import HOP_LENGTH
from speechbudget.models import whisper_encoder as we
from speechbudget.tasks.ser.backbone import build_backbone
from speechbudget.tasks.ser.data import crop_or_pad
from speechbudget.tasks.ser.heads import SerHead, layer_means

from tests.ser.conftest import synth_clip

WINDOW, STRIDE = 4.0, 4
SECONDS = (0.02, 0.05, 0.1, 0.3, 1.0, 4.0)


def _batch(bb):
    crops = [crop_or_pad(synth_clip(i % 4, 0, 0, s), WINDOW) for i, s in enumerate(SECONDS)]
    waves = torch.from_numpy(np.stack([w for w, _ in crops]))
    return waves, [n for _, n in crops]


@pytest.mark.parametrize("stride_at", [0, 1, 4, "output"])
def test_a_short_clip_keeps_its_audio_tokens(tiny_whisper, stride_at):
    config = Config(task="ser", model="tiny.en", window=WINDOW, stride=STRIDE,
                    stride_at=stride_at, pool="attn")
    bb = build_backbone(config, str(tiny_whisper))
    waves, n_valid = _batch(bb)
    with torch.no_grad():
        hidden, mask = bb(waves, n_valid)
    kept = hidden.shape[2]
    audio = [we.encoder_tokens(math.ceil(n / HOP_LENGTH)) for n in n_valid]
    assert mask.sum(1).tolist() == [min(kept, a) for a in audio]
    torch.manual_seed(0)
    head = SerHead(bb.hidden_size, bb.num_hidden_states, 4, "attentive-stats").eval()
    with torch.no_grad():
        assert torch.isfinite(head(hidden, mask)).all()
        assert (layer_means(hidden, mask).abs().sum(-1) > 0).all()


def test_the_audio_kept_are_the_most_attended_audio_tokens(tiny_whisper):
    """With more audio tokens than kept ones, the kept are the top of the same saliency ranking
    restricted to audio (stable: ties to the earlier token), in time order."""
    config = Config(task="ser", model="tiny.en", window=2.0, stride=2, stride_at=1, pool="attn")
    bb = build_backbone(config, str(tiny_whisper))
    crops = [crop_or_pad(synth_clip(1, 0, 0, s), 2.0) for s in (1.5, 0.4)]
    waves = torch.from_numpy(np.stack([w for w, _ in crops]))
    n_valid = [n for _, n in crops]
    mel = log_mel_batch(list(waves), bb.n_mels, bb.frames)
    audio = [we.encoder_tokens(math.ceil(n / HOP_LENGTH)) for n in n_valid]
    with torch.no_grad():
        _, _, idx = we.encode_with_indices(bb.encoder, mel, 2, 1, "attn", audio_tokens=audio)
        sal = we.TokenSelector().saliency(bb.encoder.layers[0], we.embed(bb.encoder, mel))
    n = idx.shape[1]
    for b, a in enumerate(audio):
        order = torch.sort(sal[b, :a], descending=True, stable=True).indices[:n]
        want = torch.sort(order).values.tolist()
        want += list(range(a, a + n - len(want)))  # then the earliest padding, if any
        assert idx[b].tolist() == want


@pytest.mark.parametrize("stride_at", [0, 2, "output"])
def test_without_counts_or_with_no_padding_the_selection_is_unchanged(tiny_whisper, stride_at):
    """ASR calls encode without counts: bit-identical to counts saying every token is audio."""
    config = Config(task="ser", model="tiny.en", window=2.0, stride=3, stride_at=stride_at,
                    pool="attn")
    bb = build_backbone(config, str(tiny_whisper))
    torch.manual_seed(1)
    mel = torch.randn(2, bb.n_mels, bb.frames)
    T = we.encoder_tokens(bb.frames)
    with torch.no_grad():
        h0, _, i0 = we.encode_with_indices(bb.encoder, mel, 3, stride_at, "attn")
        h1, _, i1 = we.encode_with_indices(bb.encoder, mel, 3, stride_at, "attn",
                                           audio_tokens=[T, T])
        hm, _ = we.encode(bb.encoder, mel, 3, stride_at, "mean")
        hm1, _ = we.encode(bb.encoder, mel, 3, stride_at, "mean", audio_tokens=[1, 1])
    assert torch.equal(i0, i1) and torch.equal(h0, h1)
    assert torch.equal(hm, hm1)  # other pools ignore the counts
    with pytest.raises(ValueError, match="audio_tokens: 1 counts for a batch of 2"):
        we.encode(bb.encoder, mel, 3, stride_at, "attn", audio_tokens=[T])


def test_the_counts_cost_no_flops(tiny_whisper):
    """The analytic FLOPs (encoder.attn_select) hold with counts: the same counted operations."""
    from torch.utils.flop_counter import FlopCounterMode

    config = Config(task="ser", model="tiny.en", window=2.0, stride=2, stride_at=1, pool="attn")
    bb = build_backbone(config, str(tiny_whisper))
    mel = torch.randn(2, bb.n_mels, bb.frames)
    counts = []
    for audio in (None, [7, 60]):
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            we.encode_layers(bb.encoder, mel, 2, 1, "attn", audio_tokens=audio)
        counts.append(fc.get_flop_counts())
    assert counts[0] == counts[1]
