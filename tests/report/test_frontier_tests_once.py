"""The report's three frontiers (GFLOPs, RTF, memory) make each paired test once: a pair's test
does not depend on the cost, and testing it again per frontier made `speechbudget report` take
minutes on a store of a few hundred configurations."""
from __future__ import annotations

import random

import speechbudget.analysis.pareto as pareto
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report.build import task_frontiers


def _store(n_configs=12, n_items=30, seed=0):
    rng = random.Random(seed)
    results, items = [], {}
    for i in range(n_configs):
        c = Config(task="asr", model="tiny.en", window=float(5 + i))
        p = 0.05 + 0.02 * (i % 5)
        rows = [ItemResult(f"u{j:03d}", True, errors=sum(rng.random() < p for _ in range(10)),
                           n_ref=10) for j in range(n_items)]
        wer = sum(r.errors for r in rows) / (10 * n_items)
        g = 1.0 + i
        results.append((c, ConfigMetrics(c.key, "asr", "wer", wer, n_items=n_items, gflops=g,
                                         rtf=g / 100, peak_mem_mb=100 + g)))
        items[c.key] = rows
    return results, items


def test_each_pair_is_tested_once_across_the_frontiers(monkeypatch):
    results, items = _store()
    calls: list = []
    real = pareto.paired_difference

    def counting(p, **kw):
        calls.append(p.item_ids)
        return real(p, **kw)

    monkeypatch.setattr(pareto, "paired_difference", counting)
    pareto.significant_frontier(results, items, "gflops")
    one = len(calls)
    assert one > 0
    calls.clear()
    fronts = task_frontiers(results, items)
    assert set(fronts) == {"gflops", "rtf", "peak_mem_mb"}
    assert len(calls) == one            # the same pairs for every cost here: each tested once


def test_shared_tests_give_the_frontiers_they_gave_alone():
    results, items = _store(seed=1)
    shared = task_frontiers(results, items)
    for cost, fr in shared.items():
        alone = pareto.significant_frontier(results, items, cost)
        assert [(p.config.key, p.dominated, p.dominated_by and p.dominated_by.key,
                 p.evidence and (p.evidence.ci_low, p.evidence.ci_high)) for p in fr.points] == \
            [(p.config.key, p.dominated, p.dominated_by and p.dominated_by.key,
              p.evidence and (p.evidence.ci_low, p.evidence.ci_high)) for p in alone.points]
