"""build_report calls its progress callback per phase with increasing counts up to the total;
`report` draws a bar on stderr (a terminal) and none with --no-progress."""
from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.report.build import PHASES_PER_TASK, build_report


def test_build_report_progress_counts_up(realistic_results, tmp_path):
    calls = []
    build_report(realistic_results, tmp_path / "r", n_bootstrap=3,
                 progress=lambda done, total, phase: calls.append((done, total, phase)))
    total = PHASES_PER_TASK * 2 + 1  # two tasks, then writing
    assert [d for d, _, _ in calls] == list(range(1, total + 1))
    assert {t for _, t, _ in calls} == {total}
    assert any("scaling fit" in p for _, _, p in calls) and calls[-1][2] == "written"
    assert (tmp_path / "r" / "index.html").exists()


def test_report_cli_bar_and_no_progress(realistic_results, tmp_path, monkeypatch):
    from speechbudget.cli import progress
    from speechbudget.sweep.store import ResultsStore
    path = tmp_path / "runs.db"
    st = ResultsStore(path)
    run = st.start_run({"name": "t"}, {"cpu": "x", "cores": 2, "torch_threads": 1,
                                        "device": "cpu", "executor": "local", "workers": 1})
    for c, m in realistic_results:
        st.register_config(c, m.gflops, {"dataset": "made-up"}, run)
        st.set_metrics(c.key, m, run)
    st.finish_run(run)
    st.close()
    for extra, drawn in (([], True), (["--no-progress"], False)):
        buf = io.StringIO()
        monkeypatch.setattr(progress, "err_console", Console(file=buf, force_terminal=True))
        r = CliRunner().invoke(app, ["report", str(path), "-o", str(tmp_path / f"o{drawn}"),
                                     "--bootstrap", "2", "--static", *extra])
        assert r.exit_code == 0, r.output
        assert ("recommendation" in buf.getvalue()) is drawn, (extra, buf.getvalue()[-300:])
