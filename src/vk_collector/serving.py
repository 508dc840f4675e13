"""An ASGI app served by uvicorn in a background thread, on a socket bound up front.

Used by the VK emulator (tests, the demo, benchmarks) and by tests that need the API
on a real port.  The socket is bound in the calling thread (``port=0`` picks a free
port), so :attr:`ThreadedServer.port` is known as soon as :meth:`start` returns and a
busy port fails there with ``OSError``; :meth:`stop` waits for the thread to end.

Also the connection limits ``vk-collector serve`` runs with (:func:`hardened_options`):
uvicorn closes idle keep-alive connections itself, but waits forever for a request's
headers and body; :func:`deadline_protocol` closes a connection whose request has not
fully arrived within a deadline.  :class:`RateLimitedLog` keeps a process that runs
out of file descriptors from writing the same error thousands of times a second.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any, Literal

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "RateLimitedLog",
    "ServerStartError",
    "ThreadedServer",
    "deadline_protocol",
    "hardened_options",
]


def deadline_protocol(timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, plus: a request's headers and body must arrive within
    ``timeout_s`` seconds of the connection opening (or of the previous response
    ending), else the connection is closed.  A request that has fully arrived is never
    cut, however long its response streams (exports, event streams)."""

    class DeadlineH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(timeout_s, self._on_deadline)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _on_deadline(self) -> None:
            self._deadline = None
            if self.conn.their_state is h11.DONE or self.transport.is_closing():
                return  # the request arrived; its response may take as long as it needs
            self.transport.close()

    return DeadlineH11Protocol


def hardened_options(
    *, keep_alive_s: float, request_timeout_s: float, limit_concurrency: int
) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``: idle keep-alive connections close
    after ``keep_alive_s``; a request must arrive within ``request_timeout_s``; past
    ``limit_concurrency`` connections plus requests, uvicorn answers 503."""
    return {
        "http": deadline_protocol(request_timeout_s),
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


class ServerStartError(RuntimeError):
    """The server thread did not come up within the start-up timeout."""


class ThreadedServer:
    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        name: str = "asgi-server",
        lifespan: Literal["auto", "on", "off"] = "auto",
        log_level: str | None = None,
        startup_timeout_s: float = 10.0,
        shutdown_timeout_s: float = 10.0,
        request_timeout_s: float | None = None,
    ) -> None:
        """``request_timeout_s``: close connections whose request does not arrive in
        time (see :func:`deadline_protocol`); ``None`` waits as long as uvicorn does."""
        self.app = app
        self.host = host
        self.name = name
        self._requested_port = port
        self._lifespan = lifespan
        self._log_level = log_level
        self._startup_timeout_s = startup_timeout_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._request_timeout_s = request_timeout_s
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already running")
        sock = self._bind()
        self._port = int(sock.getsockname()[1])
        extra: dict[str, Any] = {}
        if self._request_timeout_s is not None:
            extra["http"] = deadline_protocol(self._request_timeout_s)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level=self._log_level,
            access_log=False,  # query strings may carry access tokens
            lifespan=self._lifespan,
            timeout_graceful_shutdown=max(1, int(self._shutdown_timeout_s / 2)),
            **extra,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"{self.name} did not start on {self.host}")
            thread.join(0.01)

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections
        # only then, and without it every keep-alive request waits ~40 ms (Nagle).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        return sock

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(self._shutdown_timeout_s)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        self._server = self._thread = None
        self._port = None

    def serve_forever(self) -> None:
        """Block until the server stops; Ctrl-C raises ``KeyboardInterrupt`` here."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)
