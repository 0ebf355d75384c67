"""`ser train` on data with an unreadable clip said "1 clip(s) skipped, e.g. <clip id>: <path>:
<why>": the clip id (a file name for a folder's clips) and then the reason, which names the same
file again by its full path. Now the reason alone, its path relative to the data folder."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.cli import app


def test_a_skipped_clip_is_named_once_relative_to_the_data(synthetic_manifest, tiny_whisper,
                                                           tmp_path):
    rows = [json.loads(x) for x in synthetic_manifest.read_text().splitlines()]
    data = tmp_path / "data"
    (data / "weird").mkdir(parents=True)
    for r in rows:
        r["audio"] = str(synthetic_manifest.parent / r["audio"])
    (data / "weird" / "0_DIS.wav").write_bytes(b"not audio at all")
    rows[0]["audio"] = "weird/0_DIS.wav"
    rows[0]["id"] = "0_DIS.wav"
    m = data / "m.jsonl"
    m.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = CliRunner().invoke(app, ["ser", "train", "--no-progress", "--device", "cpu", "--model",
                                 str(tiny_whisper), "--arch", "tiny.en", "--data", str(m),
                                 "--duration", "1", "--folds", "3", "--epochs", "1",
                                 "--allow-failures", "--out", str(tmp_path / "ck")])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if "clip(s) skipped" in x)
    assert "1 clip(s) skipped, e.g. weird/0_DIS.wav: " in line, line
    assert "0_DIS.wav: weird/0_DIS.wav" not in line, line   # (decoders quote the file too)
    assert str(data) not in line, line
