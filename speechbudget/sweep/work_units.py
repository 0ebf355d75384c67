"""What passes between the sweep driver and its workers: the task to build (TaskRef), a work unit
(one configuration x one shard) and its result, and the unit time limit (`--unit-timeout`)."""
from __future__ import annotations

from dataclasses import dataclass

from speechbudget.axes import Config
from speechbudget.records import ItemResult
from speechbudget.tasks.base import Shard


@dataclass(frozen=True)
class TaskRef:
    """Enough to build the task and its dataset again in any process."""

    task: str                       # "asr" | "ser"
    options: str = "{}"             # JSON of the task options
    data: str | None = None
    runner: str | None = None       # "module:Class" or "/path/file.py:Class"
    data_options: str = "{}"        # JSON of load_dataset's keywords (spec_data: columns...)


@dataclass
class WorkUnit:
    config: Config
    shard: Shard
    bundle: int = 0                 # units of one bundle run on one worker, in order


@dataclass
class UnitResult:
    config_key: str
    shard_id: str
    results: list[ItemResult] | None
    error: str | None = None        # the task raised (configuration failure)
    crashed: bool = False           # the worker died; retries exhausted
    seconds: float = 0.0
    attempts: int = 1
    worker: str = ""


class UnitTimeout(BaseException):
    """Raised inside a unit that ran past its time limit (the local executor). A BaseException,
    as KeyboardInterrupt, so that a task's `except Exception` (which turns errors into failed
    items) does not swallow it."""


def timeout_reason(seconds: float) -> str:
    return f"unit timed out after {seconds:g} s (--unit-timeout)"


def check_unit_timeout(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"unit_timeout_s={seconds!r}: expected seconds > 0 (--unit-timeout)")
    return float(seconds)
