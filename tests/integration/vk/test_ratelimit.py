"""The GCRA limiter's Lua script and its cross-process guarantee, against real Valkey
and, for the last test, as the VK emulator counts requests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import uuid

import pytest
import redis.asyncio as aioredis

from vk_collector.vk.ratelimit import RateLimiter
from vk_collector.vk.tokens import token_key

from support.emulator import USER_TOKEN, EmulatorFactory


@pytest.fixture
def limiter(redis_client: aioredis.Redis) -> RateLimiter:
    return RateLimiter(redis_client, prefix=f"test-rl-{uuid.uuid4().hex[:8]}", margin=0.0)


async def test_script_grants_then_returns_the_wait(limiter: RateLimiter) -> None:
    key = token_key("lua-token")
    assert await limiter.try_acquire(key, 2.0) == 0.0
    wait = await limiter.try_acquire(key, 2.0)
    assert 0.45 < wait <= 0.5
    # a denied attempt takes nothing: asking again returns about the same wait
    again = await limiter.try_acquire(key, 2.0)
    assert 0.4 < again <= wait


async def test_keys_hold_a_hash_and_expire(
    limiter: RateLimiter, redis_client: aioredis.Redis
) -> None:
    secret = "lua-secret-token-value"
    key = token_key(secret)
    await limiter.try_acquire(key, 1.0)
    await limiter.penalize(key)
    keys = [k for k in await redis_client.keys("test-rl-*") if key in k]
    assert len(keys) == 1
    assert all(secret not in k for k in keys)
    for name in keys:
        assert 0 < await redis_client.pttl(name) <= 5_000 + 1000
    await limiter.reset(key)
    assert await limiter.try_acquire(key, 1.0) == 0.0


async def test_error_6_pauses_the_token_then_the_pace_resumes(
    redis_client: aioredis.Redis,
) -> None:
    limiter = RateLimiter(redis_client, prefix=f"test-rl-{uuid.uuid4().hex[:8]}", pause_s=0.3)
    key = token_key("penalized")
    assert await limiter.try_acquire(key, 10.0) == 0.0
    await limiter.penalize(key)
    paused = await limiter.try_acquire(key, 10.0)
    assert 0.25 < paused <= 0.3
    assert await limiter.acquire(key, 10.0) >= 0.25
    # after the pause, the usual interval (1.133 / 10 s)
    assert 0.1 < await limiter.try_acquire(key, 10.0) <= 0.1133
    # a pause never pulls closer a slot that is already later than it (1.133 s at 1/s)
    other = token_key("slow-paced")
    assert await limiter.try_acquire(other, 1.0) == 0.0
    await limiter.penalize(other)
    assert 1.0 < await limiter.try_acquire(other, 1.0) <= 1.133


async def test_burst_allows_that_many_at_once(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix=f"test-rl-{uuid.uuid4().hex[:8]}", burst=3)
    key = token_key("bursty")
    assert [await limiter.try_acquire(key, 1.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await limiter.try_acquire(key, 1.0) > 0.9


async def test_acquire_spaces_concurrent_callers(limiter: RateLimiter) -> None:
    key = token_key("spaced")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(limiter.acquire(key, 50.0) for _ in range(12)))
    assert loop.time() - started >= 11 / 50 - 0.01


_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    import redis.asyncio as aioredis
    from vk_collector.vk.ratelimit import RateLimiter

    async def main(url, prefix, key, rps, count):
        client = aioredis.Redis.from_url(url)
        limiter = RateLimiter(client, prefix=prefix)
        grants = []
        for _ in range(count):
            await limiter.acquire(key, rps)
            seconds, micros = await client.time()
            grants.append(seconds + micros / 1e6)
        await client.aclose()
        print(json.dumps(grants))

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])))
    """
)


def test_two_processes_share_one_limit(redis_url: str) -> None:
    """Two processes take 8 slots each at 10/s: no one-second window ever holds more than 10."""
    prefix = f"test-rl-{uuid.uuid4().hex[:8]}"
    args = [sys.executable, "-c", _CHILD, redis_url, prefix, token_key("shared"), "10", "8"]
    children = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    grants = sorted(t for child in children for t in json.loads(child.communicate(timeout=30)[0]))
    assert all(child.returncode == 0 for child in children)
    assert len(grants) == 16
    for i, start in enumerate(grants):
        in_window = sum(1 for t in grants[i:] if t < start + 1.0)
        assert in_window <= 10
    assert grants[-1] - grants[0] >= 1.5 - 0.01


_CLIENT_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import redis.asyncio as aioredis
    from pydantic import SecretStr
    from vk_collector.settings import VkSettings
    from vk_collector.vk.client import VkClient

    async def main(redis_url, api_url, prefix, token, rps, count):
        redis = aioredis.Redis.from_url(redis_url)
        settings = VkSettings(api_url=api_url, tokens=[SecretStr(token)], rps_user=rps)
        async with VkClient(settings, redis=redis, key_prefix=prefix) as client:
            await asyncio.gather(*(client.call("utils.resolveScreenName",
                {"screen_name": f"vkc_group_{i % 5 + 1}"}) for i in range(count)))
        await redis.aclose()

    asyncio.run(main(*sys.argv[1:5], float(sys.argv[5]), int(sys.argv[6])))
    """
)


def test_two_client_processes_stay_under_the_emulators_limit(
    redis_url: str, emulator_factory: EmulatorFactory
) -> None:
    """Two processes, 7 concurrent calls each, one token limited to 5/s by the emulator."""
    server = emulator_factory(rps=5)
    prefix = f"test-rl-{uuid.uuid4().hex[:8]}"
    args = [sys.executable, "-c", _CLIENT_CHILD, redis_url, server.url, prefix, USER_TOKEN]
    children = [subprocess.Popen([*args, "5", "7"]) for _ in range(2)]
    assert [child.wait(timeout=60) for child in children] == [0, 0]
    stats = server.stats()
    assert stats["total_requests"] == 14
    assert stats["errors"] == {}
    (per_token,) = stats["max_per_second"].values()
    assert per_token <= 5
    for second_counts in stats["per_second"].values():
        assert max(second_counts.values()) <= 5
