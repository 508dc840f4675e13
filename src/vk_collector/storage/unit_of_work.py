"""The unit of work (cosmicpython): one session, one transaction, every repository.

::

    async with db.unit_of_work() as uow:
        await uow.groups.upsert_many(groups)
        await uow.commit()

Leaving the block without :meth:`UnitOfWork.commit` (or with an exception) rolls back.
A unit of work is single-use and not safe to share between concurrent tasks.

On SQLite a unit of work holds the database's write lock from its first statement to
its end (``BEGIN IMMEDIATE``), so keep it short: never across a network call, never
nested inside another one (the inner one would wait for the outer one's lock).  A
``read_only`` unit of work takes no write lock; writing in one may fail with
"database is locked" under concurrency.

A cancel that interrupts a statement, the rollback or the close (a cancelled job's
task is cancelled again every 10 ms until it ends) makes SQLAlchemy invalidate the
connection; on SQLite the engine's dialect then rolls it back and closes it behind the
statement in flight (:mod:`vk_collector.storage.sqlite_dialect`), so the write lock
is never left held.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vk_collector.errors import ErrorCode, StorageError
from vk_collector.storage.repositories import (
    CommentRepository,
    ExportRowRepository,
    GroupRepository,
    PostRepository,
    TaskGroupRepository,
    TaskRepository,
)

__all__ = ["UnitOfWork"]


class UnitOfWork:
    groups: GroupRepository
    tasks: TaskRepository
    task_groups: TaskGroupRepository
    posts: PostRepository
    comments: CommentRepository
    export_rows: ExportRowRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        dialect: str,
        *,
        read_only: bool = False,
    ) -> None:
        self._session_factory = session_factory
        self._dialect = dialect
        self._read_only = read_only
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        """The open session, for queries no repository offers."""
        if self._session is None:
            raise StorageError("unit of work used outside 'async with'", ErrorCode.STORAGE_FAILED)
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise StorageError("unit of work is already open", ErrorCode.STORAGE_FAILED)
        session = self._session_factory()
        if self._read_only:
            await session.connection(execution_options={"read_only": True})
        self._session = session
        self.groups = GroupRepository(session, self._dialect)
        self.tasks = TaskRepository(session, self._dialect)
        self.task_groups = TaskGroupRepository(session, self._dialect)
        self.posts = PostRepository(session, self._dialect)
        self.comments = CommentRepository(session, self._dialect)
        self.export_rows = ExportRowRepository(session, self._dialect)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
