"""Spec errors found after loading (when `sweep run` builds the task or the runner) name the
line of the key as load-time errors do: 'a.yaml: task_options: ...' had no line and only the
mapping's name. Cheap: tiny runner classes written here, the bundled sample; no model."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)
LIBRI = Path(__file__).resolve().parents[2] / "data" / "librispeech_sample"
RUNNER = """\
class T:
    def __init__(self, n=1, m=2):
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
"""


def _spec(tmp_path: Path, tail: str) -> Path:
    (tmp_path / "r.py").write_text(RUNNER)
    p = tmp_path / "s.yaml"
    p.write_text(f"task: asr\ndata: {LIBRI}\nmodels: [tiny.en]\n{tail}")
    return p


@pytest.mark.parametrize("tail, has", [
    ("runner: r.py:T\ntask_options:\n  m: 3\n  n: -1\n",
     ("s.yaml, line 7: task_options.n: n must be >= 0, got -1",)),
    ("runner: r.py:T\ntask_options:\n  bogus: 3\n",
     ("s.yaml, line 6: task_options.bogus:", "unexpected keyword argument 'bogus'")),
    ("task_options: {n: 1}\n\nrunner: r.py:Nope\n", ("s.yaml, line 6: runner:", "no Nope")),
    ("runner: nomod_xyz.sub:T\n", ("s.yaml, line 4: runner: nomod_xyz.sub:T: cannot be imported",)),
])
def test_an_error_building_the_task_names_the_line(tmp_path, cli, tail, has):
    r = cli("sweep", "run", _spec(tmp_path, tail), tmp_path / "s.db", "--allow-runner",
            "--no-progress", code=2, has=has)
    assert len(r.output.strip().splitlines()) == 1, r.output


def test_a_runner_without_allow_runner_names_the_line(tmp_path, cli):
    cli("sweep", "run", _spec(tmp_path, "\n\nrunner: r.py:T\n"), tmp_path / "s.db",
        "--no-progress", code=2, has=("s.yaml, line 6: runner: the spec imports and runs code",))


def test_the_line_survives_a_data_override(tmp_path, cli):
    """--data rebuilds the spec (run_sweep): the lines come along."""
    cli("sweep", "run", _spec(tmp_path, "runner: r.py:T\ntask_options: {n: -1}\n"),
        tmp_path / "s.db", "--allow-runner", "--no-progress", "--data", str(LIBRI), code=2,
        has=("s.yaml, line 5: task_options.n: n must be >= 0",))


def test_run_sweep_with_a_spec_object_keeps_the_lines(tmp_path):
    from speechbudget.sweep import run_sweep
    from speechbudget.sweep.spec import SpecError, load_spec
    s = load_spec(_spec(tmp_path, "runner: r.py:T\ntask_options: {n: -1}\n"))
    assert s.lines["task_options.n"] == 5 and s.where("models[0]") == f"{s.source}, line 3"
    with pytest.raises(SpecError, match=r"s.yaml, line 5: task_options.n: n must be >= 0"):
        run_sweep(s, tmp_path / "s.db", allow_runner=True, data=str(LIBRI))
    # where the keys were is no part of the spec's identity
    moved = load_spec(_spec(tmp_path, "runner: r.py:T\n\n\ntask_options: {n: -1}\n"))
    assert moved.lines != s.lines and moved == s and moved.digest == s.digest


@pytest.mark.parametrize("task, option, value", [("asr", "max_items", 0),
                                                  ("asr", "max_items", -1),
                                                  ("ser", "max_folds", 0)])
def test_a_limit_below_one_is_refused_when_the_file_is_read(tmp_path, cli, task, option, value):
    """max_items 0/-1 was 'error: limit=-1: expected a positive number of items' from sweep run
    (no file, key or line; the dataset loader's name for it) and 'could not read the dataset'
    from sweep plan; max_folds 0 stored a SER configuration 'done' with 0 items and a NaN UA,
    exit 0. Now a spec error at load time, plan and run alike."""
    p = tmp_path / "s.yaml"
    p.write_text(f"task: {task}\ndata: {LIBRI}\nmodels: [tiny.en]\naxes: {{window: [3]}}\n"
                 f"task_options:\n  {option}: {value}\n")
    for cmd in (("sweep", "plan", p), ("sweep", "run", p, tmp_path / "s.db", "--no-progress")):
        cli(*cmd, code=2, has=(f"s.yaml, line 6: task_options.{option}: {value}: expected an "
                               "integer >= 1",))
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("task, option, value, has", [
    ("asr", "batch_size", 0, "batch_size=0: expected an integer >= 1"),
    ("ser", "folds", 1, "folds=1: need at least 2")])
def test_sweep_plan_names_an_option_the_task_refuses(tmp_path, cli, task, option, value, has):
    """sweep plan said 'could not read the dataset DATA: batch_size=0: ...' (a note, exit 0)
    where sweep run refuses the option as the spec's error (exit 2); now both do."""
    p = tmp_path / "s.yaml"
    p.write_text(f"task: {task}\ndata: {LIBRI}\nmodels: [tiny.en]\naxes: {{window: [3]}}\n"
                 f"task_options:\n  {option}: {value}\n")
    r = cli("sweep", "plan", p, code=2, has=(f"s.yaml, line 6: task_options.{option}: {has}",))
    assert "could not read the dataset" not in r.output
