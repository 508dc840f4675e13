"""Cancellation that is not lost.

On Python 3.11 ``asyncio.wait_for`` returns the result, and drops a cancellation, when
the cancellation arrives in the same loop iteration in which the awaited operation
completes (fixed in 3.12, where ``wait_for`` is built on ``asyncio.timeout``).
redis-py wraps every command send in ``wait_for`` (its socket timeout), so cancelling a
task that is sending a command, as bullmq's ``QueueEvents.close()`` and
``Worker.close()`` do once, can be lost; the task then blocks in ``XREAD`` or
``BZPOPMIN`` until the server-side timeout (seconds).  :func:`cancel_until_done`
repeats the cancellation until the work is over.

The other side of that: cleanup that must not be cut short (closing a SQLite
connection whose statement a cancel interrupted) runs under
:func:`finish_despite_cancellation`, which absorbs those repeated cancellations until
the cleanup is over and raises one after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

__all__ = ["cancel_until_done", "finish_despite_cancellation"]

T = TypeVar("T")

RECANCEL_EVERY_S = 0.01
FINISH_WITHIN_S = 30.0
"""How long :func:`finish_despite_cancellation` waits before it gives the work up:
twice SQLite's busy timeout."""


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


async def finish_despite_cancellation(work: Awaitable[T], within_s: float = FINISH_WITHIN_S) -> T:
    """Run ``work`` to its end even when the calling task is cancelled, any number of
    times, meanwhile; then return its result or raise its exception, or, when a
    cancellation arrived, raise :class:`asyncio.CancelledError`.

    For work that ends on its own: a connection's rollback and close behind the
    statement in flight (which SQLite's busy timeout, 15 s, bounds).  Work still
    running after ``within_s`` seconds is cancelled after all, and
    :class:`TimeoutError` raised unless a cancellation arrived, so nothing waits for
    it for ever."""
    finishing = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    deadline: float | None = loop.time() + within_s
    cancelled = False
    while not finishing.done():
        left = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            await asyncio.wait({finishing}, timeout=left)  # never cancels it, never raises
        except asyncio.CancelledError:
            cancelled = True
            continue
        if not finishing.done() and deadline is not None and loop.time() >= deadline:
            finishing.cancel()  # give up on it; then wait for it to take the cancel
            deadline = None
    if cancelled:  # the cancellation wins over the work's own error
        raise asyncio.CancelledError from _error(finishing)
    if finishing.cancelled():
        raise TimeoutError(f"cleanup did not finish within {within_s:g} s")
    return finishing.result()


def _error(future: asyncio.Future[Any]) -> BaseException | None:
    return None if future.cancelled() else future.exception()
