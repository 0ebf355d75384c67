"""Numbers written with an exponent in a sweep file. PyYAML (YAML 1.1) reads 1e-9, 1E3 and 1.0e3
as strings, so `budgets_gflops: [1e-9]` said 'expected a list of GFLOPs budgets > 0', 'lr: 1e-4'
'(str): expected int or float', and an adaptation's alpha: 1e1 was kept as the string '1e1'.
Numeric fields now read them as numbers, as YAML 1.2 does; other fields keep the string."""
from __future__ import annotations

import textwrap

import pytest
import yaml

from speechbudget.sweep.spec import SpecError, load_spec


@pytest.fixture
def spec_file(tmp_path, bundled_librispeech):
    def write(body: str, task: str = "asr", name: str = "s"):
        p = tmp_path / f"{name}.yaml"
        p.write_text(f"task: {task}\ndata: {bundled_librispeech}\nmodels: [tiny.en]\n"
                     + textwrap.dedent(body))
        return p
    return write


def test_pyyaml_reads_these_as_strings():
    """The premise: without the spec's own reading these fields got strings."""
    assert yaml.safe_load("[1e-9, 1E3, 1.0e3, +2e1]") == ["1e-9", "1E3", "1.0e3", "+2e1"]


def test_plan_numbers_with_an_exponent(spec_file):
    s = load_spec(spec_file("plan: {type: iso_flops, budgets_gflops: [1e-9, 2E3], "
                            "tolerance: 2e-1, audio_s: 1.2e1}\n"))
    assert s.plan.budgets_gflops == (1e-9, 2000.0)
    assert s.plan.tolerance == 0.2 and s.plan.audio_s == 12.0
    single = load_spec(spec_file("plan: {type: iso_flops, budgets_gflops: 1e1}\n", name="one"))
    assert single.plan.budgets_gflops == (10.0,)
    r = load_spec(spec_file("plan: {type: grid, race: {first_items: 1e1, growth: 1.5e0, "
                            "alpha: 1e-3, tolerance: 5e-3, rule: halving, eta: 3e0}}\n"))
    assert (r.plan.race_first_items, r.plan.race_growth, r.plan.race_alpha,
            r.plan.race_tolerance, r.plan.race_eta) == (10, 1.5, 0.001, 0.005, 3.0)
    assert isinstance(r.plan.race_first_items, int)
    a = load_spec(spec_file("plan: {type: adaptive, n_trials: 1e1}\n"))
    assert a.plan.n_trials == 10 and isinstance(a.plan.n_trials, int)


def test_the_same_spec_as_written_without_an_exponent(spec_file):
    a = load_spec(spec_file("plan: {type: iso_flops, budgets_gflops: [1e1]}\n", name="a"))
    b = load_spec(spec_file("plan: {type: iso_flops, budgets_gflops: [10.0]}\n", name="a2"))
    assert a.plan == b.plan


def test_axis_values_ranges_centre_and_adaptation(spec_file):
    s = load_spec(spec_file("""\
        axes:
          window: [1e1, 30]
          stride: {start: 1, stop: 2e0}
          beam: [1e0]
          dynamic_margin_s: [5e-1]
          adaptation: [none, {method: lora, rank: 4, alpha: 1.6e1}]
        plan: {type: star, centre: {window: 3e1}}
        """))
    assert s.axes["window"] == (10.0, 30) and s.axes["stride"] == (1, 2)
    assert s.axes["beam_size"] == (1,) and isinstance(s.axes["beam_size"][0], int)
    assert s.axes["dynamic_margin_s"] == (0.5,)
    assert s.axes["adaptation"][1].alpha == 16.0
    assert s.plan.centre["window"] == 30.0
    with pytest.raises(SpecError, match="axes.stride"):    # a fraction is still no stride
        load_spec(spec_file("axes: {stride: [1.5e0]}\n", name="bad"))


def test_task_options(spec_file):
    s = load_spec(spec_file("task_options: {n_boot: 1e3, adapt_lr: 1e-4}\n"))
    assert s.task_options["n_boot"] == 1000 and isinstance(s.task_options["n_boot"], int)
    assert s.task_options["adapt_lr"] == 1e-4
    ser = load_spec(spec_file("task_options: {lr: 1e-4, weight_decay: 1e-2}\naxes: {window: [3]}\n",
                              task="ser", name="ser"))
    assert ser.task_options["lr"] == 1e-4 and ser.task_options["weight_decay"] == 0.01
    with pytest.raises(SpecError, match=r"task_options.n_boot: 1500.5"):
        load_spec(spec_file("task_options: {n_boot: 1.5005e3}\n", name="bad"))


def test_fields_that_are_not_numbers_keep_the_string(spec_file):
    s = load_spec(spec_file("name: 1e3\ntask_options: {warm_per: 1e3}\n"))
    assert s.name == "1e3" and s.task_options["warm_per"] == "1e3"
    with pytest.raises(SpecError, match=r"plan.budgets_gflops: \[inf\]"):
        load_spec(spec_file("plan: {type: iso_flops, budgets_gflops: [1e999]}\n", name="inf"))
    with pytest.raises(SpecError, match="plan.budgets_gflops"):   # never evaluated
        load_spec(spec_file("plan: {type: iso_flops, budgets_gflops: ['2*3']}\n", name="ex"))
