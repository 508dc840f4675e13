"""A per-token rate limiter that holds across processes and machines because it lives in Redis.

GCRA (the generic cell rate algorithm) in one Lua script, timed by the Redis server's
clock so that clients on different machines agree.  For a token at ``rps`` requests/s the
emission interval is ``T = (1 + margin) / rps``; with ``burst = 1`` (the default) two
granted requests are never closer than ``T``, so no half-open one-second window ever holds
more than ``rps`` of them.  ``margin`` (default 13.3 %, vk-io's 1133 ms per ``rps``
requests) absorbs jitter between the grant and the moment VK counts the request: a
request queued behind a slow one at the server is counted late, the next one is not.

Keys hold only a hash of the token: ``<prefix>:{<key>}:tat`` (theoretical arrival time,
µs) and ``<prefix>:{<key>}:slow`` (after error 6 the interval is multiplied by
``penalty_factor`` for ``penalty_s`` seconds, for every process using the token).  The
hash tag keeps both in one Redis Cluster slot.  :meth:`RateLimiter.acquire` runs the
script, sleeps the wait it returns and runs it again until a slot is granted; a denied
attempt takes nothing.

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
local factor = tonumber(redis.call('GET', KEYS[2]) or '1')
if factor > 1 then interval = interval * factor end
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

_PENALTY_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '1')
local factor = tonumber(ARGV[1])
if current > factor then factor = current end
redis.call('SET', KEYS[1], tostring(factor), 'PX', ARGV[2])
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
        penalty_factor: float = 1.5,
        penalty_s: float = 5.0,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._redis = redis
        self._prefix = prefix
        self._margin = margin
        self._burst = burst
        self._penalty_factor = penalty_factor
        self._penalty_s = penalty_s
        self._gcra: Any = redis.register_script(GCRA_SCRIPT)
        self._penalty: Any = redis.register_script(_PENALTY_SCRIPT)

    def _keys(self, key: str) -> list[str]:
        return [f"{self._prefix}:{{{key}}}:tat", f"{self._prefix}:{{{key}}}:slow"]

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
        """After VK's error 6: slow ``key`` by ``penalty_factor`` for ``penalty_s`` seconds."""
        await self._penalty(
            keys=[self._keys(key)[1]],
            args=[self._penalty_factor, max(1, int(self._penalty_s * 1000))],
        )

    async def reset(self, key: str) -> None:
        await self._redis.delete(*self._keys(key))
