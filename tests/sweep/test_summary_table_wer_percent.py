"""`sweep run`'s summary table shows WER in percent, labelled so, as `runs list` and every other
table do (README: 'WER is shown in percent and labelled so'); it showed the fraction (0.0185)."""
from types import SimpleNamespace

from speechbudget.sweep.progress import Progress


def _summary(metric: str, value: float):
    cfg = SimpleNamespace(label="tiny.en 30s")
    m = SimpleNamespace(metric=metric, value=value, gflops=42.6, rtf=0.05, n_items=2,
                        n_failed=0)
    return SimpleNamespace(run_id=1, finished=1, failed=0, reused=0, seconds=1.0, rounds=0,
                           eliminated=[], failures={}, metrics=[(cfg, m)], none_scored=[])


def test_wer_in_percent(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    Progress(enabled=True).summary_table(_summary("wer", 0.0185), store=None)
    out = capsys.readouterr().out
    assert "1.85 %" in out
    assert "0.0185" not in out


def test_other_metric_as_it_is(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    Progress(enabled=True).summary_table(_summary("ua", 0.7234), store=None)
    out = capsys.readouterr().out
    assert "0.7234" in out and "%" not in out.split("tiny.en 30s")[1].splitlines()[0]
