"""Along each axis the step whose change is given per doubling (and ranked for the binding knob)
is the nearest step that spans enough of a doubling for a rate (marginal_returns.MIN_RATE_RATIO);
a nearer step too close in cost for one (a stride on the encoder's output: x1.016 the FLOPs) is
still shown, as such, beside it, but no longer hides it. Before, the nearest step was picked
first and the rate rule applied after: on this grid the answer (stride 4, half the FLOPs of
stride 1) had the x1.016 stride-2-at-output step as its only xV step up, so the stride-1 step
(x2 the FLOPs, 4 WER points better) was never shown nor ranked, and the binding sentence named
xN, a quarter of xV's return per doubling."""
from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from speechbudget.analysis.limits import Limits
from speechbudget.analysis.marginal_returns import MIN_RATE_RATIO, marginal_returns
from speechbudget.analysis.recommend import recommend
from speechbudget.cli.app import app

LIMITS = Limits(max_gflops=50.0)        # the answer is the stride-4 configuration


def _grid(pair):
    best = pair("tiny.en", 30.0, 4, err=0.20, gflops=50.0)
    return [best,
            pair("tiny.en", 30.0, 2, err=0.195, gflops=50.8),     # xV up: x1.016, no rate
            pair("tiny.en", 30.0, 1, err=0.16, gflops=100.0),     # xV up: x2, rated
            pair("base.en", 30.0, 4, err=0.18, gflops=200.0)]     # xN up: x4, rated


def _xv(rec_or_marginal):
    marginal = getattr(rec_or_marginal, "marginal", rec_or_marginal)
    return next(a for a in marginal if a.axis == "xV")


def test_the_rated_step_is_used_and_the_nearer_close_one_still_shown(pair):
    g = _grid(pair)
    assert g[1][1].gflops / g[0][1].gflops < MIN_RATE_RATIO <= g[2][1].gflops / g[0][1].gflops
    rec = recommend(g, LIMITS)
    assert rec.best[0].label == "tiny.en 30s s4@out-mean"
    xv = _xv(rec)
    assert xv.up.config.label == "tiny.en 30s" and xv.up.rated
    assert math.isclose(xv.up.per_doubling, -0.04)
    assert xv.nearer_up is not None and not xv.nearer_up.rated
    assert xv.nearer_up.config.label == "tiny.en 30s s2@out-mean"
    assert math.isclose(xv.nearer_up.flops_ratio, 1.016)
    # xV's return per doubling (-4 points) is steeper than xN's (-1): xV binds, and the close
    # step is named as not ranked
    assert rec.binding.startswith("best return is along xV (token stride): -4 WER points"), \
        rec.binding
    assert "not ranked, too close in cost for a rate per doubling" in rec.binding
    assert "xV to tiny.en 30s s2@out-mean: -0.5 WER points at x1.02 the FLOPs" in rec.binding


def test_the_same_rule_down(pair):
    """From stride 1: the x0.984 output-stride step down has no rate; stride 4 at the input
    (far cheaper) does, and is the step down given per halving."""
    best = pair("tiny.en", 30.0, 1, err=0.16, gflops=100.0)
    res = [best,
           pair("tiny.en", 30.0, 2, err=0.165, gflops=98.4),
           pair("tiny.en", 30.0, 4, err=0.30, gflops=25.0, stride_at=0)]
    xv = _xv(marginal_returns(best, res))
    assert xv.down.config.label == "tiny.en 30s s4@L0-mean" and xv.down.rated
    assert math.isclose(xv.down.per_doubling, 0.14 / -2)  # 14 points worse per halving
    assert xv.nearer_down.config.label == "tiny.en 30s s2@out-mean"
    assert not xv.nearer_down.rated
    assert xv.up is None and xv.nearer_up is None


def test_without_a_rated_step_the_nearest_is_the_step_and_nothing_is_nearer(pair):
    g = _grid(pair)[:2]
    xv = _xv(marginal_returns(g[0], g))
    assert xv.up.config.label == "tiny.en 30s s2@out-mean" and not xv.up.rated
    assert xv.nearer_up is None


def test_json_and_cli_table_show_both_steps(pair, metrics_store, tmp_path):
    store = metrics_store(tmp_path / "r.db", _grid(pair))
    j = CliRunner().invoke(app, ["recommend", str(store), "--max-gflops", "50", "--json"])
    assert j.exit_code == 0, j.output
    d = json.loads(j.output)
    xv = next(m for m in d["marginal_returns"] if m["axis"] == "xV")
    assert xv["up"]["label"] == "tiny.en 30s"
    assert math.isclose(xv["up"]["error_change_per_doubling"], -0.04)
    assert xv["nearer_up"]["label"] == "tiny.en 30s s2@out-mean"
    assert xv["nearer_up"]["error_change_per_doubling"] is None
    assert d["binding"].startswith("best return is along xV")
    r = CliRunner().invoke(app, ["recommend", str(store), "--max-gflops", "50"],
                           terminal_width=250)
    assert r.exit_code == 0, r.output
    rows = [ln for ln in r.output.splitlines() if "xV" in ln and "tiny.en 30s" in ln]
    assert any("s2@out-mean" in ln and "–" in ln for ln in rows), rows
    assert any("s2@out" not in ln and "-4" in ln for ln in rows), rows


def test_the_report_tables_show_both_steps_as_recommend_does(pair, tmp_path):
    from speechbudget.report import build_report
    from tests.report.conftest import html_table, md_table

    g = _grid(pair)
    html = build_report(g, tmp_path, n_bootstrap=0, limits=LIMITS, task="asr").read_text()
    md = (tmp_path / "summary.md").read_text()
    in_html = html_table(html, "<b>Marginal return of each axis</b>")
    in_md = md_table(md, "| axis |")
    xv_html = [r for r in in_html[1:] if r[0].startswith("xV")]
    assert [r[2] for r in xv_html] == ["tiny.en 30s s2@out-mean", "tiny.en 30s"]
    assert [r[:3] + r[-1:] for r in in_md] == [r[:3] + r[-1:] for r in in_html]
    rec = recommend(g, LIMITS)
    assert [(f"{a.axis} {a.description}", s.config.label) for a in rec.marginal
            for _, s in a.steps()] == [(r[0], r[2]) for r in in_html[1:]]
