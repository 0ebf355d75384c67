"""`sweep plan examples/asr_star.yaml` said '7 configurations (of 7 valid in the joint space)',
though its joint space (2 models x 4 windows x 3 strides) holds 24: a star plan counts only its
own points, so its title no longer claims a joint-space size; a grid's still does."""
from typer.testing import CliRunner

from speechbudget.cli import app


def _title(path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    r = CliRunner().invoke(app, ["sweep", "plan", str(path)])
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


def test_star_plan_does_not_claim_a_joint_space_size(write_spec, monkeypatch):
    spec = write_spec(models=["tiny.en"], axes={"window": [30, 20, 10], "stride": [1, 2]},
                      plan={"type": "star", "centre": {"window": 30, "stride": 1}})
    out = _title(spec, monkeypatch)
    assert "joint space" not in out
    assert "4 configurations (the centre and one axis varied at a time)" in out


def test_grid_plan_names_its_joint_space(write_spec, monkeypatch):
    spec = write_spec(models=["tiny.en"], axes={"window": [30, 20, 10], "stride": [1, 2]}, plan="grid")
    assert "6 configurations (of 6 valid in the joint space)" in _title(spec, monkeypatch)
