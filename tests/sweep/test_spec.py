"""Sweep files: parsing, validation errors that name the key, and what each plan selects."""
from __future__ import annotations

import itertools

import pytest
import yaml

from speechbudget.axes import Config
from speechbudget.flops import estimate
from speechbudget.sweep import SpecError, load_spec, plan_configurations, spec_from_dict

BASE = {"task": "asr", "data": ".", "models": ["tiny.en"], "axes": {"window": [30]}}


def spec(**kw):
    return spec_from_dict({**BASE, **kw})


def test_grid_is_the_full_product_and_star_varies_one_axis():
    s = spec(models=["tiny.en", "base"], axes={"window": [30, 20, 10], "stride": [1, 2],
                                              "beam": [1, 3]}, plan="grid")
    assert len(plan_configurations(s).configs) == 2 * 3 * 2 * 2
    s = spec(models=["tiny.en", "base"], axes={"window": [30, 20, 10], "stride": [1, 2],
                                              "beam": [1, 3]},
             plan={"type": "star", "centre": {"model": "base", "window": 20}})
    got = plan_configurations(s).configs
    centre = Config(task="asr", model="base", window=20)
    assert got[0] == centre
    # every point differs from the centre on at most one axis; 1 + (1 + 2 + 1 + 1) points
    assert len(got) == 6
    for c in got:
        diff = [f for f in ("model", "window", "stride", "beam_size")
                if getattr(c, f) != getattr(centre, f)]
        assert len(diff) <= 1


def test_ranges_adaptation_shorthand_and_dedup():
    s = spec(axes={"window": {"start": 10, "stop": 30, "step": 10},
                   "adaptation": ["none", "lora:8", {"method": "dama", "rank": 4}],
                   "stride": [1], "stride_at": [1, 2]}, plan="grid")
    cs = plan_configurations(s).configs
    assert sorted({c.window for c in cs}) == [10.0, 20.0, 30.0]
    assert {c.adaptation.label for c in cs} == {"frozen", "lora8", "dama4"}
    assert len(cs) == 9  # stride_at is irrelevant (canonicalised) at stride 1: no duplicates


@pytest.mark.parametrize("raw, key", [
    ({"task": "tts"}, "task"),
    ({"models": []}, "models"),
    ({"models": ["tiny.en", "whisper-huge-v9"]}, "models[1]"),
    ({"axes": {"windw": [30]}}, "axes.windw"),
    ({"axes": {"precision": ["fp32", "fp8"]}}, "axes.precision"),
    ({"axes": {"window": [30, 45]}}, "axes.window"),
    ({"axes": {"adaptation": ["lora:x"]}}, "axes.adaptation[0]"),
    ({"axes": {"stride": [2], "stride_at": [9]}}, "axes.stride_at"),
    ({"plan": "random"}, "plan"),
    ({"plan": {"type": "iso_flops", "budgets_gflops": [-1]}}, "plan.budgets_gflops"),
    ({"plan": {"type": "iso_flops", "budgets_gflops": [10], "tolerance": 2}}, "plan.tolerance"),
    ({"plan": {"type": "adaptive", "n_trials": 0}}, "plan.n_trials"),
    ({"plan": {"type": "adaptive", "objectives": ["gflops"]}}, "plan.objectives"),
    ({"plan": {"type": "grid", "budgets_gflops": [1]}}, "plan.budgets_gflops"),
    ({"plan": {"type": "star", "centre": {"window": 99}}}, "plan.centre.window"),
    ({"data": "/no/such/folder"}, "data"),
    ({"extra": 1}, "extra"),
])
def test_invalid_spec_names_the_key(raw, key):
    with pytest.raises(SpecError) as e:
        spec(**raw)
    assert e.value.key == key, str(e.value)
    assert key in str(e.value)


def test_load_spec_file_errors_name_the_file(tmp_path):
    with pytest.raises(SpecError, match="no such sweep file"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed")
    with pytest.raises(SpecError, match="bad.yaml.*not valid YAML"):
        load_spec(bad)
    ok = tmp_path / "sub" / "s.yaml"
    ok.parent.mkdir()
    (tmp_path / "data").mkdir()
    ok.write_text(yaml.safe_dump({**BASE, "data": "../data"}))
    assert load_spec(ok).data == str((tmp_path / "data").resolve())  # relative to the spec file


def test_combinations_invalid_for_one_model_are_reported_not_fatal():
    s = spec(models=["tiny.en", "base"], axes={"stride": [2], "stride_at": [2, 6]}, plan="grid")
    p = plan_configurations(s)
    assert [(c.model, c.stride_at) for c in p.configs] == [("tiny.en", 2), ("base", 2),
                                                           ("base", 6)]
    assert len(p.invalid) == 1 and p.invalid[0].error.field == "stride_at"


def test_iso_flops_selects_exactly_the_configurations_inside_each_band():
    axes = {"window": [30, 25, 20, 15, 10, 5], "stride": [1, 2, 4], "beam": [1, 2]}
    models = ["tiny.en", "base.en", "small.en"]
    budgets, tol, audio_s = [20.0, 60.0], 0.15, 8.0
    s = spec(models=models, axes=axes, plan={"type": "iso_flops", "budgets_gflops": budgets,
                                             "tolerance": tol, "audio_s": audio_s})
    p = plan_configurations(s)
    expected = set()
    for m, w, st, b in itertools.product(models, *axes.values()):
        c = Config(task="asr", model=m, window=w, stride=st, beam_size=b)
        g = estimate(c, audio_s=audio_s).gflops
        if any(B * (1 - tol) <= g <= B * (1 + tol) for B in budgets):
            expected.add(c.key)
    got = {c.key for c in p.configs}
    assert got == expected and 3 <= len(got) < 6 * 3 * 3 * 2
    for c in p.configs:  # and each is labelled with the band(s) it is in
        assert all(abs(p.gflops[c.key] - b) <= tol * b for b in p.bands[c.key])


def test_ser_adaptations_are_checked_against_the_sweeps_own_task_and_models():
    """An adaptation value was checked as an ASR configuration of tiny.en: a SER sweep could not
    name lora_top (an SER-only option) or unfreeze more than tiny.en's 4 layers on base (6)."""
    raw = {"name": "s", "task": "ser", "data": ".", "models": ["base"], "plan": "grid",
           "axes": {"window": [2], "adaptation": [{"method": "lora", "rank": 4, "lora_top": 1},
                                                  {"method": "lora", "rank": 4},
                                                  {"method": "none", "unfreeze_top": 5}]}}
    configs = plan_configurations(spec_from_dict(raw)).configs
    assert [c.adaptation.label for c in configs] == ["lora4@top1", "lora4", "top5"]
    assert len({c.key for c in configs}) == 3
    raw["axes"]["adaptation"].append({"method": "none", "unfreeze_top": 7})
    with pytest.raises(SpecError, match="never valid"):
        spec_from_dict(raw)
