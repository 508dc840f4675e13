"""Running the emulator over real HTTP: uvicorn in a background thread.

::

    with EmulatorServer(EmulatorConfig(groups=30, rps=0)) as server:
        httpx.get(server.url + "groups.getById", params={...})

The listening socket is bound in the calling thread (``port=0`` picks a free port), so
:attr:`EmulatorServer.url` is known as soon as :meth:`start` returns and a busy port
fails there with ``OSError``.  :meth:`stop` waits for the thread to end.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import anyio.to_thread

from vk_emulator.app import app_for
from vk_emulator.config import EmulatorConfig
from vk_emulator.dataset import Dataset
from vk_emulator.engine import Engine
from vk_emulator.serving import ServerStartError, ThreadedServer

__all__ = ["EmulatorServer", "EmulatorStartError"]


class EmulatorStartError(RuntimeError):
    """The server thread did not come up within the start-up timeout."""


class EmulatorServer:
    """One emulator on ``host:port``; a sync and async context manager.

    ``url`` is the API base (``http://127.0.0.1:<port>/method/``), ``base_url`` the
    server root (``http://127.0.0.1:<port>/``).  ``dataset`` is the very object the server
    answers from, for comparing results; ``stats()`` and the resets work without HTTP.
    A ``dataset`` given to the constructor (built from the same config, or a subclass
    that plans other walls) is served instead of ``Dataset.from_config(config)``.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str | None = None,
        startup_timeout_s: float = 10.0,
        dataset: Dataset | None = None,
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.host = host
        self.dataset = dataset if dataset is not None else Dataset.from_config(self.config)
        self.engine = Engine(self.config, self.dataset)
        self.app = app_for(self.engine)
        self._http = ThreadedServer(
            self.app,
            host,
            port,
            name="vk-emulator",
            lifespan="off",
            log_level=log_level,
            startup_timeout_s=startup_timeout_s,
        )

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def url(self) -> str:
        return self.base_url + "method/"

    @property
    def running(self) -> bool:
        return self._http.running

    def start(self) -> EmulatorServer:
        try:
            self._http.start()
        except ServerStartError as exc:
            raise EmulatorStartError(f"the emulator did not start on {self.host}") from exc
        return self

    def stop(self) -> None:
        self._http.stop()
        self.app.state.builder.shutdown(wait=False)

    def serve_forever(self) -> None:
        """Block until the server stops; Ctrl-C raises ``KeyboardInterrupt`` here."""
        self._http.serve_forever()

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
