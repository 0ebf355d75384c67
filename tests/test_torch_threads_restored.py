"""tests/conftest.py's `torch_threads_restored`: a test that changes torch's thread count does
not leave it changed for the tests after it (they would run on one thread)."""
from __future__ import annotations

import torch

from tests.conftest import TORCH_THREADS


def test_a_test_may_set_one_thread():
    torch.set_num_threads(1)
    assert torch.get_num_threads() == 1


def test_the_next_test_runs_on_the_suites_threads():
    assert torch.get_num_threads() == TORCH_THREADS
