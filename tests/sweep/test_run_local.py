"""run_sweep with the local and process executors on the test-double task: resume, added
configurations, failures, reuse order, CLI."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep import ResultsStore, SpecError, load_spec, run_sweep
from speechbudget.sweep.executors import LocalExecutor


def comparable(metrics):
    return [(c.key, m.metric, m.value, m.n_items, m.n_failed, round(m.gflops, 6))
            for c, m in metrics]


def test_resume_after_interrupt_runs_only_missing_shards(write_spec, tmp_path, monkeypatch):
    spec = load_spec(write_spec())
    clean = run_sweep(spec, tmp_path / "clean.db", progress=False, allow_runner=True)
    assert clean.finished == 5 and clean.shards_run == 15 and clean.failed == 0
    monkeypatch.setenv("FAKE_TASK_INTERRUPT_AFTER", "4")
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "r.db", progress=False, allow_runner=True)
    st = ResultsStore(tmp_path / "r.db", readonly=True)
    assert st.n_items() == 4 * 2 and st.runs()[-1]["status"] == "interrupted"
    monkeypatch.delenv("FAKE_TASK_INTERRUPT_AFTER")
    again = run_sweep(spec, tmp_path / "r.db", progress=False, allow_runner=True)
    assert again.shards_run == 15 - 4 and again.shards_skipped == 4
    assert comparable(again.metrics) == comparable(clean.metrics)
    import yaml
    as_dict = yaml.safe_load(write_spec().read_text())  # the same sweep given as a mapping
    done = run_sweep(as_dict, tmp_path / "r.db", progress=False, allow_runner=True)  # nothing left to do
    assert done.shards_run == 0 and done.reused == 5
    assert ResultsStore(tmp_path / "r.db").n_items() == 5 * 6


def test_changed_spec_adds_only_new_configurations(write_spec, tmp_path):
    run_sweep(write_spec("a"), tmp_path / "r.db", progress=False, allow_runner=True)
    more = write_spec("b", axes={"window": [30, 10, 20], "stride": [1, 2], "beam": [1, 2]})
    s = run_sweep(more, tmp_path / "r.db", progress=False, allow_runner=True)
    assert s.configs == 6 and s.reused == 5 and s.shards_run == 3
    other = write_spec("c", task_options={"n_items": 4, "batch_size": 2})
    with pytest.raises(Exception, match="already stored with a different dataset"):
        run_sweep(other, tmp_path / "r.db", progress=False, allow_runner=True)


def test_failing_configuration_is_recorded_and_the_sweep_goes_on(write_spec, tmp_path):
    p = write_spec(task_options={"n_items": 6, "batch_size": 2, "fail_models": ["base"]})
    s = run_sweep(p, tmp_path / "r.db", progress=False, allow_runner=True)
    assert s.finished == 4 and s.failed == 1
    assert "cannot load model base" in s.failures["base 30s"]
    st = ResultsStore(tmp_path / "r.db", readonly=True)
    failed = st.configs(status="failed")
    assert [r["label"] for r in failed] == ["base 30s"] and "RuntimeError" in failed[0]["reason"]
    assert len(st.metrics()) == 4
    s2 = run_sweep(p, tmp_path / "r.db", progress=False, allow_runner=True)  # retried, still failing; rest reused
    assert s2.reused == 4 and s2.failed == 1 and s2.shards_run == 0


def test_work_is_ordered_so_features_and_encoder_outputs_are_reused(write_spec, tmp_path):
    ex = LocalExecutor()
    p = write_spec(axes={"window": [30, 10], "stride": [1, 2], "beam": [1, 2, 3]}, plan="grid")
    s = run_sweep(p, tmp_path / "r.db", executor=ex, progress=False, allow_runner=True)
    assert s.finished == 2 * 2 * 2 * 3
    (task, _), = ex.state._tasks.values()
    n = 6
    # features once per (item, window); encoder once per (item, model, window, stride)
    assert task.computed["features"] == n * 2
    assert task.computed["encoder"] == n * 2 * 2 * 2
    assert task.computed["decoder"] == n * 24
    assert ex.state.cache.hits > 0


def test_process_executor_gives_the_same_metrics(write_spec, tmp_path):
    p = write_spec()
    local = run_sweep(p, tmp_path / "l.db", progress=False, allow_runner=True)
    proc = run_sweep(p, tmp_path / "p.db", executor="process", workers=2, progress=False, allow_runner=True)
    assert comparable(proc.metrics) == comparable(local.metrics)
    pids = {r.extra["pid"] for c, _ in proc.metrics for r in ResultsStore(tmp_path / "p.db")
            .items(c.key)}
    assert len(pids) == 2  # really ran in two worker processes


def test_process_worker_killed_mid_shard_is_replaced_and_the_unit_retried(write_spec, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("FAKE_TASK_DIE_ONCE", str(tmp_path / "died"))
    p = write_spec()
    s = run_sweep(p, tmp_path / "p.db", executor="process", workers=2, progress=False, allow_runner=True)
    assert (tmp_path / "died").exists()  # a worker really died
    assert s.finished == 5 and s.failed == 0
    st = ResultsStore(tmp_path / "p.db")
    assert st.n_items() == 5 * 6
    attempts = [st.shard_status(c.key)[sid]["attempts"] for c, _ in s.metrics
                for sid in st.shard_status(c.key)]
    assert sorted(attempts)[-1] == 2 and attempts.count(2) == 1


def test_missing_data_is_a_clear_error(write_spec, tmp_path):
    with pytest.raises(SpecError, match="data: .*does not exist"):
        run_sweep(write_spec(), tmp_path / "r.db", data=str(tmp_path / "nope"))
    p = write_spec()
    import yaml
    d = yaml.safe_load(p.read_text())
    del d["data"]
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ValueError, match="no dataset given"):
        run_sweep(p, tmp_path / "r.db", progress=False, allow_runner=True)


def test_cli_plan_run_and_runs(write_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich tables wide enough not to wrap labels
    cli = CliRunner()
    p = write_spec(axes={"window": [30, 10], "stride": [2], "stride_at": [2, 6]}, plan="grid")
    r = cli.invoke(app, ["sweep", "plan", str(p)])
    assert r.exit_code == 0, r.output
    assert "tiny.en 10s s2@L2-mean" in r.output and "GFLOPs/item" in r.output
    assert "stride_at" in r.output and "skipped" in r.output  # tiny.en has 4 layers, not 6
    db = tmp_path / "r.db"
    r = cli.invoke(app, ["sweep", "run", str(p), "--store", str(db), "--no-progress",
                         "--device", "cpu"])
    assert r.exit_code == 2 and "--allow-runner" in r.output and "fake_task.py" in r.output
    assert not db.exists()  # refused before the store is touched
    r = cli.invoke(app, ["sweep", "run", str(p), "--store", str(db), "--no-progress",
                         "--device", "cpu", "--allow-runner"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["runs", "list", str(db)])
    assert r.exit_code == 0 and "base 30s s2@L6-mean" in r.output
    r = cli.invoke(app, ["sweep", "plan", str(p), "--store", str(db)])
    assert r.exit_code == 0 and "past runs in the store" in r.output and "done" in r.output
    assert "estimated run time (configurations not done in the store) 0 s" in r.output
    key = ResultsStore(db, readonly=True).metrics()[0][0].key
    r = cli.invoke(app, ["runs", "show", str(db), key[:6]])
    assert r.exit_code == 0 and "tiny.en 30s s2@L2-mean" in r.output and "hyp-" in r.output
    r = cli.invoke(app, ["runs", "show", str(db)])
    assert r.exit_code == 0 and '"executor": "local"' in r.output and '"git"' in r.output
    r = cli.invoke(app, ["runs", "export", str(db), "--out", str(tmp_path / "x"),
                         "--format", "both"])
    assert r.exit_code == 0 and (tmp_path / "x" / "items.parquet").exists()
    r = cli.invoke(app, ["runs", "list", str(tmp_path / "none.db")])
    assert r.exit_code == 4 and "no such results store" in r.output
    bad = write_spec("bad", axes={"windw": [30]})
    r = cli.invoke(app, ["sweep", "plan", str(bad)])
    assert r.exit_code == 2 and "axes.windw" in r.output
