"""`--data hf:NAME` with the Hugging Face hub out of reach fails at once, saying so: `datasets`
retried each request with back-off (25 s and a dozen 'Retrying in 8s' lines on stderr) before
'Couldn't reach ... on the Hub'. The hub's host is probed first, as for a model hub id."""
from __future__ import annotations

import pytest

from speechbudget.datasets import DatasetError, open_dataset

NOWHERE = "https://hub.nonexistent.invalid"    # .invalid never resolves (RFC 2606)


def test_a_hub_dataset_with_the_hub_unreachable_fails_at_once(monkeypatch):
    datasets = pytest.importorskip("datasets")
    for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HTTPS_PROXY", "https_proxy",
              "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", NOWHERE)
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda *a, **k: pytest.fail("the hub was tried while unreachable"))
    with pytest.raises(DatasetError, match=r"hf:owner/set:clean:test: the Hugging Face hub "
                                           r"cannot be reached from here \(hub\.nonexistent"
                                           r"\.invalid:443: .*HF_HUB_OFFLINE=1"):
        open_dataset("hf:owner/set:clean:test")


def test_offline_mode_reads_the_cache_as_datasets_does(monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", NOWHERE)
    called = []

    def load_dataset(name, config, split):
        called.append((name, config, split))
        raise ConnectionError("not in the cache")
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DatasetError, match="not in the cache"):
        open_dataset("hf:owner/set")
    assert called == [("owner/set", None, "test")]
