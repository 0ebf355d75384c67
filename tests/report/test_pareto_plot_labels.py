"""The Pareto plot's point numbers: each drawn beside its own point (so the key's numbering
reads off the plot), and none hiding another where points crowd."""
from __future__ import annotations

import pytest

from speechbudget.analysis.pareto import pareto_frontier
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics
from speechbudget.report import plots


def _results(points):
    out = []
    for i, (gflops, wer) in enumerate(points):
        c = Config(task="asr", model="tiny.en", window=float(5 + i), stride=1)
        out.append((c, ConfigMetrics(c.key, "asr", "wer", wer, n_items=50, gflops=gflops,
                                     ci_low=wer * 0.9, ci_high=wer * 1.1)))
    return out


def _number_boxes(fig):
    """{number: its drawn box in display pixels} and the renderer (after a draw)."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    return {int(t.get_text()): t.get_window_extent(r) for t in ax.texts}, r


def test_each_number_is_drawn_just_beside_its_point():
    import matplotlib.pyplot as plt

    res = _results([(10.0 * 2 ** i, 0.3 / (1 + i)) for i in range(6)])   # well apart
    fr = pareto_frontier(res)
    fig = plots.pareto_figure(fr)
    boxes, _ = _number_boxes(fig)
    ax = fig.axes[0]
    pt = fig.dpi / 72
    for i, p in enumerate(fr.points, 1):
        x, y = ax.transData.transform((p.cost, 100 * p.error))     # WER in percent
        box = boxes[i]
        # the number's left edge 4 points right of the point, its baseline 3 points above
        # (the text's box starts at its left edge; its bottom is at most the baseline)
        assert box.x0 == pytest.approx(x + 4 * pt, abs=1.0)
        assert y < box.y0 + 2 < y + 3 * pt + 2 and box.y1 > y + 3 * pt
    plt.close(fig)


def _overlap(a, b, slack: float = 1.0) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > slack
            and min(a.y1, b.y1) - max(a.y0, b.y0) > slack)


def test_numbers_of_crowded_points_do_not_hide_one_another():
    import matplotlib.pyplot as plt

    # five points within a few pixels of one another (and two far off, which set the axes'
    # range): with every number at the same place beside its point they would print over
    # one another
    crowd = [(20.0 * (1 + 0.004 * i), 0.1 + 0.0003 * i) for i in range(5)]
    res = _results(crowd + [(2.0, 0.4), (400.0, 0.02)])
    fr = pareto_frontier(res)
    fig = plots.pareto_figure(fr)
    boxes, _ = _number_boxes(fig)
    assert len(boxes) == len(fr.points)
    clash = [(i, j) for i in boxes for j in boxes if i < j and _overlap(boxes[i], boxes[j])]
    assert clash == []
    ax = fig.axes[0]                                      # and each stays near its point
    pt = fig.dpi / 72
    for i, p in enumerate(fr.points, 1):
        x, y = ax.transData.transform((p.cost, 100 * p.error))
        b = boxes[i]
        assert max(abs(b.x0 - x), abs(b.x1 - x)) < 30 * pt
        assert max(abs(b.y0 - y), abs(b.y1 - y)) < 30 * pt
    plt.close(fig)


def test_the_legend_says_bars_are_cis_only_where_cis_are_stored():
    import dataclasses

    import matplotlib.pyplot as plt

    with_ci = _results([(10.0, 0.3), (20.0, 0.2), (40.0, 0.25)])
    none = [(c, dataclasses.replace(m, ci_low=None, ci_high=None)) for c, m in with_ci]
    some = [none[0], *with_ci[1:]]
    said = {}
    for name, res in (("all", with_ci), ("none", none), ("some", some)):
        fig = plots.pareto_figure(pareto_frontier(res))
        said[name] = " | ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())
        plt.close(fig)
    assert "bars: 95% CI" in said["all"] and "stored" not in said["all"]
    assert "95% CI" not in said["none"] and "no CI stored: no bars" in said["none"]
    assert "bars: 95% CI, stored for 1 of 2" in said["some"]      # the frontier's two


def test_the_interactive_plot_title_says_so_too():
    pytest.importorskip("plotly")
    import dataclasses

    from speechbudget.report.interactive import pareto_figure

    res = [(c, dataclasses.replace(m, ci_low=None, ci_high=None))
           for c, m in _results([(10.0, 0.3), (20.0, 0.2)])]
    html = pareto_figure(pareto_frontier(res), "asr", "p")
    assert "bars: 95% CI" not in html and "no CI stored: no bars" in html
