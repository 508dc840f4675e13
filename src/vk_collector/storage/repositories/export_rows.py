"""Pages of a task's flat rows (:mod:`vk_collector.storage.flat_rows`), for exports.

Keyset pagination on both dialects: a page is the next ``limit`` rows after a key, so
a caller reads a task of any size one short unit of work per page and holds no
connection between pages (see :mod:`vk_collector.export.rows`).  A page shorter than
``limit`` is the last one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, and_, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from vk_collector.storage.flat_rows import CommentKey, CommentRow, PostRow, post_url
from vk_collector.storage.models import Comment, Group, Post, TaskPost
from vk_collector.storage.records import PostKey
from vk_collector.storage.repositories._base import Repository

__all__ = ["DEFAULT_PAGE_ROWS", "ExportRowRepository"]

DEFAULT_PAGE_ROWS = 1000

_Query = Select[*tuple[Any, ...]]
_Row = Row[*tuple[Any, ...]]

_POST_JOIN = and_(TaskPost.owner_id == Post.owner_id, TaskPost.post_id == Post.post_id)
_COMMENT_JOIN = and_(Comment.owner_id == TaskPost.owner_id, Comment.post_id == TaskPost.post_id)
_GROUP_JOIN = Group.vk_id == -Post.owner_id
# Ordered by the task_posts key, SQLite walks two indexes in order: no sort step.
_COMMENT_ORDER = (TaskPost.owner_id, TaskPost.post_id, Comment.comment_id)
_POST_ORDER = (TaskPost.owner_id, TaskPost.post_id)


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _comments_query(task_id: int) -> _Query:
    return (
        select(
            Comment.owner_id,
            Group.name.label("group_name"),
            Comment.post_id,
            Post.date.label("post_date"),
            Post.text.label("post_text"),
            Comment.comment_id,
            Comment.parent_comment_id,
            Comment.reply_to_comment,
            Comment.from_id,
            Comment.author_id,
            Comment.author_name,
            Comment.date,
            Comment.text,
            Comment.likes,
            Comment.deleted,
        )
        .select_from(TaskPost)
        .join(Post, _POST_JOIN)
        .join(Comment, _COMMENT_JOIN)
        .outerjoin(Group, _GROUP_JOIN)
        .where(TaskPost.task_id == task_id)
    )


def _posts_query(task_id: int) -> _Query:
    return (
        select(
            TaskPost.owner_id,
            Group.name.label("group_name"),
            TaskPost.post_id,
            Post.date,
            Post.text,
            Post.likes,
            Post.reposts,
            Post.views,
            Post.comments_count,
            Post.is_pinned,
        )
        .select_from(TaskPost)
        .join(Post, _POST_JOIN)
        .outerjoin(Group, _GROUP_JOIN)
        .where(TaskPost.task_id == task_id)
    )


class ExportRowRepository(Repository):
    """Read-only; use it in a ``read_only`` unit of work."""

    async def comments_page(
        self, task_id: int, *, after: CommentKey | None = None, limit: int = DEFAULT_PAGE_ROWS
    ) -> list[CommentRow]:
        """The task's next ``limit`` comments after ``after``, ordered by
        :attr:`CommentRow.key` (``(owner_id, post_id, comment_id)``)."""
        rows = await self._page(_comments_query(task_id), _COMMENT_ORDER, after, limit)
        page: list[CommentRow] = []
        post_key: PostKey | None = None
        post_date = url = ""
        for row in rows:
            (
                owner_id,
                group_name,
                post_id,
                date_of_post,
                post_text,
                comment_id,
                parent,
                reply_to,
                from_id,
                author_id,
                author_name,
                date,
                text,
                likes,
                deleted,
            ) = row
            if (owner_id, post_id) != post_key:  # one post's values serve all its comments
                post_key = (owner_id, post_id)
                post_date, url = _iso(date_of_post), post_url(owner_id, post_id)
            page.append(
                CommentRow(
                    owner_id,
                    group_name,
                    post_id,
                    post_date,
                    post_text,
                    comment_id,
                    parent,
                    from_id,
                    from_id if author_id is None else author_id,  # rows stored before authors
                    author_name,
                    _iso(date),
                    text,
                    likes,
                    bool(deleted),
                    reply_to,
                    url,
                )
            )
        return page

    async def posts_page(
        self, task_id: int, *, after: PostKey | None = None, limit: int = DEFAULT_PAGE_ROWS
    ) -> list[PostRow]:
        """The task's next ``limit`` posts after ``after``, ordered by
        ``(owner_id, post_id)``; posts without comments included."""
        rows = await self._page(_posts_query(task_id), _POST_ORDER, after, limit)
        return [
            PostRow(
                row.owner_id,
                row.group_name,
                row.post_id,
                _iso(row.date),
                row.text,
                row.likes,
                row.reposts,
                row.views,
                row.comments_count,
                bool(row.is_pinned),
                post_url(row.owner_id, row.post_id),
            )
            for row in rows
        ]

    async def _page(
        self,
        query: _Query,
        keys: Sequence[InstrumentedAttribute[Any]],
        after: tuple[int, ...] | None,
        limit: int,
    ) -> Sequence[_Row]:
        page = query.order_by(*keys)
        if after is not None:
            # The prefix bound lets SQLite seek its index instead of filtering.
            page = page.where(
                tuple_(*keys[:-1]) >= tuple_(*after[:-1]), tuple_(*keys) > tuple_(*after)
            )
        # Core rows straight from the session's connection: no ORM row processing.
        connection = await self.session.connection()
        return (await connection.execute(page.limit(limit))).all()
