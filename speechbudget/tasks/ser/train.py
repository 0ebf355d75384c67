"""Training an SER model (backbone + head): AdamW, linear warm-up then cosine decay, early stopping
on validation UA, seeded and deterministic on CPU; checkpoints as safetensors + JSON.

A frozen backbone (adaptation none, no unfrozen layers) runs once per clip and duration: its hidden
states are cached (mean pooling: per-layer masked means, exact since the weighted layer sum
commutes with the mean), and every epoch trains the head on the cache. Cached features use the
centre crop; a training backbone (LoRA, DAMA, top-k) sees a fresh random crop each epoch.
The backbone stays in eval mode (no dropout/layerdrop); only the head uses dropout.

`head_init="probe"` (LP-FT: linear probing, then fine-tuning; Kumar et al., ICLR 2022) first fits
the head on the frozen backbone's cached features (the frozen fit, validation clips used for early
stopping or C only, never refitted on), then trains backbone and head together from that head,
with one learning rate (`backbone_lr`) for both. The probe itself is the "epoch 0" candidate of
early stopping, so fine-tuning is kept only when a later epoch beats it on the validation clips.
Then, as the linear head refits its chosen C (`refit`), the whole recipe runs again on training +
validation clips: the probe with the chosen C (MLP: the chosen probe epochs), then the chosen
number of fine-tuning epochs (0: the refitted probe alone) on the same learning-rate schedule.
Every pass counts in the training FLOPs (`TrainResult.probe`, `TrainResult.selection`).

A cached frozen prefix (`cache_prefix`, on by default; used with `train_crop="center"`, a Whisper
backbone, mean pooling): when the layers below layer j have nothing that trains (LoRA in the top
layers only, `Adaptation.lora_top`, or top-k unfreezing), one frozen pass per clip stores the
per-layer means of hidden states 0..j and layer j's input; each step then runs layers j..L-1 on
that input, forward and backward, and the head on the per-layer means (exact: those layers see
the same input, and the frozen states' means do not change). The same pass gives the LP-FT probe
its features. With random crops every epoch sees other audio, so nothing can be cached.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator, MutableMapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from speechbudget.audio import AudioError
from speechbudget.axes import Adaptation, Config
from speechbudget.tasks.ser.adapt import apply_adaptation, count_trainable, is_frozen, \
    trainable_state
from speechbudget.tasks.ser.backbone import Backbone, build_backbone
from speechbudget.tasks.ser.data import Clip, SerDataset, crop_or_pad, read_clip
from speechbudget.tasks.ser.heads import SerHead, layer_means
from speechbudget.tasks.ser.metrics import SerMetrics, ser_metrics

CHECKPOINT_VERSION = 1
FitProgress = Callable[[int, int, str], None]  # (done, total, phase)
LINEAR_C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)
HEAD_INITS = ("random", "probe")


@dataclass
class TrainOptions:
    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3            # head
    backbone_lr: float = 2e-4   # LoRA / DAMA / unfrozen layers
    weight_decay: float = 0.05
    warmup_ratio: float = 0.1
    patience: int = 15          # epochs without a better validation UA before stopping
    seed: int = 0
    pooling: str = "mean"
    layer_weights: bool = True
    dropout: float = 0.5
    train_crop: str = "random"  # for a training backbone; cached features are centre crops
    cache_prefix: bool = True   # centre crops: cache the frozen layers below the first that trains
    head: str = "mlp"           # "linear": LogisticRegression on the standardised layer means
    linear_c: tuple[float, ...] = LINEAR_C_GRID  # inverse L2 strengths tried
    linear_select: str = "validation"  # how C is chosen: "validation" UA, or "actors" (grouped CV)
    linear_cv_folds: int = 5    # "actors": folds of actors (fewer with fewer actors)
    linear_score: str = "ua"    # what the choice of C maximises: held-out "ua" or "log-loss"
    head_init: str = "random"   # "probe": LP-FT for a training backbone (see the module text)
    probe_epochs: int = 60      # epochs of an MLP probe (head_init "probe")
    refit: bool = True          # after choosing on validation: refit on training + validation
    eval_batch_size: int = 16
    progress: bool = False      # fit() draws its own bar on stderr (when given no callback)

    def __post_init__(self) -> None:
        from speechbudget.tasks.ser.heads import POOLINGS
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling={self.pooling!r}: expected one of {', '.join(POOLINGS)}")
        from speechbudget.tasks.ser.heads import HEAD_KINDS
        if self.head not in HEAD_KINDS + ("auto",):
            raise ValueError(f"head={self.head!r}: expected one of "
                             f"{', '.join(HEAD_KINDS + ('auto',))}")
        if self.head == "linear" and self.pooling != "mean":
            raise ValueError(f"head='linear' needs pooling='mean', got {self.pooling!r}")
        self.linear_c = tuple(float(c) for c in self.linear_c)
        if not self.linear_c or not all(c > 0 for c in self.linear_c):
            raise ValueError(f"linear_c={self.linear_c!r}: expected one or more numbers > 0")
        from speechbudget.tasks.ser.linear_select import SELECTIONS
        if self.linear_select not in SELECTIONS:
            raise ValueError(f"linear_select={self.linear_select!r}: expected one of "
                             f"{', '.join(SELECTIONS)}")
        from speechbudget.tasks.ser.linear_select import SCORES
        if self.linear_score not in SCORES:
            raise ValueError(f"linear_score={self.linear_score!r}: expected one of "
                             f"{', '.join(SCORES)}")
        if int(self.linear_cv_folds) < 2:
            raise ValueError(f"linear_cv_folds={self.linear_cv_folds!r}: expected an integer >= 2")
        if self.head_init not in HEAD_INITS:
            raise ValueError(f"head_init={self.head_init!r}: expected one of "
                             f"{', '.join(HEAD_INITS)}")
        if self.train_crop not in ("random", "center"):
            raise ValueError(f"train_crop={self.train_crop!r}: expected 'random' or 'center'")
        for name in ("epochs", "batch_size", "eval_batch_size", "patience", "probe_epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected an integer >= 1")
        if not (self.lr > 0 and self.backbone_lr > 0 and 0 <= self.dropout < 1):
            raise ValueError(f"lr={self.lr}, backbone_lr={self.backbone_lr}, dropout="
                             f"{self.dropout}: learning rates must be > 0, dropout in [0, 1)")

    def for_config(self, config: Config) -> "TrainOptions":
        """These options with head "auto" made concrete for `config` (`auto_head`)."""
        if self.head != "auto":
            return self
        return replace(self, head=auto_head(config, self.pooling, self.layer_weights))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainOptions":
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"unknown training option {bad[0]!r}; options are {sorted(known)}")
        return cls(**d)


class SerModel(nn.Module):
    """Backbone + head + label set + the Config that produced them."""

    def __init__(self, backbone: Backbone, head: SerHead, labels: Sequence[str], config: Config,
                 source: str):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.labels, self.config, self.source = list(labels), config, source

    def forward(self, waves: Tensor, n_valid: Sequence[int]) -> Tensor:
        hidden, mask = self.backbone(waves, n_valid)
        return self.head(hidden, mask)


@dataclass
class TrainResult:
    model: SerModel
    history: list[dict[str, float]]
    best_epoch: int
    val: SerMetrics | None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    trainable_params: int = 0
    n_train: int = 0
    epochs_run: int = 0
    test: SerMetrics | None = None  # set by runner.train
    # LP-FT (head_init "probe"): the frozen fit the head started from, and (refit) the run that
    # chose the epochs; kept for their history, counts and FLOPs, their models dropped (None)
    probe: "TrainResult | None" = None
    selection: "TrainResult | None" = None
    config: Config | None = None  # what was trained (a probe: the frozen configuration)
    prefix: int = 0  # layers below this one ran once per clip (a cached frozen prefix), not per step
    # clips this run passed through the frozen backbone once (features, statistics, the prefix)
    feature_ids: frozenset = frozenset()


# ---- audio and cached features ---------------------------------------------------------------

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


def _batches(n: int, size: int) -> Iterator[slice]:
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


def _waves(clips: Sequence[Clip], audio: dict[str, np.ndarray], duration: float, mode: str,
           rng: np.random.Generator | None = None) -> tuple[Tensor, list[int]]:
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


def _warn_uncached(config: Config, opt: TrainOptions, is_whisper: bool) -> None:
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
    for sl in _batches(len(todo), batch_size):
        batch = todo[sl]
        waves, n_valid = _waves(batch, audio, model.backbone.duration, "center")
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


def _prefix_logits(model: SerModel, means: Tensor, h: Tensor, mask: Tensor, j: int) -> Tensor:
    """Logits from a cached prefix: frozen means [B, N, H] (states 0..j used), layer j's input
    h [B, T, H] and mask [B, T]; layers j..L-1 run (with gradients where they train)."""
    dev = model.backbone.device
    mask = mask.to(dev)
    suffix = layer_means(model.backbone.forward_from(h.to(dev), j), mask)  # [L - j, B, H]
    means = torch.cat([means[:, :j + 1].to(dev), suffix.transpose(0, 1)], dim=1)
    return model.head.forward_pooled(means)


def _head_logits(head: SerHead, feats: Tensor, masks: Tensor | None, idx: Tensor) -> Tensor:
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
        return torch.cat([_prefix_logits(model, means[sl], h[sl], mask[sl], prefix).cpu()
                          for sl in _batches(len(clips), batch_size)])
    if cache is not None and is_frozen(model.config.adaptation):
        feats, masks = cached_features(model, clips, audio, cache, batch_size,
                                       progress=progress)
        feats = feats.to(device)
        masks = masks.to(device) if masks is not None else None
        return torch.cat([_head_logits(model.head, feats, masks, torch.arange(sl.start, sl.stop))
                          for sl in _batches(len(clips), batch_size)]).cpu()
    out = []
    for sl in _batches(len(clips), batch_size):
        waves, n_valid = _waves(clips[sl], audio, model.backbone.duration, "center")
        out.append(model(waves, n_valid).cpu())
        if progress is not None:
            progress(sl.stop, len(clips))
    return torch.cat(out)


# ---- training --------------------------------------------------------------------------------

def _schedule(total_steps: int, warmup_ratio: float):
    warm = max(1, int(round(total_steps * warmup_ratio)))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total_steps - warm)))
    return f


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), disable=not enabled,
                    transient=False, console=Console(stderr=True))


def auto_head(config: Config, pooling: str = "mean", layer_weights: bool = True) -> str:
    """The head `ser train` uses by default: "linear" for a frozen backbone with mean pooling over
    all layers (it beat the MLP head on held-out actors in all 10 backbone x duration cells of
    benchmarks/results/ser_axes_default, by 0.004-0.063 UA), else "mlp" (the only head that trains
    from scratch with an adapted backbone, and the one for other poolings or the last layer)."""
    if is_frozen(config.adaptation) and pooling == "mean" and layer_weights:
        return "linear"
    return "mlp"


def check_head(config: Config, options: TrainOptions) -> None:
    """ValueError naming the option when the head cannot train with this configuration's
    backbone: the linear head is fitted on a frozen backbone, or probed first (LP-FT)."""
    options = options.for_config(config)
    if options.head == "linear" and not is_frozen(config.adaptation) \
            and options.head_init != "probe":
        raise ValueError(f"head='linear' is fitted on cached features of a frozen backbone; "
                         f"adaptation {config.adaptation.label!r} trains the backbone (use "
                         f"head='mlp', or head_init='probe' to fine-tune the fitted head)")


def build_model(config: Config, labels: Sequence[str], options: TrainOptions,
                source: str | None = None, device: str = "cpu", init: bool | str | None = None,
                encoders: MutableMapping | None = None) -> SerModel:
    """A fresh (seeded) SER model: backbone loaded and adapted, head initialised. A frozen
    backbone reuses the encoder kept in `encoders` (a cache the caller owns), if given."""
    frozen = is_frozen(config.adaptation)
    backbone = build_backbone(config, source, device, encoders if frozen else None)
    torch.manual_seed(options.seed)  # after loading: LoRA init and head init are seeded alike
    if not frozen:
        apply_adaptation(backbone.encoder, config.adaptation, init=init)
    check_head(config, options)
    head = SerHead(backbone.hidden_size, backbone.num_hidden_states, len(labels), options.pooling,
                   options.layer_weights, options.dropout, kind=options.head).to(backbone.device)
    return SerModel(backbone, head, labels, config, source or config.model)


def fit(config: Config, dataset: SerDataset, train_ids: Sequence[str],
        val_ids: Sequence[str] = (), options: TrainOptions | None = None,
        source: str | None = None, device: str = "cpu", cache: MutableMapping | None = None,
        label: str = "train", encoders: MutableMapping | None = None,
        audio_store: MutableMapping | None = None,
        progress: FitProgress | None = None) -> TrainResult:
    """Train on `train_ids`, early-stop on the UA of `val_ids` (none: train all epochs).
    `cache` keeps frozen-backbone features, `encoders` loaded frozen encoders (both caller-owned).
    `progress(done, total, phase)`, if given: phase "features" (training clips through the
    backbone, per batch), then "epoch" (epochs done of `options.epochs`, with the loss and
    validation UA in the phase text: "epoch: loss ..."); counts increase within a phase; an
    LP-FT refit repeats them as "refit features", "refit epoch".
    Without one, `options.progress` draws a bar on stderr; by default nothing is printed."""
    opt = (options or TrainOptions()).for_config(config)
    # without the caller's, this fit's own: the LP-FT probes, the selection run and the refit
    # share one frozen encoder, one decoding of each clip and one feature extraction per clip
    encoders = {} if encoders is None else encoders
    cache = {} if cache is None else cache
    audio_store = {} if audio_store is None else audio_store
    result = _fit_once(config, dataset, train_ids, val_ids, opt, source, device, cache, label,
                       encoders, audio_store, progress)
    if result.probe is None or result.val is None or not opt.refit:
        return result
    selection = replace(result, model=None)
    del result  # its backbone is freed before the refit trains another one
    chosen = replace(opt, refit=False, probe_epochs=max(1, selection.probe.best_epoch),
                     linear_c=(selection.probe.history[-1]["C"],) if opt.head == "linear"
                     else opt.linear_c)
    refit_progress = None if progress is None else (
        lambda done, total, phase: progress(done, total, f"refit {phase}"))
    final = _fit_once(config, dataset, list(train_ids) + list(val_ids), (), chosen, source,
                      device, cache, f"{label} refit", encoders, audio_store, refit_progress,
                      stop_after=selection.best_epoch)
    final.selection, final.best_epoch, final.val = selection, selection.best_epoch, selection.val
    return final


def _fit_once(config: Config, dataset: SerDataset, train_ids: Sequence[str],
              val_ids: Sequence[str], opt: TrainOptions, source: str | None, device: str,
              cache: MutableMapping, label: str, encoders: MutableMapping,
              audio_store: MutableMapping, progress: FitProgress | None,
              stop_after: int | None = None) -> TrainResult:
    """`fit` without the LP-FT refit. `stop_after`: run only that many epochs of the
    `opt.epochs` schedule (the refit's chosen epochs)."""
    from speechbudget.tasks.ser.data import check_disjoint

    check_disjoint(dataset, train=train_ids, validation=val_ids)
    labels = list(dataset.labels)
    train_clips, val_clips = dataset.subset(train_ids), dataset.subset(val_ids)
    audio, skipped = read_clips(train_clips + val_clips, audio_store)
    train_clips = [c for c in train_clips if c.id in audio]
    val_clips = [c for c in val_clips if c.id in audio]
    if not train_clips:
        raise ValueError(f"no readable training clips in {dataset.source} "
                         f"({len(skipped)} skipped, first: {skipped[:1]})")
    model = build_model(config, labels, opt, source, device, encoders=encoders)
    dev = model.backbone.device
    frozen = is_frozen(config.adaptation)
    y = torch.tensor([labels.index(c.label) for c in train_clips], device=dev)
    j = prefix_layer(config, opt, model.backbone.is_whisper) if not frozen else 0
    if not frozen and not j:
        _warn_uncached(config, opt, model.backbone.is_whisper)
    feature_ids = frozenset(c.id for c in train_clips + (val_clips if frozen or j else []))
    if j:  # one frozen pass: every clip's layer means (the probe's too) and layer j's input
        cached_features(model, train_clips + val_clips, audio, cache, opt.eval_batch_size,
                        "mean", prefix=j)

    probe = None
    if opt.head_init == "probe" and not frozen:
        probe = fit(replace(config, adaptation=Adaptation()), dataset, train_ids, val_ids,
                    replace(opt, epochs=opt.probe_epochs, head_init="random", refit=False,
                            progress=False), source, device, cache, f"{label} probe", encoders,
                    audio_store)
        model.head.load_state_dict(probe.model.head.state_dict())
        probe = replace(probe, model=None)

    head_params = list(model.head.parameters())
    bb_params = [p for p in model.backbone.parameters() if p.requires_grad]
    # LP-FT: one learning rate for the probed head and the backbone
    groups = [{"params": head_params, "lr": opt.backbone_lr if probe else opt.lr}]
    if bb_params:
        groups.append({"params": bb_params, "lr": opt.backbone_lr})
    optim = torch.optim.AdamW(groups, weight_decay=opt.weight_decay)
    steps_per_epoch = math.ceil(len(train_clips) / opt.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, _schedule(steps_per_epoch * opt.epochs,
                                                               opt.warmup_ratio))
    gen = torch.Generator().manual_seed(opt.seed)
    rng = np.random.default_rng(opt.seed)
    loss_fn = nn.CrossEntropyLoss()
    # standardisation statistics from the untrained backbone (its features before any update:
    # LoRA starts at B = 0, PiSSA keeps W_res + BA = W, unfrozen layers start as they were)
    feat_progress = None if progress is None else (
        lambda done, total: progress(done, total, "features"))
    stats, _ = cached_features(model, train_clips, audio, cache, opt.eval_batch_size, "mean",
                               progress=feat_progress)
    model.head.set_normalisation(stats.to(dev))
    if opt.head == "linear" and frozen:
        return replace(_fit_linear(model, opt, labels, train_clips, val_clips, audio, cache,
                                   skipped), feature_ids=feature_ids)
    if frozen:
        feats, masks = cached_features(model, train_clips, audio, cache, opt.eval_batch_size,
                                       progress=feat_progress)
        feats = feats.to(dev)
        masks = masks.to(dev) if masks is not None else None
    elif j:
        feats = stats
        prefix_h, prefix_mask = prefix_states(model, train_clips, cache, j)

    history: list[dict[str, float]] = []
    best: tuple[SerMetrics | None, int, Any] = (None, -1, None)  # (validation, epoch, state)
    if probe is not None and val_clips:  # the probe is epoch 0's candidate; measured as the
        # later epochs are (the whole model on the clips), so that they compare like for like
        best = (_val_metrics(model, val_clips, audio, labels, cache if j else None,
                             opt.eval_batch_size, j), 0, _state(model))
    crop = opt.train_crop if not frozen else "center"
    with _progress(opt.progress and progress is None) as bar:
        task = bar.add_task(f"{label} {config.label}", total=opt.epochs, status="")
        for epoch in range(opt.epochs if stop_after is None else min(stop_after, opt.epochs)):
            model.head.train()
            order = torch.randperm(len(train_clips), generator=gen)
            total = 0.0
            for sl in _batches(len(order), opt.batch_size):
                idx = order[sl]
                if frozen:
                    logits = _head_logits(model.head, feats, masks, idx.to(dev))
                elif j:
                    logits = _prefix_logits(model, feats[idx], prefix_h[idx], prefix_mask[idx], j)
                else:
                    waves, n_valid = _waves([train_clips[i] for i in idx.tolist()], audio,
                                            model.backbone.duration, crop, rng)
                    logits = model(waves, n_valid)
                loss = loss_fn(logits, y[idx.to(dev)])
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            row = {"epoch": epoch + 1, "loss": total / len(train_clips)}
            if val_clips:
                m = _val_metrics(model, val_clips, audio, labels,
                                 cache if frozen or j else None, opt.eval_batch_size, j)
                row["val_ua"] = m.ua
                if best[0] is None or m.ua > best[0].ua:
                    best = (m, epoch + 1, _state(model))
            history.append(row)
            status = f"loss {row['loss']:.3f}" + (
                f" val UA {row['val_ua']:.3f} (best {best[0].ua:.3f} @ {best[1]})" if val_clips
                else "")
            bar.update(task, advance=1, status=status)
            if progress is not None:
                progress(epoch + 1, opt.epochs, f"epoch: {status}")
            if val_clips and epoch + 1 - best[1] >= opt.patience:
                break
    if val_clips:  # the best epoch's parameters, and its validation scores as measured then
        _load_state(model, best[2])
        val, best_epoch = best[0], best[1]
    else:
        best_epoch, val = len(history), None
    model.eval()
    return TrainResult(model, history, best_epoch, val, skipped, count_trainable(model),
                       len(train_clips), len(history), probe=probe, config=config, prefix=j,
                       feature_ids=feature_ids)


def _val_metrics(model: SerModel, clips, audio, labels: list[str], cache,
                 batch_size: int, prefix: int = 0) -> SerMetrics:
    logits = predict_logits(model, clips, audio, cache, batch_size, prefix=prefix)
    return ser_metrics([c.label for c in clips], [labels[i] for i in logits.argmax(1).tolist()],
                       labels)


def _fit_linear(model: SerModel, opt: TrainOptions, labels: list[str], train_clips, val_clips,
                audio, cache, skipped) -> TrainResult:
    """The linear head: scikit-learn's multinomial LogisticRegression (L2, lbfgs, balanced class
    weights) on the standardised, concatenated per-layer means of the frozen backbone. The inverse
    regularisation C is chosen among `opt.linear_c` (tasks.ser.linear_select): by "validation",
    the score (`opt.linear_score`: UA or log-loss) on the validation clips; by "actors", grouped
    cross-validation over the actors of the clips it will be fitted on. With `opt.refit` the chosen C is fitted on training + validation
    clips; without it (an LP-FT probe) on the training clips only, the validation clips never
    seen. Its weights become the head's Linear(N * H, C). `epochs_run` counts lbfgs iterations as
    passes over the training clips (sum of iterations x rows / training clips), for
    `flops.training_flops`. `val` scores the chosen C on clips its choosing fit did not see (the
    validation clips, or the pooled out-of-fold predictions), before any refit."""
    from speechbudget.tasks.ser import linear_select

    head = model.head

    def design(clips):
        feats, _ = cached_features(model, clips, audio, cache, opt.eval_batch_size, "mean")
        with torch.no_grad():
            return head.combine(feats.to(head.feature_mean.device).transpose(0, 1)).cpu().numpy()

    fit_clips = list(train_clips) + (list(val_clips) if opt.refit else [])
    xtr, ytr = design(train_clips), [c.label for c in train_clips]
    xva = design(val_clips) if val_clips else None
    yva = [c.label for c in val_clips]
    # every fit below runs in the row space of these clips' features (exact; linear_select)
    basis = linear_select.row_space(xtr if xva is None else np.concatenate([xtr, xva]))
    if basis is not None:
        xtr, xva = xtr @ basis, None if xva is None else xva @ basis
    xfit = np.concatenate([xtr, xva]) if opt.refit and val_clips else xtr
    choice, clf = None, None
    if len(opt.linear_c) > 1 and opt.linear_select == "actors":
        choice = linear_select.by_actors(opt.linear_c, xfit, [c.label for c in fit_clips],
                                         [c.speaker for c in fit_clips], labels, opt.seed,
                                         opt.linear_cv_folds, opt.linear_score)
    if choice is None and len(opt.linear_c) > 1 and val_clips:
        choice = linear_select.by_validation(opt.linear_c, xtr, ytr, xva, yva, labels, opt.seed,
                                             opt.linear_score)
        if not opt.refit:
            clf = choice.model
    if len(opt.linear_c) > 1 and (choice is None or choice.method != opt.linear_select):
        import warnings
        warnings.warn(f"linear head: C cannot be chosen by {opt.linear_select!r} here "
                      f"({len({c.speaker for c in fit_clips})} actor(s), {len(val_clips)} "
                      f"validation clip(s)); "
                      + (f"chosen by {choice.method!r} instead" if choice else
                         f"using C = {opt.linear_c[len(opt.linear_c) // 2]:g}, the grid's middle"),
                      stacklevel=4)
    passes = choice.rows if choice else 0
    best_c = choice.c if choice else opt.linear_c[len(opt.linear_c) // 2]
    if clf is None:
        clf, rows = linear_select.fit_logreg(best_c, xfit, [c.label for c in fit_clips], opt.seed)
        passes += rows
    history = list(choice.history) if choice else []
    weight = torch.zeros_like(head.classifier.weight)
    bias = torch.full_like(head.classifier.bias, -1e4)  # a class never seen in training
    coef = np.atleast_2d(clf.coef_) if basis is None else np.atleast_2d(clf.coef_) @ basis.T
    classes = list(clf.classes_)
    if len(classes) == 2:  # sklearn's binary form: one row for classes[1]
        coef = np.concatenate([-coef / 2, coef / 2])
        inter = np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    else:
        inter = clf.intercept_
    for row, lab in enumerate(classes):
        i = labels.index(lab)
        weight[i] = torch.from_numpy(coef[row]).to(weight)
        bias[i] = float(inter[row])
    with torch.no_grad():
        head.classifier.weight.copy_(weight)
        head.classifier.bias.copy_(bias)
    model.eval()
    val = ser_metrics(choice.refs, choice.preds, labels) if choice else None  # held out
    history.append({"C": best_c, "refit_rows": len(xfit),
                    "selection": choice.method if choice else "none",
                    "at_edge": bool(choice and choice.at_edge)})
    return TrainResult(model, history, 0, val, skipped, count_trainable(model), len(train_clips),
                       max(1, math.ceil(passes / len(train_clips))), config=model.config)


def _state(model: SerModel) -> dict[str, Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _load_state(model: SerModel, state: dict[str, Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, v in state.items():
            params[n].copy_(v)


# ---- checkpoints -------------------------------------------------------------------------------

def save_checkpoint(model: SerModel, out_dir: str | Path, options: TrainOptions,
                    extra: dict[str, Any] | None = None) -> Path:
    """head.safetensors, backbone.safetensors (the adapted backbone tensors) and ser_config.json
    (Config, label set, backbone source, head and training options, anything in `extra`)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()},
              str(out / "head.safetensors"))
    bb = trainable_state(model.backbone.encoder, model.config.adaptation)
    if bb:
        save_file(bb, str(out / "backbone.safetensors"))
    meta = {"version": CHECKPOINT_VERSION, "config": model.config.to_dict(),
            "labels": model.labels, "backbone_source": model.source,
            "options": asdict(options), **(extra or {})}
    (out / "ser_config.json").write_text(json.dumps(meta, indent=2, default=str))
    return out


def load_checkpoint(checkpoint_dir: str | Path, device: str = "cpu",
                    source: str | None = None) -> tuple[SerModel, dict[str, Any]]:
    """A saved SerModel (and its metadata), ready for prediction."""
    from safetensors.torch import load_file

    from speechbudget.models.ct2_reader import ModelFileError

    d = Path(checkpoint_dir)
    meta_path = d / "ser_config.json"
    if not meta_path.is_file():
        raise ModelFileError(f"{d}: not an SER checkpoint (no ser_config.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        config = Config.from_dict(meta["config"])
        options = TrainOptions.from_dict({**meta["options"], "progress": False})
        labels, backbone_source = meta["labels"], meta["backbone_source"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{meta_path}: not a readable SER checkpoint description "
                             f"({type(e).__name__}: {e})") from None
    model = build_model(config, labels, options, source or backbone_source, device, init=True)
    try:
        model.head.load_state_dict(load_file(str(d / "head.safetensors"), device=str(device)))
        saved = (load_file(str(d / "backbone.safetensors"), device=str(device))
                 if (d / "backbone.safetensors").is_file() else None)
    except (OSError, RuntimeError, ValueError) as e:  # missing, truncated or other-shaped
        raise ModelFileError(f"{d}: the checkpoint's weights cannot be loaded "
                             f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None
    if saved is not None:
        missing, unexpected = model.backbone.encoder.load_state_dict(saved, strict=False)
        if unexpected:
            raise ModelFileError(f"{d / 'backbone.safetensors'}: tensors {unexpected[:3]} do not "
                                 f"fit the backbone {model.source}")
    model.eval()
    return model, meta
