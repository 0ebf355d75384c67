"""pool "attn": the most attended tokens, in time order, the requested count; wired through."""
from __future__ import annotations

import pytest
import torch

from speechbudget.axes import Config, ConfigError
from speechbudget.models import whisper_encoder as we

from .conftest import varied_mel


@pytest.mark.parametrize("stride,stride_at,frames", [(2, 1, 400), (3, 0, 402), (2, "output", 300),
                                                      (4, 2, 398), (5, 1, 150)])
def test_keeps_time_order_and_count(tiny_whisper, stride, stride_at, frames):
    enc = tiny_whisper.model.encoder
    mel = varied_mel(3, frames)
    with torch.no_grad():
        h, _, idx = we.encode_with_indices(enc, mel, stride, stride_at, "attn")
    T = we.encoder_tokens(frames)
    n = -(-T // stride)
    assert idx.shape == (3, n) and h.shape[1] == n
    assert bool((idx[:, 1:] > idx[:, :-1]).all())            # strictly increasing: time order
    assert int(idx.min()) >= 0 and int(idx.max()) < T


def test_selects_the_most_attended_tokens(tiny_whisper):
    enc = tiny_whisper.model.encoder
    mel = varied_mel(2, 200)
    sel = we.TokenSelector()
    with torch.no_grad():
        h0 = we.embed(enc, mel)
        h1 = we.run_layers(enc, h0, 0, 1)
        sal = sel.saliency(enc.layers[0], h0)                 # layer 0 chooses after layer 1
        _, _, idx = we.encode_with_indices(enc, mel, 2, 1, "attn")
        # the saliency is attention received: summed over H heads and T queries, it totals H * T
        H, T = enc.layers[0].self_attn.num_heads, h0.shape[1]
        torch.testing.assert_close(sal.sum(1), torch.full((2,), float(H * T)), rtol=1e-4, atol=1e-2)
        for b in range(2):
            kept = set(idx[b].tolist())
            dropped = [j for j in range(T) if j not in kept]
            assert min(sal[b, sorted(kept)]) >= max(sal[b, dropped])
        # the rest of the encoder runs on exactly those hidden states
        ref = enc.layer_norm(we.run_layers(enc, we.gather_tokens(h1, idx), 1, 2))
        h, _ = we.encode(enc, mel, 2, 1, "attn")
        torch.testing.assert_close(h, ref)


def test_encode_layers_and_config(tiny_whisper):
    enc = tiny_whisper.model.encoder
    with torch.no_grad():
        hs = we.encode_layers(enc, varied_mel(1, 200), 2, 1, "attn")
    assert len({h.shape[1] for h in hs}) == 1
    c = Config(task="asr", model="tiny.en", window=15, stride=2, stride_at=2, pool="attn")
    assert "attn" in c.label
    assert Config(task="asr", model="tiny.en", stride=1, pool="attn").pool == "mean"  # canonical
    with pytest.raises(ConfigError, match="pool"):
        Config(task="asr", model="tiny.en", stride=2, pool="max")
    with pytest.raises(ValueError, match="attn"):
        we.subsample_tokens(torch.zeros(1, 4, 2), 2, "attn")
