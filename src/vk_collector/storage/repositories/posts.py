"""Posts, keyed by ``(owner_id, post_id)``, and the ``task_posts`` link that makes a
task's results exactly the posts it collected (even those another task stored first)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, select, update
from sqlalchemy.sql import ColumnCollection

from vk_collector.storage.models import Post, TaskPost, utcnow
from vk_collector.storage.records import Page, PostData, PostKey, PostRecord, from_unix
from vk_collector.storage.repositories._base import (
    Repository,
    dedupe,
    record_of,
    table_of,
    validate_page,
)

__all__ = ["PostRepository", "post_record"]

_UPDATED_ON_CONFLICT = (
    "text",
    "date",
    "likes",
    "reposts",
    "views",
    "comments_count",
    "is_pinned",
    "fetched_at",
)
_JOIN_TASK = and_(TaskPost.owner_id == Post.owner_id, TaskPost.post_id == Post.post_id)


def _keep_first_task(
    table: Table, excluded: ColumnCollection[str, Any]
) -> dict[str, ColumnElement[Any]]:
    return {"first_task_id": func.coalesce(table.c.first_task_id, excluded.first_task_id)}


def post_record(post: Post) -> PostRecord:
    return record_of(PostRecord, post, date=from_unix(post.date))


class PostRepository(Repository):
    async def upsert_many(self, posts: Iterable[PostData], *, task_id: int | None = None) -> int:
        """Store or refresh posts and, with ``task_id``, link them to that task.

        A stored post keeps its ``first_task_id``.  Returns the number of distinct posts.
        """
        unique = dedupe(posts, lambda post: post.key)
        now = utcnow()
        rows = [
            {
                "owner_id": post.owner_id,
                "post_id": post.post_id,
                "text": post.text,
                "date": post.date,
                "likes": post.likes,
                "reposts": post.reposts,
                "views": post.views,
                "comments_count": post.comments_count,
                "is_pinned": post.is_pinned,
                "first_task_id": task_id,
                "fetched_at": now,
                "comments_done": False,
            }
            for post in unique
        ]
        await self._upsert(
            table_of(Post),
            rows,
            keys=["owner_id", "post_id"],
            update=_UPDATED_ON_CONFLICT,
            overrides=_keep_first_task,
        )
        if task_id is not None:
            await self.link_to_task(task_id, [post.key for post in unique])
        return len(unique)

    async def link_to_task(self, task_id: int, keys: Iterable[PostKey]) -> None:
        """Idempotent; an existing link keeps its ``comments_done`` marker."""
        now = utcnow()
        rows = [
            {
                "task_id": task_id,
                "owner_id": owner_id,
                "post_id": post_id,
                "comments_done": False,
                "linked_at": now,
            }
            for owner_id, post_id in dict.fromkeys(keys)
        ]
        await self._upsert(table_of(TaskPost), rows, keys=["task_id", "owner_id", "post_id"])

    async def mark_comments_done(self, task_id: int, owner_id: int, post_id: int) -> bool:
        """Mark the post's comments as stored, for this task and for the post itself.
        ``False`` when the post is not linked to the task."""
        linked = await self.session.execute(
            update(TaskPost)
            .where(
                TaskPost.task_id == task_id,
                TaskPost.owner_id == owner_id,
                TaskPost.post_id == post_id,
            )
            .values(comments_done=True)
            .returning(TaskPost.post_id)
        )
        if linked.first() is None:
            return False
        await self.session.execute(
            update(Post)
            .where(Post.owner_id == owner_id, Post.post_id == post_id)
            .values(comments_done=True)
        )
        return True

    async def pending_comments(
        self, task_id: int, *, owner_id: int | None = None
    ) -> builtins.list[PostKey]:
        """The task's posts whose comments it has not finished: the resume list."""
        query = select(TaskPost.owner_id, TaskPost.post_id).where(
            TaskPost.task_id == task_id, TaskPost.comments_done.is_(False)
        )
        if owner_id is not None:
            query = query.where(TaskPost.owner_id == owner_id)
        rows = await self.session.execute(query.order_by(TaskPost.owner_id, TaskPost.post_id))
        return [(int(owner), int(post)) for owner, post in rows]

    async def get(self, owner_id: int, post_id: int) -> PostRecord | None:
        post = await self.session.scalar(
            select(Post).where(Post.owner_id == owner_id, Post.post_id == post_id)
        )
        return None if post is None else post_record(post)

    @staticmethod
    def _task_filters(
        task_id: int, owner_id: int | None, post_id: int | None, search: str | None
    ) -> builtins.list[ColumnElement[bool]]:
        conditions: builtins.list[ColumnElement[bool]] = [TaskPost.task_id == task_id]
        if owner_id is not None:
            conditions.append(TaskPost.owner_id == owner_id)
        if post_id is not None:
            conditions.append(TaskPost.post_id == post_id)
        if search and search.strip():
            term = search.strip().lower()
            conditions.append(func.lower(Post.text).contains(term, autoescape=True))
        return conditions

    async def list_for_task(
        self,
        task_id: int,
        *,
        limit: int = 50,
        offset: int = 0,
        owner_id: int | None = None,
        post_id: int | None = None,
        search: str | None = None,
    ) -> Page[PostRecord]:
        """Newest first.  ``owner_id`` selects one wall (a community is ``-vk_id``);
        ``search`` is a case-insensitive substring of the text."""
        validate_page(offset, limit)
        conditions = self._task_filters(task_id, owner_id, post_id, search)
        total = await self.count_for_task(
            task_id, owner_id=owner_id, post_id=post_id, search=search
        )
        rows = await self.session.scalars(
            select(Post)
            .join(TaskPost, _JOIN_TASK)
            .where(*conditions)
            .order_by(Post.date.desc(), Post.owner_id, Post.post_id)
            .limit(limit)
            .offset(offset)
        )
        return Page([post_record(post) for post in rows], total, offset, limit)

    async def count_for_task(
        self,
        task_id: int,
        *,
        owner_id: int | None = None,
        post_id: int | None = None,
        search: str | None = None,
    ) -> int:
        conditions = self._task_filters(task_id, owner_id, post_id, search)
        query = select(func.count()).select_from(TaskPost)
        if search and search.strip():
            query = query.join(Post, _JOIN_TASK)
        total = await self.session.scalar(query.where(*conditions))
        return int(total or 0)

    async def count_walls_for_task(self, task_id: int) -> int:
        """How many distinct walls (communities) the task's posts come from."""
        walls = await self.session.scalar(
            select(func.count(func.distinct(TaskPost.owner_id))).where(TaskPost.task_id == task_id)
        )
        return int(walls or 0)

    async def count(self, *, owner_id: int | None = None) -> int:
        query = select(func.count()).select_from(Post)
        if owner_id is not None:
            query = query.where(Post.owner_id == owner_id)
        return int(await self.session.scalar(query) or 0)
