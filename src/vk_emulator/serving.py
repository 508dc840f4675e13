"""An ASGI app served by uvicorn in a background thread, on a socket bound up front.

Used by the VK emulator (tests, the demo, benchmarks) and by tests that need the API
on a real port.  The socket is bound in the calling thread (``port=0`` picks a free
port), so :attr:`ThreadedServer.port` is known as soon as :meth:`start` returns and a
busy port fails there with ``OSError``; :meth:`stop` waits for the thread to end.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Literal

import uvicorn

__all__ = ["ServerStartError", "ThreadedServer"]


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
        http: Any = "auto",
    ) -> None:
        """``http``: uvicorn's HTTP protocol, a name or a protocol class."""
        self.app = app
        self.host = host
        self.name = name
        self._requested_port = port
        self._lifespan = lifespan
        self._log_level = log_level
        self._startup_timeout_s = startup_timeout_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._http = http
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
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level=self._log_level,
            access_log=False,  # query strings may carry access tokens
            lifespan=self._lifespan,
            timeout_graceful_shutdown=max(1, int(self._shutdown_timeout_s / 2)),
            http=self._http,
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
