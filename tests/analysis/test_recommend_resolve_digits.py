""""About N items would resolve a difference of D": D was printed with `:g`, six significant
figures ("4.90196 WER points", the answer's own difference read "+4.9"), in the recommendation's
message and in the report. It is now given to 3 figures, as the difference."""
from __future__ import annotations

import re

import numpy as np

from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult

N = 60


def _case():
    rng = np.random.default_rng(3)
    words = rng.integers(10, 40, N)
    base = rng.binomial(words, 0.1)
    worse = base.copy()
    idx = rng.permutation(N)
    worse[idx[:14]] += 1          # 14 items one error worse, 11 one better: unresolved
    worse[idx[14:25]] = np.maximum(worse[idx[14:25]] - 1, 0)
    out, items = [], {}
    for w, g, errs in ((30.0, 40.0, base), (10.0, 20.0, worse)):
        c = Config(task="asr", model="tiny.en", window=w)
        items[c.key] = [ItemResult(f"u{i:02d}", True, errors=int(e), n_ref=int(n))
                        for i, (e, n) in enumerate(zip(errs, words))]
        out.append((c, ConfigMetrics(c.key, "asr", "wer", float(errs.sum() / words.sum()),
                                     n_items=N, gflops=g)))
    return out, items


def test_the_difference_to_resolve_has_three_figures(tmp_path):
    res, items = _case()
    rec = recommend(res, items=items)
    assert rec.items_to_resolve is not None and rec.best[0].window == 10.0
    m = re.search(r"resolve a difference of ([0-9.]+) WER points", rec.message)
    assert m, rec.message
    shown = m.group(1)
    assert shown == f"{100 * abs(rec.difference.diff):.3g}", rec.message
    assert len(shown.replace(".", "").lstrip("0")) <= 3


def test_the_report_gives_the_same_figures(tmp_path, item_store):
    from speechbudget.report import build_report
    res, items = _case()
    rows = [(c.window, m.gflops, [(r.item_id, r.errors, r.n_ref) for r in items[c.key]])
            for c, m in res]
    store = item_store(tmp_path / "runs.db", rows)
    build_report(store, tmp_path / "r", n_bootstrap=0, interactive=False)
    page = (tmp_path / "r" / "index.html").read_text()
    rec = recommend(res, items=items)
    assert f"difference of {100 * abs(rec.difference.diff):.3g} WER points" in page
