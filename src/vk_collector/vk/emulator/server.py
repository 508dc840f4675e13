"""Running the emulator over real HTTP: uvicorn in a background thread.

::

    with EmulatorServer(EmulatorConfig(groups=30, rps=0)) as server:
        httpx.get(server.url + "groups.getById", params={...})

The listening socket is bound in the calling thread (``port=0`` picks a free port), so
:attr:`EmulatorServer.url` is known as soon as :meth:`start` returns and a busy port
fails there with ``OSError``.  :meth:`stop` waits for the thread to end.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import anyio.to_thread
import uvicorn

from vk_collector.vk.emulator.app import app_for
from vk_collector.vk.emulator.config import EmulatorConfig
from vk_collector.vk.emulator.dataset import Dataset
from vk_collector.vk.emulator.engine import Engine

__all__ = ["EmulatorServer", "EmulatorStartError"]


class EmulatorStartError(RuntimeError):
    """The server thread did not come up within the start-up timeout."""


class EmulatorServer:
    """One emulator on ``host:port``; a sync and async context manager.

    ``url`` is the API base (``http://127.0.0.1:<port>/method/``), ``base_url`` the
    server root (``http://127.0.0.1:<port>/``).  ``dataset`` is the very object the server
    answers from, for comparing results; ``stats()`` and the resets work without HTTP.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str | None = None,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.host = host
        self.dataset = Dataset.from_config(self.config)
        self.engine = Engine(self.config, self.dataset)
        self.app = app_for(self.engine)
        self._requested_port = port
        self._log_level = log_level
        self._startup_timeout_s = startup_timeout_s
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not running")
        return self._port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def url(self) -> str:
        return self.base_url + "method/"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        sock = self._bind()
        self._port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level=self._log_level,
            access_log=False,  # query strings carry access tokens
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="vk-emulator", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise EmulatorStartError(f"the emulator did not start on {self.host}")
            thread.join(0.01)
        return self

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
        thread.join(10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        self._server = self._thread = None
        self._port = None

    def serve_forever(self) -> None:
        """Block until the server stops; Ctrl-C raises ``KeyboardInterrupt`` here."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stats(self) -> dict[str, Any]:
        """What ``GET /stats`` answers: counts per token (masked), method, second, error."""
        return self.engine.stats_snapshot()

    def reset_stats(self) -> None:
        self.engine.reset_stats()

    def reset_limits(self) -> None:
        """Forget rate-limit windows and quota counters, and restart the fault sequence."""
        self.engine.reset_limits()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmulatorServer:
        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)
