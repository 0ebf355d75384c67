"""A fingerprint of the weights a model holds: what identifies a base model for its adapters.

    weights_fingerprint(bundle.model)   # 40 hex digits (sha1)

The hash covers every entry of the state dict (parameters and buffers): its name, dtype, shape and
the bytes of its values, in the state dict's order. A tensor tied to another (Whisper's proj_out to
the token embedding) is read under both names, so equal weights agree, tied or not. Two checkpoints
that differ in any weight differ here, whatever their name, folder or architecture label; the same
weights loaded from another place (a registry name, a copied folder) agree. The same model in
another dtype is other weights. Cost: one pass over the weights (under a second for Whisper base,
400 MB with the tied embedding, on one CPU core); nothing is cached, so an in-place edit of the
weights is always seen.
"""
from __future__ import annotations

import hashlib

import torch
from torch import nn


def weights_fingerprint(model: nn.Module) -> str:
    """sha1 of `model`'s state dict (names, dtypes, shapes, values); see the module docstring."""
    h = hashlib.sha1(b"speechbudget-weights/1\n")
    for name, t in model.state_dict().items():
        t = t.detach()
        h.update(f"{name}\t{t.dtype}\t{tuple(t.shape)}\n".encode())
        flat = t.cpu().contiguous().reshape(-1)
        if flat.numel():
            h.update(memoryview(flat.view(torch.uint8).numpy()))
    return h.hexdigest()

