"""`runs show STORE KEY`: the configuration's metrics as a table of its main fields (WER in
percent, as every table shows it), not the raw metrics JSON."""
from __future__ import annotations

from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.records import ConfigMetrics
from speechbudget.sweep.store import ResultsStore

CTX = {"task": "asr", "dataset": "abc", "task_options": {}}


def _show(tmp_path, m: ConfigMetrics, c: Config) -> str:
    db = tmp_path / "r.db"
    with ResultsStore(db) as st:
        run = st.start_run({"name": "t"}, {"cpu": "x"})
        st.register_config(c, m.gflops, {**CTX, "task": c.task}, run)
        st.set_metrics(c.key, m, run)
        st.finish_run(run)
    r = CliRunner().invoke(app, ["runs", "show", str(db), c.key[:8]], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    return r.output


def test_wer_metrics_are_a_table_in_percent(tmp_path):
    c = Config(task="asr", model="tiny.en", window=20)
    m = ConfigMetrics(c.key, "asr", "wer", 0.12345, ci_low=0.1, ci_high=0.15, n_items=7,
                      n_failed=1, gflops=3.5, rtf=0.0421, timings={"encoder": 1.25},
                      extra={"device": "cpu", "confusion": [[1, 2], [3, 4]]})
    out = _show(tmp_path, m, c)
    assert '"config_key"' not in out and '"timings"' not in out  # no raw JSON
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in out.splitlines() if line.count("│") == 3}
    assert lines["wer"] == "12.35 % [10.00, 15.00] % (95% CI)"
    assert lines["items scored"] == "7" and lines["items failed"] == "1"
    assert lines["GFLOPs/item"] == "3.50" and lines["RTF (batched)"] == "0.042"
    assert lines["encoder s"] == "1.25" and lines["device"] == "cpu"
    assert "confusion" not in lines


def test_ua_and_all_failed_values(tmp_path):
    c = Config(task="ser", model="base", window=10)
    m = ConfigMetrics(c.key, "ser", "ua", float("nan"), n_items=0, n_failed=4)
    out = _show(tmp_path, m, c)
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in out.splitlines() if line.count("│") == 3}
    assert lines["ua"] == "n/a" and lines["items failed"] == "4"
