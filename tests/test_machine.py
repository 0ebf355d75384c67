"""The cores recorded beside a measured RTF are the ones the process could run on (its CPU
affinity), not every core of the host: a sweep pinned to 2 of 64 cores (taskset, a container's
cpuset) recorded cores=64, and `recommend`'s RTF note named that machine."""
from __future__ import annotations

import os

import pytest

from speechbudget import machine


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 5}, raising=False)


def test_usable_cores_follow_the_affinity(pinned):
    assert machine.usable_cores() == 2
    assert machine.machine_info()["cores"] == 2


def test_the_sweep_environment_and_the_asr_record_use_them(pinned):
    from speechbudget.sweep.environment import environment
    from speechbudget.tasks.asr import runner
    assert environment("cpu", "local", 1)["cores"] == 2
    assert runner._machine()["cores"] == 2


def test_without_affinity_the_machine_count(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert machine.usable_cores() == 64
