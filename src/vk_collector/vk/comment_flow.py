"""One comment stream's state as the batcher and the stream's consumer share it.

A :class:`CommentFlow` holds the stream's :class:`~vk_collector.vk.comment_walk.PageWalker`
(the pages planned), how many of its pages the batcher holds (taken, in a request, or
queued again for a retry), the batches absorbed and not yet taken by the consumer, and
the error that ended it.  The batcher (:mod:`vk_collector.vk.page_batcher`) takes pages
with :meth:`CommentFlow.take_calls` and hands back every page's final result with
:meth:`CommentFlow.deliver`; the consumer waits in :meth:`CommentFlow.take`.

Ordering: :meth:`deliver` absorbs and queues without an ``await`` in between, so
batches reach the consumer in absorb order and a post's ``done`` batch never overtakes
a batch with its comments.  Backlog: once ``max_backlog`` rows wait for the consumer
the flow stops offering pages (:attr:`CommentFlow.wants_send`) until it takes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from vk_collector.vk.comment_walk import CommentBatch, PageWalker
from vk_collector.vk.execute import ApiCall, CallResult

__all__ = ["CommentFlow", "Signal"]


class Signal:
    """Wakes every waiter when something changed; each re-checks its own condition.

    Safe under asyncio's single thread: a waiter checks, clears and waits with no
    ``await`` in between, and :meth:`poke` wakes every waiter already waiting."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def poke(self) -> None:
        self._event.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            self._event.clear()
            await self._event.wait()


class CommentFlow:
    """See the module doc; ``on_change`` is called whenever the flow may want to send
    (pages planned, backlog taken) or stopped wanting to (closed, failed)."""

    def __init__(self, walker: PageWalker, max_backlog: int, on_change: Callable[[], None]) -> None:
        self.walker = walker
        self.max_backlog = max(1, max_backlog)
        self.held = 0
        """Pages the batcher holds: taken and not yet delivered."""
        self.ready: list[CommentBatch] = []
        self.backlog = 0
        self.error: Exception | None = None
        self.closed = False
        self._on_change = on_change
        self._signal = Signal()

    @property
    def active(self) -> bool:
        """Still wants the results of its pages (not closed, not failed)."""
        return not self.closed and self.error is None

    @property
    def wants_send(self) -> bool:
        """Has planned pages and room in its backlog."""
        return self.active and bool(self.walker.planned) and self.backlog < self.max_backlog

    @property
    def finished(self) -> bool:
        return not self.walker.planned and self.held == 0

    def take_calls(self, size: int, *, follow: bool | None = None) -> list[ApiCall]:
        """Up to ``size`` planned pages (see :meth:`PageWalker.take`), now held."""
        calls = self.walker.take(size, follow=follow)
        self.held += len(calls)
        return calls

    def deliver(self, results: Sequence[CallResult]) -> None:
        """Final results of held pages: absorbed into batches for the consumer, or
        dropped once the flow is closed or failed.  An error that absorbing raises
        (not object-level) ends the flow with that error."""
        self.held -= len(results)
        if not self.active or not results:
            self._changed()
            return
        try:
            batches = self.walker.absorb(results)
        except Exception as exc:
            self.error = exc
            batches = []
        self.ready.extend(batches)
        self.backlog += sum(len(b.comments) for b in batches)
        self._changed()

    def fail(self, exc: Exception, pages: int) -> None:
        """``pages`` held pages failed with ``exc`` as a whole: the flow ends with it."""
        self.held -= pages
        if self.error is None and not self.closed:
            self.error = exc
        self._changed()

    def close(self) -> None:
        self.closed = True
        self._changed()

    def _changed(self) -> None:
        self._signal.poke()
        self._on_change()

    async def take(self) -> list[CommentBatch]:
        """Every batch ready now (waiting for one); empty once the stream is over;
        raises the flow's error once the batches absorbed before it are taken."""
        await self._signal.wait_for(
            lambda: bool(self.ready) or self.error is not None or self.finished
        )
        batches, self.ready, self.backlog = self.ready, [], 0
        if batches:
            self._on_change()
        elif self.error is not None:
            raise self.error
        return batches
