"""Sweep test helpers: specs that use the test-double task (tests/sweep/fake_task.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
FAKE_RUNNER = f"{HERE / 'fake_task.py'}:FakeTask"


@pytest.fixture
def write_spec(tmp_path, bundled_librispeech):
    """write_spec(**keys) -> path of a YAML sweep file (fake task on the bundled sample)."""
    def make(name: str = "spec", **keys) -> Path:
        d = {"task": "asr", "data": str(bundled_librispeech), "runner": FAKE_RUNNER,
             "task_options": {"n_items": 6, "batch_size": 2}, "models": ["tiny.en", "base"],
             "axes": {"window": [30, 10], "stride": [1, 2], "beam": [1, 2]}, "plan": "star"}
        d.update(keys)
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump(d))
        return p
    return make
