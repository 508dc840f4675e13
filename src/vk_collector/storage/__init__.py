"""Storage: SQLAlchemy 2 (async) on SQLite or PostgreSQL, behind a unit of work.

::

    db = Database(settings.database_url)
    await migrate(db.url)
    async with db.unit_of_work() as uow:
        result = await uow.groups.upsert_many(groups)
        await uow.commit()
    await db.dispose()

Repositories return the frozen records of :mod:`vk_collector.storage.records`, never
ORM objects, so callers never hold a session.  Exports (CSV, XLSX, JSON) are not
storage: they live in :mod:`vk_collector.export`, which reads the flat rows of
:mod:`vk_collector.storage.flat_rows` through ``uow.export_rows``.
"""

from vk_collector.storage.engine import Database, create_engine
from vk_collector.storage.flat_rows import CommentKey, CommentRow, PostRow
from vk_collector.storage.migrate import current_revision, head_revision, migrate, schema_diff
from vk_collector.storage.records import (
    CommentData,
    CommentFields,
    CommentRecord,
    GroupCommentCount,
    GroupData,
    GroupRecord,
    GroupStats,
    GroupStatus,
    Page,
    PostData,
    PostKey,
    PostRecord,
    TaskGroupRecord,
    TaskGroupState,
    TaskRecord,
    TaskStatus,
    TaskType,
    UpsertResult,
)
from vk_collector.storage.repositories import (
    DEFAULT_PAGE_ROWS,
    GROUP_SORT_FIELDS,
    CommentRepository,
    ExportRowRepository,
    GroupRepository,
    PostRepository,
    TaskGroupRepository,
    TaskRepository,
    group_page,
    scrub_secrets,
    task_page,
)
from vk_collector.storage.unit_of_work import UnitOfWork

__all__ = [
    "DEFAULT_PAGE_ROWS",
    "GROUP_SORT_FIELDS",
    "CommentData",
    "CommentFields",
    "CommentKey",
    "CommentRecord",
    "CommentRepository",
    "CommentRow",
    "Database",
    "ExportRowRepository",
    "GroupCommentCount",
    "GroupData",
    "GroupRecord",
    "GroupRepository",
    "GroupStats",
    "GroupStatus",
    "Page",
    "PostData",
    "PostKey",
    "PostRecord",
    "PostRepository",
    "PostRow",
    "TaskGroupRecord",
    "TaskGroupRepository",
    "TaskGroupState",
    "TaskRecord",
    "TaskRepository",
    "TaskStatus",
    "TaskType",
    "UnitOfWork",
    "UpsertResult",
    "create_engine",
    "current_revision",
    "group_page",
    "head_revision",
    "migrate",
    "schema_diff",
    "scrub_secrets",
    "task_page",
]
