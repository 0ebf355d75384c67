"""A SER answer shows UA (higher is better), and the difference to the most accurate is of the
error (1 - UA): the message says which, or '+0.05' reads as the answer's UA being higher."""
from __future__ import annotations

from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult

LABELS = ("ang", "hap", "neu", "sad")


def _ser(model, window, gflops, wrong):
    c = Config(task="ser", model=model, window=window)
    rows = []
    for i in range(40):
        ref = LABELS[i % 4]
        pred = LABELS[(i + 1) % 4] if i in wrong else ref
        rows.append(ItemResult(f"c{i:02d}", True, prediction=pred, reference=ref,
                               errors=int(pred != ref), n_ref=1))
    ua = 1 - len(wrong) / 40          # 10 clips of each class, wrong ones spread evenly
    return (c, ConfigMetrics(c.key, "ser", "ua", ua, n_items=40, gflops=gflops)), rows


def test_the_difference_of_a_ser_answer_is_said_to_be_of_the_error():
    dear, dear_rows = _ser("base", 8.0, 20.0, wrong=set(range(0, 40, 5)))       # UA 0.8
    cheap, cheap_rows = _ser("tiny", 4.0, 4.0, wrong=set(range(0, 40, 4)))      # UA 0.75
    rec = recommend([dear, cheap], items={dear[0].key: dear_rows, cheap[0].key: cheap_rows})
    assert rec.best[0].key == cheap[0].key and rec.difference.diff > 0
    assert "difference +0.05 in error (1 - UA)" in rec.message, rec.message


def test_a_wer_difference_stays_in_wer_points():
    c1, c2 = (Config(task="asr", model=m, window=30.0) for m in ("base", "tiny.en"))
    rows1 = [ItemResult(f"u{i}", True, errors=1 if i < 4 else 0, n_ref=10) for i in range(20)]
    rows2 = [ItemResult(f"u{i}", True, errors=1 if i < 6 else 0, n_ref=10) for i in range(20)]
    res = [(c1, ConfigMetrics(c1.key, "asr", "wer", 0.02, n_items=20, gflops=20.0)),
           (c2, ConfigMetrics(c2.key, "asr", "wer", 0.03, n_items=20, gflops=5.0))]
    rec = recommend(res, items={c1.key: rows1, c2.key: rows2})
    assert rec.best[0].key == c2.key
    assert "difference +1 WER point (paired" in rec.message, rec.message
