"""A TEST DOUBLE for the concurrent-runner tests: tests/sweep/fake_task.py's FakeTask that writes
a ledger line when a shard starts and when it ends (O_APPEND, one write per line), and can hang
in its first shard (to be stopped or killed while it holds a lease)."""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

_p = Path(__file__).resolve().parent.parent / "sweep" / "fake_task.py"
_spec = importlib.util.spec_from_file_location("_fake_task_for_ledger", _p)
_mod = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _mod
_spec.loader.exec_module(_mod)


def _log(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class LedgerTask(_mod.FakeTask):
    def __init__(self, ledger: str, hang_marker: str | None = None, **kw):
        super().__init__(**kw)
        self.ledger, self.hang_marker = ledger, hang_marker

    def run_shard(self, config, dataset, shard, device, cache=None):
        _log(self.ledger, f"start {os.getpid()} {config.key} {shard.shard_id}")
        if self.hang_marker and not Path(self.hang_marker).exists():
            Path(self.hang_marker).write_text(f"{config.key} {shard.shard_id}")
            time.sleep(3600)
        out = super().run_shard(config, dataset, shard, device, cache)
        _log(self.ledger, f"end {os.getpid()} {config.key} {shard.shard_id}")
        return out
