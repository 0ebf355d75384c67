"""What machine a measurement ran on (for stores and benchmark results)."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def cpu_name() -> str:
    """The CPU model name (from /proc/cpuinfo where available)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int | None:
    """The cores this process may run on (its CPU affinity: `taskset`, a container's cpuset),
    which is what a measured RTF ran with; the machine's count where affinity is unknown.
    `os.cpu_count()` alone counts every core of the host: a sweep pinned to 2 of 64 cores
    recorded cores=64 beside its RTF."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """CPU, cores (usable by this process, `usable_cores`), torch threads, GPU, torch and
    Python versions."""
    import torch
    gpu = ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
           if torch.cuda.is_available() else None)
    return {"cpu": cpu_name(), "cores": usable_cores(),
            "torch_threads": threads if threads is not None else torch.get_num_threads(),
            "gpu": gpu, "torch": torch.__version__, "python": platform.python_version()}


def default_device() -> str:
    """"cuda" when a GPU is visible to torch, else "cpu" (every model path's default)."""
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> str:
    """`device` if torch can use it here, else a ConfigError naming it (not an AssertionError
    from deep inside torch)."""
    import torch

    from speechbudget.axes import ConfigError
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError("device", device, f"cpu, cuda or cuda:N ({e})") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", device, "cpu: this machine has no CUDA device that torch "
                                                "can use")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ConfigError("device", device, f"cuda:0..{torch.cuda.device_count() - 1}")
    elif d.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError("device", device, "cpu: MPS is not available here")
    elif d.type != "cpu":
        raise ConfigError("device", device, "cpu, cuda, cuda:N or mps")
    return device
