"""The token pool shared by every process: each request goes out on a token that has
capacity now, across processes, and no token exceeds its rate (counted by the VK
emulator, which answers error 6 past 5 requests/s per token)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
import uuid

import redis.asyncio as aioredis
from pydantic import SecretStr

from vk_collector.settings import VkSettings
from vk_collector.vk.client import VkClient
from vk_collector.vk.tokens import token_key
from vk_emulator.stats import mask_token

from support.emulator import EmulatorFactory

TOKENS = ("demo-user-token-a", "demo-user-token-b")
RPS = 5


def _call(client: VkClient, i: int) -> asyncio.Future[object]:
    return asyncio.ensure_future(
        client.call("utils.resolveScreenName", {"screen_name": f"vkc_group_{i % 5 + 1}"})
    )


async def test_a_request_goes_to_the_token_with_capacity_not_the_next_in_turn(
    redis_client: aioredis.Redis, emulator_factory: EmulatorFactory
) -> None:
    server = emulator_factory(rps=RPS, user_tokens=TOKENS)
    prefix = f"test-pool-{uuid.uuid4().hex[:8]}"
    settings = VkSettings(api_url=server.url, tokens=[SecretStr(t) for t in TOKENS], rps_user=RPS)
    # token a is busy for 3 s (another process took its slots): round robin would make
    # every other request wait for it while token b idles
    seconds, micros = await redis_client.time()
    busy_until = (int(seconds) + 3) * 1_000_000 + int(micros)
    await redis_client.set(f"{prefix}:rl:{{{token_key(TOKENS[0])}}}:tat", str(busy_until))
    async with VkClient(settings, redis=redis_client, key_prefix=prefix) as client:
        started = time.monotonic()
        await asyncio.gather(*(_call(client, i) for i in range(4)))
        elapsed = time.monotonic() - started
    stats = server.stats()
    assert stats["tokens"] == {mask_token(TOKENS[1]): 4}, stats["tokens"]
    assert elapsed < 2.0, elapsed  # 4 slots of token b at 5/s, not 3 s for token a


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import redis.asyncio as aioredis
    from pydantic import SecretStr
    from vk_collector.settings import VkSettings
    from vk_collector.vk.client import VkClient

    async def main(redis_url, api_url, prefix, tokens, rps, count):
        redis = aioredis.Redis.from_url(redis_url)
        settings = VkSettings(api_url=api_url, rps_user=rps,
                              tokens=[SecretStr(t) for t in tokens.split(",")])
        async with VkClient(settings, redis=redis, key_prefix=prefix) as client:
            await asyncio.gather(*(client.call("utils.resolveScreenName",
                {"screen_name": f"vkc_group_{i % 5 + 1}"}) for i in range(count)))
        await redis.aclose()

    asyncio.run(main(*sys.argv[1:5], float(sys.argv[5]), int(sys.argv[6])))
    """
)


def test_two_processes_use_both_tokens_and_neither_over_its_rate(
    redis_url: str, emulator_factory: EmulatorFactory
) -> None:
    server = emulator_factory(rps=RPS, user_tokens=TOKENS)
    prefix = f"test-pool-{uuid.uuid4().hex[:8]}"
    args = [sys.executable, "-c", _CHILD, redis_url, server.url, prefix, ",".join(TOKENS)]
    children = [subprocess.Popen([*args, str(RPS), "12"]) for _ in range(2)]
    assert [child.wait(timeout=60) for child in children] == [0, 0]
    stats = server.stats()
    assert stats["total_requests"] == 24
    assert stats["errors"] == {}  # no error 6: neither token went over its rate
    assert set(stats["tokens"]) == {mask_token(t) for t in TOKENS}
    assert all(count >= 10 for count in stats["tokens"].values()), stats["tokens"]
    assert all(peak <= RPS for peak in stats["max_per_second"].values())
