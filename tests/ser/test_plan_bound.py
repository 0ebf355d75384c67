"""`SerTask.planned_gflops`, the bound `sweep plan` turns into a SER time estimate, against what
real fits on a tiny backbone record. It was the inference FLOPs of one pass over the clips: a
LoRA configuration's estimate was tens of times below its training."""
from __future__ import annotations

import pytest

from speechbudget.axes import Adaptation, Config
from speechbudget.flops import estimate
from speechbudget.tasks.ser.runner import SerTask, fold_splits


@pytest.mark.parametrize("adaptation", [Adaptation(), Adaptation("lora", 2)])
def test_the_bound_is_what_a_fit_that_runs_every_epoch_records(synthetic_manifest, tiny_whisper,
                                                                adaptation):
    # patience >= epochs: no early stop, so the bound is reached (it is one otherwise)
    task = SerTask(folds=3, epochs=2, patience=5, max_folds=2, source=str(tiny_whisper))
    config = Config(task="ser", model="tiny.en", window=1.0, adaptation=adaptation)
    ds = task.load_dataset(str(synthetic_manifest))
    inf = estimate(config, n_classes=len(ds.labels)).total / 1e9
    recorded = 0.0
    for shard in task.shards(config, ds):
        res = task.run_shard(config, ds, shard, "cpu", {})
        assert all(r.ok for r in res), res[0].error
        assert res[0].extra["best_epoch"] <= 2
        _, val, test = fold_splits(ds, 3, 0, shard.info["fold"])
        recorded += res[0].extra["train_gflops_fold"] + len(test) * inf
        if adaptation.method != "none":  # a validation pass after each epoch
            recorded += 2 * len(val) * inf
    assert task.planned_gflops(config, ds) == pytest.approx(recorded, rel=1e-9)


def test_training_dominates_the_bound_of_an_adapted_backbone(synthetic_manifest):
    task = SerTask(folds=4, epochs=8, max_folds=2)
    ds = task.load_dataset(str(synthetic_manifest))
    frozen = task.planned_gflops(Config(task="ser", model="tiny.en", window=1.0), ds)
    lora = task.planned_gflops(Config(task="ser", model="tiny.en", window=1.0,
                                      adaptation=Adaptation("lora", 8)), ds)
    one_pass = estimate(Config(task="ser", model="tiny.en", window=1.0)).total / 1e9 * len(ds.items)
    # frozen: the features of training + validation clips and the held-out pass, per fold run;
    # LoRA: 8 epochs forward and backward on half the clips, in each of 2 folds
    assert one_pass < frozen < 2.5 * one_pass and lora > 8 * one_pass


def test_sweep_plan_estimates_ser_from_the_bound_and_says_when_it_cannot(synthetic_manifest,
                                                                        tmp_path):
    import json

    import yaml
    from typer.testing import CliRunner

    from speechbudget.cli import app

    spec = tmp_path / "ser.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "s", "task": "ser", "models": ["tiny.en"], "plan": "grid",
        "task_options": {"folds": 4, "max_folds": 2, "epochs": 8},
        "axes": {"window": [1], "adaptation": ["none", "lora:8"]}}))
    run = CliRunner().invoke
    r = run(app, ["sweep", "plan", str(spec)])       # no data: no size, no estimate
    assert r.exit_code == 0, r.output
    assert "2 of 2 configurations have no time estimate" in r.output and "0 s" not in r.output
    r = run(app, ["sweep", "plan", str(spec), "--data", str(synthetic_manifest), "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["label"]: row for row in json.loads(r.output)["configs"]}
    task = SerTask(folds=4, epochs=8, max_folds=2)
    ds = task.load_dataset(str(synthetic_manifest))
    gf = {lab: task.planned_gflops(Config.from_dict(row["config"]), ds)
          for lab, row in rows.items()}
    est = {lab: row["estimated_s"] for lab, row in rows.items()}
    assert est["tiny.en 1s lora8"] / est["tiny.en 1s"] == pytest.approx(
        gf["tiny.en 1s lora8"] / gf["tiny.en 1s"], rel=1e-6)
