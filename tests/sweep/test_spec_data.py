"""A sweep file's `data` as a mapping: a manifest whose columns have other names (ASR's
--audio-column / --text-column / --speaker-column / --id-column / --audio-root, SER's
--audio-column / --label-column / --speaker-column). The commands took these; a sweep could
not ('data: {...} is not a path'), so such a manifest could not be swept."""
from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.models.offline import offline_installed
from speechbudget.sweep.spec import load_spec
from speechbudget.sweep.spec_types import SpecError

ASR = {"task": "asr", "models": ["tiny.en"], "axes": {"window": [10]}, "plan": "grid",
       "task_options": {"batch_size": 2, "warmup": False, "n_boot": 50}}
SER = {"task": "ser", "models": ["tiny.en"], "axes": {"window": [1]}, "plan": "grid",
       "task_options": {"folds": 2, "max_folds": 1, "epochs": 1, "head": "linear"}}


def _spec(folder, data, base=ASR, file="s.yaml", **keys):
    p = folder / file
    p.write_text(yaml.safe_dump({**base, "data": data, **keys}, sort_keys=False))
    return p


def _asr_csv(folder, librispeech, n=2):
    """The n shortest bundled utterances as a CSV of renamed columns, audio paths relative to
    the bundled folder (given as audio_root); a second transcript column in lower case."""
    rows = [json.loads(x) for x in (librispeech / "manifest.jsonl").read_text().splitlines()
            if x.strip()]
    rows = sorted(rows, key=lambda r: (r["duration_s"], r["id"]))[:n]
    lines = ["recording,reference,talker,lower"] + [
        f'{r["audio"]},"{r["text"]}",{r["speaker"]},"{r["text"].lower()}"' for r in rows]
    (folder / "m.csv").write_text("\n".join(lines) + "\n")
    return rows


def _error_line(output: str) -> str:
    """The command's error (rich wraps it at the terminal's width: joined again)."""
    return " ".join(output[output.index("error: "):].split())


def test_a_plain_path_reads_as_before_and_keeps_its_digest(tmp_path):
    (tmp_path / "m.jsonl").write_text("")
    spec = load_spec(_spec(tmp_path, "m.jsonl"))
    assert spec.data == str(tmp_path / "m.jsonl") and spec.data_options == {}
    assert "data_options" not in spec.to_dict()  # older specs keep their digests
    mapped = load_spec(_spec(tmp_path, {"path": "m.jsonl"}, file="t.yaml", name="s"))
    assert (mapped.data, mapped.data_options, mapped.digest) == (spec.data, {}, spec.digest)


def test_a_mapping_names_columns_and_an_audio_root_relative_to_the_spec(tmp_path):
    (tmp_path / "m.csv").write_text("recording,reference\n")
    (tmp_path / "clips").mkdir()
    spec = load_spec(_spec(tmp_path, {"path": "m.csv", "audio_column": "recording",
                                      "text_column": "reference", "id_column": "k",
                                      "speaker_column": "who", "audio_root": "clips"}))
    assert spec.data == str(tmp_path / "m.csv")
    assert spec.data_options == {"audio_column": "recording", "text_column": "reference",
                                 "id_column": "k", "speaker_column": "who",
                                 "audio_root": str(tmp_path / "clips")}
    assert spec.to_dict()["data_options"] == spec.data_options
    ser = load_spec(_spec(tmp_path, {"path": "m.csv", "audio_column": "recording",
                                     "label_column": "feeling", "speaker_column": "who"},
                          base=SER, file="ser.yaml"))
    assert ser.data_options == {"audio_column": "recording", "label_column": "feeling",
                                "speaker_column": "who"}
    # --data replaces the path; the columns still say how to read it
    (tmp_path / "other.csv").write_text("recording,reference\n")
    over = load_spec(tmp_path / "s.yaml", data=str(tmp_path / "other.csv"))
    assert over.data == str(tmp_path / "other.csv") and over.data_options == spec.data_options


