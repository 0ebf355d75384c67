"""A TEST DOUBLE (tests/sweep/fake_task.py's FakeTask) whose items are files: item i reads
FILE_ORDER_DIR/<id>.bin, its shards group the items by file size, largest first (as AsrTask
orders by duration, read from the file's header: an unreadable file has none, so it moves to
the last shard), and an item whose file cannot be read comes back ok=False. Every item
evaluated is logged to FILE_ORDER_LOG (a file), one line each."""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_task import Dataset, FakeTask  # noqa: E402

from speechbudget.records import ItemResult  # noqa: E402
from speechbudget.tasks.base import Shard  # noqa: E402


@dataclass(frozen=True)
class FileItem:
    id: str
    duration_s: float
    n_words: int
    path: Path


class FileOrderTask(FakeTask):
    item_subsets = True

    def load_dataset(self, source: str) -> Dataset:
        folder = Path(os.environ["FILE_ORDER_DIR"])
        return Dataset([FileItem(i.id, i.duration_s, i.n_words, folder / f"{i.id}.bin")
                        for i in super().load_dataset(source).items])

    def shards(self, config, dataset):
        size = {i.id: i.path.stat().st_size if i.path.exists() else 0 for i in dataset.items}
        items = sorted(dataset.items, key=lambda i: (-size[i.id], i.id))
        out = []
        for b in range(0, len(items), self.batch_size):
            ids = tuple(i.id for i in items[b: b + self.batch_size])
            out.append(Shard(f"f{b // self.batch_size:03d}-" +
                             hashlib.sha1("|".join(ids).encode()).hexdigest()[:8], ids))
        return out

    def run_shard(self, config, dataset, shard, device, cache=None):
        log = os.environ.get("FILE_ORDER_LOG")
        if log:
            with open(log, "a") as f:
                f.writelines(f"{config.key} {i}\n" for i in shard.item_ids)
        by_id = {i.id: i for i in dataset.items}
        out = super().run_shard(config, dataset, shard, device, cache)
        return [r if by_id[r.item_id].path.exists() else
                ItemResult(r.item_id, ok=False, reference=r.reference,
                           error=f"cannot read {by_id[r.item_id].path} (test double)")
                for r in out]
