"""run_sweep(SweepSpec, data=...): the spec object with another dataset. It round-tripped the
spec through to_dict(), whose plan holds every plan field, so every plan was refused
('plan.audio_s: not an option of plan 'star'')."""
from __future__ import annotations

import json

import pytest

from speechbudget.sweep import load_spec, run_sweep
from speechbudget.sweep.spec import SpecError


@pytest.mark.parametrize("plan", ["star", "grid",
                                  {"type": "grid", "race": {"first_items": 2}}])
def test_a_spec_object_runs_on_the_data_given(write_spec, tmp_path, bundled_librispeech, plan):
    rows = (bundled_librispeech / "manifest.jsonl").read_text().splitlines()[:4]
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.jsonl").write_text("\n".join(rows) + "\n")
    spec = load_spec(write_spec("s", plan=plan, models=["tiny.en"],
                                axes={"window": [30, 10]},
                                task_options={"n_items": 40, "batch_size": 2}))
    s = run_sweep(spec, tmp_path / "r.db", allow_runner=True, data=str(other))
    assert s.failed == 0 and s.metrics
    assert {m.n_items for _, m in s.metrics} == {4}        # the other data set's 4 items
    assert json.loads(json.dumps(spec.to_dict()))["data"] == str(bundled_librispeech.resolve())


def test_a_spec_object_with_data_that_does_not_exist(write_spec, tmp_path):
    spec = load_spec(write_spec())
    with pytest.raises(SpecError, match="data: .*nope does not exist"):
        run_sweep(spec, tmp_path / "r.db", allow_runner=True, data=str(tmp_path / "nope"))
