"""One process-wide switch that makes every retry wait instant, for tests.

Modelled on stamina's ``set_testing()``: the VK client's backoff
(:func:`vk_collector.vk.errors.backoff_delay`) and the queue's enqueue retries
(:mod:`vk_collector.queue.job_handler`) both ask :func:`retry_waits_enabled`, so one
call turns every backoff wait to zero; the number of attempts stays the same, and the
VK rate limiter keeps its real waits.  Off (waits real) by default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["instant_retries", "retry_waits_enabled", "set_instant_retries"]

_instant = False


def set_instant_retries(instant: bool) -> None:
    """``True``: every retry wait is zero from now on, in the whole process."""
    global _instant
    _instant = instant


def retry_waits_enabled() -> bool:
    """Whether retries wait (the default) or go again at once."""
    return not _instant


@contextlib.contextmanager
def instant_retries() -> Iterator[None]:
    """``with instant_retries(): ...`` makes retries instant inside the block only."""
    previous = _instant
    set_instant_retries(True)
    try:
        yield
    finally:
        set_instant_retries(previous)
