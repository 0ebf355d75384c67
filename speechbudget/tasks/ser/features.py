"""Audio, cached frozen-backbone features and prediction for an SER model.

A frozen backbone (adaptation none, no unfrozen layers) runs once per clip and duration: its hidden
states are cached (mean pooling: per-layer masked means, exact since the weighted layer sum
commutes with the mean), keyed by `feature_key`, in a cache the caller owns. Cached features use
the centre crop.

A cached frozen prefix (`prefix_layer` > 0): when the layers below layer j have nothing that
trains (LoRA in the top layers only, or top-k unfreezing), one frozen pass per clip stores the
per-layer means of hidden states 0..j and layer j's input (`prefix_states`); each step then runs
layers j..L-1 on that input and the head on the per-layer means (`prefix_logits`; exact: those
layers see the same input, and the frozen states' means do not change). It needs centre crops, a
Whisper backbone, mean pooling, and any token stride at or below layer j (`prefix_blockers`).
"""
from __future__ import annotations

from typing import Callable, Iterator, MutableMapping, Sequence

import numpy as np
import torch
from torch import Tensor

from speechbudget.audio import AudioError
from speechbudget.axes import Config
from speechbudget.tasks.ser.adapt import is_frozen
from speechbudget.tasks.ser.data import Clip, crop_or_pad, read_clip
from speechbudget.tasks.ser.heads import SerHead, layer_means
from speechbudget.tasks.ser.model import SerModel
from speechbudget.tasks.ser.options import TrainOptions


def read_clips(clips: Sequence[Clip], store: MutableMapping | None = None
               ) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """Audio of each readable clip by id, and (clip id, reason) for each one that is not.
    `store` (caller-owned) keeps decoded audio (or the AudioError) by clip id across calls."""
    audio, skipped = {}, []
    for c in clips:
        if store is not None and c.id in store:
            got = store[c.id]
        else:
            try:
                got = read_clip(c)
            except AudioError as e:
                got = e
            if store is not None:
                store[c.id] = got
        if isinstance(got, AudioError):
            skipped.append((c.id, str(got)))
        else:
            audio[c.id] = got
    return audio, skipped


def batches(n: int, size: int) -> Iterator[slice]:
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


def crop_waves(clips: Sequence[Clip], audio: dict[str, np.ndarray], duration: float, mode: str,
               rng: np.random.Generator | None = None) -> tuple[Tensor, list[int]]:
    """`data.crop_or_pad` of each clip (`mode` "center" or "random" with `rng`): the batch
    [B, samples] and each clip's number of real (unpadded) samples."""
    crops = [crop_or_pad(audio[c.id], duration, mode, rng) for c in clips]
    return torch.from_numpy(np.stack([w for w, _ in crops])), [n for _, n in crops]


def feature_key(model: SerModel, pooling: str, kind: str = "features") -> str:
    """The cache key of a frozen pass's outputs per clip: `kind` "features" (pooled by `pooling`)
    or "prefix" (layer j's input, `pooling` = "prefix{j}")."""
    c = model.config
    return f"ser-{kind}|{model.source}|{c.window:g}|{c.stride}|{c.stride_at}|{c.pool}|{pooling}"


def prefix_layer(config: Config, options: TrainOptions, is_whisper: bool) -> int:
    """j > 0 when training can start from a cached frozen prefix (layers 0..j-1 frozen; module
    text), else 0: a Whisper backbone that trains, centre crops, mean pooling, `cache_prefix`,
    and any token stride at or below layer j."""
    from speechbudget.adaptation import frozen_prefix

    j = frozen_prefix(config.adaptation, config.arch.encoder_layers)
    ok = (0 < j < config.arch.encoder_layers and options.cache_prefix
          and options.train_crop == "center" and not prefix_blockers(config, options, is_whisper))
    return j if ok else 0


def prefix_blockers(config: Config, options: TrainOptions, is_whisper: bool) -> list[str]:
    """Why a frozen prefix below the first layer that trains cannot be cached, beside the crop
    and `cache_prefix` themselves (empty: it can)."""
    from speechbudget.adaptation import frozen_prefix

    j = frozen_prefix(config.adaptation, config.arch.encoder_layers)
    why: list[str] = []
    if not 0 < j < config.arch.encoder_layers:
        return why  # no frozen prefix below a trained layer: nothing to cache, nothing in the way
    if not is_whisper:
        why.append(f"backbone {config.model!r} is not a Whisper encoder")
    if options.pooling != "mean":
        why.append(f"pooling={options.pooling!r} (needs 'mean')")
    if config.stride > 1 and config.stride_layer > j:
        why.append(f"the token stride acts after layer {config.stride_layer}, above the first "
                   f"layer that trains ({j})")
    return why


def warn_uncached(config: Config, opt: TrainOptions, is_whisper: bool) -> None:
    """Centre crops and `cache_prefix` ask for a cached prefix: say why this run has none (nothing
    to say when the bottom layer trains, so that there is no frozen prefix)."""
    import warnings

    why = prefix_blockers(config, opt, is_whisper)
    if opt.train_crop == "center" and opt.cache_prefix and why:
        warnings.warn(f"{config.label}: the frozen layers below the first that trains are not "
                      f"cached ({'; '.join(why)}); every step runs the whole backbone "
                      "(same result, more time)", stacklevel=3)


