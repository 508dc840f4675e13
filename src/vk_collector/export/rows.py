"""Where every writer gets its rows: a task's flat rows, read page by page.

Each page (at most ``chunk_rows`` rows, default
:data:`~vk_collector.storage.DEFAULT_PAGE_ROWS`) is read in its own short
``read_only`` unit of work, closed, and so its connection handed back to the pool,
before the page's first row is yielded: a long export never blocks writers or pins
SQLite's WAL, and a download whose client stopped reading holds no connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

from vk_collector.errors import task_not_found
from vk_collector.storage import (
    DEFAULT_PAGE_ROWS,
    CommentRow,
    Database,
    ExportRowRepository,
    PostRow,
)

__all__ = ["EXPORT_COLUMNS", "comment_rows", "ensure_task", "export_rows", "post_rows"]

EXPORT_COLUMNS: tuple[str, ...] = CommentRow._fields
"""The tabular formats' columns, in order: those of :class:`CommentRow`."""

_R = TypeVar("_R", CommentRow, PostRow)
_PageReader = Callable[[ExportRowRepository, Any], Awaitable[list[_R]]]


async def ensure_task(db: Database, task_id: int) -> None:
    """Raise :class:`~vk_collector.errors.NotFoundError` unless the task exists."""
    async with db.unit_of_work(read_only=True) as uow:
        found = await uow.tasks.exists(task_id)
    if not found:
        raise task_not_found(task_id)


async def _paged(db: Database, read: _PageReader[_R], chunk_rows: int) -> AsyncGenerator[_R, None]:
    after: Any = None
    while True:
        async with db.unit_of_work(read_only=True) as uow:
            rows = await read(uow.export_rows, after)
        for row in rows:
            yield row
        if len(rows) < chunk_rows:
            return
        after = rows[-1].key
        del rows


def comment_rows(
    db: Database, task_id: int, *, chunk_rows: int = DEFAULT_PAGE_ROWS
) -> AsyncGenerator[CommentRow, None]:
    """Every comment of the task, ordered by ``(owner_id, post_id, comment_id)``.
    Does not check that the task exists (an unknown task has no rows)."""
    return _paged(
        db,
        lambda repo, after: repo.comments_page(task_id, after=after, limit=chunk_rows),
        chunk_rows,
    )


def post_rows(
    db: Database, task_id: int, *, chunk_rows: int = DEFAULT_PAGE_ROWS
) -> AsyncGenerator[PostRow, None]:
    """Every post the task collected, ordered by ``(owner_id, post_id)``."""
    return _paged(
        db,
        lambda repo, after: repo.posts_page(task_id, after=after, limit=chunk_rows),
        chunk_rows,
    )


async def export_rows(
    db: Database, task_id: int, *, chunk_rows: int = DEFAULT_PAGE_ROWS
) -> AsyncGenerator[dict[str, Any], None]:
    """One dict per comment of the task (keys :data:`EXPORT_COLUMNS`), ordered by
    ``(owner_id, post_id, comment_id)``.  Raises ``NotFoundError`` for an unknown
    task on first iteration."""
    await ensure_task(db, task_id)
    async for row in comment_rows(db, task_id, chunk_rows=chunk_rows):
        yield row._asdict()
