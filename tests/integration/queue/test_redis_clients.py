"""Our own Redis clients survive a server restart: no command fails for a stale connection."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.exceptions
from bullmq import Queue

from vk_collector.redis_clients import reconnect_promptly, redis_client

from support.redis_server import CrashableRedis


async def test_the_first_command_after_a_restart_succeeds(crashable_redis: CrashableRedis) -> None:
    client = redis_client(crashable_redis.url, connect_timeout_s=1.0, decode_responses=True)
    try:
        # several pooled connections, all made stale by the restart
        await client.set("k", "v")
        assert [await c for c in [client.get("k"), client.ping()]] == ["v", True]
        crashable_redis.kill()
        crashable_redis.start()  # empty: no persistence
        assert await client.ping() is True
        assert await client.get("k") is None
        crashable_redis.kill()
        with pytest.raises(redis.exceptions.ConnectionError):  # down stays down
            await client.ping()
    finally:
        await client.aclose()


async def test_bullmq_clients_are_back_within_a_second_of_redis(
    crashable_redis: CrashableRedis,
) -> None:
    # bullmq's own policy waits 2 s, then 4 s more: a 2.5 s outage cost it 6 s
    queue = Queue("q", {"connection": crashable_redis.url, "prefix": "t"})
    reconnect_promptly(queue.client)
    try:
        await queue.add("j", {})
        crashable_redis.kill()
        restart = asyncio.get_running_loop().run_in_executor(None, _restart_after, crashable_redis)
        started = time.monotonic()
        counts = await queue.getJobCounts()  # retried until Redis is back
        elapsed = time.monotonic() - started
        await restart
    finally:
        await queue.close()
    assert counts["waiting"] == 0  # back empty: no persistence
    assert 2.5 <= elapsed < 3.5, elapsed


def _restart_after(server: CrashableRedis, outage_s: float = 2.5) -> None:
    time.sleep(outage_s)  # the outage, in a thread of its own
    server.start()
