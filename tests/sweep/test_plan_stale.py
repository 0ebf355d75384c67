"""`sweep plan SPEC STORE` says which configurations hold results of an older rule of their
task (`driver.result_version`). It showed them as "done" in its in-store column and left them
out of what is left to run, though `sweep run` stops on them (or, with --recompute-stale,
computes them again) (shown by: an SER store whose pool attn stride 2 configuration was stored
before rule 2, then sweep plan: 'done', and no time counted for it)."""
from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep import ResultsStore, load_spec
from speechbudget.sweep.plan import plan_configurations

SPEC = {"name": "ser-plan", "task": "ser", "models": ["tiny.en"],
        "axes": {"stride": [1, 2], "pool": ["attn"]}, "plan": "grid"}
# the context sweep run stored before result versions existed (rule 1: no version written)
CONTEXT = {"task": "ser", "runner": None, "task_options": {}, "dataset": "d", "n_items": 3}


def _setup(tmp_path):
    spec = tmp_path / "ser.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    db = tmp_path / "ser.db"
    configs = plan_configurations(load_spec(spec)).configs
    with ResultsStore(db) as st:
        run = st.start_run({"name": "ser-plan"}, {})
        for c in configs:
            st.register_config(c, 1.0, CONTEXT, run)
            st.set_config_status(c.key, "done")
    return spec, db, {c.stride: c for c in configs}


def test_plan_shows_a_stored_older_rule_as_stale(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    spec, db, by_stride = _setup(tmp_path)
    r = CliRunner().invoke(app, ["sweep", "plan", str(spec), str(db)])
    assert r.exit_code == 0, r.output
    rows = {line.split("│")[2].strip(): line.split("│")[-2].strip()
            for line in r.output.splitlines() if line.startswith("│")}
    assert rows == {by_stride[1].label: "done", by_stride[2].label: "stale (rule 1, now 2)"}
    out = " ".join(r.output.split())
    assert "1 configuration(s) in the store hold results of an older rule" in out
    assert "--recompute-stale" in out
    # left to run: the stale one (no estimate without data), not the done one
    assert "1 of 2 configurations have no time estimate" in out

    r = CliRunner().invoke(app, ["sweep", "plan", str(spec), str(db), "--json"])
    assert r.exit_code == 0, r.output
    got = {row["label"]: row["in_store"] for row in json.loads(r.output)["configs"]}
    assert got == {by_stride[1].label: "done", by_stride[2].label: "stale"}


def test_store_result_versions(tmp_path):
    _, db, by_stride = _setup(tmp_path)
    with ResultsStore(db) as st:
        c = by_stride[2]
        st.register_config(c, 1.0, {**CONTEXT, "result_version": 2}, None, recompute_stale=True)
        assert st.result_versions() == {by_stride[1].key: 1, c.key: 2}
