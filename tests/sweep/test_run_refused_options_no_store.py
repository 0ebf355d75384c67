"""A spec whose task refuses its options (an invalid value) is exit 2 and leaves nothing behind:
no store file where there was none, and an existing store byte-identical (no run recorded)."""
from __future__ import annotations

import yaml
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep.store import ResultsStore


def _spec(tmp_path, bundled_librispeech):
    p = tmp_path / "bad_option.yaml"
    p.write_text(yaml.safe_dump({
        "task": "asr", "data": str(bundled_librispeech), "models": ["tiny.en"], "plan": "star",
        "task_options": {"mel_padding": "silense"}, "axes": {"window": [10], "stride": [1]}}))
    return p


def _run(spec, db):
    return CliRunner().invoke(app, ["sweep", "run", str(spec), str(db), "--no-progress",
                                    "--device", "cpu"])


def test_refused_task_option_creates_no_store(tmp_path, bundled_librispeech):
    db = tmp_path / "new.db"
    r = _run(_spec(tmp_path, bundled_librispeech), db)
    assert r.exit_code == 2, r.output
    assert "task_options.mel_padding" in r.output and "silense" in r.output
    assert not db.exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bad_option.yaml"]


def test_refused_task_option_leaves_existing_store_unchanged(tmp_path, bundled_librispeech):
    db = tmp_path / "old.db"
    ResultsStore(db).close()
    spec = _spec(tmp_path, bundled_librispeech)
    before = {x.name: x.read_bytes() for x in tmp_path.iterdir()}
    r = _run(spec, db)
    assert r.exit_code == 2, r.output
    assert {x.name: x.read_bytes() for x in tmp_path.iterdir()} == before
    with ResultsStore(db, readonly=True) as st:
        assert st.runs() == []
