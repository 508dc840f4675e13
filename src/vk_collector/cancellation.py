"""Cancellation that is not lost.

On Python 3.11 ``asyncio.wait_for`` returns the result, and drops a cancellation, when
the cancellation arrives in the same loop iteration in which the awaited operation
completes (fixed in 3.12, where ``wait_for`` is built on ``asyncio.timeout``).
redis-py wraps every command send in ``wait_for`` (its socket timeout), so cancelling a
task that is sending a command, as bullmq's ``QueueEvents.close()`` and
``Worker.close()`` do once, can be lost; the task then blocks in ``XREAD`` or
``BZPOPMIN`` until the server-side timeout (seconds).  :func:`cancel_until_done`
repeats the cancellation until the work is over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["cancel_until_done"]

RECANCEL_EVERY_S = 0.01


async def cancel_until_done(
    awaited: Iterable[asyncio.Future[Any]],
    target: Callable[[], asyncio.Future[Any] | None],
    within_s: float,
) -> set[asyncio.Future[Any]]:
    """Wait up to ``within_s`` seconds for every future in ``awaited``, cancelling the
    future that ``target()`` returns (it may change, or be ``None``) every 10 ms while
    they are not all done.  Returns the ones still pending at the deadline, uncancelled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    pending = set(awaited)
    while pending:
        _, pending = await asyncio.wait(
            pending, timeout=min(RECANCEL_EVERY_S, max(deadline - loop.time(), 0))
        )
        if not pending or loop.time() >= deadline:
            break
        victim = target()
        if victim is not None and not victim.done():
            victim.cancel()
    return pending
