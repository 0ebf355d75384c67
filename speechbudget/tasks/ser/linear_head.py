"""The linear SER head fitted on a frozen backbone's cached features (scikit-learn)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from speechbudget.tasks.ser import linear_select
from speechbudget.tasks.ser.adapt import count_trainable
from speechbudget.tasks.ser.features import cached_features
from speechbudget.tasks.ser.metrics import ser_metrics
from speechbudget.tasks.ser.model import SerModel, TrainResult
from speechbudget.tasks.ser.options import TrainOptions


def design_matrix(model: SerModel, clips, audio, cache, batch_size: int = 16) -> np.ndarray:
    """The rows the linear head is fitted on: the clips' cached per-layer means, standardised and
    side by side (`SerHead.combine`), [clips, N * H]."""
    head = model.head
    feats, _ = cached_features(model, clips, audio, cache, batch_size, "mean")
    with torch.no_grad():
        return head.combine(feats.to(head.feature_mean.device).transpose(0, 1)).cpu().numpy()


def fit_linear(model: SerModel, opt: TrainOptions, labels: list[str], train_clips, val_clips,
               audio, cache, skipped) -> TrainResult:
    """The linear head: scikit-learn's multinomial LogisticRegression (L2, lbfgs, balanced class
    weights) on the standardised, concatenated per-layer means of the frozen backbone. The inverse
    regularisation C is chosen among `opt.linear_c` (tasks.ser.linear_select): by "validation",
    the score (`opt.linear_score`: UA or log-loss) on the validation clips; by "actors", grouped
    cross-validation over the actors of the clips it will be fitted on (also the fallback when
    there are no validation clips; with fewer than two actors as well, the grid's middle C, with
    a warning either way). With `opt.refit` the chosen C is fitted on training + validation
    clips; without it (an LP-FT probe) on the training clips only, the validation clips never
    seen. Its weights become the head's Linear(N * H, C). `epochs_run` counts lbfgs iterations as
    passes over the training clips (sum of iterations x rows / training clips), for
    `flops.training_flops`. `val` scores the chosen C on clips its choosing fit did not see (the
    validation clips, or the pooled out-of-fold predictions), before any refit."""
    head = model.head

    fit_clips = list(train_clips) + (list(val_clips) if opt.refit else [])
    xtr = design_matrix(model, train_clips, audio, cache, opt.eval_batch_size)
    ytr = [c.label for c in train_clips]
    xva = design_matrix(model, val_clips, audio, cache, opt.eval_batch_size) if val_clips else None
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
    if choice is None and len(opt.linear_c) > 1:  # no validation clips: the actors it fits on
        choice = linear_select.by_actors(opt.linear_c, xfit, [c.label for c in fit_clips],
                                         [c.speaker for c in fit_clips], labels, opt.seed,
                                         opt.linear_cv_folds, opt.linear_score)
    if len(opt.linear_c) > 1 and (choice is None or choice.method != opt.linear_select):
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
                    "score": opt.linear_score if choice else "none",
                    "at_edge": bool(choice and choice.at_edge)})
    return TrainResult(model, history, 0, val, skipped, count_trainable(model), len(train_clips),
                       max(1, math.ceil(passes / len(train_clips))), config=model.config,
                       classes=tuple(sorted({c.label for c in fit_clips})))
