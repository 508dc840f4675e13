"""A private Redis server a test may crash and restart (not the session's)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from vk_collector.embedded import EmbeddedValkey


class CrashableRedis(EmbeddedValkey):
    """``kill()`` is a crash (SIGKILL, no shutdown save); ``start()`` again comes back on
    the same port, empty without ``persistence``, from its append-only file with it."""

    def kill(self) -> None:
        pid = self.pid
        assert pid is not None, "not running"
        os.kill(pid, signal.SIGKILL)
        self.stop()  # reaps the dead process; the port stays for the next start()


def redis_binary() -> Path | None:
    """``VKC_TEST_REDIS_SERVER`` (Debian's Redis 7 in ``make pytest-redis7``) or Valkey."""
    binary = os.environ.get("VKC_TEST_REDIS_SERVER")
    return Path(binary) if binary else None


def running(path: Path, *, persistence: bool) -> Iterator[CrashableRedis]:
    """A started :class:`CrashableRedis` in ``path``, stopped when the generator ends."""
    server = CrashableRedis(path, binary=redis_binary(), persistence=persistence, publish=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def crashable_redis(tmp_path: Path) -> Iterator[CrashableRedis]:
    """A server without persistence: a restart comes back empty."""
    yield from running(tmp_path / "crashable", persistence=False)


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[CrashableRedis]:
    """A server with an append-only file: a restart after a crash keeps what it had."""
    yield from running(tmp_path / "redis", persistence=True)
