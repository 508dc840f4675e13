"""Redis clients that come back promptly after a Redis restart.

:func:`redis_client` makes the clients this service uses itself;
:func:`reconnect_promptly` tunes the ones bullmq makes for its queues and workers.

redis-py's ``from_url`` clients do not retry: after a Redis restart the first command
on each pooled connection fails with "Connection closed by server", so an API request,
a heartbeat, a reconciliation pass or a VK rate-limit check failed once for every stale
connection.  These clients retry a ``ConnectionError`` twice (0.1 s, then 0.2 s
later) on a fresh connection; a server that stays down still fails within a second
plus the connect timeout.  Timeouts are not retried: callers bound them.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["reconnect_promptly", "redis_client"]

_RETRIES = 2
_BULLMQ_RETRIES = 120
_BULLMQ_BACKOFF_CAP_S = 0.5


def redis_client(
    url: str,
    *,
    connect_timeout_s: float,
    socket_timeout_s: float | None = None,
    decode_responses: bool = False,
) -> aioredis.Redis:
    """A client for ``url`` that reconnects after a server restart (see the module doc)."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=decode_responses,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=connect_timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.1), _RETRIES),
        retry_on_error=[RedisConnectionError],
    )


def reconnect_promptly(*clients: aioredis.Redis | None) -> None:
    """Cap the reconnection backoff of bullmq's clients at 0.5 s (120 retries, about a
    minute in all), before their first command.

    bullmq retries a lost connection 20 times, backing off from 1 s up to 20 s.  After
    a Redis restart of a second, a worker stayed away for several seconds, long enough
    for the locks of its jobs to lapse (they are renewed every half ``lockDuration``):
    its jobs then counted as stalled, and a second stall failed a collection for good.
    """
    for client in clients:
        if client is not None:
            client.set_retry(
                Retry(ExponentialBackoff(cap=_BULLMQ_BACKOFF_CAP_S, base=0.05), _BULLMQ_RETRIES)
            )
