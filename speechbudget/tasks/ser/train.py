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

Beside this loop: the options (`options.TrainOptions`), the model and a fit's result (`model`),
audio, cached features and prediction (`features`), the linear head's fit (`linear_head`, its C
chosen by `linear_select`), checkpoints (`checkpoint`).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, MutableMapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from speechbudget.axes import Adaptation, Config
from speechbudget.tasks.ser.adapt import count_trainable, is_frozen
from speechbudget.tasks.ser.data import SerDataset
from speechbudget.tasks.ser.features import batches, cached_features, crop_waves, head_logits, \
    predict_logits, prefix_layer, prefix_logits, prefix_states, read_clips, warn_uncached
from speechbudget.tasks.ser.linear_head import fit_linear
from speechbudget.tasks.ser.metrics import SerMetrics, ser_metrics
from speechbudget.tasks.ser.model import SerModel, TrainResult, build_model
from speechbudget.tasks.ser.options import TrainOptions

FitProgress = Callable[[int, int, str], None]  # (done, total, phase)


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
    from speechbudget.tasks.ser.data import DatasetError, check_disjoint

    check_disjoint(dataset, train=train_ids, validation=val_ids)
    labels = list(dataset.labels)
    train_clips, val_clips = dataset.subset(train_ids), dataset.subset(val_ids)
    audio, skipped = read_clips(train_clips + val_clips, audio_store)
    train_clips = [c for c in train_clips if c.id in audio]
    val_clips = [c for c in val_clips if c.id in audio]
    if not train_clips:
        raise DatasetError(f"{dataset.source}: no readable training clips ({len(skipped)} "
                           f"skipped" + (f", first {skipped[0][0]}: {skipped[0][1]})"
                                         if skipped else ")"))
    classes = sorted({c.label for c in train_clips})
    if len(classes) < 2:  # LogisticRegression raised (exit 70); an MLP learned a constant
        raise DatasetError(f"{dataset.source}: the {len(train_clips)} readable training clip(s) "
                           f"all have label {classes[0]}; a classifier needs at least 2 labels")
    model = build_model(config, labels, opt, source, device, encoders=encoders)
    dev = model.backbone.device
    frozen = is_frozen(config.adaptation)
    y = torch.tensor([labels.index(c.label) for c in train_clips], device=dev)
    j = prefix_layer(config, opt, model.backbone.is_whisper) if not frozen else 0
    if not frozen and not j:
        warn_uncached(config, opt, model.backbone.is_whisper)
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
        return replace(fit_linear(model, opt, labels, train_clips, val_clips, audio, cache,
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
    diverged = 0  # the epoch whose training loss was inf or NaN, if one was
    with _progress(opt.progress and progress is None) as bar:
        task = bar.add_task(f"{label} {config.label}", total=opt.epochs, status="")
        for epoch in range(opt.epochs if stop_after is None else min(stop_after, opt.epochs)):
            model.head.train()
            order = torch.randperm(len(train_clips), generator=gen)
            total = 0.0
            for sl in batches(len(order), opt.batch_size):
                idx = order[sl]
                if frozen:
                    logits = head_logits(model.head, feats, masks, idx.to(dev))
                elif j:
                    logits = prefix_logits(model, feats[idx], prefix_h[idx], prefix_mask[idx], j)
                else:
                    waves, n_valid = crop_waves([train_clips[i] for i in idx.tolist()], audio,
                                                model.backbone.duration, crop, rng)
                    logits = model(waves, n_valid)
                loss = loss_fn(logits, y[idx.to(dev)])
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            row = {"epoch": epoch + 1, "loss": total / len(train_clips)}
            if not math.isfinite(row["loss"]):  # diverged: the weights are inf/NaN from here on
                diverged = epoch + 1
                break
            if val_clips:
                m = _val_metrics(model, val_clips, audio, labels,
                                 cache if frozen or j else None, opt.eval_batch_size, j)
                row["val_ua"] = m.ua
                if (best[0] is None or m.ua > best[0].ua) and _finite(model):
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
    if not diverged and not val_clips and history and not _finite(model):
        diverged = len(history)  # its last step left inf/NaN weights, its loss still finite
    if diverged:
        _diverged(opt, probe is not None, frozen, diverged, label,
                  best[1] if best[0] is not None else None)
    if val_clips:  # the best epoch's parameters, and its validation scores as measured then
        _load_state(model, best[2])
        val, best_epoch = best[0], best[1]
    else:
        best_epoch, val = len(history), None
    model.eval()
    return TrainResult(model, history, best_epoch, val, skipped, count_trainable(model),
                       len(train_clips), len(history), probe=probe, config=config, prefix=j,
                       feature_ids=feature_ids, classes=tuple(classes))


def _finite(model: SerModel) -> bool:
    """Whether every trainable parameter is finite (a diverged step leaves inf/NaN weights)."""
    return all(bool(torch.isfinite(p).all()) for p in model.parameters() if p.requires_grad)


def _diverged(opt: TrainOptions, probed: bool, frozen: bool, epoch: int, label: str,
              kept: int | None) -> None:
    """The training loss became inf/NaN at `epoch`: with a finite best epoch `kept` (validation
    clips chose one), a warning and that epoch is kept; without one, a ConfigError naming the
    learning rate, rather than a model of NaN weights saved and scored (its every prediction the
    first label)."""
    import warnings

    from speechbudget.axes import ConfigError
    # LP-FT trains head and backbone at backbone_lr; else the head at lr, a backbone at
    # backbone_lr
    name, lr = ("backbone_lr", opt.backbone_lr) if probed else ("lr", opt.lr)
    options = "--backbone-lr" if probed else "--lr" if frozen else "--lr or --backbone-lr"
    why = f"the training loss became inf/NaN by epoch {epoch} ({label}): training diverged"
    if kept is None:
        raise ConfigError(name, lr, f"{why}, and no earlier epoch was kept; lower the learning "
                                    f"rate ({options})")
    warnings.warn(f"{why}; stopped there, the best epoch before it ({kept}) is kept (a lower "
                  f"{options} may do better)", stacklevel=4)


def _val_metrics(model: SerModel, clips, audio, labels: list[str], cache,
                 batch_size: int, prefix: int = 0) -> SerMetrics:
    logits = predict_logits(model, clips, audio, cache, batch_size, prefix=prefix)
    return ser_metrics([c.label for c in clips], [labels[i] for i in logits.argmax(1).tolist()],
                       labels)


def _state(model: SerModel) -> dict[str, Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _load_state(model: SerModel, state: dict[str, Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, v in state.items():
            params[n].copy_(v)
