"""A CTranslate2 folder whose vocabulary file lists another number of tokens than its weights
have rows (a cut-off vocabulary.txt, or another model's) loaded without a word; it now warns,
naming the folder and both counts. A consistent folder loads silently."""
from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import pytest

from speechbudget.models.loading import load_whisper

HERE = Path(__file__).resolve().parent


def _test_module(name: str):
    spec = importlib.util.spec_from_file_location(f"_sb_test_{name}_voc", HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def ct2_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    ct2, loading = _test_module("test_ct2"), _test_module("test_loading")
    folder = ct2.write_ct2_folder(tmp_path / "m", ct2.tiny_whisper(seed=3), "float16")
    loading.save_tokenizer(folder)
    return folder


def test_a_vocabulary_of_another_size_warns(ct2_folder):
    # an empty token is a line too (multilingual Whisper has one at 50256)
    (ct2_folder / "vocabulary.txt").write_text("\n".join("" if i == 7 else f"t{i}"
                                                         for i in range(51864)) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_whisper(str(ct2_folder))                 # 51864 tokens, 51864 rows: silent
    (ct2_folder / "vocabulary.txt").write_text("\n".join(f"t{i}" for i in range(51000)))
    with pytest.warns(UserWarning, match=r"m: its vocabulary file lists 51000 tokens, the "
                                         r"weights have 51864"):
        load_whisper(str(ct2_folder))
    (ct2_folder / "vocabulary.txt").unlink()
    (ct2_folder / "vocabulary.json").write_text(json.dumps([f"t{i}" for i in range(51865)]))
    with pytest.warns(UserWarning, match="lists 51865 tokens"):
        load_whisper(str(ct2_folder))
