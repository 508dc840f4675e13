"""Row sources for exports: a task's comments (joined with their post and community)
and a task's posts, streamed without loading a task into memory.

Both dialects page with keyset pagination, one short read transaction per chunk on a
connection returned to the pool before the chunk's rows are handed out: a long export
never blocks writers or pins the WAL, and a slow client holds no connection.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sqlalchemy import Row, Select, and_, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from vk_collector.errors import (
    task_not_found,
)
from vk_collector.storage.engine import Database
from vk_collector.storage.models import Comment, Group, Post, Task, TaskPost

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "EXPORT_COLUMNS",
    "CommentTuple",
    "comment_rows",
    "comment_tuples",
    "ensure_task",
    "iso_utc",
    "post_rows",
    "post_url",
]

DEFAULT_CHUNK_ROWS = 1000
EXPORT_COLUMNS: tuple[str, ...] = (
    "owner_id",
    "group_name",
    "post_id",
    "post_date",
    "post_text",
    "comment_id",
    "parent_comment_id",
    "from_id",
    "author_id",
    "author_name",
    "date",
    "text",
    "likes",
    "deleted",
    "reply_to_comment",
    "post_url",
)
CommentTuple = tuple[
    int,
    str | None,
    int,
    str,
    str,
    int,
    int | None,
    int,
    int,
    str | None,
    str,
    str,
    int,
    bool,
    int | None,
    str,
]

_Query = Select[*tuple[Any, ...]]
_Row = Row[*tuple[Any, ...]]

_POST_JOIN = and_(TaskPost.owner_id == Post.owner_id, TaskPost.post_id == Post.post_id)
_COMMENT_JOIN = and_(Comment.owner_id == TaskPost.owner_id, Comment.post_id == TaskPost.post_id)
_GROUP_JOIN = Group.vk_id == -Post.owner_id


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def iso_utc(seconds: int | None) -> str | None:
    """Unix seconds as ISO-8601 UTC (``2024-05-01T12:00:00Z``)."""
    return None if seconds is None else _iso(seconds)


def post_url(owner_id: int, post_id: int) -> str:
    return f"https://vk.com/wall{owner_id}_{post_id}"


async def ensure_task(db: Database, task_id: int) -> None:
    """Raise :class:`~vk_collector.errors.NotFoundError` unless the task exists."""
    async with db.engine.connect() as connection:
        await connection.execution_options(read_only=True)
        found = await connection.scalar(select(Task.id).where(Task.id == task_id))
    if found is None:
        raise task_not_found(task_id)


async def _stream(
    db: Database,
    query: _Query,
    keys: Sequence[InstrumentedAttribute[Any]],
    chunk_rows: int,
) -> AsyncGenerator[_Row, None]:
    """Rows of ``query`` ordered by ``keys``, whose labels must be among its columns.

    Keyset pagination on both dialects: each page of at most ``chunk_rows`` rows is
    read on a connection taken from the pool for that one short read and handed back
    before any row is yielded.  A consumer that stalls (a download whose client
    stopped reading) therefore holds no database connection and no transaction."""
    query = query.order_by(*keys)
    labels = [key.key for key in keys]
    after: tuple[Any, ...] | None = None
    while True:
        page = query
        if after is not None:
            # The prefix bound lets SQLite seek its index instead of filtering.
            page = page.where(
                tuple_(*keys[:-1]) >= tuple_(*after[:-1]), tuple_(*keys) > tuple_(*after)
            )
        async with db.engine.connect() as connection:
            await connection.execution_options(read_only=True)
            rows = (await connection.execute(page.limit(chunk_rows))).all()
            await connection.rollback()
        for row in rows:
            yield row
        if len(rows) < chunk_rows:
            return
        after = tuple(getattr(rows[-1], label) for label in labels)
        del rows


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


async def comment_tuples(
    db: Database, task_id: int, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> AsyncGenerator[CommentTuple, None]:
    """One tuple per comment of the task, values in :data:`EXPORT_COLUMNS` order,
    ordered by ``(owner_id, post_id, comment_id)``; dates as ISO-8601 UTC strings."""
    # Ordered by the task_posts key, SQLite walks two indexes in order: no sort step.
    keys = (TaskPost.owner_id, TaskPost.post_id, Comment.comment_id)
    post_key: tuple[int, int] | None = None
    post_date = url = ""
    async for row in _stream(db, _comments_query(task_id), keys, chunk_rows):
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
        yield (
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


async def comment_rows(
    db: Database, task_id: int, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> AsyncGenerator[dict[str, Any], None]:
    """:func:`comment_tuples` as dicts keyed by :data:`EXPORT_COLUMNS`."""
    async for values in comment_tuples(db, task_id, chunk_rows=chunk_rows):
        yield dict(zip(EXPORT_COLUMNS, values, strict=True))


async def post_rows(
    db: Database, task_id: int, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> AsyncGenerator[dict[str, Any], None]:
    """One dict per post the task collected, ordered by ``(owner_id, post_id)``."""
    query = (
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
    async for row in _stream(db, query, (TaskPost.owner_id, TaskPost.post_id), chunk_rows):
        yield {
            "owner_id": row.owner_id,
            "group_name": row.group_name,
            "post_id": row.post_id,
            "date": _iso(row.date),
            "text": row.text,
            "likes": row.likes,
            "reposts": row.reposts,
            "views": row.views,
            "comments_count": row.comments_count,
            "is_pinned": bool(row.is_pinned),
            "url": post_url(row.owner_id, row.post_id),
        }
