"""prefetched(): order kept, errors surfaced after earlier items, bounded look-ahead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from vk_collector.workers.prefetch import prefetched


async def numbers(n: int, produced: list[int], fail_at: int | None = None) -> AsyncIterator[int]:
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"failed at {i}")
        produced.append(i)
        yield i


async def test_items_arrive_in_order() -> None:
    produced: list[int] = []
    assert [i async for i in prefetched(numbers(5, produced))] == [0, 1, 2, 3, 4]


async def test_an_error_comes_after_the_items_before_it() -> None:
    produced: list[int] = []
    seen: list[int] = []

    async def consume() -> None:
        async for i in prefetched(numbers(10, produced, fail_at=3)):
            seen.append(i)

    with pytest.raises(ValueError, match="failed at 3"):
        await consume()
    assert seen == [0, 1, 2]


async def test_the_source_runs_ahead_by_at_most_depth_items() -> None:
    produced: list[int] = []
    consumer = prefetched(numbers(100, produced), depth=2)
    assert await anext(consumer) == 0
    for _ in range(20):
        await asyncio.sleep(0)  # let the pump run as far as it may
    # one item taken, two queued, one in hand waiting for room
    assert len(produced) <= 4
    await consumer.aclose()
