"""Shared test fixtures: data locations. Area-specific fixtures live in tests/<area>/conftest.py."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
BUNDLED_LIBRISPEECH = REPO / "data" / "librispeech_sample"
SHARED_DATA = Path(os.environ.get("SPEECHBUDGET_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def bundled_librispeech() -> Path:
    return BUNDLED_LIBRISPEECH


@pytest.fixture(scope="session")
def shared_librispeech() -> Path:
    p = SHARED_DATA / "librispeech_sample"
    if not (p / "manifest.jsonl").exists():
        pytest.skip(f"{p} not present (it is in CI)")
    return p


@pytest.fixture(scope="session")
def shared_emotion() -> Path:
    p = SHARED_DATA / "emotion_sample"
    if not (p / "manifest.jsonl").exists():
        pytest.skip(f"{p} not present (it is in CI)")
    return p


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` are skipped where torch sees no CUDA GPU (benchmarks/gpu_check.sh)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run benchmarks/gpu_check.sh on one)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
