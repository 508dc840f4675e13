"""Bounded slots for expensive requests (exports, upload parses): past the bound the
API answers 429 with ``Retry-After`` at once instead of queueing work it cannot do.

A :class:`Slots` lives on ``app.state`` (one per kind of work, built by
``create_app``), so limits are per process.  Acquisition never waits; the slot is
released when the work ends, including when the client goes away mid-stream
(:class:`SlotStreamingResponse`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from vk_collector.api.errors import ApiError

__all__ = ["SlotStreamingResponse", "Slots"]


class Slots:
    """At most ``limit`` holders at a time; ``what`` names the work in the 429."""

    def __init__(self, what: str, limit: int, *, retry_after_s: int = 5) -> None:
        self.what = what
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.in_use = 0

    def acquire(self) -> None:
        """Take a slot or raise ``ApiError`` 429 (``TOO_MANY_REQUESTS``)."""
        if self.in_use >= self.limit:
            raise ApiError(
                429,
                "TOO_MANY_REQUESTS",
                f"{self.limit} {self.what} already running (the server's limit); "
                f"retry in {self.retry_after_s} s",
                {"limit": self.limit},
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self.in_use += 1

    def release(self) -> None:
        self.in_use = max(0, self.in_use - 1)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that releases a slot (taken by the caller) when it ends:
    finished, failed, or cut off by a client that went away."""

    def __init__(self, content: Any, *, slots: Slots, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._slots: Slots | None = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()

    def _release(self) -> None:
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.release()
