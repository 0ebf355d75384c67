"""Probes of `speechbudget.WhisperModel` with the options a faster-whisper user passes (tiny
random model; no real weights)."""
from __future__ import annotations

import pytest


@pytest.fixture
def fake_model(monkeypatch, fake_bundle):
    from speechbudget.architectures import get_architecture
    from speechbudget.models import loading
    fake_bundle.arch = get_architecture("tiny.en")
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: fake_bundle)
    return fake_bundle


def test_device_auto_as_in_faster_whisper(fake_model):
    # faster-whisper's default is device="auto"; it was refused with torch's list of device types
    from speechbudget import WhisperModel
    from speechbudget.machine import default_device
    m = WhisperModel("tiny.en", device="auto")
    assert m.device == default_device()
