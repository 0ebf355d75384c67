"""The recommendation's decision rule on constructed stores with per-item results: a statistical
tie goes to the cheaper configuration and is named, a tolerance admits a non-inferior cheaper
one, and a clearly better configuration is kept."""
from __future__ import annotations

import numpy as np
import pytest

from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import recommend
from speechbudget.analysis.source import load_results
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep.store import ResultsStore

N_ITEMS = 120
RNG = np.random.default_rng(7)
WORDS = RNG.integers(10, 40, N_ITEMS)
BASE = RNG.binomial(WORDS, 0.08)          # the most accurate configuration's errors per item


def variant(extra_rate: float, noise: float, seed: int) -> np.ndarray:
    """Errors per item: the base plus `extra_rate` of the words, plus +-1 on a `noise` share."""
    rng = np.random.default_rng(seed)
    extra = rng.binomial(WORDS, extra_rate) if extra_rate else 0
    jitter = rng.binomial(1, noise, N_ITEMS) * rng.choice([-1, 1], N_ITEMS)
    return np.maximum(BASE + extra + jitter, 0)


def noise_only(up: int = 20, down: int = 18, seed: int = 1) -> np.ndarray:
    """The base with +1 error on `up` items and -1 on `down` others: the same accuracy up to
    noise, and measured slightly worse."""
    rng = np.random.default_rng(seed)
    out = BASE.copy()
    idx = rng.permutation(np.flatnonzero(BASE > 0))
    out[idx[:up]] += 1
    out[idx[up:up + down]] -= 1
    return out


def make_store(path, configs):
    """configs: (window, gflops, errors per item). Writes a store the way a sweep does."""
    st = ResultsStore(path)
    run = st.start_run({"name": "constructed"}, {"hostname": "test"})
    for window, gflops, errors in configs:
        c = Config(task="asr", model="tiny.en", window=float(window))
        st.register_config(c, gflops, {"dataset": "constructed"}, run)
        items = [ItemResult(f"u{i:03d}", True, errors=int(e), n_ref=int(n))
                 for i, (e, n) in enumerate(zip(errors, WORDS))]
        st.commit_shard(c.key, "s0", items, run)
        wer = float(np.sum(errors) / np.sum(WORDS))
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", wer, n_items=N_ITEMS,
                                            gflops=gflops), run)
    st.finish_run(run)
    st.close()
    return load_results(path)


def rec_of(loaded, **kw):
    return recommend(loaded.results, kw.pop("limits", Limits()), items=loaded.items, **kw)


def test_a_statistical_tie_picks_the_cheaper_configuration_and_names_the_tie(tmp_path):
    tied = noise_only()
    assert np.sum(tied) > np.sum(BASE)                     # ... and measures slightly worse
    loaded = make_store(tmp_path / "tie.db", [(30, 300.0, BASE), (15, 150.0, tied),
                                              (10, 100.0, variant(0.06, 0.0, seed=2))])
    rec = rec_of(loaded)
    assert rec.most_accurate[0].label == "tiny.en 30s"
    assert rec.best[0].label == "tiny.en 15s"             # cheaper, cannot be told apart
    assert [(t.config.label, t.reason) for t in rec.tie_group] == [
        ("tiny.en 30s", "most accurate"), ("tiny.en 15s", "tied")]
    d = rec.difference
    assert d.diff > 0 and d.ci_low <= 0 <= d.ci_high and not d.significant
    assert rec.items_to_resolve is not None and rec.items_to_resolve > N_ITEMS
    assert "tie group (tiny.en 30s, tiny.en 15s)" in rec.message
    assert "paired 95% CI" in rec.message and "no limits set" in rec.message
    assert "tiny.en 10s" not in rec.message                  # clearly worse: not in the group


def test_a_tolerance_admits_the_cheaper_non_inferior_configuration(tmp_path):
    worse = variant(0.004, 0.0, seed=3)                    # ~0.4 WER points worse, every item
    loaded = make_store(tmp_path / "tol.db", [(30, 300.0, BASE), (15, 150.0, worse)])
    strict = rec_of(loaded)
    assert strict.difference is None and strict.best[0].label == "tiny.en 30s"
    assert len(strict.tie_group) == 1 and "significantly more accurate" in strict.message
    loose = rec_of(loaded, tolerance=0.01)                 # 1 WER point
    assert loose.best[0].label == "tiny.en 15s"
    assert [t.reason for t in loose.tie_group] == ["most accurate", "within tolerance"]
    assert loose.difference.significant and loose.difference.ci_high <= 0.01
    # in the tables' unit (it said "0.01" for the tolerance 1 point the command takes)
    assert "within the tolerance (1 WER point)" in loose.message
    tight = rec_of(loaded, tolerance=0.001)                # too tight: the best stays
    assert tight.best[0].label == "tiny.en 30s"


