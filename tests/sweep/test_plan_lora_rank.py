"""A sweep's LoRA rank above a model's weights (training refuses it since 6aecc78, the FLOPs path
since fee8cf6) is an invalid combination for that model, listed with the rank error, not a valid
point without an estimate; a rank no model of the sweep takes is a spec error naming its line."""
from __future__ import annotations

import pytest

from speechbudget.sweep.plan import plan_configurations
from speechbudget.sweep.spec import SpecError, load_spec

SPEC = """name: rk
task: asr
data: {data}
models: [tiny.en, base]
axes:
  window: [10]
  adaptation: [{{method: lora, rank: {rank}, steps: 2}}]
plan: {{type: grid}}
"""


def test_a_rank_one_model_cannot_take_is_invalid_for_it(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(SPEC.format(data=tmp_path, rank=400))     # tiny.en: d_model 384; base: 512
    plan = plan_configurations(load_spec(p))
    assert [c.model for c in plan.configs] == ["base"]
    assert len(plan.invalid) == 1 and "adaptation.rank=400" in str(plan.invalid[0].error)


def test_a_rank_no_model_takes_names_its_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(SPEC.format(data=tmp_path, rank=5000))
    with pytest.raises(SpecError, match="line 7.*rank=5000"):
        plan_configurations(load_spec(p))
