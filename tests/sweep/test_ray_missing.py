"""Executor 'ray' without Ray installed: make_executor says what to install (a ValueError),
before any run starts. Ray is made unimportable here whether or not it is installed."""
from __future__ import annotations

import sys

import pytest

from speechbudget.sweep.executors import make_executor


def test_the_ray_executor_without_ray_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)   # `import ray` fails, find_spec finds none
    with pytest.raises(ValueError, match=r"executor 'ray' needs Ray: pip install"):
        make_executor("ray", workers=1)
