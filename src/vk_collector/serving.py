"""The connection limits ``vk-collector serve`` runs with (:func:`hardened_options`).

uvicorn closes idle keep-alive connections itself, but waits forever for a request's
headers and body; :func:`deadline_protocol` closes a connection whose headers have not
arrived within a deadline, or whose body stops arriving for longer than an idle
timeout, and writes a small response head together with the body that follows it
(:class:`CoalescingTransport`).  :class:`RateLimitedLog` keeps a process that runs out
of file descriptors from writing the same error thousands of times a second.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["CoalescingTransport", "RateLimitedLog", "deadline_protocol", "hardened_options"]


def deadline_protocol(timeout_s: float, body_idle_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, plus two timers that close the connection:

    - *headers*: a request's headers must arrive within ``timeout_s`` seconds of the
      connection opening (or of the previous response ending);
    - *body*: once the headers are in, at most ``body_idle_s`` seconds may pass between
      two chunks of the body.  A body that keeps arriving is never cut, however long
      it takes in all (a large upload on a slow line), and time during which uvicorn
      itself paused reading (the app has not consumed what arrived) does not count.

    A request that has fully arrived is never cut, however long its response streams
    (exports, event streams).  The client sees the connection closed (no 408: the app
    may already be answering)."""

    class DeadlineH11Protocol(H11Protocol):
        # One timer per connection, re-armed lazily: arming a deadline only records
        # when it falls (``_due``, loop time, None when disarmed); the timer, when it
        # fires, compares and sleeps again until ``_due`` if that moved later.  A new
        # ``TimerHandle`` per request and per body chunk (and the cancelled ones left in
        # the loop's heap) cost the event loop CPU on every keep-alive request.
        _timer: asyncio.TimerHandle | None = None
        _due: float | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, self.loop))
            self._arm(timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._due = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                self._arm(body_idle_s)  # a byte of the body arrived: the idle clock restarts
            elif state is h11.DONE:
                self._due = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm(timeout_s)

        def _arm(self, delay_s: float) -> None:
            due = self.loop.time() + delay_s
            self._due = due
            timer = self._timer
            if timer is not None:
                if timer.when() <= due:
                    return  # it fires first and sleeps again until the new due time
                timer.cancel()  # a nearer deadline (the body's idle timeout)
            self._timer = self.loop.call_at(due, self._on_timer)

        def _on_timer(self) -> None:
            self._timer = None
            due = self._due
            if due is None:
                return  # disarmed since: the next _arm starts a timer again
            if due > self.loop.time():
                self._timer = self.loop.call_at(due, self._on_timer)
                return
            self._due = None
            if self.conn.their_state is h11.DONE or self.transport.is_closing():
                return  # the request arrived; its response may take as long as it needs
            if self.conn.their_state is h11.SEND_BODY and self.flow.read_paused:
                self._arm(body_idle_s)  # we stopped reading, not the client
                return
            self.transport.close()

    return DeadlineH11Protocol


_SMALL_WRITE = 4096
"""Bytes at most that :class:`CoalescingTransport` holds back for the next write."""


class CoalescingTransport(asyncio.Transport):
    """The connection's transport, with one change: a small write (at most
    ``_SMALL_WRITE`` bytes) while nothing is held back waits until the next write or
    the end of the current event-loop step, and goes out in one ``send`` with it.

    uvicorn writes a response's status line and headers, then its body, with a system
    call each; a small answer now costs one, and the client reads one segment.  At
    most one small write is ever held back, and never past the loop step that made it:
    a streaming response's headers (an event stream, an export) still leave before
    the app next waits, so its first bytes are not delayed, and flow control (the
    underlying transport's buffer, which pauses the app) sees every byte as before.
    ``close()`` sends what is held back first; ``abort()`` drops it.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif len(data) <= _SMALL_WRITE and not self._transport.is_closing():
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()


def hardened_options(
    *,
    keep_alive_s: float,
    request_timeout_s: float,
    body_idle_s: float,
    limit_concurrency: int,
) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``: idle keep-alive connections close
    after ``keep_alive_s``; a request's headers must arrive within
    ``request_timeout_s`` and its body may pause for at most ``body_idle_s`` between
    chunks (:func:`deadline_protocol`); past ``limit_concurrency`` connections plus
    requests, uvicorn answers 503."""
    return {
        "http": deadline_protocol(request_timeout_s, body_idle_s),
        "timeout_keep_alive": max(1, round(keep_alive_s)),
        "limit_concurrency": limit_concurrency,
    }


class RateLimitedLog(logging.Filter):
    """Lets through at most one record per ``every_s`` seconds among those whose
    message contains one of ``needles`` (others pass untouched); the next one let
    through says how many were dropped.  Install on the ``asyncio`` logger, which
    reports every failed ``accept()`` when the process is out of file descriptors."""

    def __init__(
        self,
        needles: tuple[str, ...] = ("Too many open files", "out of system resource"),
        every_s: float = 10.0,
    ) -> None:
        super().__init__()
        self.needles = needles
        self.every_s = every_s
        self.dropped = 0
        self._last = -float("inf")
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        if not any(needle in text for needle in self.needles):
            return True
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.every_s:
                self.dropped += 1
                return False
            self._last = now
            if self.dropped:
                record.msg = f"{record.msg} ({self.dropped} like it suppressed)"
                self.dropped = 0
        return True
