"""Collection helpers for the vk-collect worker: recent posts and every comment of posts.

Comments flow continuously (:func:`stream_comments`): the stream plans the first page
of every post in a :class:`~vk_collector.vk.comment_walk.PageWalker` and registers it
with the process-wide batcher of its token choice (:mod:`vk_collector.vk.page_batcher`).
The batcher's senders fill each ``execute`` at the moment the rate limiter grants it,
from every registered stream (several communities share one request) and with the
``wall.get`` calls of :func:`fetch_recent_posts`; each answer is parsed once from its
bytes, turned into storage rows and the pages it reveals are planned.  There is no
round barrier: a slow answer holds up only its own sender.  The rows go to the consumer
through an ordered hand-off (:class:`~vk_collector.vk.comment_flow.CommentFlow`), so a
post's ``done`` batch always comes after every batch holding its comments; while the
consumer stores them the senders keep fetching, up to a bounded backlog of rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence

import msgspec

from vk_collector.vk.client import VkClient
from vk_collector.vk.comment_walk import (
    PAGE_SIZE,
    CommentBatch,
    FetchedComment,
    PageWalker,
    PostKey,
)
from vk_collector.vk.execute import wall_call
from vk_collector.vk.models import Post, WallPage
from vk_collector.vk.page_batcher import batcher_for

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


def _wall_page(raw: msgspec.Raw) -> WallPage:
    return WallPage.model_validate_json(bytes(raw))


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
    batcher = batcher_for(client, token)
    unpinned: dict[int, Post] = {}
    pinned: dict[int, Post] = {}
    offset = 0
    while len(unpinned) < limit:
        count = min(PAGE_SIZE, limit + 1 - len(unpinned))
        page: WallPage = await batcher.call_once(wall_call(owner_id, offset, count), _wall_page)
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
    a transient error after the client's retries) ends the stream: it is raised after
    the batches absorbed before it.  Closing the iterator early (use
    ``contextlib.aclosing``) unregisters the stream at once; its pages still in flight
    are dropped when they come back.
    """
    walker = PageWalker(include_replies)
    for post in posts:
        walker.plan((post.owner_id, post.id) if isinstance(post, Post) else post, 0, 0)
    batcher = batcher_for(client, token)
    flow = batcher.open_flow(walker, max_backlog_rows)
    try:
        while batches := await flow.take():
            yield batches
    finally:
        batcher.close_flow(flow)


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