@pytest.mark.parametrize("base,data,key,message", [
    (ASR, {"path": "m.csv", "text_colum": "x"}, "data.text_colum",
     "not a key of data for task asr; keys are path, audio_column, text_column, speaker_column, "
     "id_column, audio_root"),
    (SER, {"path": "m.csv", "text_column": "x"}, "data.text_column",
     "not a key of data for task ser; keys are path, audio_column, label_column, speaker_column"),
    (SER, {"path": "m.csv", "audio_root": "nowhere"}, "data.audio_root",  # a key since ser
     "nowhere: no such folder"),                                            # train has it
    (ASR, {"path": "m.csv", "audio_column": 3}, "data.audio_column",
     "3: expected a column name (a non-empty string)"),
    (ASR, {"path": "m.csv", "text_column": ""}, "data.text_column", "expected a column name"),
    (ASR, {"path": "m.csv", "audio_root": "nowhere"}, "data.audio_root",
     "nowhere: no such folder"),
    (ASR, {"path": "missing.csv"}, "data.path", "missing.csv does not exist"),
    (ASR, {"path": None}, "data.path", "null: expected the data's path"),
    (ASR, {"path": ["m.csv"]}, "data.path", "['m.csv'] is not a path"),
])
def test_a_wrong_data_mapping_is_a_spec_error_naming_its_line(tmp_path, base, data, key,
                                                               message):
    (tmp_path / "m.csv").write_text("a,b\n")
    p = tmp_path / "s.yaml"
    p.write_text("\n".join([yaml.safe_dump({k: v for k, v in base.items()}, sort_keys=False),
                            "data:", *(f"  {k}: {json.dumps(v)}" for k, v in data.items())]))
    line = p.read_text().splitlines().index(f"  {key.split('.')[1]}: "
                                            f"{json.dumps(data[key.split('.')[1]])}") + 1
    with pytest.raises(SpecError) as e:
        load_spec(p)
    assert str(e.value).startswith(f"{p}, line {line}: {key}: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_a_runners_data_is_a_path_only(tmp_path):
    from tests.sweep.conftest import FAKE_RUNNER
    (tmp_path / "m.csv").write_text("a,b\n")
    with pytest.raises(SpecError, match=r"data.audio_column: a runner's load_dataset takes the "
                                        r"data's path only"):
        load_spec(_spec(tmp_path, {"path": "m.csv", "audio_column": "a"}, runner=FAKE_RUNNER))
    assert load_spec(_spec(tmp_path, {"path": "m.csv"}, runner=FAKE_RUNNER, file="t.yaml")
                     ).data == str(tmp_path / "m.csv")


needs_tiny = pytest.mark.skipif(not offline_installed("tiny.en"),
                                reason="the bundled tiny.en weights are not installed")


@needs_tiny
def test_an_asr_sweep_of_a_csv_of_renamed_columns(tmp_path, bundled_librispeech, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = _asr_csv(tmp_path, bundled_librispeech)
    data = {"path": "m.csv", "audio_column": "recording", "text_column": "reference",
            "speaker_column": "talker", "audio_root": str(bundled_librispeech)}
    run = CliRunner().invoke(app, ["sweep", "run", str(_spec(tmp_path, data)), "r.db",
                                   "--no-progress"])
    assert run.exit_code == 0, run.output
    from speechbudget.sweep import ResultsStore
    with ResultsStore(tmp_path / "r.db") as st:
        (c,) = st.configs()
        items = st.items(c["key"])
    assert c["status"] == "done" and all(i.ok for i in items)
    assert sorted((i.item_id, i.reference) for i in items) == sorted(
        (r["audio"], r["text"]) for r in rows)
    # another transcript column of the same manifest is other results: not mixed into these
    again = CliRunner().invoke(app, ["sweep", "run", str(_spec(
        tmp_path, {**data, "text_column": "lower"}, file="t.yaml")), "r.db", "--no-progress"])
    assert again.exit_code == 4 and "other reference transcripts than data.text_column" in \
        " ".join(again.output.split()), again.output
    # a column the manifest lacks: the one line `asr eval --text-column` gives, exit 3, no store
    bad = CliRunner().invoke(app, ["sweep", "run", str(_spec(
        tmp_path, {**data, "text_column": "words"}, file="bad.yaml")), "bad.db", "--no-progress"])
    cli = CliRunner().invoke(app, ["asr", "eval", "--data", str(tmp_path / "m.csv"),
                                   "--audio-column", "recording", "--text-column", "words"])
    assert bad.exit_code == cli.exit_code == 3
    line = f"error: {tmp_path / 'm.csv'}: no column 'words' for the text; columns are " \
           "'recording', 'reference', 'talker', 'lower'"
    assert _error_line(bad.output) == _error_line(cli.output) == line
    assert not (tmp_path / "bad.db").exists()


@needs_tiny
def test_a_ser_sweep_of_a_manifest_of_renamed_columns(tmp_path, shared_emotion):
    rows = [json.loads(x) for x in (shared_emotion / "manifest.jsonl").read_text().splitlines()
            if x.strip()]
    picked = [r for spk in ("Actor_01", "Actor_02") for lab in ("ANG", "SAD")
              for r in [x for x in rows if x["speaker"] == spk and x["label"] == lab][:2]]
    # the shared clips by their path (never copied); labels as the dataset's words
    (tmp_path / "e.csv").write_text("clip,feeling,who\n" + "".join(
        f'{shared_emotion / r["audio"]},{r["label"].lower()},{r["speaker"]}\n' for r in picked))
    data = {"path": "e.csv", "audio_column": "clip", "label_column": "feeling",
            "speaker_column": "who"}
    p = _spec(tmp_path, data, base=SER)
    run = CliRunner().invoke(app, ["sweep", "run", str(p), str(tmp_path / "s.db"),
                                   "--no-progress"])
    assert run.exit_code == 0, run.output
    from speechbudget.sweep import ResultsStore
    with ResultsStore(tmp_path / "s.db") as st:
        (c,) = st.configs()
        items = st.items(c["key"])
    assert c["status"] == "done" and len(items) == 4 and all(i.ok for i in items)
    assert {i.reference for i in items} == {"ANG", "SAD"}
    bad = CliRunner().invoke(app, ["sweep", "run", str(_spec(
        tmp_path, {**data, "speaker_column": "actor"}, base=SER, file="bad.yaml")),
        str(tmp_path / "bad.db"), "--no-progress"])
    cli = CliRunner().invoke(app, ["ser", "train", "--data", str(tmp_path / "e.csv"),
                                   "--audio-column", "clip", "--label-column", "feeling",
                                   "--speaker-column", "actor", "--out", str(tmp_path / "o")])
    assert bad.exit_code == cli.exit_code == 3
    assert _error_line(bad.output) == _error_line(cli.output) == (
        f"error: {tmp_path / 'e.csv'}: no column 'actor' for the speaker; columns are 'clip', "
        "'feeling', 'who'")
