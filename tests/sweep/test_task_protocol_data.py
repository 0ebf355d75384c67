"""What a task's load_dataset receives: the path, and the data options of a spec's `data:`
mapping as keywords (AsrTask / SerTask since 38d37b0). The Task protocol, which a custom runner's
author reads, still showed `load_dataset(source)` only; and a custom runner that takes only the
path must still run (its spec's data names no options)."""
from __future__ import annotations

import inspect

import yaml
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep.spec_data import DATA_OPTIONS
from speechbudget.tasks.asr.runner import AsrTask
from speechbudget.tasks.base import Task
from speechbudget.tasks.ser.runner import SerTask


def test_the_protocol_says_load_dataset_takes_the_data_options_as_keywords():
    params = inspect.signature(Task.load_dataset).parameters
    assert [p.kind for p in params.values()][-1] is inspect.Parameter.VAR_KEYWORD
    doc = inspect.getdoc(Task.load_dataset)
    for task in (AsrTask, SerTask):  # the names it lists are the built-in tasks' own keywords
        names = [n for n, p in inspect.signature(task.load_dataset).parameters.items()
                 if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD][2:]  # self, source
        assert tuple(names) == DATA_OPTIONS[task.name]
        assert f"{task.__name__}: {', '.join(names)}" in " ".join(doc.split())


def test_a_custom_runner_taking_the_path_only_runs_with_data_as_a_mapping(tmp_path,
                                                                         bundled_librispeech):
    from tests.sweep.conftest import FAKE_RUNNER
    from tests.sweep.fake_task import FakeTask
    assert list(inspect.signature(FakeTask.load_dataset).parameters) == ["self", "source"]
    for name, data in (("path", str(bundled_librispeech)),
                       ("mapping", {"path": str(bundled_librispeech)})):
        spec = {"task": "asr", "data": data, "runner": FAKE_RUNNER,
                "task_options": {"n_items": 4, "batch_size": 2}, "models": ["tiny.en"],
                "axes": {"window": [30, 10]}, "plan": "grid"}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec))
        r = CliRunner().invoke(app, ["sweep", "run", str(tmp_path / f"{name}.yaml"),
                                     str(tmp_path / f"{name}.db"), "--no-progress",
                                     "--allow-runner"])
        assert r.exit_code == 0, r.output
        from speechbudget.sweep import ResultsStore
        with ResultsStore(tmp_path / f"{name}.db") as st:
            assert sorted(c["status"] for c in st.configs()) == ["done", "done"]