def _prefix_key(model: SerModel, j: int) -> str:
    return feature_key(model, f"prefix{j}", kind="prefix")


@torch.no_grad()
def cached_features(model: SerModel, clips: Sequence[Clip], audio: dict[str, np.ndarray],
                    cache: MutableMapping | None, batch_size: int, pooling: str | None = None,
                    progress: Callable[[int, int], None] | None = None, prefix: int = 0
                    ) -> tuple[Tensor, Tensor | None]:
    """Frozen-backbone features of the centre crops: mean pooling -> per-layer means [n, N, H];
    attentive -> (hidden [n, N, T, H], mask [n, T]). Computed once per (clip, duration, backbone).
    `prefix` = j > 0 (mean pooling, a backbone whose layers below j are frozen and whose others
    have not trained yet): the same pass also keeps layer j's input and the frame mask
    (`prefix_states`). `progress(done, total)`: clips extracted so far of those not yet cached,
    after each batch."""
    cache = {} if cache is None else cache
    pooling = pooling or model.head.pooling
    key = feature_key(model, pooling)
    pkey = _prefix_key(model, prefix) if prefix else None
    todo = [c for c in clips if (key, c.id) not in cache or (pkey and (pkey, c.id) not in cache)]
    model.backbone.eval()
    for sl in batches(len(todo), batch_size):
        batch = todo[sl]
        waves, n_valid = crop_waves(batch, audio, model.backbone.duration, "center")
        hidden, mask = model.backbone(waves, n_valid)
        if pooling == "mean":
            pooled = layer_means(hidden, mask)  # [N, B, H]
            for i, c in enumerate(batch):
                cache.setdefault((key, c.id), pooled[:, i].cpu().clone())
                if pkey:
                    cache[(pkey, c.id)] = (hidden[prefix, i].cpu().clone(), mask[i].cpu().clone())
        else:
            for i, c in enumerate(batch):
                cache[(key, c.id)] = (hidden[:, i].half().cpu().clone(), mask[i].cpu().clone())
        if progress is not None:
            progress(sl.stop, len(todo))
    got = [cache[(key, c.id)] for c in clips]
    if pooling == "mean":
        return torch.stack(got), None
    return torch.stack([h for h, _ in got]), torch.stack([m for _, m in got])


def prefix_states(model: SerModel, clips: Sequence[Clip], cache: MutableMapping, j: int
                  ) -> tuple[Tensor, Tensor]:
    """(layer j's input [n, T, H], frame mask [n, T]) kept by `cached_features(..., prefix=j)`."""
    got = [cache[(_prefix_key(model, j), c.id)] for c in clips]
    return torch.stack([h for h, _ in got]), torch.stack([m for _, m in got])


def prefix_logits(model: SerModel, means: Tensor, h: Tensor, mask: Tensor, j: int) -> Tensor:
    """Logits from a cached prefix: frozen means [B, N, H] (states 0..j used), layer j's input
    h [B, T, H] and mask [B, T]; layers j..L-1 run (with gradients where they train)."""
    dev = model.backbone.device
    mask = mask.to(dev)
    suffix = layer_means(model.backbone.forward_from(h.to(dev), j), mask)  # [L - j, B, H]
    means = torch.cat([means[:, :j + 1].to(dev), suffix.transpose(0, 1)], dim=1)
    return model.head.forward_pooled(means)


def head_logits(head: SerHead, feats: Tensor, masks: Tensor | None, idx: Tensor) -> Tensor:
    if masks is None:
        return head.forward_pooled(feats[idx])
    return head(feats[idx].transpose(0, 1).float(), masks[idx])


@torch.no_grad()
def predict_logits(model: SerModel, clips: Sequence[Clip], audio: dict[str, np.ndarray],
                   cache: MutableMapping | None = None, batch_size: int = 16,
                   progress: Callable[[int, int], None] | None = None,
                   prefix: int = 0) -> Tensor:
    """Logits [n, C] for the centre crops of `clips` (cached features when the backbone is frozen
    and a cache is given; with `prefix` = j > 0, the cached frozen prefix of `prefix_layer`).
    `progress(done, total)`: clips through the backbone, per batch."""
    model.eval()
    device = model.backbone.device
    if not clips:
        return torch.zeros(0, len(model.labels))
    if cache is not None and prefix:
        means, _ = cached_features(model, clips, audio, cache, batch_size, "mean", prefix=prefix)
        h, mask = prefix_states(model, clips, cache, prefix)
        return torch.cat([prefix_logits(model, means[sl], h[sl], mask[sl], prefix).cpu()
                          for sl in batches(len(clips), batch_size)])
    if cache is not None and is_frozen(model.config.adaptation):
        feats, masks = cached_features(model, clips, audio, cache, batch_size,
                                       progress=progress)
        feats = feats.to(device)
        masks = masks.to(device) if masks is not None else None
        return torch.cat([head_logits(model.head, feats, masks, torch.arange(sl.start, sl.stop))
                          for sl in batches(len(clips), batch_size)]).cpu()
    out = []
    for sl in batches(len(clips), batch_size):
        waves, n_valid = crop_waves(clips[sl], audio, model.backbone.duration, "center")
        out.append(model(waves, n_valid).cpu())
        if progress is not None:
            progress(sl.stop, len(clips))
    return torch.cat(out)
