"""Comments, keyed by ``(owner_id, comment_id)``: equal comment ids on two walls are
two rows.  A comment's post must be stored first (composite foreign key)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, and_, func, select

from vk_collector.storage.models import Comment, TaskPost, utcnow
from vk_collector.storage.records import CommentData, CommentRecord, Page, from_unix
from vk_collector.storage.repositories._base import (
    Repository,
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
_JOIN_TASK = and_(TaskPost.owner_id == Comment.owner_id, TaskPost.post_id == Comment.post_id)


def comment_record(row: Row[*tuple[Any, ...]] | Comment) -> CommentRecord:
    return record_of(CommentRecord, row, date=from_unix(row.date))


class CommentRepository(Repository):
    async def upsert_many(self, comments: Iterable[CommentData]) -> int:
        """Store or refresh comments in batches of 500 rows; the latest version of a
        comment wins.  Returns the number of distinct comments."""
        unique = dedupe(comments, lambda c: (c.owner_id, c.comment_id))
        now = utcnow()
        rows = [
            {
                "owner_id": c.owner_id,
                "comment_id": c.comment_id,
                "post_id": c.post_id,
                "parent_comment_id": c.parent_comment_id,
                "reply_to_comment": c.reply_to_comment,
                "from_id": c.from_id,
                "text": c.text,
                "date": c.date,
                "likes": c.likes,
                "deleted": c.deleted,
                "fetched_at": now,
                "author_id": c.author_id,
                "author_name": None if c.author_name is None else c.author_name[:255],
            }
            for c in unique
        ]
        await self._upsert(
            table_of(Comment), rows, keys=["owner_id", "comment_id"], update=_UPDATED_ON_CONFLICT
        )
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