def test_a_clearly_better_configuration_is_kept(tmp_path):
    loaded = make_store(tmp_path / "clear.db", [(30, 300.0, BASE),
                                                (15, 150.0, variant(0.05, 0.1, seed=4)),
                                                (10, 100.0, variant(0.08, 0.1, seed=5))])
    rec = rec_of(loaded)
    assert rec.best[0].label == "tiny.en 30s" and rec.tie_group[0].reason == "most accurate"
    assert len(rec.tie_group) == 1 and rec.paired


def test_limits_apply_before_the_rule_and_are_named(tmp_path):
    tied = noise_only()
    loaded = make_store(tmp_path / "lim.db", [(30, 300.0, BASE), (15, 150.0, tied),
                                              (10, 100.0, variant(0.06, 0.0, seed=2))])
    rec = rec_of(loaded, limits=Limits(max_gflops=200))
    assert rec.best[0].label == "tiny.en 15s" and rec.most_accurate[0].label == "tiny.en 15s"
    assert "2 of 3 configurations meet GFLOPs <= 200" in rec.message


def test_without_items_the_answer_says_no_paired_test(pair):
    rec = recommend([pair(err=0.1, gflops=10), pair(window=10.0, err=0.11, gflops=5)])
    assert not rec.paired and rec.best[0].label == "tiny.en 30s"
    assert any("no paired test" in n for n in rec.notes)


def test_tolerance_is_validated(pair):
    with pytest.raises(ValueError, match="tolerance"):
        recommend([pair()], tolerance=5.0)


def test_the_command_takes_a_tolerance_in_points_and_shows_the_tie_group(tmp_path):
    from typer.testing import CliRunner

    from speechbudget.cli import app
    worse = variant(0.004, 0.0, seed=3)
    make_store(tmp_path / "cli.db", [(30, 300.0, BASE), (15, 150.0, worse)])
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "cli.db"), "--json"])
    assert r.exit_code == 0 and '"label": "tiny.en 30s"' in r.output.split('"runners_up"')[0]
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "cli.db"), "--tolerance", "1"])
    assert r.exit_code == 0, r.output
    first = " ".join(r.output.split())
    assert "tiny.en 15s" in r.output.split("\n")[0] and "within the tolerance (1 WER point)" in first
    assert "tie group" in r.output
    # one unit throughout, the tables' (WER in percent, differences in points): the message gave
    # WER and its differences as fractions beside tables in percent
    import re
    assert re.search(r"— WER \d+(\.\d+)?%", first), first
    assert re.search(r"difference \+\d+(\.\d+)? WER points \(paired 95% CI \+", first), first


def test_a_configuration_with_failed_items_is_flagged(tmp_path):
    """A configuration's error is over the items it scored: one that failed on items (perhaps
    the hard ones) can rank first. The recommendation did not say so."""
    from dataclasses import replace

    loaded = make_store(tmp_path / "f.db", [(30, 300.0, BASE), (15, 150.0, variant(0.02, 0, 4))])
    clean = rec_of(loaded)
    assert not any("failed on" in n for n in clean.notes)
    c, m = loaded.results[0]
    loaded.results[0] = (c, replace(m, n_items=N_ITEMS - 3, n_failed=3))
    r = rec_of(loaded)
    assert r.most_accurate[0].label == "tiny.en 30s"
    assert any(n.startswith(f"tiny.en 30s failed on 3 of {N_ITEMS} items: its error is over "
                            f"the {N_ITEMS - 3} it scored") for n in r.notes), r.notes


def test_one_configuration_is_not_counted_in_the_plural(tmp_path):
    loaded = make_store(tmp_path / "one.db", [(30, 300.0, BASE)])
    msg = rec_of(loaded).message
    assert "no limits set: the only configuration considered" in msg and "1 configurations" \
        not in msg
