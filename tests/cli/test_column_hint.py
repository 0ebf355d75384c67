"""A manifest with none of a role's usual column names: the error's hint says how to name one,
on the command line and in a sweep file. The same reader (datasets/manifest.py) serves both; it
said '(choose one with --audio-column)' in a sweep too, where the key is data.audio_column."""
from __future__ import annotations

import yaml
from typer.testing import CliRunner

from speechbudget.cli import app


def _line(output: str) -> str:
    """The error line (rich wraps it at the terminal's width: joined again)."""
    return " ".join(output[output.index("error: "):].split())


def _sweep(tmp_path, task, data, **task_options):
    spec = {"task": task, "models": ["tiny.en"], "axes": {"window": [1 if task == "ser" else 10]},
            "plan": "grid", "data": data, "task_options": task_options}
    (tmp_path / f"{task}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return CliRunner().invoke(app, ["sweep", "run", str(tmp_path / f"{task}.yaml"),
                                    str(tmp_path / f"{task}.db"), "--no-progress"])


def test_no_audio_column_names_the_option_and_the_sweep_key(tmp_path):
    (tmp_path / "m.csv").write_text("recording,text\nx.wav,hi\n")
    cli = CliRunner().invoke(app, ["asr", "eval", "--data", str(tmp_path / "m.csv")])
    sweep = _sweep(tmp_path, "asr", str(tmp_path / "m.csv"), batch_size=2)
    assert cli.exit_code == sweep.exit_code == 3
    assert _line(cli.output) == _line(sweep.output)  # one message, right in both
    assert _line(cli.output).endswith("columns are 'recording', 'text' (choose one with "
                                      "--audio-column or, in a sweep file, data.audio_column)")
    assert not (tmp_path / "asr.db").exists()


def test_no_label_column_in_an_ser_manifest_names_both(tmp_path):
    (tmp_path / "e.csv").write_text("audio,feeling,speaker\nx.wav,ang,a\n")
    cli = CliRunner().invoke(app, ["ser", "train", "--data", str(tmp_path / "e.csv"), "--out",
                                   str(tmp_path / "ck"), "--device", "cpu"])
    sweep = _sweep(tmp_path, "ser", {"path": str(tmp_path / "e.csv")}, folds=2)
    assert cli.exit_code == sweep.exit_code == 3
    assert _line(cli.output) == _line(sweep.output)
    assert "(choose one with --label-column or, in a sweep file, data.label_column)" in \
        _line(sweep.output)
