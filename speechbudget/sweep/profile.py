"""What a sweep needs to know about its dataset, computed in one place: the item ids, how many,
their mean duration (for FLOPs estimates) and a digest of the ids (recorded with each
configuration so that results of different datasets are never mixed)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DatasetProfile:
    ids: tuple[str, ...]
    mean_audio_s: float | None      # None when any item has no known duration

    @property
    def n_items(self) -> int:
        return len(self.ids)

    @property
    def digest(self) -> str:
        return hashlib.sha1("\n".join(sorted(self.ids)).encode()).hexdigest()[:16]


def profile_dataset(dataset: Any) -> DatasetProfile:
    """The profile of a task's dataset (anything with `.items`, each with an `id` and a
    `duration_s` or `audio_s`)."""
    items = list(getattr(dataset, "items", []) or [])
    ids = tuple(str(getattr(i, "id", i)) for i in items)
    durations = [getattr(i, "duration_s", None) or getattr(i, "audio_s", None) for i in items]
    mean = sum(durations) / len(durations) if durations and all(durations) else None
    return DatasetProfile(ids, mean)
