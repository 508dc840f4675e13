"""Run an async iterator ahead of its consumer.

The collection worker stores one round of comments while the next round is already
being fetched, so the token's rate-limited request slots are not left idle while the
database writes.  ``depth`` bounds how many items wait, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")


@dataclass(frozen=True)
class _Item(Generic[T]):
    value: T


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class _Done:
    pass


async def prefetched(source: AsyncIterator[T], depth: int = 1) -> AsyncIterator[T]:
    """Yield what ``source`` yields, fetching up to ``depth`` items ahead.

    An exception in ``source`` is raised here, after the items before it.  Closing the
    consumer early cancels the fetching.
    """
    queue: asyncio.Queue[_Item[T] | _Failed | _Done] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for value in source:
                await queue.put(_Item(value))
        except Exception as exc:
            await queue.put(_Failed(exc))
            return
        await queue.put(_Done())

    task = asyncio.create_task(pump(), name="prefetch")
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item.value
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
