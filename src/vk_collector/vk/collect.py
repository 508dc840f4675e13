"""Collection helpers for the vk-collect worker: recent posts and every comment of posts.

Comments flow continuously (:func:`stream_comments`): ``client.concurrency`` sender
tasks each take the next chunk of planned pages (25 through ``execute``) from one
:class:`~vk_collector.vk.comment_walk.PageWalker`, send it as soon as the token's rate
limiter grants a slot, parse the answer once from its bytes, turn it into storage rows
and plan the pages it reveals, then take the next chunk.  There is no round barrier: a
slow answer holds up only its own sender.  The first pages of every post are planned at
once, so one post's thread pages and the next posts' pages share requests.  The rows go
to the consumer through an ordered hand-off, so a post's ``done`` batch always comes
after every batch holding its comments; while the consumer stores them the senders
keep fetching, up to a bounded backlog of rows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence

from vk_collector.cancellation import cancel_until_done
from vk_collector.vk.client import VkClient
from vk_collector.vk.comment_walk import (
    PAGE_SIZE,
    CommentBatch,
    FetchedComment,
    PageFetcher,
    PageWalker,
    PostKey,
)
from vk_collector.vk.models import Post

__all__ = [
    "MAX_BACKLOG_ROWS",
    "PAGE_SIZE",
    "CommentBatch",
    "FetchedComment",
    "PostKey",
    "fetch_recent_posts",
    "iter_posts_comments",
    "stream_comments",
]

MAX_BACKLOG_ROWS = 50_000
"""Rows fetched and not yet taken by the consumer before the senders pause (~20 full
``execute`` answers; bounds memory when storage is slower than VK)."""


async def fetch_recent_posts(
    client: VkClient, owner_id: int, limit: int, *, token: str | None = None
) -> list[Post]:
    """The ``limit`` most recent posts of a wall by date, newest first.

    The pinned post comes first on the wall whatever its date, so it is counted only if
    its date places it among the ``limit`` newest: pages are read until ``limit``
    unpinned posts are known (or the wall ends).  Errors 15/18/19/30 raise
    :class:`~vk_collector.vk.errors.VkObjectError`.
    """
    if limit <= 0:
        return []
    unpinned: dict[int, Post] = {}
    pinned: dict[int, Post] = {}
    offset = 0
    while len(unpinned) < limit:
        count = min(PAGE_SIZE, limit + 1 - len(unpinned))
        page = await client.wall_get(owner_id, offset, count, token=token)
        for post in page.items:
            if post.is_pinned:
                pinned.setdefault(post.id, post)
            else:
                unpinned.setdefault(post.id, post)
        offset += len(page.items)
        if not page.items or offset >= page.count:
            break
    candidates = {**pinned, **unpinned}
    ordered = sorted(candidates.values(), key=lambda post: (post.date, post.id), reverse=True)
    return ordered[:limit]


class _Flow:
    """Shared state of one stream: the walker, what is in flight, what is ready."""

    def __init__(self, walker: PageWalker, fetcher: PageFetcher, max_backlog: int) -> None:
        self.walker = walker
        self.fetcher = fetcher
        self.max_backlog = max(1, max_backlog)
        self.changed = asyncio.Condition()
        self.in_flight = 0
        self.ready: list[CommentBatch] = []
        self.backlog = 0
        self.error: Exception | None = None

    @property
    def finished(self) -> bool:
        return not self.walker.planned and self.in_flight == 0

    def _may_send(self) -> bool:
        if self.error is not None or self.finished:
            return True
        return bool(self.walker.planned) and self.backlog < self.max_backlog

    async def send(self) -> None:
        """One sender: take planned pages, fetch, absorb, until nothing is left."""
        while True:
            async with self.changed:
                await self.changed.wait_for(self._may_send)
                if self.error is not None or not self.walker.planned:
                    return
                calls = self.walker.take(self.fetcher.chunk_size)
                self.in_flight += 1
            try:
                results = await self.fetcher.fetch(calls)
                batches = self.walker.absorb(results)
            except Exception as exc:
                self.error = self.error or exc
                batches = []
            # no await between absorbing and queueing: batches stay in absorb order, so
            # a post's done batch never overtakes one that holds its comments
            self.ready.extend(batches)
            self.backlog += sum(len(b.comments) for b in batches)
            self.in_flight -= 1
            async with self.changed:
                self.changed.notify_all()

    async def take(self) -> list[CommentBatch]:
        """Every batch ready now (waiting for one); empty once the stream is over."""
        async with self.changed:
            await self.changed.wait_for(
                lambda: bool(self.ready) or self.error is not None or self.finished
            )
            batches, self.ready, self.backlog = self.ready, [], 0
            self.changed.notify_all()
        if not batches and self.error is not None:
            raise self.error
        return batches


async def stream_comments(
    client: VkClient,
    posts: Sequence[Post | PostKey],
    include_replies: bool = True,
    *,
    token: str | None = None,
    max_backlog_rows: int = MAX_BACKLOG_ROWS,
) -> AsyncGenerator[list[CommentBatch], None]:
    """Fetch the comments of several posts together; yield every batch ready at once.

    Batches come in the order their answers were absorbed; a post's batch with
    ``done`` comes after all batches of its comments.  A post whose first page fails
    with an object-level error yields one batch with ``error``; a later page (one
    thread) failing that way is skipped and logged.  Any other failure (invalid token,
    a transient error after the client's retries) stops the senders and is raised after
    the batches absorbed before it.  Closing the iterator early (use
    ``contextlib.aclosing``) cancels the requests in flight.
    """
    walker = PageWalker(include_replies)
    for post in posts:
        walker.plan((post.owner_id, post.id) if isinstance(post, Post) else post, 0, 0)
    flow = _Flow(walker, PageFetcher(client, token), max_backlog_rows)
    senders = [
        asyncio.create_task(flow.send(), name=f"comments-sender-{i}")
        for i in range(max(1, client.concurrency))
    ]
    try:
        while batches := await flow.take():
            yield batches
    finally:
        for task in senders:
            task.cancel()
        await cancel_until_done(
            senders, lambda: next((t for t in senders if not t.done()), None), 10.0
        )


async def iter_posts_comments(
    client: VkClient,
    posts: Sequence[Post | PostKey],
    include_replies: bool = True,
    *,
    token: str | None = None,
) -> AsyncGenerator[CommentBatch, None]:
    """:func:`stream_comments` one batch (one post, one answer) at a time."""
    async with contextlib.aclosing(
        stream_comments(client, posts, include_replies, token=token)
    ) as stream:
        async for batches in stream:
            for batch in batches:
                yield batch
