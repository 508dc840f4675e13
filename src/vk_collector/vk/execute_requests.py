"""Sending a list of calls through ``execute`` requests, for callers that hold all of
their calls up front (:meth:`vk_collector.vk.client.VkClient.execute`: the benchmarks'
and tests' batches; group lookups are single ``groups.getById`` calls of 500 ids).
The collector's comment pages and ``wall.get`` calls go through the process-wide
batcher instead (:mod:`vk_collector.vk.page_batcher`).

The calls are cut into chunks of ``chunk_size`` (≤ 25), up to ``client.concurrency``
requests at once, each on its own rate-limiter slot.  Calls that fail transiently inside
``execute`` are sent again, at most ``max_retries`` times, after an exponential backoff;
a call that hits the daily quota (29) cools its token down and is retried on the next
pool token.  Other per-call failures come back as that call's ``error``; whole-request
failures raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from vk_collector.errors import ErrorSeverity
from vk_collector.vk.errors import QUOTA_CODE, VkQuotaError, backoff_delay
from vk_collector.vk.execute import (
    MAX_CALLS,
    ApiCall,
    CallResult,
    bounded_gather,
    build_code,
    split_results,
)
from vk_collector.vk.tokens import Token

if TYPE_CHECKING:
    from vk_collector.vk.requester import Decoder, Requester

__all__ = ["execute_calls", "execute_chunk"]

log = structlog.get_logger(__name__)


async def execute_calls(
    client: Requester,
    calls: Sequence[ApiCall],
    *,
    token: str | None,
    chunk_size: int = MAX_CALLS,
    decode: Decoder | None = None,
) -> list[CallResult]:
    """One result per call, in order (see the module doc)."""
    settings = client.settings
    results: list[CallResult | None] = [None] * len(calls)
    pending = list(range(len(calls)))
    for attempt in range(settings.max_retries + 1):
        size = max(1, min(MAX_CALLS, chunk_size))
        chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
        outcomes = await bounded_gather(
            [execute_chunk(client, [calls[i] for i in chunk], token, decode) for chunk in chunks],
            client.semaphore,
        )
        again: list[int] = []
        worst_code = 0
        for chunk, (used, chunk_results) in zip(chunks, outcomes, strict=True):
            for index, result in zip(chunk, chunk_results, strict=True):
                results[index] = result
                error = result.error
                if error is None or attempt == settings.max_retries:
                    continue
                if error.error_code == QUOTA_CODE and used is not None and token is None:
                    await client.pool.cool_down(used, error.method or result.call.method)
                    again.append(index)
                elif error.severity is ErrorSeverity.TRANSIENT:
                    again.append(index)
                    worst_code = max(worst_code, error.error_code)
        if not again:
            break
        log.info("vk.execute_retry", calls=len(again), attempt=attempt + 1)
        pending = again
        delay = backoff_delay(
            attempt + 1, settings.backoff_base_s, settings.backoff_max_s, worst_code
        )
        await asyncio.sleep(delay)
    return [result for result in results if result is not None]


async def execute_chunk(
    client: Requester, calls: list[ApiCall], token: str | None, decode: Decoder | None = None
) -> tuple[Token | None, list[CallResult]]:
    """One ``execute`` request for ``calls``; the token it went out on (None when every
    token is out of quota, each call then failing with :class:`VkQuotaError`)."""
    methods = {"execute", *(call.method for call in calls)}
    try:
        envelope, used = await client.request(
            "execute", {"code": build_code(calls)}, token=token, methods=methods, decode=decode
        )
    except VkQuotaError as exc:
        return None, [CallResult(call, error=exc) for call in calls]
    return used, split_results(calls, envelope.get("response"), envelope.get("execute_errors"))
