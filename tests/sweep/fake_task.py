"""A TEST DOUBLE of the Task protocol (tasks.base.Task): deterministic, pure Python, fast.

Never shipped in the package. Items are the bundled LibriSpeech manifest's ids and durations;
"errors" come from a fixed formula of the configuration (bigger model, longer window, finer
stride -> fewer errors) plus a per-item offset, and the cost from the real analytic FLOPs. It
uses the sweep's cache the way a real task does (features per item x window, encoder outputs per
item x encoder settings) and counts what it computed, so tests can check the reuse order.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from speechbudget.axes import Config
from speechbudget.flops import estimate
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.tasks.base import Shard


@dataclass(frozen=True)
class Item:
    id: str
    duration_s: float
    n_words: int


@dataclass
class Dataset:
    items: list[Item]


def _u(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    h = hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()
    return int(h[:8], 16) / 2 ** 32


class FakeTask:
    name = "asr"

    def __init__(self, n_items: int = 6, batch_size: int = 2, delay_s: float = 0.0,
                 fail_models: Sequence[str] = (), log_dir: str | None = None):
        self.n_items, self.batch_size, self.delay_s = n_items, batch_size, delay_s
        self.fail_models = set(fail_models)
        self.log_dir = log_dir
        # simulate Ctrl-C after that many shards (an environment variable, so the task options,
        # part of what the store checks on resume, stay the same)
        n = os.environ.get("FAKE_TASK_INTERRUPT_AFTER")
        self.interrupt_after = int(n) if n else None
        self.computed = {"features": 0, "encoder": 0, "decoder": 0}
        self.shards_run = 0

    def load_dataset(self, source: str) -> Dataset:
        rows = [json.loads(x) for x in (Path(source) / "manifest.jsonl").read_text().splitlines()]
        return Dataset([Item(r["id"], float(r["duration_s"]), len(r["text"].split()))
                        for r in rows[: self.n_items]])

    def shards(self, config: Config, dataset: Dataset) -> list[Shard]:
        items = sorted(dataset.items, key=lambda i: (i.duration_s, i.id))
        out = []
        for b in range(0, len(items), self.batch_size):
            ids = tuple(i.id for i in items[b: b + self.batch_size])
            out.append(Shard(f"b{b // self.batch_size:03d}-" +
                             hashlib.sha1("|".join(ids).encode()).hexdigest()[:8], ids))
        return out

    def error_rate(self, config: Config, item: Item) -> float:
        size = config.arch.hidden_size * config.arch.encoder_layers
        window = config.window_s_for(item.duration_s)
        cut = max(0.0, item.duration_s - window) / item.duration_s
        return (0.6 / size ** 0.35 + 0.04 * (config.stride - 1) ** 1.2 + 0.5 * cut
                + 0.01 * (config.beam_size == 1) + 0.02 * _u(item.id))

    def run_shard(self, config: Config, dataset: Dataset, shard: Shard, device: str,
                  cache=None) -> list[ItemResult]:
        if config.model in self.fail_models:
            raise RuntimeError(f"cannot load model {config.model} (test double)")
        if self.interrupt_after is not None and self.shards_run >= self.interrupt_after:
            raise KeyboardInterrupt
        self.shards_run += 1
        die = os.environ.get("FAKE_TASK_DIE_ONCE")  # a marker file: the first worker to get
        if die:                                    # here creates it and dies (SIGKILL); created
            try:                                   # atomically, so two workers never both die
                fd = os.open(die, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                fd = None
            if fd is not None:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), 9)
        if self.log_dir:
            Path(self.log_dir, f"{os.getpid()}.pid").write_text(str(os.getpid()))
        by_id = {i.id: i for i in dataset.items}
        cache = {} if cache is None else cache
        out = []
        for iid in shard.item_ids:
            item = by_id[iid]
            t = {}
            fkey = ("features", iid, config.window_s_for(item.duration_s), 80)
            t0 = time.perf_counter()
            if cache.get(fkey) is None:
                time.sleep(self.delay_s)
                self.computed["features"] += 1
                cache[fkey] = b"x" * 100
            t["features"] = time.perf_counter() - t0
            ekey = ("encoder", iid, config.model, fkey[2], config.stride, config.stride_at,
                    config.pool, config.precision)
            t0 = time.perf_counter()
            if cache.get(ekey) is None:
                time.sleep(self.delay_s)
                self.computed["encoder"] += 1
                cache[ekey] = b"y" * 100
            t["encoder"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            time.sleep(self.delay_s / 2)
            self.computed["decoder"] += 1
            t["decoder"] = time.perf_counter() - t0 + 1e-3
            errors = round(self.error_rate(config, item) * item.n_words)
            tokens = int(3 * item.duration_s)
            out.append(ItemResult(iid, True, prediction=f"hyp-{errors}", reference="ref",
                                  errors=errors, n_ref=item.n_words, decoded_tokens=tokens,
                                  audio_s=item.duration_s, chunks=1,
                                  gflops=estimate(config, decoded_tokens=tokens,
                                                  audio_s=item.duration_s).gflops, timings=t,
                                  extra={"pid": os.getpid()}))
        return out

    def aggregate(self, config: Config, results: Sequence[ItemResult]) -> ConfigMetrics:
        ok = [r for r in results if r.ok]
        errors = sum(r.errors for r in ok)
        n_ref = sum(r.n_ref for r in ok)
        audio = sum(r.audio_s for r in ok)
        secs = sum(sum(r.timings.values()) for r in ok)
        return ConfigMetrics(config.key, "asr", "wer", errors / max(1, n_ref),
                             n_items=len(results), n_failed=len(results) - len(ok),
                             gflops=sum(r.gflops for r in ok) / max(1, len(ok)),
                             gflops_per_audio_s=sum(r.gflops for r in ok) / max(audio, 1e-9),
                             rtf=secs / max(audio, 1e-9), timings={"total": secs})


class VersionedFakeTask(FakeTask):
    """FakeTask whose rule for window-10 configurations has the version in the environment
    variable FAKE_RESULT_VERSION (default: no `result_version` effect, 1), as a task whose code
    changed how it computes some configurations; each item records the rule it was computed by
    (extra["rule"])."""

    def result_version(self, config: Config) -> int:
        return int(os.environ.get("FAKE_RESULT_VERSION", "1")) if config.window == 10 else 1

    def run_shard(self, config: Config, dataset: Dataset, shard: Shard, device: str,
                  cache=None) -> list[ItemResult]:
        out = super().run_shard(config, dataset, shard, device, cache)
        for r in out:
            r.extra["rule"] = self.result_version(config)
        return out
