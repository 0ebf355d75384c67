"""`speechbudget recommend` and `speechbudget report` on a store built through its public API."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app

runner = CliRunner()
ENV = {"cpu": "Test CPU 3000", "cores": 2, "torch_threads": 1, "device": "cpu",
       "executor": "local", "workers": 1}


@pytest.fixture(scope="module")
def store(realistic_results, tmp_path_factory):
    from speechbudget.sweep.store import ResultsStore

    path = tmp_path_factory.mktemp("store") / "runs.db"
    st = ResultsStore(path)
    run = st.start_run({"name": "test-sweep"}, ENV)
    for c, m in realistic_results:
        st.register_config(c, m.gflops, {"dataset": "made-up"}, run)
        st.set_metrics(c.key, m, run)
    st.finish_run(run)
    st.close()
    return path


def test_recommend_json(store):
    r = runner.invoke(app, ["recommend", str(store), "--max-gflops", "40", "--max-rtf", "0.05",
                            "--task", "asr", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["feasible"] and d["task"] == "asr"
    assert d["best"]["gflops"] <= 40 and d["best"]["rtf"] <= 0.05
    assert len(d["runners_up"]) == 3
    assert "Test CPU 3000" in d["rtf_note"]
    assert {a["axis"] for a in d["marginal_returns"]} == {"xN", "xT", "xV"}


def test_recommend_text_and_infeasible(store):
    r = runner.invoke(app, ["recommend", str(store), "--max-gflops", "40", "--task", "asr"])
    assert r.exit_code == 0 and "Recommended asr configuration" in r.output
    assert "binding" in r.output
    r = runner.invoke(app, ["recommend", str(store), "--max-gflops", "1", "--task", "asr"])
    assert r.exit_code == 1
    assert "No asr configuration meets GFLOPs <= 1" in r.output and "Closest:" in r.output
    r = runner.invoke(app, ["recommend", str(store)])  # two tasks: must choose
    assert r.exit_code == 2 and "tasks asr, ser" in r.output


def test_bad_store_and_limits(tmp_path):
    r = runner.invoke(app, ["recommend", str(tmp_path / "nope.db")])
    assert r.exit_code == 4 and "no such results store" in r.output
    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite at all " * 100)
    r = runner.invoke(app, ["recommend", str(bad)])
    assert r.exit_code == 4 and "bad.db" in r.output
    r = runner.invoke(app, ["recommend", str(bad), "--max-rtf", "-1"])
    assert r.exit_code == 2 and "invalid --max-rtf -1" in r.output  # the option as typed


def test_report_command(store, tmp_path):
    out = tmp_path / "rep"
    r = runner.invoke(app, ["report", str(store), "-o", str(out), "--task", "asr",
                            "--max-rtf", "0.05", "--bootstrap", "4", "--law", "product"])
    assert r.exit_code == 0, r.output
    html = (out / "index.html").read_text()
    assert "configurations meet RTF &lt;= 0.05): " in html
    # two models: N has no identifiable term (needs >= 3 distinct values), and its absence is said
    assert "Test CPU 3000" in html and "E + K*T^-beta*s^gamma" in html
    assert "N has only 2 distinct values" in html
    assert 'id="task-asr"' in html and 'id="task-ser"' not in html
    r = runner.invoke(app, ["report", str(store), "-o", str(out), "--law", "cubic"])
    assert r.exit_code == 2 and "--law" in r.output
