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
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from vk_collector.api.app import create_app
from vk_collector.settings import Settings
from vk_emulator.serving import ThreadedServer

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
    """The API app (with its workers unless told), served by uvicorn in a thread on a free port."""

    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        startup_timeout_s: float = 30.0,
        *,
        workers: bool = True,
    ) -> None:
        app = create_app(settings, redis_url, workers=workers, sse_ping_s=5.0)
        self._http = ThreadedServer(
            app, name="vkc-api", startup_timeout_s=startup_timeout_s, shutdown_timeout_s=30
        )
        self.url = ""

    def start(self) -> ApiServer:
        self._http.start()
        self.url = self._http.base_url.rstrip("/")
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
