"""An iso_flops budget that no configuration falls within. `sweep plan` printed an empty table
and nothing else, and `sweep run` ran nothing and said '0 finished, 0 failed' with exit 0 (shown
by budgets_gflops: [1e-9]). Now the plan names each such budget and the nearest configuration,
and a run whose plan selects nothing is a spec error naming the budgets' line (exit 2)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep import ResultsStore, load_spec, run_sweep
from speechbudget.sweep.plan import plan_configurations
from speechbudget.sweep.spec import SpecError

AXES = {"window": [30, 10], "stride": [1]}


def _budgets(write_spec, budgets):
    return write_spec("iso", plan={"type": "iso_flops", "budgets_gflops": budgets,
                                   "audio_s": 12}, axes=AXES)


def _every(write_spec):
    """The grid of the same axes, costed for the same item length."""
    return plan_configurations(load_spec(write_spec("grid", plan="grid", axes=AXES)), audio_s=12)


def test_the_plan_names_a_budget_nothing_falls_within(write_spec):
    spec = load_spec(_budgets(write_spec, [1e-9]))
    p = plan_configurations(spec)
    assert p.configs == [] and list(p.unmatched) == [1e-9]
    label, g = p.unmatched[1e-9]
    every = _every(write_spec)
    assert g == min(every.gflops.values())          # the nearest to 1e-9: the cheapest
    assert label == next(c.label for c in every.configs if every.gflops[c.key] == g)
    text = p.unmatched_text()
    assert len(text) == 1 and text[0].startswith("budget 1e-09 GFLOPs: no configuration within "
                                                 "+-10% (the nearest is ")


def test_a_budget_that_selects_something_is_not_named(write_spec):
    every = _every(write_spec)
    hit = max(every.gflops.values())
    p = plan_configurations(load_spec(_budgets(write_spec, [1e-9, hit])))
    assert p.configs and list(p.unmatched) == [1e-9]


def test_sweep_plan_prints_the_note(write_spec, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    spec = _budgets(write_spec, [1e-9])
    r = CliRunner().invoke(app, ["sweep", "plan", str(spec)])
    assert r.exit_code == 0, r.output
    assert "budget 1e-09 GFLOPs: no configuration within +-10%" in " ".join(r.output.split())
    j = CliRunner().invoke(app, ["sweep", "plan", str(spec), "--json"])
    assert json.loads(j.stdout)["unmatched_budgets"][0].startswith("budget 1e-09 GFLOPs")


def test_a_run_whose_plan_selects_nothing_is_a_spec_error(write_spec, tmp_path, monkeypatch):
    spec = _budgets(write_spec, [1e-9, 2e-9])
    with pytest.raises(SpecError, match=r"iso.yaml, line \d+: plan.budgets_gflops: budget 1e-09 "
                                        r"GFLOPs: no configuration .*; budget 2e-09"):
        run_sweep(spec, tmp_path / "r.db", allow_runner=True)
    st = ResultsStore(tmp_path / "r.db", readonly=True)
    assert st.configs() == [] and st.n_items() == 0
    monkeypatch.setenv("COLUMNS", "250")
    r = CliRunner().invoke(app, ["sweep", "run", str(spec), str(tmp_path / "c.db"),
                                 "--allow-runner", "--no-progress"])
    assert r.exit_code == 2 and "plan.budgets_gflops: budget 1e-09" in " ".join(r.output.split())
