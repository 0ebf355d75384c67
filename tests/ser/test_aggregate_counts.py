"""SerTask.aggregate counts as AsrTask.aggregate does: n_items = the clips the UA was computed on,
n_failed = the clips that failed (not in n_items); recommend's note reads "failed on n_failed of
n_items + n_failed items"."""
from __future__ import annotations

import math

from speechbudget.axes import Config
from speechbudget.records import ItemResult
from speechbudget.tasks.ser.runner import SerTask


def _clip(i: int, label: str, pred: str | None, ok: bool = True) -> ItemResult:
    return ItemResult(f"c{i}", ok, prediction=pred if ok else None, reference=label,
                      errors=int(pred != label) if ok else None, n_ref=1, gflops=1.0,
                      audio_s=2.0, timings={"inference": 0.01} if ok else {},
                      error=None if ok else "c.wav: the recording is empty", extra={"fold": 0})


def test_failed_clips_are_not_counted_as_scored():
    cfg = Config(task="ser", model="tiny.en", window=2)
    results = [_clip(0, "angry", "angry"), _clip(1, "happy", "happy"), _clip(2, "sad", "angry"),
               _clip(3, "sad", None, ok=False)]
    m = SerTask().aggregate(cfg, results)
    assert (m.n_items, m.n_failed) == (3, 1)


def test_no_scored_clip():
    cfg = Config(task="ser", model="tiny.en", window=2)
    m = SerTask().aggregate(cfg, [_clip(0, "sad", None, ok=False), _clip(1, "sad", None, ok=False)])
    assert (m.n_items, m.n_failed) == (0, 2) and math.isnan(m.value)
