"""Choosing the linear head's C: the row-space fit is the same problem, grouped cross-validation
never scores an actor it trained on, ties go to the strongest regularisation, and fit() records
how it chose."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from speechbudget.tasks.ser import linear_select
from speechbudget.tasks.ser.options import TrainOptions

LABELS = ["a", "b", "c"]


def _data(n_actors=6, per=6, d=80, seed=0):
    """Rows of n_actors actors, 3 classes that a linear model separates; column 0 = actor index."""
    rng = np.random.default_rng(seed)
    x, y, g = [], [], []
    for a in range(n_actors):
        for i in range(per):
            lab = i % 3
            row = rng.standard_normal(d)
            row[1 + lab] += 3.0
            row[0] = a
            x.append(row)
            y.append(LABELS[lab])
            g.append(f"actor{a}")
    return np.array(x), y, g


def test_the_row_space_fit_is_the_same_problem():
    x, y, _ = _data(d=120)
    basis = linear_select.row_space(x)
    assert basis.shape == (120, len(x))
    assert np.allclose(basis.T @ basis, np.eye(len(x)), atol=1e-10)
    full, _ = linear_select.fit_logreg(0.01, x, y, 0)
    small, _ = linear_select.fit_logreg(0.01, x @ basis, y, 0)
    w = small.coef_ @ basis.T
    assert np.abs(w - full.coef_).max() < 1e-3 * np.abs(full.coef_).max()
    assert np.allclose(small.intercept_, full.intercept_, atol=1e-3)
    assert list(small.predict(x @ basis)) == list(full.predict(x))
    assert linear_select.row_space(x[:, :20]) is None  # more rows than features: nothing to gain


def test_grouped_cross_validation_never_scores_an_actor_it_trained_on(monkeypatch):
    x, y, g = _data()
    seen = []
    real = linear_select.fit_logreg

    def spy(c, xs, ys, seed):
        clf, rows = real(c, xs, ys, seed)
        trained = set(xs[:, 0].tolist())

        class Spy:
            classes_ = clf.classes_

            def predict_proba(self, xt):
                seen.append((trained, set(xt[:, 0].tolist())))
                return clf.predict_proba(xt)
        return Spy(), rows

    monkeypatch.setattr(linear_select, "fit_logreg", spy)
    choice = linear_select.by_actors((0.01, 0.1), x, y, g, LABELS, 0, cv_folds=3)
    assert len(seen) == 2 * 3
    assert all(not (trained & scored) for trained, scored in seen)
    assert all(len(trained) + len(scored) == 6 for trained, scored in seen)
    assert [h["cv_folds"] for h in choice.history] == [3, 3]
    assert choice.method == "actors" and len(choice.preds) == len(y) == len(choice.refs)


def test_fewer_actors_fewer_folds_and_one_actor_none():
    x, y, g = _data(n_actors=2)
    choice = linear_select.by_actors((0.1, 1.0), x, y, g, LABELS, 0, cv_folds=5)
    assert {h["cv_folds"] for h in choice.history} == {2}
    assert linear_select.by_actors((0.1, 1.0), x, y, ["one"] * len(y), LABELS, 0) is None


def test_ties_go_to_the_smallest_c_and_an_edge_choice_is_flagged():
    x, y, g = _data()
    x[:, 0] = 0
    x[:, 1:] *= 0.01  # then a clean class column: separable at every C, every candidate scores 1
    x[np.arange(len(y)), [1 + LABELS.index(v) for v in y]] += 3.0
    choice = linear_select.by_actors((1.0, 0.1, 0.3), x, y, g, LABELS, 0)
    assert all(h["cv_ua"] == 1.0 for h in choice.history)
    assert choice.c == 0.1 and choice.at_edge
    val = linear_select.by_validation((0.3, 0.1, 1.0), x[:24], y[:24], x[24:], y[24:], LABELS, 0)
    assert val.c == 0.1 and val.method == "validation" and val.model is not None
    inner = linear_select.Choice(c=0.3, method="actors", history=[{"C": 0.1}, {"C": 0.3},
                                                                  {"C": 1.0}])
    assert not inner.at_edge


def test_a_bad_selection_names_the_option():
    with pytest.raises(ValueError, match="linear_select='best'"):
        TrainOptions(linear_select="best")
    with pytest.raises(ValueError, match="linear_cv_folds=1"):
        TrainOptions(linear_cv_folds=1)


def test_fit_chooses_by_actors_and_refits_on_training_and_validation(synthetic_manifest,
                                                                     tiny_whisper):
    from speechbudget.axes import Config
    from speechbudget.tasks.ser.data import load_dataset
    from speechbudget.tasks.ser.runner import fold_splits
    from speechbudget.tasks.ser.train import fit

    ds = load_dataset(synthetic_manifest)
    tr, va, te = fold_splits(ds, 3, 0, 0)
    opts = TrainOptions(head="linear", linear_select="actors", progress=False)
    res = fit(Config(task="ser", model="tiny.en", window=1.0), ds, tr, va, opts,
              source=str(tiny_whisper))
    tried = [h for h in res.history if "cv_ua" in h]
    assert [h["C"] for h in tried] == list(opts.linear_c)
    n_actors = len({c.speaker for c in ds.subset(tr + va)})
    assert {h["cv_folds"] for h in tried} == {min(5, n_actors)}
    last = res.history[-1]
    assert last["selection"] == "actors" and last["refit_rows"] == len(tr) + len(va)
    assert last["C"] == min(h["C"] for h in tried if h["cv_ua"] == max(t["cv_ua"] for t in tried))
    assert res.val is not None and res.val.n == len(tr) + len(va)


def test_ser_train_linear_select_is_checked(synthetic_manifest, tmp_path):
    from speechbudget.cli import app
    r = CliRunner().invoke(app, ["ser", "train", "--data", str(synthetic_manifest), "--head",
                                 "linear", "--linear-select", "best", "--out",
                                 str(tmp_path / "x")])
    assert r.exit_code == 2 and "linear_select='best'" in r.output
    assert not (tmp_path / "x").exists()


def test_head_auto_is_made_concrete_per_configuration(synthetic_manifest, tiny_whisper):
    from speechbudget.axes import Adaptation, Config
    from speechbudget.flops import estimate
    from speechbudget.tasks.ser.runner import SerTask

    frozen = Config(task="ser", model="tiny.en", window=1.0)
    lora = frozen.with_(adaptation=Adaptation(method="lora", rank=2))
    auto = TrainOptions(head="auto", progress=False)
    assert auto.for_config(frozen).head == "linear" and auto.for_config(lora).head == "mlp"
    assert TrainOptions(head="auto", pooling="attentive-stats").for_config(frozen).head == "mlp"
    assert TrainOptions(head="auto", layer_weights=False).for_config(frozen).head == "mlp"
    assert TrainOptions(head="mlp").for_config(frozen).head == "mlp"
    with pytest.raises(ValueError, match="head='tree'.*auto"):
        TrainOptions(head="tree")
    # a sweep task with head "auto": the frozen configuration gets the linear head, and its
    # inference FLOPs are the linear head's
    task = SerTask(folds=3, epochs=2, head="auto", source=str(tiny_whisper))
    ds = task.load_dataset(str(synthetic_manifest))
    shard = task.shards(frozen, ds)[0]
    res = task.run_shard(frozen, ds, shard, "cpu", {})
    assert all(r.ok for r in res), res[0].error
    linear = estimate(frozen, n_classes=len(ds.labels), head="linear").total / 1e9
    mlp = estimate(frozen, n_classes=len(ds.labels), head="mlp").total / 1e9
    assert linear != mlp and all(r.gflops == pytest.approx(linear) for r in res)


def test_a_selection_that_cannot_run_says_what_it_did_instead(synthetic_manifest, tiny_whisper):
    from speechbudget.axes import Config
    from speechbudget.tasks.ser.data import load_dataset
    from speechbudget.tasks.ser.train import fit

    ds = load_dataset(synthetic_manifest)
    by_actor = {}
    for c in ds.items:
        by_actor.setdefault(c.speaker, []).append(c.id)
    one, other = sorted(by_actor)[:2]
    config = Config(task="ser", model="tiny.en", window=1.0)
    # one training actor and no refit: no grouped CV possible -> the validation fold chooses
    opts = TrainOptions(head="linear", linear_select="actors", refit=False, progress=False)
    with pytest.warns(UserWarning, match=r"by 'actors'.*1 actor.*chosen by 'validation' instead"):
        res = fit(config, ds, by_actor[one], by_actor[other], opts, source=str(tiny_whisper))
    assert res.history[-1]["selection"] == "validation" and res.history[-1]["score"] == "ua"
    # no validation clips, training clips of two or more actors: grouped CV over them
    two = by_actor[one] + by_actor[other]
    with pytest.warns(UserWarning, match=r"by 'validation'.*0 validation.*chosen by 'actors'"):
        res = fit(config, ds, two, (), TrainOptions(head="linear", progress=False),
                  source=str(tiny_whisper))
    assert res.history[-1]["selection"] == "actors" and res.history[-1]["refit_rows"] == len(two)
    assert {h["cv_folds"] for h in res.history[:-1]} == {2}
    # no validation clips and one actor: the grid's middle C, and it says so
    with pytest.warns(UserWarning, match=r"by 'validation'.*using C = 0.03, the grid's middle"):
        res = fit(config, ds, by_actor[one], (), TrainOptions(head="linear", progress=False),
                  source=str(tiny_whisper))
    assert res.history[-1] == {"C": 0.03, "refit_rows": len(by_actor[one]), "selection": "none",
                               "score": "none", "at_edge": False}


def test_balanced_log_loss_by_hand():
    refs = ["a", "a", "b"]
    proba = np.array([[0.5, 0.5], [0.25, 0.75], [0.1, 0.9]])
    # class a: mean(-log .5, -log .25); class b: -log .9; then the mean over the two classes
    want = ((-np.log(0.5) - np.log(0.25)) / 2 - np.log(0.9)) / 2
    assert linear_select.balanced_log_loss(refs, proba, ["a", "b"]) == pytest.approx(want)
    # a class the model never saw has p = 0, clipped to 1e-15
    assert linear_select.balanced_log_loss(["c"], proba[:1], ["a", "b"]) == pytest.approx(
        -np.log(1e-15))


@pytest.mark.parametrize("how", ["validation", "actors"])
def test_log_loss_score_picks_the_c_of_the_lowest_held_out_log_loss(how):
    x, y, g = _data()
    grid = (0.001, 0.01, 0.1, 1.0)
    if how == "validation":
        va = np.array([a in ("actor0", "actor1") for a in g])
        choice = linear_select.by_validation(grid, x[~va], list(np.asarray(y)[~va]), x[va],
                                             list(np.asarray(y)[va]), LABELS, 0, "log-loss")
        key = "val"
    else:
        choice = linear_select.by_actors(grid, x, y, g, LABELS, 0, cv_folds=3, score="log-loss")
        key = "cv"
    losses = {h["C"]: h[f"{key}_log_loss"] for h in choice.history}
    assert choice.c == min(losses, key=losses.get)
    assert len(set(losses.values())) == len(grid)   # a continuous score: no ties here
    assert all(f"{key}_ua" in h for h in choice.history)


def test_an_unknown_score_names_the_field():
    with pytest.raises(ValueError, match="linear_score='auc'"):
        TrainOptions(linear_score="auc")
