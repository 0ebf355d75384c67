"""A hub id that cannot be fetched because the hub cannot be reached fails at once, saying so:
huggingface_hub retried each request with back-off for about a minute per model (speechbudget
transcribe --model openai/whisper-small took 60 s to say "couldn't connect"). The hub's host is
probed first; unreachable, a hub id loads from the Hugging Face cache only."""
from __future__ import annotations

import pytest

from speechbudget.models.hf_hub import hub_options, hub_unreachable
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.loading import load_ssl_backbone, load_whisper

NOWHERE = "https://hub.nonexistent.invalid"    # .invalid never resolves (RFC 2606)


@pytest.fixture
def no_hub(monkeypatch):
    for k in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", NOWHERE)


def test_probe_names_the_host(no_hub, monkeypatch, tmp_path):
    why = hub_unreachable()
    assert why is not None and why.startswith("hub.nonexistent.invalid:443: ")
    assert hub_options("owner/name") == {"local_files_only": True, "hub_unreachable": why}
    assert hub_options(str(tmp_path)) == {}               # a local folder: no hub involved
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert hub_unreachable() is None                       # through a proxy: not probed


@pytest.mark.parametrize("load", [load_whisper, load_ssl_backbone])
def test_hub_id_with_the_hub_unreachable_fails_saying_so(no_hub, load):
    with pytest.raises(ModelLoadError) as e:
        load("nobody/model-does-not-exist")
    msg = str(e.value)
    assert "'nobody/model-does-not-exist': the Hugging Face hub cannot be reached from here " \
           "(hub.nonexistent.invalid:443: " in msg and "not in the Hugging Face cache" in msg
    assert e.value.exit_code == 5
