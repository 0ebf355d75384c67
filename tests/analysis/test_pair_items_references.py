"""`paired.pair_items` is the public pairing every paired test goes through (recommend's tie
group, the significant frontier, marginal returns, racing's eliminations and halving); it
checked that a WER item has one reference count under both configurations but not that a SER
clip has one reference label, which only `analysis.source.check_pairable` (stores read through
`load_results`) refused. The one check now lives in pair_items (`check_same_reference`), and
check_pairable uses the same check and message."""
from __future__ import annotations

import pytest

from speechbudget.analysis.recommend import tie_group
from speechbudget.analysis.source import check_pairable
from speechbudget.axes import Config
from speechbudget.paired import PairingError, pair_items
from speechbudget.records import ConfigMetrics, ItemResult


def clip(i, pred, ref):
    return ItemResult(f"c{i}", True, prediction=pred, reference=ref, errors=int(pred != ref),
                      n_ref=1)


def test_pair_items_refuses_a_clip_with_two_labels():
    a = [clip(0, "ANG", "ANG"), clip(1, "SAD", "SAD")]
    b = [clip(0, "ANG", "HAP"), clip(1, "SAD", "SAD")]
    with pytest.raises(PairingError, match=r"item c0: label 'ANG' under one configuration, "
                                           r"'HAP' under the other: the data changed"):
        pair_items(a, b, "ua")


def test_pair_items_names_both_configurations():
    a, b = [clip(0, "ANG", "ANG")], [clip(0, "ANG", "SAD")]
    with pytest.raises(PairingError) as e:
        pair_items(a, b, "ua", ("tiny.en 1s, k1", "tiny.en 2s, k2"))
    assert str(e.value).startswith("item c0: label 'ANG' under one configuration (tiny.en 1s, "
                                   "k1), 'SAD' under the other (tiny.en 2s, k2)"), str(e.value)


def test_same_labels_and_failed_clips_pair():
    a = [clip(0, "ANG", "ANG"), clip(1, "SAD", "SAD")]
    b = [clip(0, "HAP", "ANG"), ItemResult("c1", False, error="unreadable")]
    p = pair_items(a, b, "ua")
    assert p.item_ids == ("c0",) and p.dropped == 1


def test_wer_counts_keep_their_check():
    a = [ItemResult("u0", True, errors=1, n_ref=5)]
    b = [ItemResult("u0", True, errors=1, n_ref=6)]
    with pytest.raises(PairingError, match="item u0: 5 reference units under one configuration, "
                                           "6 under the other"):
        pair_items(a, b, "wer")


def test_recommends_tie_group_in_memory_names_the_configurations():
    """Items handed to the analysis directly (not read by load_results) meet the same check."""
    c1, c2 = (Config(task="ser", model="tiny.en", window=w) for w in (1.0, 2.0))
    m1, m2 = (ConfigMetrics(c.key, "ser", "ua", 0.5, n_items=2, gflops=w)
              for c, w in ((c1, 1.0), (c2, 2.0)))
    items = {c1.key: [clip(0, "ANG", "ANG"), clip(1, "SAD", "SAD")],
             c2.key: [clip(0, "ANG", "HAP"), clip(1, "SAD", "SAD")]}
    with pytest.raises(PairingError, match=rf"\(tiny.en 2s, {c2.key}\), 'ANG' under the other "
                                           rf"\(tiny.en 1s, {c1.key}\)"):
        tie_group([(c1, m1), (c2, m2)], items)


def test_check_pairable_gives_the_same_message():
    c1, c2 = (Config(task="ser", model="tiny.en", window=w) for w in (1.0, 2.0))
    m1, m2 = (ConfigMetrics(c.key, "ser", "ua", 0.5, n_items=1) for c in (c1, c2))
    items = {c1.key: [clip(0, "ANG", "ANG")], c2.key: [clip(0, "ANG", "HAP")]}
    with pytest.raises(PairingError) as e:
        check_pairable([(c1, m1), (c2, m2)], items)
    with pytest.raises(PairingError) as direct:
        pair_items(items[c1.key], items[c2.key], "ua",
                   (f"{c1.label}, {c1.key}", f"{c2.label}, {c2.key}"))
    assert str(e.value) == str(direct.value)
