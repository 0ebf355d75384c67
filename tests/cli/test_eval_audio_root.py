"""`asr eval --audio-root DIR`: a manifest whose relative audio paths start somewhere else than
its own folder (NeMo / Hugging Face manifests written next to the code, audio on a data disk).
Before, there was no such option: every item failed 'no such audio file'."""
from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.records import ConfigMetrics, ItemResult


def _fake_evaluate(seen):
    def evaluate(cfg, ds, **kw):
        seen.append(ds)
        m = ConfigMetrics(config_key=cfg.key, task="asr", metric="wer", value=0.0, ci_low=0.0,
                          ci_high=0.0, n_items=1, rtfx=10.0, peak_mem_mb=1.0, gflops=1.0,
                          rtf=0.1, extra={"threads": 1, "failures": []})
        return m, [ItemResult(item_id="x", ok=True, prediction="hi", reference="hi", errors=0,
                              n_ref=1)]
    return evaluate


def test_asr_eval_reads_relative_paths_from_the_audio_root(tmp_path, monkeypatch):
    import speechbudget.tasks.asr.runner as runner
    (tmp_path / "disk" / "sub").mkdir(parents=True)
    sf.write(tmp_path / "disk" / "sub" / "x.wav", np.zeros(160, np.float32), 16000)
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_filepath": "sub/x.wav",
                                                  "text": "hi"}) + "\n")
    seen: list = []
    monkeypatch.setattr(runner, "evaluate", _fake_evaluate(seen))
    r = CliRunner().invoke(app, ["asr", "eval", "--data", str(tmp_path / "m.jsonl"),
                                 "--audio-root", str(tmp_path / "disk"), "--json",
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    (item,) = seen[0].items
    assert item.audio == tmp_path / "disk" / "sub" / "x.wav"
    assert len(seen[0].load_audio(item)) == 160


def test_asr_eval_audio_root_that_is_no_folder_is_exit_3(tmp_path, monkeypatch):
    import speechbudget.tasks.asr.runner as runner
    (tmp_path / "m.jsonl").write_text('{"audio": "x.wav", "text": "hi"}\n')
    monkeypatch.setattr(runner, "evaluate", _fake_evaluate([]))
    r = CliRunner().invoke(app, ["asr", "eval", "--data", str(tmp_path / "m.jsonl"),
                                 "--audio-root", str(tmp_path / "nowhere"), "--no-progress"])
    assert r.exit_code == 3, r.output
    assert r.output.strip().splitlines() == [f"error: audio root {tmp_path / 'nowhere'}: no such "
                                             "folder"]
