"""SER training and evaluation report progress through their callbacks with increasing counts
(features per batch, epochs, test clips; clips scored); `ser train` / `ser eval` draw a bar on
stderr (a terminal) and none with --no-progress."""
from __future__ import annotations

import io
from itertools import groupby

from rich.console import Console
from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.api import evaluate, train
from speechbudget.tasks.ser.options import TrainOptions


def _increasing(calls):
    return all(a[0] < b[0] for a, b in zip(calls, calls[1:]))


def test_train_and_evaluate_progress_counts_up(synthetic_manifest, tiny_wav2vec2, tmp_path):
    ds = load_dataset(synthetic_manifest)
    calls = []
    opts = TrainOptions(epochs=3, eval_batch_size=4, batch_size=4)
    result = train(Config(task="ser", model="wav2vec2-base", window=1.0), ds, tmp_path / "ck",
                   opts, source=str(tiny_wav2vec2), folds=3,
                   progress=lambda done, total, phase: calls.append((done, total, phase)))
    phases = [(k, list(g)) for k, g in groupby(calls, key=lambda c: c[2].split(":")[0])]
    assert [k for k, _ in phases] == ["features", "epoch", "test"]
    feats, epochs, test = (g for _, g in phases)
    assert _increasing(feats) and feats[-1][:2] == (result.n_train, result.n_train)
    assert len(feats) > 1  # one call per batch of 4
    assert [(d, t) for d, t, _ in epochs] == [(1, 3), (2, 3), (3, 3)]
    assert "loss" in epochs[0][2] and "val UA" in epochs[0][2]
    assert _increasing(test) and test[-1][0] == test[-1][1] == result.test.n
    scored = []
    m, items = evaluate(tmp_path / "ck", ds, batch_size=4,
                        progress=lambda done, total: scored.append((done, total)))
    assert _increasing(scored) and scored[-1] == (len(items), len(items)) and len(scored) > 1


def test_ser_cli_bar_and_no_progress(synthetic_manifest, tiny_whisper, tmp_path, monkeypatch):
    from speechbudget.cli import progress
    out = tmp_path / "ck"
    for extra, drawn in (([], True), (["--no-progress"], False)):
        buf = io.StringIO()
        monkeypatch.setattr(progress, "err_console", Console(file=buf, force_terminal=True))
        r = CliRunner().invoke(app, ["ser", "train", "--model", str(tiny_whisper), "--arch",
                                     "tiny.en", "--data", str(synthetic_manifest), "--duration",
                                     "1", "--epochs", "2", "--folds", "3", "--out", str(out),
                                     "--device", "cpu", "--head", "mlp", *extra])
        assert r.exit_code == 0, r.output
        assert ("epoch" in buf.getvalue()) is drawn, (extra, buf.getvalue()[-300:])
        buf = io.StringIO()
        monkeypatch.setattr(progress, "err_console", Console(file=buf, force_terminal=True))
        r = CliRunner().invoke(app, ["ser", "eval", str(out), "--data", str(synthetic_manifest),
                                     "--device", "cpu", *extra])
        assert r.exit_code == 0, r.output
        assert ("scoring" in buf.getvalue()) is drawn, (extra, buf.getvalue()[-300:])
