"""The SER head: shapes, parameter count of CONTRACTS.md's head, masking, cached-feature path."""
from __future__ import annotations

import pytest
import torch

from speechbudget.tasks.ser.heads import SerHead


def _inputs(N=3, B=4, T=10, H=8):
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(N, B, T, H, generator=g) * 5 + 3
    mask = torch.ones(B, T)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    return hidden, mask


@pytest.mark.parametrize("pooling,layer_weights,expected", [
    ("mean", True, 3 + (8 * 256 + 256) + (256 * 6 + 6)),
    ("mean", False, (8 * 256 + 256) + (256 * 6 + 6)),
    ("attentive-stats", True, 3 + (8 * 128 + 128) + (128 + 1) + (16 * 256 + 256) + (256 * 6 + 6)),
])
def test_parameter_count_matches_the_contract(pooling, layer_weights, expected):
    head = SerHead(8, 3, 6, pooling, layer_weights)
    assert sum(p.numel() for p in head.parameters()) == expected
    hidden, mask = _inputs()
    assert head.eval()(hidden, mask).shape == (4, 6)


def test_cached_layer_means_give_the_same_logits():
    torch.manual_seed(0)
    head = SerHead(8, 3, 6, "mean").eval()
    hidden, mask = _inputs()
    with torch.no_grad():
        head.layer_weights.copy_(torch.tensor([0.3, -1.0, 2.0]))
        m = mask[None, :, :, None]
        means = ((hidden * m).sum(2) / m.sum(2)).transpose(0, 1)  # [B, N, H]
        head.set_normalisation(means)
        assert torch.allclose(head(hidden, mask), head.forward_pooled(means), atol=1e-5)
        assert torch.allclose(head.feature_mean, means.mean(0))


@pytest.mark.parametrize("pooling", ["mean", "attentive-stats"])
def test_padded_frames_do_not_change_the_output(pooling):
    torch.manual_seed(0)
    head = SerHead(8, 3, 6, pooling).eval()
    hidden, mask = _inputs()
    changed = hidden.clone()
    changed[:, 1, 6:] = 1e3
    changed[:, 2, 3:] = -7
    with torch.no_grad():
        a, b = head(hidden, mask), head(changed, mask)
    assert torch.allclose(a, b, atol=1e-5)
    changed[:, 0, 0] += 1  # a real frame does change it
    with torch.no_grad():
        assert not torch.allclose(head(changed, mask)[0], a[0])


def test_bad_pooling_and_layer_count():
    with pytest.raises(ValueError, match="pooling='max'"):
        SerHead(8, 3, 6, "max")
    head = SerHead(8, 3, 6)
    hidden, mask = _inputs(N=4)
    with pytest.raises(ValueError, match="3 hidden states, got 4"):
        head(hidden, mask)
