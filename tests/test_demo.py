"""The main job end to end on a small slice: sweeps into a store, the report, the recommendation."""
from __future__ import annotations

from speechbudget.demo import demo_specs, run_demo
from speechbudget.sweep import plan_configurations


def test_demo_specs_cover_the_three_axes(bundled_librispeech):
    specs = demo_specs(bundled_librispeech, None)
    assert [s.name for s in specs] == ["demo-asr-star", "demo-asr-stride-position", "demo-asr-base"]
    configs = {c for s in specs for c in plan_configurations(s).configs}
    assert {c.model for c in configs} == {"tiny.en", "base"}
    assert {c.window for c in configs} >= {30.0, 20.0, 15.0, 10.0, "dynamic"}
    assert {(c.stride, c.stride_at) for c in configs} >= {(1, "output"), (2, 2), (4, 2), (2, 0),
                                                          (2, "output")}


def test_demo_runs_end_to_end_on_two_utterances(bundled_librispeech, tmp_path, capfd):
    result = run_demo(tmp_path / "demo", asr_items=2, with_ser=False, device="cpu")
    out, err = capfd.readouterr()
    assert out == "" and err == ""          # a library call prints nothing by default
    assert not result.failures
    html = result.report.read_text()
    assert "Recommendation" in html and "data:image/png;base64," in html
    rec = result.recommendation
    assert rec.feasible and rec.best is not None
    # rerunning resumes: nothing left to compute
    again = run_demo(tmp_path / "demo", asr_items=2, with_ser=False, device="cpu", progress=False)
    assert again.recommendation.best[0] == rec.best[0]


def test_demo_specs_are_packaged_yaml_files(bundled_librispeech, tmp_path):
    """The specs come from speechbudget/demo_specs/*.yaml (package data), not from code."""
    from importlib.resources import files

    from speechbudget.demo import ASR_SPECS, SER_SPECS, packaged_spec
    folder = files("speechbudget").joinpath("demo_specs")
    assert {p.name for p in folder.iterdir() if p.name.endswith(".yaml")} == set(ASR_SPECS +
                                                                                SER_SPECS)
    assert packaged_spec("asr_star.yaml")["name"] == "demo-asr-star"
    specs = demo_specs(bundled_librispeech, tmp_path, asr_items=3, ser_folds=4)
    assert specs[-1].name == "demo-ser-duration" and specs[-1].task_options["folds"] == 4
    assert all(s.task_options["max_items"] == 3 for s in specs[:3])
