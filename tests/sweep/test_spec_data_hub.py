"""A sweep's data may be a Hugging Face hub dataset, as examples/README.md says (`hf:NAME`): the
spec's `hf:...` was refused as a path that does not exist, and a bare "org/name" was kept as
given, which open_dataset refuses ('no such manifest or folder'). Both now reach open_dataset
as `hf:...`; nothing here reaches the hub."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from speechbudget.datasets.open import open_dataset
from speechbudget.sweep.spec_paths import resolve_data


def test_hub_datasets_are_kept_as_open_dataset_reads_them(tmp_path):
    assert resolve_data("hf:openslr/librispeech_asr:clean:test", tmp_path, True) == \
        "hf:openslr/librispeech_asr:clean:test"
    assert resolve_data("openslr/librispeech_asr", tmp_path, True) == "hf:openslr/librispeech_asr"
    assert resolve_data("hf:", tmp_path, True) is None
    assert resolve_data("no/such.jsonl", tmp_path, True) is None      # a missing file stays one


def test_a_folder_named_like_a_hub_id_is_still_the_folder(tmp_path, monkeypatch):
    (tmp_path / "org" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve_data("org/name", Path("."), False) == str((tmp_path / "org" / "name").resolve())


def test_open_dataset_takes_what_resolve_data_gives(tmp_path, monkeypatch):
    from speechbudget.datasets import hf
    seen, ds = [], SimpleNamespace(records=[])
    monkeypatch.setattr(hf, "load_hub", lambda name, columns, need: seen.append(name) or ds)
    assert open_dataset(resolve_data("openslr/librispeech_asr", tmp_path, True)) is ds
    assert seen == ["openslr/librispeech_asr"]
