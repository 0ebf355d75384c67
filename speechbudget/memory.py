"""Peak memory of one piece of work, measured so that what ran before cannot change it.

On a GPU, `torch.cuda.max_memory_allocated` after a reset is already per-piece. On the CPU the
process's high-water mark (`ru_maxrss`) is not: once a large model has run, every later
configuration reports that model's peak. `RssPeak` instead samples the resident set size
(/proc/self/statm) in a background thread while the work runs and reports the peak *increase*
over the RSS at its start. Before taking the starting value it asks glibc to hand freed heap
memory back to the system (`malloc_trim(0)`), so memory a previous configuration freed but the
allocator kept cannot absorb this one's allocations and hide them; and it fixes glibc's mmap
threshold at its 128 KiB default (`mallopt`), which glibc otherwise raises after a large block is
freed, so that after a large model every smaller configuration's tensors would come from the
fragmenting heap instead of mmap: large tensors then always map and unmap, and the RSS follows
what is alive whatever ran before.

    with RssPeak() as peak:
        run()
    peak.increase_mb       # MB above the start, sampled every `interval_s`
"""
from __future__ import annotations

import ctypes
import os
import threading
import time
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_LIBC: Any = None


def rss_bytes() -> int | None:
    """Resident set size of this process now (Linux /proc), or None where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return None


def trim_heap() -> bool:
    """Return freed heap memory to the system (glibc malloc_trim); False where not glibc."""
    global _LIBC
    try:
        if _LIBC is None:
            _LIBC = ctypes.CDLL("libc.so.6")
        return bool(_LIBC.malloc_trim(0))
    except (OSError, AttributeError):
        return False


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc mallopt parameters
MMAP_THRESHOLD_BYTES = 128 * 1024            # glibc's default (and its dynamic minimum)
_PINNED = False


def pin_malloc_thresholds() -> bool:
    """Fix glibc's mmap and trim thresholds (disabling their dynamic growth) once per process;
    False where not glibc."""
    global _LIBC, _PINNED
    if _PINNED:
        return True
    try:
        if _LIBC is None:
            _LIBC = ctypes.CDLL("libc.so.6")
        ok = bool(_LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and \
            bool(_LIBC.mallopt(M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False
    _PINNED = ok
    return ok


class RssPeak:
    """Context manager: the peak RSS increase (MB) of the code it wraps, sampled in a thread."""

    def __init__(self, interval_s: float = 0.002, trim: bool = True):
        self.interval_s = interval_s
        self.trim = trim
        self.start_bytes: int | None = None
        self.peak_bytes: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            r = rss_bytes()
            if r is not None and (self.peak_bytes is None or r > self.peak_bytes):
                self.peak_bytes = r
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "RssPeak":
        if self.trim:
            pin_malloc_thresholds()
            trim_heap()
        self.start_bytes = rss_bytes()
        self.peak_bytes = self.start_bytes
        if self.start_bytes is not None:
            self._thread = threading.Thread(target=self._sample, name="rss-peak", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        r = rss_bytes()
        if r is not None and self.peak_bytes is not None and r > self.peak_bytes:
            self.peak_bytes = r
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak_mb(self) -> float | None:
        """The peak RSS (MB) sampled while the block ran (so far, while it runs): the memory the
        process needed for it, not the process high-water mark of what ran before."""
        return None if self.peak_bytes is None else self.peak_bytes / 2**20

    @property
    def increase_mb(self) -> float | None:
        if self.start_bytes is None or self.peak_bytes is None:
            return None
        return max(0, self.peak_bytes - self.start_bytes) / 2**20


def module_mb(module: Any) -> float:
    """Bytes of a torch module's parameters and buffers, in MB (weights at their precision)."""
    seen: set[int] = set()
    total = 0
    for t in list(module.parameters()) + list(module.buffers()):
        if t.data_ptr() in seen:  # tied weights count once
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total / 2**20


def timed_sleep_alloc(mb: float, seconds: float = 0.05) -> None:
    """Touch `mb` MB for `seconds` and free it (the sampler's own test)."""
    buf = bytearray(int(mb * 2**20))
    for i in range(0, len(buf), PAGE):
        buf[i] = 1
    time.sleep(seconds)
    del buf
