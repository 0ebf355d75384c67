"""A sweep's data may name one split of a saved DatasetDict as FOLDER:SPLIT, as `asr eval --data`
may (1618ee9). Loading the folder itself says 'a DatasetDict with splits train, test; name one
(FOLDER:SPLIT)', but the sweep file's data (and `sweep run --data`) took FOLDER:SPLIT for a path
and refused it: 'data: dd:test does not exist'."""
from __future__ import annotations

import pytest
import yaml

from speechbudget.datasets import DatasetError
from speechbudget.sweep.spec import load_spec
from speechbudget.sweep.spec_types import SpecError
from speechbudget.tasks.asr.data import load_dataset

SPEC = {"task": "asr", "models": ["tiny.en"], "axes": {"window": [10]}, "plan": "grid",
        "task_options": {"batch_size": 2, "warmup": False, "n_boot": 50}}


def _saved_dict(folder, bundled_librispeech):
    datasets = pytest.importorskip("datasets")
    rows = load_dataset(bundled_librispeech / "manifest.jsonl", limit=3).items
    table = datasets.Dataset.from_dict({"id": [it.id for it in rows],
                                        "audio": [str(it.audio) for it in rows],
                                        "text": [it.text for it in rows]})
    table = table.cast_column("audio", datasets.Audio(sampling_rate=None))
    datasets.DatasetDict({"train": table.select([0]), "test": table}).save_to_disk(
        str(folder / "dd"))
    return [it.id for it in rows]


def _spec(folder, data):
    p = folder / "s.yaml"
    p.write_text(yaml.safe_dump({**SPEC, "data": data}, sort_keys=False))
    return p


def test_a_split_of_a_saved_dataset_dict_is_a_sweeps_data(tmp_path, bundled_librispeech,
                                                          monkeypatch):
    ids = _saved_dict(tmp_path, bundled_librispeech)
    with pytest.raises(DatasetError, match=r"name one \(.*dd:SPLIT\)"):
        load_dataset(tmp_path / "dd")
    spec = load_spec(_spec(tmp_path, "dd:test"))           # relative to the spec's folder
    assert spec.data == f"{(tmp_path / 'dd').resolve()}:test"
    assert [it.id for it in load_dataset(spec.data).items] == ids
    monkeypatch.chdir(tmp_path)                             # --data: relative to the cwd
    other = tmp_path / "elsewhere"
    other.mkdir()
    spec = load_spec(_spec(other, "unused"), data="dd:train")
    assert [it.id for it in load_dataset(spec.data).items] == ids[:1]


def test_a_split_of_no_folder_is_still_refused(tmp_path):
    with pytest.raises(SpecError, match="nothere:test does not exist"):
        load_spec(_spec(tmp_path, "nothere:test"))
