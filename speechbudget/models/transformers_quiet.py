"""Silence transformers' progress bars and logging around a library call."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No progress bars ("Loading weights") and only errors from transformers' logging while
    inside; the previous settings are restored afterwards (a library call prints nothing)."""
    import huggingface_hub.utils as hub
    from transformers.utils import logging as tlog

    bars, hub_bars_off, verbosity = tlog.is_progress_bar_enabled(), \
        hub.are_progress_bars_disabled(), tlog.get_verbosity()
    tlog.disable_progress_bar()
    tlog.set_verbosity_error()
    try:
        yield
    finally:
        tlog.set_verbosity(verbosity)
        if bars:
            tlog.enable_progress_bar()   # also turns the hub's bars back on ...
        if hub_bars_off:
            hub.disable_progress_bars()  # ... unless they were off before
