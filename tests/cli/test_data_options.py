"""The options that say how a manifest is read (--audio-column ... --audio-root) are one set,
defined once (cli/options.py), on every command that reads a manifest. Before, `asr adapt` took
none of them (a manifest that `asr eval` read could not be adapted on: 'No such option:
--audio-column'), and `ser train` / `ser eval` had no --audio-root (a manifest kept apart from its
clips failed every clip)."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.main import get_command
from typer.testing import CliRunner

from speechbudget.cli import app, options

ASR_OPTIONS = {"audio_column": options.AUDIO_COLUMN, "text_column": options.TEXT_COLUMN,
               "speaker_column": options.SPEAKER_COLUMN, "id_column": options.ID_COLUMN,
               "audio_root": options.AUDIO_ROOT}
SER_OPTIONS = {"audio_column": options.AUDIO_COLUMN, "label_column": options.LABEL_COLUMN,
               "speaker_column": options.SPEAKER_COLUMN, "audio_root": options.AUDIO_ROOT}


def _callback(*names):
    cmd = get_command(app)
    for n in names:
        cmd = cmd.commands[n]
    return cmd.callback


@pytest.mark.parametrize("names, expected", [(("asr", "eval"), ASR_OPTIONS),
                                             (("asr", "adapt"), ASR_OPTIONS),
                                             (("ser", "train"), SER_OPTIONS),
                                             (("ser", "eval"), SER_OPTIONS)])
def test_every_command_that_reads_a_manifest_takes_the_one_definition(names, expected):
    params = inspect.signature(_callback(*names)).parameters
    assert {k: params[k].default for k in expected if k in params} == expected


def _stop(seen, what):
    """A stand-in for the work after the data is read: records `what` it got, then exit 0."""
    import typer

    def stand_in(*args, **kw):
        seen.append(args[1] if what == "dataset" else args)
        raise typer.Exit(0)
    return stand_in


def test_asr_adapt_reads_renamed_columns_from_the_audio_root(tmp_path, monkeypatch):
    import speechbudget.models.loading as loading
    import speechbudget.tasks.asr.data as asr_data
    (tmp_path / "disk" / "sub").mkdir(parents=True)
    sf.write(tmp_path / "disk" / "sub" / "x.wav", np.zeros(1600, np.float32), 16000)
    (tmp_path / "m.csv").write_text("recording,words,talker,key\nsub/x.wav,hello there,s1,u1\n")
    read: list = []
    real = asr_data.load_dataset

    def spy(*a, **kw):
        read.append(real(*a, **kw))
        return read[-1]
    monkeypatch.setattr(asr_data, "load_dataset", spy)
    monkeypatch.setattr(loading, "load_whisper", _stop([], "args"))  # no model, no training
    r = CliRunner().invoke(app, ["asr", "adapt", "--data", str(tmp_path / "m.csv"), "--out",
                                 str(tmp_path / "ad"), "--audio-root", str(tmp_path / "disk"),
                                 "--audio-column", "recording", "--text-column", "words",
                                 "--speaker-column", "talker", "--id-column", "key"])
    assert r.exit_code == 0, r.output
    (item,) = read[0].items
    assert (item.id, item.audio, item.text, item.speaker) == (
        "u1", tmp_path / "disk" / "sub" / "x.wav", "hello there", "s1")
    # a column the manifest lacks: the one line `asr eval` gives (exit 3), before any model
    bad = CliRunner().invoke(app, ["asr", "adapt", "--data", str(tmp_path / "m.csv"), "--out",
                                   str(tmp_path / "ad2"), "--audio-column", "wav"])
    assert bad.exit_code == 3 and "no column 'wav' for the audio" in bad.output


def _ser_csv(tmp_path, shared_emotion, n_per_actor=2):
    """A CSV of renamed columns whose audio paths are relative to the shared sample's folder
    (the clips by path, never copied)."""
    rows = [json.loads(x) for x in (shared_emotion / "manifest.jsonl").read_text().splitlines()
            if x.strip()]
    picked = [r for spk in ("Actor_01", "Actor_02")
              for r in [x for x in rows if x["speaker"] == spk][:n_per_actor]]
    (tmp_path / "e.csv").write_text("clip,feeling,who\n" + "".join(
        f'{r["audio"]},{r["label"].lower()},{r["speaker"]}\n' for r in picked))
    return picked


SER_COLUMNS = ["--audio-column", "clip", "--label-column", "feeling", "--speaker-column", "who"]


def test_ser_train_reads_relative_paths_from_the_audio_root(tmp_path, shared_emotion,
                                                            monkeypatch):
    import speechbudget.tasks.ser.api as runner
    picked = _ser_csv(tmp_path, shared_emotion)
    seen: list = []
    monkeypatch.setattr(runner, "train", _stop(seen, "dataset"))  # no training
    r = CliRunner().invoke(app, ["ser", "train", "--data", str(tmp_path / "e.csv"), "--out",
                                 str(tmp_path / "ck"), "--audio-root", str(shared_emotion),
                                 *SER_COLUMNS, "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    clips = seen[0].items
    assert [c.path for c in clips] == [shared_emotion / p["audio"] for p in picked]
    assert all(c.path.is_file() for c in clips)
    # without it, the paths are the CSV's folder's (where no clip is)
    seen.clear()
    CliRunner().invoke(app, ["ser", "train", "--data", str(tmp_path / "e.csv"), "--out",
                             str(tmp_path / "ck"), *SER_COLUMNS, "--device", "cpu"])
    assert [c.path for c in seen[0].items] == [tmp_path / p["audio"] for p in picked]


def test_ser_eval_reads_a_jsonl_manifest_from_the_audio_root(tmp_path, shared_emotion,
                                                             monkeypatch):
    import speechbudget.tasks.ser.checkpoint as checkpoint
    import speechbudget.tasks.ser.api as runner
    picked = _ser_csv(tmp_path, shared_emotion)
    (tmp_path / "e.jsonl").write_text("".join(  # the default columns, read without a mapping
        json.dumps({"audio": p["audio"], "label": p["label"], "speaker": p["speaker"]}) + "\n"
        for p in picked))
    seen: list = []
    monkeypatch.setattr(checkpoint, "read_meta", lambda folder: {})
    monkeypatch.setattr(runner, "evaluate", _stop(seen, "dataset"))  # no scoring
    r = CliRunner().invoke(app, ["ser", "eval", str(tmp_path / "ck"), "--data",
                                 str(tmp_path / "e.jsonl"), "--audio-root", str(shared_emotion),
                                 "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert [c.path for c in seen[0].items] == [shared_emotion / p["audio"] for p in picked]


def test_ser_audio_root_that_is_no_folder_or_beside_a_corpus_folder_is_exit_3(
        tmp_path, shared_emotion):
    _ser_csv(tmp_path, shared_emotion)
    r = CliRunner().invoke(app, ["ser", "train", "--data", str(tmp_path / "e.csv"), "--out",
                                 str(tmp_path / "ck"), "--audio-root", str(tmp_path / "none"),
                                 *SER_COLUMNS, "--device", "cpu"])
    assert r.exit_code == 3 and f"audio root {tmp_path / 'none'}: no such folder" in r.output
    (tmp_path / "rav" / "Actor_01").mkdir(parents=True)  # a RAVDESS folder: its files are clips
    r = CliRunner().invoke(app, ["ser", "train", "--data", str(tmp_path / "rav"), "--out",
                                 str(tmp_path / "ck"), "--audio-root", str(tmp_path),
                                 "--device", "cpu"])
    assert r.exit_code == 3 and "an audio root (--audio-root" in " ".join(r.output.split())


def test_an_ser_sweep_file_takes_the_audio_root_too(tmp_path, shared_emotion):
    """A sweep file's data mapping names what the commands take: SER's audio_root was refused
    ('data.audio_root: not a key of data for task ser') though `ser train --audio-root` reads it."""
    import yaml

    from speechbudget.sweep.spec import load_spec
    from speechbudget.tasks.ser.runner import SerTask
    picked = _ser_csv(tmp_path, shared_emotion)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "task": "ser", "models": ["tiny.en"], "axes": {"window": [1]}, "plan": "grid",
        "data": {"path": "e.csv", "audio_column": "clip", "label_column": "feeling",
                 "speaker_column": "who", "audio_root": str(shared_emotion)}}))
    spec = load_spec(tmp_path / "s.yaml")
    ds = SerTask().load_dataset(spec.data, **spec.data_options)
    # resolved: ../shared may be a link (CI's checkout), and the loader resolves the root
    assert [Path(c.path).resolve() for c in ds.items] == \
        [(shared_emotion / p["audio"]).resolve() for p in picked]
