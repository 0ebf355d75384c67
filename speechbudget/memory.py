"""Peak memory of one piece of work, measured so that what ran before cannot change it.

On a GPU, `torch.cuda.max_memory_allocated` after a reset is already per-piece. On the CPU the
process's high-water mark (`ru_maxrss`) is not: once a large model has run, every later
configuration reports that model's peak. `MemoryPeak` instead samples, in a background thread
while the work runs, the bytes the process has allocated through malloc (glibc `mallinfo2`: heap
chunks in use + mmapped chunks; torch's CPU tensors are allocated there) and reports the peak
*increase* over the value at its start. Allocated bytes do not depend on what the allocator kept
resident from earlier work, nor on where glibc placed a block, so run order cannot change them; and
nothing about the allocator is changed, so the measured code runs at full speed.

Where `mallinfo2` is missing (not glibc, or glibc < 2.33) it falls back to the resident set size
(/proc/self/statm). Then, to keep run order out of the RSS, it first asks glibc (if present) to
hand freed heap memory back (`malloc_trim(0)`) and fixes the mmap threshold at glibc's 128 KiB
default (`mallopt`). glibc otherwise raises that threshold after a large block is freed, so
after a large model every smaller configuration's tensors would come from a heap that stays
resident. The cost is that every tensor over 128 KiB is then mapped and unmapped on each use.
With the old 2 ms sampler that gave 1.22x the processing time of an unsampled run (tiny.en,
30 s), which is why the allocation count is the default. The absolute resident peak (`peak_mb`)
is sampled too. The sampler wakes every 20 ms: its wake-ups compete with busy torch threads, and
cost 1.06x at 2 ms and 1.03x at 20 ms (`benchmarks/memory_sampler_cost.md`). The memory figures
at 20 ms stay within 3% of those at 2 ms (`benchmarks/memory_order.md`, `memory_model.md`).

    with MemoryPeak() as peak:
        run()
    peak.increase_mb       # MB above the start, sampled every `interval_s`
    peak.source            # "malloc" or "rss": what the increase counts

Units: "MB" here (and in `peak_mem_mb`, the analytic memory model's `.mb()`, the reports) is
2**20 bytes (a MiB), not 10**6.
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


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]


def _libc() -> Any:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL("libc.so.6")
        if hasattr(_LIBC, "mallinfo2"):
            _LIBC.mallinfo2.restype = _MallInfo2
    return _LIBC


def allocated_bytes() -> int | None:
    """Bytes this process has allocated through glibc malloc now (in-use heap chunks of every
    arena + mmapped chunks, `mallinfo2`), or None without glibc >= 2.33."""
    try:
        info = _libc().mallinfo2()
    except (OSError, AttributeError):
        return None
    return int(info.uordblks + info.hblkhd)


def trim_heap() -> bool:
    """Return freed heap memory to the system (glibc malloc_trim); False where not glibc."""
    try:
        return bool(_libc().malloc_trim(0))
    except (OSError, AttributeError):
        return False


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc mallopt parameters
MMAP_THRESHOLD_BYTES = 128 * 1024            # glibc's default (and its dynamic minimum)
_PINNED = False


def pin_malloc_thresholds() -> bool:
    """Fix glibc's mmap and trim thresholds (disabling their dynamic growth) once per process;
    False where not glibc."""
    global _PINNED
    if _PINNED:
        return True
    try:
        libc = _libc()
        ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and \
            bool(libc.mallopt(M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False
    _PINNED = ok
    return ok


class MemoryPeak:
    """Context manager: the peak increase (MB) of the memory the code it wraps allocated, and the
    peak RSS while it ran, both sampled in a thread every `interval_s` (module docstring).
    `trim` (RSS fallback only): trim the heap and fix glibc's thresholds first."""

    def __init__(self, interval_s: float = 0.02, trim: bool = True):
        self.interval_s = interval_s
        self.trim = trim
        self.source = "malloc" if allocated_bytes() is not None else "rss"
        self.start_bytes: int | None = None      # of the source the increase counts
        self.top_bytes: int | None = None
        self.peak_bytes: int | None = None       # RSS
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _counted(self) -> int | None:
        return allocated_bytes() if self.source == "malloc" else rss_bytes()

    def _take(self) -> None:
        r, a = rss_bytes(), self._counted()
        if r is not None and (self.peak_bytes is None or r > self.peak_bytes):
            self.peak_bytes = r
        if a is not None and (self.top_bytes is None or a > self.top_bytes):
            self.top_bytes = a

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._take()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "MemoryPeak":
        if self.trim and self.source == "rss":
            pin_malloc_thresholds()
            trim_heap()
        self.start_bytes = self.top_bytes = self._counted()
        self.peak_bytes = rss_bytes()
        if self.start_bytes is not None or self.peak_bytes is not None:
            self._thread = threading.Thread(target=self._sample, name="memory-peak",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._take()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak_mb(self) -> float | None:
        """The peak RSS (MB) sampled while the block ran (so far, while it runs): the memory the
        process held for it, not the process high-water mark of what ran before."""
        return None if self.peak_bytes is None else self.peak_bytes / 2**20

    @property
    def increase_mb(self) -> float | None:
        """The peak increase (MB) over the start of what `source` counts."""
        if self.start_bytes is None or self.top_bytes is None:
            return None
        return max(0, self.top_bytes - self.start_bytes) / 2**20


def module_mb(module: Any) -> float:
    """Bytes of a torch module's parameters and buffers, in MB (weights at their precision),
    and of the int8 weights and biases of dynamically quantised layers (`quantize_dynamic`,
    the int8-dynamic precision), which torch keeps in packed form, neither parameter nor
    buffer; their `weight()` and `bias()` give them."""
    import torch
    seen: set[int] = set()
    total = 0
    for t in list(module.parameters()) + list(module.buffers()):
        if t.data_ptr() in seen:  # tied weights count once
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    for m in module.modules():   # packed: one unpacked copy at a time, never shared
        if callable(getattr(m, "weight", None)) and callable(getattr(m, "bias", None)):
            for t in (m.weight(), m.bias()):
                if isinstance(t, torch.Tensor):
                    total += t.numel() * t.element_size()
    return total / 2**20


def timed_sleep_alloc(mb: float, seconds: float = 0.2) -> None:
    """Touch `mb` MB for `seconds` and free it (the sampler's own test)."""
    buf = bytearray(int(mb * 2**20))
    for i in range(0, len(buf), PAGE):
        buf[i] = 1
    time.sleep(seconds)
    del buf
