"""A results store logged to a local MLflow file store: one run per finished configuration
(params = axes, metrics = WER, GFLOPs, RTF, latency) under one run holding the report; a second
export updates those runs."""
from __future__ import annotations

import pytest

pytest.importorskip("mlflow")


@pytest.fixture
def store(write_spec, tmp_path):
    from speechbudget.sweep import run_sweep
    db = tmp_path / "runs.db"
    s = run_sweep(write_spec("star"), db, allow_runner=True)
    assert s.finished >= 4 and s.failed == 0
    return db, s


def test_one_mlflow_run_per_configuration(store, tmp_path, capfd):
    from mlflow.tracking import MlflowClient

    from speechbudget.sweep.store import ResultsStore
    from speechbudget.sweep.tracking import export_mlflow
    db, summary = store
    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text("<html>report</html>")
    st = ResultsStore(db, readonly=True)
    capfd.readouterr()
    out = export_mlflow(st, tmp_path / "mlruns", experiment="star", report=report)
    assert capfd.readouterr() == ("", "")   # prints nothing
    assert out.tracking_uri.startswith("file:")
    client = MlflowClient(tracking_uri=out.tracking_uri)
    runs = client.search_runs([out.experiment_id])
    children = [r for r in runs if r.info.run_id != out.parent_run_id]
    assert len(children) == len(out.runs) == summary.finished
    by_key = {c.key: (c, m) for c, m in summary.metrics}
    for r in children:
        c, m = by_key[r.data.params["key"]]
        p, x = r.data.params, r.data.metrics
        assert (p["model"], p["window"], p["stride"], p["beam"], p["precision"]) == (
            c.model, f"{c.window:g}", str(c.stride), str(c.beam_size), c.precision)
        assert r.data.tags["mlflow.parentRunId"] == out.parent_run_id
        assert r.info.run_name == c.label and r.info.status == "FINISHED"
        assert x["wer"] == pytest.approx(m.value) and x["wer_percent"] == pytest.approx(100 * m.value)
        assert x["gflops"] == pytest.approx(m.gflops) and x["gflops"] > 0
        assert x["rtf"] == pytest.approx(m.rtf) and x["latency_ms_per_item"] > 0
        assert x["n_items"] == m.n_items
    arts = [a.path for a in client.list_artifacts(out.parent_run_id, "report")]
    assert arts == ["report/index.html"]

    again = export_mlflow(st, tmp_path / "mlruns", experiment="star")   # updates, adds nothing
    st.close()
    assert again.runs == out.runs and again.parent_run_id == out.parent_run_id
    assert len(client.search_runs([out.experiment_id])) == len(runs)


def test_the_cli_logs_a_store(store, tmp_path):
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from speechbudget.cli import app
    db, summary = store
    uri = (tmp_path / "ml").resolve().as_uri()
    res = CliRunner().invoke(app, ["runs", "export-mlflow", str(db), "--tracking-uri", uri,
                                   "--experiment", "cli"])
    assert res.exit_code == 0, res.output
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("cli")
    assert len(client.search_runs([exp.experiment_id])) == summary.finished + 1
    assert f"{summary.finished} configurations" in res.stdout
    res = CliRunner().invoke(app, ["runs", "export-mlflow", str(db), "--tracking-uri", uri,
                                   "--report", str(tmp_path / "missing")])
    assert res.exit_code != 0 and "missing" in res.output


def test_tracking_uri_for(tmp_path):
    from speechbudget.sweep.tracking import tracking_uri_for
    assert tracking_uri_for("sqlite:///x/mlflow.db") == "sqlite:///x/mlflow.db"
    assert tracking_uri_for("http://localhost:5000") == "http://localhost:5000"
    assert tracking_uri_for(tmp_path / "ml") == (tmp_path / "ml").resolve().as_uri()
    assert tracking_uri_for("relative/ml").startswith("file:///")


def test_a_fifo_report_is_refused_not_read(store, tmp_path):
    # runs export-mlflow --report FIFO blocked for ever reading it (found by CLI fuzzing)
    import os

    from typer.testing import CliRunner

    from speechbudget.cli import app
    db, _ = store
    fifo = tmp_path / "r.fifo"
    os.mkfifo(fifo)
    res = CliRunner().invoke(app, ["runs", "export-mlflow", str(db), "--tracking-uri",
                                   (tmp_path / "ml").resolve().as_uri(), "--report", str(fifo)])
    assert res.exit_code == 2 and "not a regular file or folder" in res.output
