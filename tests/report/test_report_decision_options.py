"""`speechbudget report` had no --tolerance, --cost or --rtf-stat, which `recommend` has: its
recommendation matched `recommend`'s only with their defaults, and report.json's limits did
not record rtf_stat. The report now takes them (one definition, cli/options.py) and its answer is
`recommend`'s with the same options; report.json's limits record all of them."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.records import ConfigMetrics, ItemResult

runner = CliRunner()
N_REF = 10
# (config, per-item word errors, GFLOPs, throughput RTF, RTF p90 at batch size 1)
STORE = [
    (Config(task="asr", model="base", window=30.0), [1] * 30, 100.0, 0.05, 0.5),
    (Config(task="asr", model="tiny.en", window=30.0), [2] * 10 + [1] * 20, 95.0, 0.02, 0.3),
    (Config(task="asr", model="tiny.en", window=10.0), [2] * 30, 30.0, 0.01, 0.1),
    (Config(task="asr", model="base", window=10.0), [1] * 29 + [2], 90.0, 0.08, 0.2),
]
OPTIONS = ["--max-rtf", "0.4", "--rtf-stat", "p90", "--tolerance", "8", "--cost", "rtf"]


def _store(path):
    from speechbudget.sweep.store import ResultsStore
    st = ResultsStore(path)
    run = st.start_run({"name": "options"}, {"cpu": "Test CPU", "device": "cpu"})
    for c, errors, g, rtf, p90 in STORE:
        its = [ItemResult(f"u{i:02d}", True, prediction="h", reference="r", errors=e,
                          n_ref=N_REF, audio_s=5.0) for i, e in enumerate(errors)]
        st.register_config(c, g, {"dataset": "made-up"}, run)
        st.commit_shard(c.key, "s0", its, run)
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", sum(errors) / (N_REF * 30),
                                            n_items=30, gflops=g, rtf=rtf, rtf_p50=p90 / 2,
                                            rtf_p90=p90, peak_mem_mb=100 + g), run)
    st.finish_run(run)
    st.close()
    return path


def _report(store, out, *options):
    r = runner.invoke(app, ["report", str(store), "-o", str(out), "--bootstrap", "0",
                            "--static", "--no-progress", *options])
    assert r.exit_code == 0, r.output
    return json.loads((out / "report.json").read_text())


def _recommend(store, *options):
    r = runner.invoke(app, ["recommend", str(store), "--json", *options])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_report_recommends_as_recommend_with_the_same_options(tmp_path):
    store = _store(tmp_path / "r.db")
    rep = _report(store, tmp_path / "rep", *OPTIONS)
    rec = _recommend(store, *OPTIONS)
    got = rep["tasks"][0]["recommendation"]
    # the options decide here: p90 rules out base 30s, the tolerance admits tiny.en 30s, whose
    # RTF is the lowest of those admitted (by GFLOPs base 10s would be the answer)
    assert rec["best"]["label"] == "tiny.en 30s"
    assert _recommend(store, *OPTIONS[:-2])["best"]["label"] == "base 10s"
    assert _recommend(store)["best"]["label"] != "tiny.en 30s"
    for k in ("best", "runners_up", "message", "limits", "cost", "tolerance", "binding",
              "marginal_returns", "n_feasible"):
        assert got[k] == rec[k], k
    assert rep["limits"] == {"max_gflops": None, "max_rtf": 0.4, "max_mem_mb": None,
                             "rtf_stat": "p90", "tolerance": rec["tolerance"], "cost": "rtf"}


def test_report_without_the_options_is_recommend_without_them(tmp_path):
    store = _store(tmp_path / "r.db")
    rep = _report(store, tmp_path / "rep")
    rec = _recommend(store)
    assert rep["tasks"][0]["recommendation"]["best"] == rec["best"]
    assert rep["limits"]["rtf_stat"] == "mean" and rep["limits"]["cost"] == "gflops"
    assert rep["limits"]["tolerance"] is None


def test_report_refuses_what_recommend_refuses(tmp_path):
    store = _store(tmp_path / "r.db")
    for bad, said in ((["--tolerance", "-1"], "invalid --tolerance -1"),
                      (["--cost", "watts"], "invalid --cost 'watts'"),
                      (["--rtf-stat", "p99"], "invalid --rtf-stat 'p99'")):
        for cmd in (["recommend", str(store)], ["report", str(store), "-o",
                                                str(tmp_path / "x")]):
            r = runner.invoke(app, [*cmd, *bad])
            assert r.exit_code == 2 and said in r.output, (cmd, r.output)
