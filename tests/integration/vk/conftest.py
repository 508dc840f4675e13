"""VK clients for the stream and batcher tests: real loopback HTTP to the session's
emulator, the limiter out of the way, closed after the test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from vk_collector.vk.client import VkClient
from vk_emulator import EmulatorServer

from support.emulator import USER_TOKEN
from support.vk import fast_vk_settings


@pytest.fixture
async def vk_client_factory(
    redis_client: aioredis.Redis, emulator: EmulatorServer
) -> AsyncIterator[type[VkClient]]:
    """``vk_client_factory(transport=None, token=USER_TOKEN, rps=10_000)``: a client
    with 3 senders and the test's own Redis key prefix; every client made is closed
    after the test."""
    clients: list[VkClient] = []
    prefix = f"test-vk-{uuid.uuid4().hex[:8]}"

    class Made(VkClient):
        def __init__(
            self,
            transport: httpx.AsyncBaseTransport | None = None,
            token: str = USER_TOKEN,
            rps: float = 10_000,
        ) -> None:
            super().__init__(
                fast_vk_settings(emulator.url, [token], rps_user=rps),
                redis=redis_client,
                key_prefix=prefix,
                transport=transport,
                concurrency=3,
            )
            clients.append(self)

    yield Made
    for client in clients:
        await client.aclose()
