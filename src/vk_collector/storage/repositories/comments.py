"""Comments, keyed by ``(owner_id, comment_id)``: equal comment ids on two walls are
two rows.  A comment's post must be stored first (composite foreign key)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Dialect, Row, and_, bindparam, func, select

from vk_collector.storage.models import Comment, TaskPost, utcnow
from vk_collector.storage.records import CommentFields, CommentRecord, Page, from_unix
from vk_collector.storage.repositories._base import (
    MAX_ROWS_PER_STATEMENT,
    Repository,
    build_upsert,
    chunked,
    dedupe,
    record_of,
    table_of,
    validate_page,
)

__all__ = ["CommentRepository", "comment_record"]

_UPDATED_ON_CONFLICT = (
    "post_id",
    "parent_comment_id",
    "reply_to_comment",
    "from_id",
    "text",
    "date",
    "likes",
    "deleted",
    "fetched_at",
    "author_id",
    "author_name",
)
_COLUMNS = (
    Comment.id,
    Comment.owner_id,
    Comment.comment_id,
    Comment.post_id,
    Comment.parent_comment_id,
    Comment.reply_to_comment,
    Comment.from_id,
    Comment.text,
    Comment.date,
    Comment.likes,
    Comment.deleted,
    Comment.fetched_at,
    Comment.author_id,
    Comment.author_name,
)
_ROW_ORDER = ("owner_id", "comment_id", *_UPDATED_ON_CONFLICT)
"""The order of the tuples :meth:`CommentRepository.upsert_many` binds."""
_FETCHED_AT = table_of(Comment).c.fetched_at.type
_UPSERTS: dict[str, str] = {}


def _compiled_upsert(dialect: Dialect) -> str:
    """The comments upsert as the driver's SQL, positional parameters in
    :data:`_ROW_ORDER`; compiled on first use per dialect."""
    sql = _UPSERTS.get(dialect.name)
    if sql is None:
        statement = build_upsert(
            dialect.name,
            table_of(Comment),
            keys=["owner_id", "comment_id"],
            update=_UPDATED_ON_CONFLICT,
        ).inline()  # no RETURNING, no pre-executed defaults: every column is bound
        compiled = statement.values({n: bindparam(n) for n in _ROW_ORDER}).compile(dialect=dialect)
        if not compiled.positional or tuple(compiled.positiontup or ()) != _ROW_ORDER:
            raise RuntimeError(f"the comments upsert does not bind {_ROW_ORDER} in order")
        sql = _UPSERTS[dialect.name] = compiled.string
    return sql


_JOIN_TASK = and_(TaskPost.owner_id == Comment.owner_id, TaskPost.post_id == Comment.post_id)


def comment_record(row: Row[*tuple[Any, ...]] | Comment) -> CommentRecord:
    return record_of(CommentRecord, row, date=from_unix(row.date))


class CommentRepository(Repository):
    async def upsert_many(self, comments: Iterable[CommentFields]) -> int:
        """Store or refresh comments; the latest version of a comment wins, in the batch
        and against the table.  Returns the number of distinct comments.

        One ``INSERT ... ON CONFLICT (owner_id, comment_id) DO UPDATE``, compiled once
        per dialect, goes to the driver's ``executemany`` with plain tuples, 500 rows
        per call (SQLite steps its prepared statement per row; asyncpg pipelines it):
        SQLAlchemy's per-row parameter processing cost 10 µs a comment, more than
        fetching and parsing it.  ``fetched_at``, the same for the whole batch, is
        processed once by its column type."""
        unique = dedupe(comments, lambda c: (c.owner_id, c.comment_id))
        if not unique:
            return 0
        connection = await self.session.connection()
        dialect = connection.dialect
        sql = _compiled_upsert(dialect)
        fetched_at = _FETCHED_AT.bind_processor(dialect)
        now = utcnow() if fetched_at is None else fetched_at(utcnow())
        rows = [
            (
                c.owner_id,
                c.comment_id,
                c.post_id,
                c.parent_comment_id,
                c.reply_to_comment,
                c.from_id,
                c.text,
                c.date,
                c.likes,
                c.deleted,
                now,
                c.author_id,
                None if c.author_name is None else c.author_name[:255],
            )
            for c in unique
        ]
        for chunk in chunked(rows, MAX_ROWS_PER_STATEMENT):
            await connection.exec_driver_sql(sql, list(chunk))
        return len(unique)

    async def count(self, *, owner_id: int | None = None, post_id: int | None = None) -> int:
        query = select(func.count()).select_from(Comment)
        if owner_id is not None:
            query = query.where(Comment.owner_id == owner_id)
        if post_id is not None:
            query = query.where(Comment.post_id == post_id)
        return int(await self.session.scalar(query) or 0)

    async def count_for_task(self, task_id: int, *, owner_id: int | None = None) -> int:
        """Comments on the posts the task collected."""
        query = (
            select(func.count())
            .select_from(TaskPost)
            .join(Comment, _JOIN_TASK)
            .where(TaskPost.task_id == task_id)
        )
        if owner_id is not None:
            query = query.where(TaskPost.owner_id == owner_id)
        return int(await self.session.scalar(query) or 0)

    async def list_for_task(
        self,
        task_id: int,
        *,
        owner_id: int | None = None,
        post_id: int | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[CommentRecord]:
        """The task's comments ordered by ``(owner_id, post_id, comment_id)``, optionally
        of one wall (``owner_id``) and one post (``post_id``, VK post id)."""
        validate_page(offset, limit)
        where = [TaskPost.task_id == task_id]
        if owner_id is not None:
            where.append(TaskPost.owner_id == owner_id)
        if post_id is not None:
            where.append(TaskPost.post_id == post_id)
        total = await self.session.scalar(
            select(func.count()).select_from(TaskPost).join(Comment, _JOIN_TASK).where(*where)
        )
        rows = await self.session.execute(
            select(*_COLUMNS)
            .join(TaskPost, _JOIN_TASK)
            .where(*where)
            .order_by(Comment.owner_id, Comment.post_id, Comment.comment_id)
            .limit(limit)
            .offset(offset)
        )
        return Page([comment_record(row) for row in rows], int(total or 0), offset, limit)

    async def list_for_post(
        self, owner_id: int, post_id: int, *, limit: int = 100, offset: int = 0
    ) -> Page[CommentRecord]:
        """Oldest first (VK comment ids grow with time)."""
        validate_page(offset, limit)
        total = await self.count(owner_id=owner_id, post_id=post_id)
        rows = await self.session.execute(
            select(*_COLUMNS)
            .where(Comment.owner_id == owner_id, Comment.post_id == post_id)
            .order_by(Comment.comment_id)
            .limit(limit)
            .offset(offset)
        )
        return Page([comment_record(row) for row in rows], total, offset, limit)
