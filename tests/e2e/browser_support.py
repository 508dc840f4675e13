"""What the dashboard's browser test needs: Chromium, Playwright, and the API on a port.

- :func:`ensure_chromium` returns Debian's ``/usr/bin/chromium``, installing the
  ``chromium`` package with apt-get when it is missing (CI runs as root).
  Playwright's own browser download does not work on these machines.
- :func:`ensure_playwright` imports Playwright's Python package, installing it with pip
  when it is missing.
- :class:`ApiServer` runs ``create_app`` (API, dashboard and in-process workers) under
  uvicorn in a thread on a free loopback port, like the VK emulator does.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from vk_collector.api.app import create_app
from vk_collector.settings import Settings

__all__ = ["CHROMIUM_ARGS", "ApiServer", "ensure_chromium", "ensure_playwright"]

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which
# this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def ensure_chromium() -> Path:
    """``/usr/bin/chromium``, installed with apt-get first if needed; raises with the reason."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{CHROMIUM} is missing and apt-get is not available to install it")
    if os.geteuid() != 0:
        raise RuntimeError(
            f"{CHROMIUM} is missing; install it as root: apt-get install -y chromium"
        )
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = _run(command, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}"
            )
    if not CHROMIUM.exists():
        raise RuntimeError(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


def ensure_playwright() -> None:
    """Import ``playwright.sync_api``, installing the package with pip when it is missing."""
    try:
        importlib.import_module("playwright.sync_api")
        return
    except ImportError:
        pass
    done = _run([sys.executable, "-m", "pip", "install", "playwright"], timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"pip install playwright failed:\n{done.stderr[-2000:]}")
    importlib.invalidate_caches()
    importlib.import_module("playwright.sync_api")


class ApiServer:
    """The API app with its workers, served by uvicorn in a thread on a free port."""

    def __init__(self, settings: Settings, redis_url: str, startup_timeout_s: float = 30.0) -> None:
        self._app = create_app(settings, redis_url, workers=True, sse_ping_s=5.0)
        self._startup_timeout_s = startup_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> ApiServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self._app, log_config=None, access_log=False, timeout_graceful_shutdown=5
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="vkc-api", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API server did not start on {self.url}")
            thread.join(0.02)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(30)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        self._server = self._thread = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
