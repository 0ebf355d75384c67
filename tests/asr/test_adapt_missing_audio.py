"""`asr adapt` stopped with exit 3 on the first item whose audio file was missing, where every
other per-item failure (and evaluation) skips the item. It is now skipped and said ('skipped 1 of
3 utterances (first: ...)'), and the adapter trains on the others; exit 3 only when none is left."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from .conftest import build_tiny_whisper, tiny_bundle, tone_rows


def _manifest(tmp_path, rows):
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_a_missing_audio_file_is_skipped_and_said(tmp_path, monkeypatch):
    import speechbudget.models.loading as loading
    from speechbudget.cli import app

    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    rows = [{**r, "text": "w1 w2"} for r in tone_rows(tmp_path, "a", [1.2, 1.7], 180)]
    rows.insert(1, {"id": "gone", "audio": "gone.flac", "text": "w3"})
    _manifest(tmp_path, rows)
    out = tmp_path / "adapter"
    r = CliRunner().invoke(app, ["asr", "adapt", "--window", "4", "--rank", "2", "--steps", "2",
                                 "--batch-size", "2", "--data", str(tmp_path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "skipped 1 of 3 utterances (first: gone:" in text and "gone.flac" in text
    info = json.loads((out / "adapter.json").read_text())
    assert info["train_items"]["count"] == 2 and "gone" not in info["train_items"]["ids"]


def test_no_readable_audio_is_exit_3_naming_the_first(tmp_path, monkeypatch):
    import speechbudget.models.loading as loading
    from speechbudget.cli import app

    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    _manifest(tmp_path, [{"id": "gone", "audio": "gone.flac", "text": "w3"},
                         {"id": "also", "audio": "also.flac", "text": "w4"}])
    r = CliRunner().invoke(app, ["asr", "adapt", "--window", "4", "--rank", "2", "--steps", "2",
                                 "--data", str(tmp_path), "--out", str(tmp_path / "adapter")])
    assert r.exit_code == 3, r.output
    text = " ".join(r.output.split())
    assert "no utterance to adapt on" in text and "gone.flac" in text
    assert not (tmp_path / "adapter" / "adapter.json").exists()
