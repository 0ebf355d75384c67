"""The work-reuse cache a sweep passes to `Task.run_shard` (one per worker process).

A dict-like LRU bounded in bytes: tasks keep log-mel features per (item, window, n_mels) and
encoder outputs per (item, encoder settings) in it, so configurations that share a window or
differ only after the encoder do not recompute them. `hits`/`misses` count `get` / `in` lookups.
"""
from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any, Hashable, Iterator

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB per worker


def nbytes(value: Any) -> int:
    """Approximate size of a cached value (tensors, arrays, and containers of them)."""
    if hasattr(value, "element_size") and hasattr(value, "nelement"):
        return int(value.element_size() * value.nelement())
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value) + 64
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values()) + 64
    return sys.getsizeof(value)


class ReuseCache:
    """LRU mapping with a byte budget. Values larger than the budget are not kept."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = int(max_bytes)
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: Hashable) -> bool:
        found = key in self._data
        if found:
            self.hits += 1
            self._data.move_to_end(key)
        else:
            self.misses += 1
        return found

    def __getitem__(self, key: Hashable) -> Any:
        value, _ = self._data[key]
        self._data.move_to_end(key)
        return value

    def get(self, key: Hashable, default: Any = None) -> Any:
        if key in self._data:
            self.hits += 1
            self._data.move_to_end(key)
            return self._data[key][0]
        self.misses += 1
        return default

    def __setitem__(self, key: Hashable, value: Any) -> None:
        size = nbytes(value)
        if key in self._data:
            self.bytes -= self._data.pop(key)[1]
        if size > self.max_bytes:
            return
        self._data[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, s) = self._data.popitem(last=False)
            self.bytes -= s

    def setdefault(self, key: Hashable, value: Any) -> Any:
        if key in self._data:
            return self[key]
        self[key] = value
        return value

    def pop(self, key: Hashable, default: Any = None) -> Any:
        if key not in self._data:
            return default
        value, size = self._data.pop(key)
        self.bytes -= size
        return value

    def __delitem__(self, key: Hashable) -> None:
        self.bytes -= self._data.pop(key)[1]

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._data))

    def keys(self) -> list[Hashable]:
        return list(self._data)

    def clear(self) -> None:
        self._data.clear()
        self.bytes = 0

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "entries": len(self._data),
                "bytes": self.bytes}
