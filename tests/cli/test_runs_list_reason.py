"""`runs list STORE` cut a configuration's reason (why it failed or was eliminated) at 60
characters with nothing to say so, and the runs table cut a run's reason at 120: the reason
behind a long path never showed. As `runs show` does for items, the table keeps its cut
(marked '…') and each cut reason is printed whole below it, one line each."""
from __future__ import annotations

from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli.app import app
from speechbudget.sweep.store import ResultsStore

LONG = ("fold 0 training failed: DatasetError: /tmp/" + "d" * 60 + "/manifest.jsonl: line 3: "
        "unknown label 'calm'")


def test_a_long_configuration_reason_is_shown_whole(tmp_path):
    st = ResultsStore(tmp_path / "s.db")
    run = st.start_run({"name": "r"}, {"hostname": "test"})
    a, b = (Config(task="ser", model="tiny.en", window=w) for w in (1.0, 2.0))
    for c in (a, b):
        st.register_config(c, 1.0, {"dataset": "x"}, run)
    st.set_config_status(a.key, "failed", LONG)
    st.set_config_status(b.key, "failed", "short reason")
    st.finish_run(run)
    st.close()
    r = CliRunner().invoke(app, ["runs", "list", str(tmp_path / "s.db")],
                           env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert f"  {a.key}: {LONG}" in r.output.splitlines(), r.output
    assert "…" in r.output                        # the table's cell says it is cut
    assert f"{b.key}: short reason" not in r.output   # whole in the table already
    assert "short reason" in r.output
