"""A corpus case that patches a module must leave every module as it found it, also when its
patch is what first imports one. The fault case that patches load_dataset once set
tasks.asr.data.load_dataset and then named tasks.asr.runner, whose first import (during the
patch) bound the patched function; monkeypatch then 'restored' that, and a -k subset that ran the
case first (`-k "fault or store"`) failed later cases with its 'x.db: locked by a test'.
Checked in a fresh interpreter, where nothing has imported the runner yet."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHECK = """
import importlib.util, sys, tempfile
from pathlib import Path
from _pytest.monkeypatch import MonkeyPatch

def load(name):
    spec = importlib.util.spec_from_file_location(name, Path(sys.argv[1]) / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

conftest, corpus = load("conftest"), load("test_corpus")
assert "speechbudget.tasks.asr.runner" not in sys.modules, "the check needs a fresh runner"
from speechbudget.tasks.asr import data
real = data.load_dataset
patches = MonkeyPatch()
try:
    with tempfile.TemporaryDirectory() as tmp:
        corpus.CASES[sys.argv[2]](Path(tmp), conftest.Cli(), patches)
finally:
    patches.undo()
from speechbudget.tasks.asr import runner
assert data.load_dataset is real, data.load_dataset
assert runner.load_dataset is real, f"runner.load_dataset left as {runner.load_dataset}"
"""


def test_the_load_dataset_fault_case_leaves_the_runner_unpatched():
    case = "fault:domain_error_escaping_a_command_gets_its_exit_code"
    env = dict(os.environ, COLUMNS="250", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", CHECK, str(HERE), case], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
