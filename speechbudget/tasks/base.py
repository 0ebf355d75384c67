"""The contract between a task (ASR, SER) and the sweep that runs it.

A sweep asks the task to split a dataset into shards for a configuration (ASR: length-sorted
batches of utterances; SER: actor-disjoint folds), runs each shard (possibly in another process or
on a Ray worker), stores the ItemResults of each finished shard atomically, and finally asks the
task to aggregate all stored ItemResults into ConfigMetrics.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult


@dataclass(frozen=True)
class Shard:
    """A unit of work: an id stable across runs (for resume) and the item ids it evaluates."""

    shard_id: str
    item_ids: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


class Task(Protocol):
    name: str  # "asr" | "ser"

    def load_dataset(self, source: str, **options: Any) -> Any:
        """A dataset from a path (manifest, corpus folder) with `.items` having `.id`.

        `options`: how to read it, the other keys of a sweep file's `data: {path: ..., KEY:
        VALUE}` mapping, passed as keywords, each a string (`audio_root` resolved to a folder);
        none when the spec gives only a path. Only the built-in tasks receive them, the names in
        `sweep.spec_data.DATA_OPTIONS[name]`, which are their load_dataset's keyword parameters
        (AsrTask: audio_column, text_column, speaker_column, id_column, audio_root; SerTask:
        audio_column, label_column, speaker_column, audio_root). A custom runner (`runner:` in the spec,
        whose `data` may name no options) is always called with the path alone, so
        `def load_dataset(self, source)` is enough."""

    def shards(self, config: Config, dataset: Any) -> list[Shard]:
        """Deterministic shards for this configuration (same dataset -> same shard ids)."""

    def run_shard(self, config: Config, dataset: Any, shard: Shard, device: str,
                  cache: Any | None = None) -> list[ItemResult]:
        """Evaluate one shard. Bad items come back as ok=False ItemResults, never raise."""

    def aggregate(self, config: Config, results: Sequence[ItemResult]) -> ConfigMetrics:
        """Corpus-level metrics (with CI), cost and timing from all item results."""
