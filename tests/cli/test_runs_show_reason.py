"""`runs show STORE KEY` cut each item's prediction / failure reason at 70 characters, so a
failure reason behind a long path ("fold 0 training failed: DatasetError: /tmp/.../manifest.
jsonl:") never showed what failed. The table keeps its cut (marked '…'); each failure reason
cut there is printed whole below it, one line each."""
from __future__ import annotations

from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli.app import app
from speechbudget.records import ItemResult
from speechbudget.sweep.store import ResultsStore

LONG = ("fold 0 training failed: DatasetError: /tmp/" + "d" * 60 + "/manifest.jsonl: line 3: "
        "unknown label 'calm'")


def test_a_long_failure_reason_is_shown_whole(tmp_path):
    st = ResultsStore(tmp_path / "s.db")
    run = st.start_run({"name": "r"}, {"hostname": "test"})
    c = Config(task="ser", model="tiny.en", window=2.0)
    st.register_config(c, 1.0, {"dataset": "x"}, run)
    st.commit_shard(c.key, "s0", [ItemResult("c0", False, error=LONG),
                                  ItemResult("c1", False, error="short reason"),
                                  ItemResult("c2", True, prediction="ANG", reference="ANG",
                                             errors=0, n_ref=1)], run)
    st.finish_run(run)
    st.close()
    r = CliRunner().invoke(app, ["runs", "show", str(tmp_path / "s.db"), c.key])
    assert r.exit_code == 0, r.output
    assert f"  c0: {LONG}" in r.output.splitlines(), r.output
    assert "…" in r.output                       # the table's cell says it is cut
    assert "c1: short reason" not in r.output    # shown whole in the table already
    assert "short reason" in r.output
