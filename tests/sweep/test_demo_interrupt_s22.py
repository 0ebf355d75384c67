"""`speechbudget demo --out DIR` interrupted, then run again on DIR.

1. Ctrl-C ended it with exit 130 and no word (typer's own handling): nothing said that what
   finished was kept nor how to go on, as `sweep run` says.
2. `kill PID` (SIGTERM) killed it outright (exit -15, no line) and left its run marked 'running'
   in DIR/runs.db (`sweep run` handles SIGTERM as Ctrl-C: 'interrupted').
3. Run again on the same DIR, it said nothing of resuming or starting afresh.
Now both signals end it with 'interrupted: finished shards are in DIR/runs.db; run the same
command again to resume' (before DIR/runs.db exists: that nothing was stored yet) and exit 130,
and it first says whether it starts or resumes the store.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep import ResultsStore, run_sweep

REPO = Path(__file__).resolve().parents[2]


def _demo(monkeypatch, out: Path):
    def interrupted_demo(out_dir, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr("speechbudget.demo.run_demo", interrupted_demo)
    return CliRunner().invoke(app, ["demo", "--out", str(out), "--no-ser", "--device", "cpu"],
                              env={"COLUMNS": "400"})


def _lines(text: str) -> list[str]:
    return [x.rstrip() for x in text.splitlines()]


def test_ctrl_c_says_what_is_kept_and_that_it_starts_a_new_store(tmp_path, monkeypatch):
    res = _demo(monkeypatch, tmp_path / "d")
    assert res.exit_code == 130, res.output
    store = tmp_path / "d" / "runs.db"
    assert _lines(res.stderr) == [
        f"starting the demo: results go to {store}",   # interrupted before it created the store
        f"interrupted: nothing was stored yet ({store} not created); run the same command "
        "again to start"]


def test_a_rerun_says_it_resumes_and_what_the_store_holds(window_store, monkeypatch):
    with ResultsStore(window_store, readonly=True) as st:
        done = len(st.configs(status="done"))
    assert done >= 1
    res = _demo(monkeypatch, window_store.parent)
    assert res.exit_code == 130, res.output
    assert _lines(res.stderr)[0] == (f"resuming the demo from {window_store} ({done} "
                                     "configuration(s) finished there): only what is missing "
                                     "is computed")


SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import speechbudget.demo as demo
    from speechbudget.sweep import driver, run_sweep
    spec, out = sys.argv[1], sys.argv[2]
    claims = []
    claim = driver.Sweep.claim

    def claim_then_sigterm(self, u):  # `kill PID` as the second shard starts
        claims.append(u)
        if len(claims) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return claim(self, u)
    driver.Sweep.claim = claim_then_sigterm

    def one_sweep_demo(out_dir, **kw):
        run_sweep(spec, out_dir / "runs.db", device="cpu", allow_runner=True)
        raise SystemExit("not interrupted")
    demo.run_demo = one_sweep_demo
    from speechbudget.cli import main
    sys.argv = ["speechbudget", "demo", "--out", out, "--no-ser", "--device", "cpu"]
    main()
""")


def test_sigterm_ends_the_demo_as_ctrl_c_and_a_rerun_computes_only_the_rest(write_spec,
                                                                            tmp_path):
    spec = write_spec(models=["tiny.en"], axes={"window": [30]},
                      task_options={"n_items": 6, "batch_size": 2})
    script = tmp_path / "demo_sigterm.py"
    script.write_text(SCRIPT)
    out = tmp_path / "d"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, str(script), str(spec), str(out)], env=env, cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    store = out / "runs.db"
    assert p.returncode == 130, p.stdout + p.stderr
    assert (f"interrupted: finished shards are in {store}; run the same command again to "
            "resume") in _lines(p.stderr)
    assert "Traceback" not in p.stderr
    with ResultsStore(store, readonly=True) as st:
        assert [r["status"] for r in st.runs()] == ["interrupted"]
        kept = st.n_items()
    assert kept >= 2                     # the first shard (2 items) is kept
    again = run_sweep(spec, store, device="cpu", allow_runner=True)
    assert again.finished == 1
    assert again.items_run == 6 - kept   # nothing stored is computed again
