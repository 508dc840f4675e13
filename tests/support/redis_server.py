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


@pytest.fixture
def crashable_redis(tmp_path: Path) -> Iterator[CrashableRedis]:
    """A server without persistence: a restart comes back empty."""
    server = CrashableRedis(
        tmp_path / "crashable", binary=redis_binary(), persistence=False, publish=False
    )
    server.start()
    yield server
    server.stop()
