"""The SER head on top of a backbone's hidden states (speechbudget.flops counts exactly this).

    hidden_l <- (hidden_l - mu_l) / sd_l        per-layer, per-dimension standardisation with
                                                 statistics of the training clips (buffers, fixed
                                                 before training; element-wise, no matmul FLOPs)
    h      = sum_l softmax(w)_l * hidden_l      (optional learned weighted sum of all hidden
                                                 states; otherwise the last one)
    pooled = masked mean over frames                                  -> [H]       ("mean")
           | a_t = softmax_t(Linear(128,1)(tanh(Linear(H,128)(h_t))))
             [sum_t a_t h_t, sqrt(sum_t a_t h_t^2 - mean^2)]          -> [2H]      ("attentive-stats")
    logits = Linear(256, C)(Dropout(ReLU(Linear(P, 256)(pooled))))          (kind "mlp")

kind "linear" (a regularised linear head, fitted by scikit-learn's LogisticRegression in
tasks.ser.linear_head): no layer weights, mean pooling, the standardised per-layer means side by
side:
    logits = Linear(N * H, C)([pooled_0, ..., pooled_{N-1}])
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

POOLINGS = ("mean", "attentive-stats")
HEAD_KINDS = ("mlp", "linear")
ATTN_DIM = 128
HIDDEN_DIM = 256


class SerHead(nn.Module):
    def __init__(self, hidden_size: int, num_hidden_states: int, n_classes: int,
                 pooling: str = "mean", layer_weights: bool = True, dropout: float = 0.1,
                 kind: str = "mlp"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}: expected one of {', '.join(POOLINGS)}")
        if kind not in HEAD_KINDS:
            raise ValueError(f"head={kind!r}: expected one of {', '.join(HEAD_KINDS)}")
        if kind == "linear" and pooling != "mean":
            raise ValueError(f"head='linear' needs pooling='mean', got {pooling!r}")
        self.pooling, self.kind = pooling, kind
        if kind == "linear":
            layer_weights = False
        self.num_hidden_states = num_hidden_states
        self.register_buffer("feature_mean", torch.zeros(num_hidden_states, hidden_size))
        self.register_buffer("feature_std", torch.ones(num_hidden_states, hidden_size))
        self.layer_weights = nn.Parameter(torch.zeros(num_hidden_states)) if layer_weights else None
        if pooling == "attentive-stats":
            self.attention = nn.Sequential(nn.Linear(hidden_size, ATTN_DIM), nn.Tanh(),
                                           nn.Linear(ATTN_DIM, 1))
        pooled = hidden_size * (2 if pooling == "attentive-stats" else 1)
        if kind == "linear":
            self.classifier = nn.Linear(num_hidden_states * hidden_size, n_classes)
            return
        self.classifier = nn.Sequential(nn.Linear(pooled, HIDDEN_DIM), nn.ReLU(), nn.Dropout(dropout),
                                        nn.Linear(HIDDEN_DIM, n_classes))

    @torch.no_grad()
    def set_normalisation(self, layer_means: Tensor) -> None:
        """Standardisation statistics from per-layer clip means [n_clips, N, H] of training clips."""
        self.feature_mean.copy_(layer_means.mean(0))
        self.feature_std.copy_(layer_means.std(0, unbiased=False).clamp(min=1e-5)
                               if len(layer_means) > 1 else torch.ones_like(self.feature_std))

    def combine(self, hidden: Tensor) -> Tensor:
        """[N, B, ..., H] stacked hidden states (N = num_hidden_states) -> [B, ..., H]."""
        if hidden.shape[0] != self.num_hidden_states:
            raise ValueError(f"head built for {self.num_hidden_states} hidden states, got "
                             f"{hidden.shape[0]}")
        shape = (hidden.shape[0],) + (1,) * (hidden.dim() - 2) + (hidden.shape[-1],)
        hidden = (hidden - self.feature_mean.view(shape)) / self.feature_std.view(shape)
        if self.kind == "linear":   # layers side by side: [B, ..., N * H]
            return torch.cat(list(hidden.unbind(0)), dim=-1)
        if self.layer_weights is None:
            return hidden[-1]
        w = torch.softmax(self.layer_weights, dim=0)
        return torch.tensordot(w, hidden, dims=1)

    def pool(self, h: Tensor, mask: Tensor) -> Tensor:
        """h [B, T, H], mask [B, T] (1 = real frame) -> [B, P]."""
        m = mask.to(h.dtype).unsqueeze(-1)
        if self.pooling == "mean":
            return (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        scores = self.attention(h).masked_fill(m == 0, float("-inf"))
        a = torch.softmax(scores, dim=1)
        mean = (a * h).sum(1)
        var = ((a * h * h).sum(1) - mean * mean).clamp(min=1e-8)
        return torch.cat([mean, var.sqrt()], dim=-1)

    def forward(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """hidden [N, B, T, H] (all hidden states), mask [B, T] -> logits [B, C]."""
        return self.classifier(self.pool(self.combine(hidden), mask))

    def forward_pooled(self, layer_means: Tensor) -> Tensor:
        """Mean pooling only: from per-layer masked means [B, N, H] (cached features) -> logits.
        Identical to forward(): standardisation and the weighted sum commute with the masked mean."""
        if self.pooling != "mean":
            raise ValueError("forward_pooled needs pooling='mean'")
        return self.classifier(self.combine(layer_means.transpose(0, 1)))


def layer_means(hidden: Tensor, mask: Tensor) -> Tensor:
    """Per-layer masked means over frames: hidden [N, B, T, H], mask [B, T] -> [N, B, H] (the
    cached features of mean pooling, `SerHead.forward_pooled`'s input once transposed)."""
    m = mask.to(hidden.dtype)[None, :, :, None]
    return (hidden * m).sum(2) / m.sum(2).clamp(min=1.0)
