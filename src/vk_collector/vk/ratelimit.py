"""A per-token rate limiter that holds across processes and machines because it lives in Redis.

GCRA (the generic cell rate algorithm) in one Lua script, timed by the Redis server's
clock so that clients on different machines agree.  For a token at ``rps`` requests/s the
emission interval is ``T = (1 + margin) / rps``; with ``burst = 1`` (the default) two
granted requests are never closer than ``T``, so no half-open one-second window ever holds
more than ``rps`` of them.  ``margin`` (default 13.3 %, vk-io's 1133 ms per ``rps``
requests) absorbs jitter between the grant and the moment VK counts the request: a
request queued behind a slow one at the server is counted late, the next one is not.

The key holds only a hash of the token: ``<prefix>:{<key>}:tat`` (theoretical arrival
time, µs; the hash tag keeps a token's keys in one Redis Cluster slot).
:meth:`RateLimiter.acquire` runs the script, sleeps the wait it returns and runs it
again until a slot is granted; a denied attempt takes nothing.

Error 6 (:meth:`RateLimiter.penalize`) pauses the token: its next slot is no earlier
than ``pause_s`` (default 1.133 s, vk-io's pause) after the error, for every process
using it; then the pace is the usual one.  VK's window is one second, so after the
pause the requests that filled it have left it.  (Slowing the token by 1.5x for 5 s,
as before, cost about 1.7 s of the token's slots per error 6; the pause costs at most
``pause_s``, less when the token's next slot was already ahead.)

The token pool (:meth:`~vk_collector.vk.tokens.TokenPool.pick_ready`) takes a slot
with :meth:`RateLimiter.try_acquire` while it looks for a token with capacity now; the
request it picked the token for is sent on that slot, and only its retries call
:meth:`RateLimiter.acquire`.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import redis.asyncio as aioredis

__all__ = ["GCRA_SCRIPT", "RateLimiter"]

GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat - interval * (burst - 1)
if allow_at > now then
  return math.ceil(allow_at - now)
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
  math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""

_PAUSE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(ARGV[1])
local resume = now + pause
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < resume then
  redis.call('SET', KEYS[1], string.format('%.0f', resume), 'PX',
    math.ceil(pause / 1000) + 1000)
end
return 1
"""


class RateLimiter:
    """``acquire(key, rps)`` waits until ``key`` (a token hash) may send one more request."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str = "vkc:vk:rl",
        margin: float = 0.133,
        burst: int = 1,
        pause_s: float = 1.133,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._redis = redis
        self._prefix = prefix
        self._margin = margin
        self._burst = burst
        self._pause_us = max(1, math.ceil(pause_s * 1_000_000))
        self._gcra: Any = redis.register_script(GCRA_SCRIPT)
        self._pause: Any = redis.register_script(_PAUSE_SCRIPT)

    def _keys(self, key: str) -> list[str]:
        return [f"{self._prefix}:{{{key}}}:tat"]

    def interval_us(self, rps: float) -> int:
        return max(1, math.ceil((1.0 + self._margin) * 1_000_000 / rps))

    async def try_acquire(self, key: str, rps: float) -> float:
        """Take a slot if one is free now (returns 0.0), else return the wait in seconds."""
        waited = await self._gcra(keys=self._keys(key), args=[self.interval_us(rps), self._burst])
        return int(waited) / 1_000_000

    async def acquire(self, key: str, rps: float) -> float:
        """Wait for and take one slot; returns the seconds spent waiting."""
        total = 0.0
        while True:
            wait = await self.try_acquire(key, rps)
            if wait <= 0:
                return total
            total += wait
            await asyncio.sleep(wait)

    async def penalize(self, key: str) -> None:
        """After VK's error 6: ``key``'s next slot comes no earlier than ``pause_s`` from now."""
        await self._pause(keys=self._keys(key), args=[self._pause_us])

    async def reset(self, key: str) -> None:
        await self._redis.delete(*self._keys(key))
