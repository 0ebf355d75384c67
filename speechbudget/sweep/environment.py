"""Where a run happens, and whether a run's process still lives: the facts a store records about
the machine (`environment`, in each run's row) and checks against it (`process_alive`)."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def environment(device: str, executor: str, workers: int) -> dict[str, Any]:
    """Where a run happens: CPU/GPU, threads, library versions, git commit."""
    import importlib.metadata as md
    import torch
    from speechbudget.machine import cpu_name, usable_cores
    cpu = cpu_name()
    versions = {}
    for pkg in ("speechbudget", "torch", "transformers", "peft", "ray", "optuna", "ctranslate2",
                "numpy", "jiwer"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    gpu = None
    if torch.cuda.is_available():
        gpu = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"cpu": cpu, "cores": usable_cores(), "torch_threads": torch.get_num_threads(),
            "gpu": gpu, "device": device, "executor": executor, "workers": workers,
            "python": platform.python_version(), "platform": platform.platform(),
            "hostname": platform.node(), "pid": os.getpid(), "versions": versions,
            "git": _git_commit()}


def process_alive(pid: int) -> bool:
    """Whether process `pid` on this machine is running (a zombie, not yet reaped, is not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is not running
        state = Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
