"""The pages of a set of posts' comments still to fetch, and how one chunk is fetched.

:class:`PageWalker` plans ``wall.getComments`` pages and turns answers into storage
rows.  The first top-level page of a post (100 comments, ``offset`` 0,
``preview_length=0``, ``need_likes=1``) tells ``current_level_count``; every page still
needed (the rest of the top level, then each thread through ``comment_id``, sized by
the parent's ``thread.count``) is planned from the counts.  A page that reports a
larger count than planned adds the missing pages.  Comments are de-duplicated by id per
post (offsets move when comments arrive); replies carry ``parent_comment_id``, the id of
their top-level comment; deleted comments are kept.  Pages are asked with
``extended=1``, so every comment carries ``author_name`` from the same page's
``profiles`` and ``groups`` at no extra request.  Follow-up pages are taken before
first pages, so posts finish (and are marked done) as early as they can.

The pages are sent by the process-wide batcher (:mod:`vk_collector.vk.page_batcher`),
which takes them from the walkers of every stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import structlog

from vk_collector.vk.comment_pages import PageData, PageItem
from vk_collector.vk.errors import VkObjectError
from vk_collector.vk.execute import ApiCall, CallResult, comments_call

__all__ = [
    "PAGE_SIZE",
    "CommentBatch",
    "FetchedComment",
    "PageWalker",
    "PostKey",
]

log = structlog.get_logger(__name__)

PAGE_SIZE = 100
THREAD_ITEMS = 10  # replies VK embeds per top-level comment at most (thread_items_count)
AUTHOR_FIELDS = ("first_name", "last_name")

PostKey = tuple[int, int]
"""``(owner_id, post_id)``."""


@dataclass(frozen=True, slots=True)
class FetchedComment:
    """One comment as fetched, with the attributes storage reads
    (:class:`vk_collector.storage.CommentFields`), so it is stored without a copy.
    ``parent_comment_id`` is the thread's top comment (None at top level);
    ``author_id`` equals ``from_id`` (users positive, communities negative);
    ``author_name`` is None when VK did not name the author."""

    owner_id: int
    comment_id: int
    post_id: int
    date: int
    from_id: int
    text: str
    likes: int
    deleted: bool
    parent_comment_id: int | None
    reply_to_comment: int | None
    author_id: int | None
    author_name: str | None


def _fetched(
    post: PostKey, item: PageItem, parent: int | None, names: dict[int, str]
) -> FetchedComment:
    """A page item as stored: ``parent`` is its thread's top comment (None at top level)."""
    return FetchedComment(
        owner_id=post[0],
        comment_id=item.id,
        post_id=post[1],
        date=item.date,
        from_id=item.from_id,
        text=item.text,
        likes=item.likes.count if item.likes else 0,
        deleted=item.deleted,
        parent_comment_id=parent,
        reply_to_comment=item.reply_to_comment,
        author_id=item.from_id,
        author_name=names.get(item.from_id),
    )


@dataclass(frozen=True, slots=True)
class CommentBatch:
    """Comments of one post from one answer; ``done`` once the post has no pages left
    (every earlier batch of that post came before this one).

    ``error`` is set (``comments`` empty, ``done`` true) when the post's first page failed
    with an object-level error: 212 comments disabled, 15 post deleted or wall closed.
    """

    owner_id: int
    post_id: int
    comments: list[FetchedComment]
    done: bool = False
    error: VkObjectError | None = None


class PageWalker:
    """The pages still to fetch, the pages in flight, and the comment ids seen, per post."""

    def __init__(self, include_replies: bool) -> None:
        self.include_replies = include_replies
        self._first: deque[ApiCall] = deque()
        self._follow: deque[ApiCall] = deque()
        self._planned: set[tuple[int, int, int, int]] = set()
        self._outstanding: dict[PostKey, int] = {}
        self._seen: dict[PostKey, set[int]] = {}

    @property
    def planned(self) -> int:
        """Pages planned and not yet taken."""
        return len(self._first) + len(self._follow)

    def plan(self, post: PostKey, parent: int, offset: int) -> None:
        mark = (*post, parent, offset)
        if mark in self._planned:
            return
        self._planned.add(mark)
        self._outstanding[post] = self._outstanding.get(post, 0) + 1
        # top-level pages carry the first replies of each thread: most threads are short,
        # so they need no request of their own
        embed = THREAD_ITEMS if self.include_replies and not parent else 0
        call = comments_call(
            *post,
            offset=offset,
            count=PAGE_SIZE,
            comment_id=parent or None,
            thread_items_count=embed,
            extended=True,  # authors' names come with the page (profiles, groups)
            fields=AUTHOR_FIELDS,
        )
        (self._follow if parent or offset else self._first).append(call)

    def take(self, size: int, *, follow: bool | None = None) -> list[ApiCall]:
        """Up to ``size`` planned pages: follow-up pages first, then first pages;
        ``follow`` True takes follow-up pages only, False first pages only."""
        taken: list[ApiCall] = []
        sources = {None: (self._follow, self._first), True: (self._follow,), False: (self._first,)}
        for source in sources[follow]:
            while source and len(taken) < size:
                taken.append(source.popleft())
        return taken

    def absorb(self, results: Sequence[CallResult]) -> list[CommentBatch]:
        """Rows of one answer per post, planning the pages it reveals.

        Raises a result's error unless it is object-level (212, 15): on a post's first
        page that ends the post with ``error``; on a later page it is logged and skipped.
        """
        found: dict[PostKey, list[FetchedComment]] = {}
        failed: dict[PostKey, VkObjectError] = {}
        for result in results:
            params = result.call.params
            post = (int(params["owner_id"]), int(params["post_id"]))
            parent = int(params.get("comment_id", 0))
            self._outstanding[post] -= 1
            rows = found.setdefault(post, [])
            if result.error is not None:
                if not isinstance(result.error, VkObjectError):
                    raise result.error
                if parent == 0 and int(params.get("offset", 0)) == 0:
                    failed[post] = result.error
                else:
                    log.warning("vk.comments_skipped", post_id=post[1], error=str(result.error))
                continue
            page = result.value
            if not isinstance(page, PageData):
                page = msgspec.convert(page, PageData, strict=False)
            self._rows(post, parent, page, rows)
        batches = []
        for post, rows in found.items():
            done = self._outstanding[post] == 0
            if done:
                self._seen.pop(post, None)
                del self._outstanding[post]
            batches.append(CommentBatch(*post, rows, done, failed.get(post)))
        return batches

    def _rows(self, post: PostKey, parent: int, page: PageData, rows: list[FetchedComment]) -> None:
        for offset in range(PAGE_SIZE, page.level_count, PAGE_SIZE):
            self.plan(post, parent, offset)
        seen = self._seen.setdefault(post, set())
        names = page.author_names()
        replies = self.include_replies and not parent
        for item in page.items:
            if item.id in seen:
                continue
            seen.add(item.id)
            rows.append(_fetched(post, item, parent or None, names))
            thread = item.thread
            if not replies or thread is None or not thread.count:
                continue
            for reply in thread.items:
                if reply.id in seen:
                    continue
                seen.add(reply.id)
                rows.append(_fetched(post, reply, item.id, names))
            if len(thread.items) < thread.count:
                for offset in range(0, thread.count, PAGE_SIZE):
                    self.plan(post, item.id, offset)
