"""Collection helpers for the vk-collect worker: recent posts and every comment of posts.

Comments are fetched in rounds.  The first top-level page of a post (100 comments,
``offset`` 0, ``preview_length=0``, ``need_likes=1``) tells ``current_level_count``;
every page still needed (the rest of the top level, then each thread through
``comment_id``, sized by the parent's ``thread.count``) is planned from the counts and
sent through ``execute``, 25 pages per request and ``client.concurrency`` requests per
round; pages of several posts share requests (:func:`iter_posts_comments`).  A page that
reports a larger count than planned adds the missing pages to a later round.  Comments
are de-duplicated by id (offsets move when comments arrive); replies carry
``parent_id``, the id of their top-level comment; deleted comments are kept.  Pages are
asked with ``extended=1``, so every comment carries ``author_name`` from the same
page's ``profiles`` and ``groups`` at no extra request.

Without ``execute`` (``VkSettings.use_execute`` false, or VK answering 28 to it, which
the client remembers) the same pages are fetched one call each.  A 12/13 error halves
the execute batch; a batch of one that still fails is sent as a single call.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from vk_collector.errors import VkApiError
from vk_collector.vk.client import VkClient
from vk_collector.vk.errors import VkBatchError, VkObjectError
from vk_collector.vk.execute import MAX_CALLS, ApiCall, CallResult, bounded_gather, comments_call
from vk_collector.vk.models import Comment, CommentsPage, Post

__all__ = [
    "PAGE_SIZE",
    "CommentBatch",
    "fetch_recent_posts",
    "iter_posts_comments",
]

log = structlog.get_logger(__name__)

PAGE_SIZE = 100
THREAD_ITEMS = 10  # replies VK embeds per top-level comment at most (thread_items_count)
AUTHOR_FIELDS = ("first_name", "last_name")


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


@dataclass(frozen=True, slots=True)
class CommentBatch:
    """Comments of one post fetched in one round; ``done`` once the post has no pages left.

    ``error`` is set (``comments`` empty, ``done`` true) when the post's first page failed
    with an object-level error: 212 comments disabled, 15 post deleted or wall closed.
    """

    owner_id: int
    post_id: int
    comments: list[Comment]
    done: bool = False
    error: VkObjectError | None = None


async def iter_posts_comments(
    client: VkClient,
    posts: Sequence[Post | tuple[int, int]],
    include_replies: bool = True,
    *,
    token: str | None = None,
) -> AsyncIterator[CommentBatch]:
    """Fetch the comments of several posts together, yielding per post and round.

    Pages of different posts share ``execute`` requests, so requests stay full when posts
    are small.  A post whose first page fails with an object-level error yields one
    batch with ``error``; a later page (one thread) failing that way is skipped and
    logged; any other failure raises and ends the iteration.
    """
    walker = _Walker(_PageFetcher(client, token), include_replies)
    for post in posts:
        walker.plan((post.owner_id, post.id) if isinstance(post, Post) else post, 0, 0)
    while walker.queue:
        results = await walker.fetcher.fetch(walker.next_round())
        for batch in walker.absorb(results):
            yield batch


_PostKey = tuple[int, int]


class _Walker:
    """The pages still to fetch, and the comment ids already seen, across posts."""

    def __init__(self, fetcher: _PageFetcher, include_replies: bool) -> None:
        self.fetcher = fetcher
        self.include_replies = include_replies
        self.queue: deque[ApiCall] = deque()
        self._planned: set[tuple[int, int, int, int]] = set()
        self._outstanding: dict[_PostKey, int] = {}
        self._seen: dict[_PostKey, set[int]] = {}

    def plan(self, post: _PostKey, parent: int, offset: int) -> None:
        mark = (*post, parent, offset)
        if mark in self._planned:
            return
        self._planned.add(mark)
        self._outstanding[post] = self._outstanding.get(post, 0) + 1
        # top-level pages carry the first replies of each thread: most threads are short,
        # so they need no request of their own
        embed = THREAD_ITEMS if self.include_replies and not parent else 0
        self.queue.append(
            comments_call(
                *post,
                offset=offset,
                count=PAGE_SIZE,
                comment_id=parent or None,
                thread_items_count=embed,
                extended=True,  # authors' names come with the page (profiles, groups)
                fields=AUTHOR_FIELDS,
            )
        )

    def next_round(self) -> list[ApiCall]:
        size = min(len(self.queue), self.fetcher.round_size)
        return [self.queue.popleft() for _ in range(size)]

    def absorb(self, results: Sequence[CallResult]) -> list[CommentBatch]:
        found: dict[_PostKey, list[Comment]] = {}
        failed: dict[_PostKey, VkObjectError] = {}
        for result in results:
            params = result.call.params
            post = (int(params["owner_id"]), int(params["post_id"]))
            parent = int(params.get("comment_id", 0))
            self._outstanding[post] -= 1
            comments = found.setdefault(post, [])
            if result.error is not None:
                if not isinstance(result.error, VkObjectError):
                    raise result.error
                if parent == 0 and int(params.get("offset", 0)) == 0:
                    failed[post] = result.error
                else:
                    log.warning("vk.comments_skipped", post_id=post[1], error=str(result.error))
                continue
            page = result.value
            page = page if isinstance(page, CommentsPage) else CommentsPage.model_validate(page)
            for offset in range(PAGE_SIZE, page.level_count, PAGE_SIZE):
                self.plan(post, parent, offset)
            seen = self._seen.setdefault(post, set())
            names = page.author_names()
            for item in page.items:
                if item.id in seen:
                    continue
                seen.add(item.id)
                update: dict[str, Any] = {"author_name": names.get(item.from_id)}
                if parent:
                    update["parent_id"] = parent
                comments.append(item.model_copy(update=update))
                if parent or not self.include_replies or not item.thread_count:
                    continue
                embedded = item.thread.items if item.thread else []
                for reply in embedded:
                    if reply.id not in seen:
                        seen.add(reply.id)
                        comments.append(
                            reply.model_copy(
                                update={
                                    "parent_id": item.id,
                                    "author_name": names.get(reply.from_id),
                                }
                            )
                        )
                if len(embedded) < item.thread_count:
                    for offset in range(0, item.thread_count, PAGE_SIZE):
                        self.plan(post, item.id, offset)
        batches = []
        for post, comments in found.items():
            done = self._outstanding[post] == 0
            if done:
                self._seen.pop(post, None)
            batches.append(CommentBatch(*post, comments, done, failed.get(post)))
        return batches


class _PageFetcher:
    """Sends a round of page calls through ``execute``, or one by one when it cannot."""

    def __init__(self, client: VkClient, token: str | None) -> None:
        self._client = client
        self._token = token
        self._chunk = MAX_CALLS
        self._concurrency = max(1, client.concurrency)

    @property
    def use_execute(self) -> bool:
        return self._client.settings.use_execute and self._client.execute_available(self._token)

    @property
    def round_size(self) -> int:
        return self._concurrency * (self._chunk if self.use_execute else 1)

    async def fetch(self, calls: Sequence[ApiCall]) -> list[CallResult]:
        while self.use_execute:
            try:
                return await self._client.execute(calls, token=self._token, chunk_size=self._chunk)
            except VkBatchError as exc:
                if self._chunk == 1:
                    log.warning("vk.execute_batch_failed", error=str(exc))
                    break
                self._chunk = max(1, self._chunk // 2)
                log.info("vk.execute_batch_shrunk", size=self._chunk, error_code=exc.error_code)
            except VkApiError as exc:
                if exc.error_code != 28 or exc.method != "execute":
                    raise
                log.warning("vk.execute_unavailable", fallback="single calls")
        return await self._singly(calls)

    async def _singly(self, calls: Sequence[ApiCall]) -> list[CallResult]:
        async def one(call: ApiCall) -> CallResult:
            try:
                value = await self._client.call(call.method, call.params, token=self._token)
            except VkObjectError as exc:
                return CallResult(call, error=exc)
            return CallResult(call, value=value)

        semaphore = asyncio.Semaphore(self._concurrency)
        return await bounded_gather([one(call) for call in calls], semaphore)
