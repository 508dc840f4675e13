"""Tasks and their per-community state.

Every JSON value written to a task passes through :func:`scrub_secrets`: keys that
name a token are dropped at any depth and token-shaped text is masked, so a token
handed to a job never reaches the database.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    bindparam,
    func,
    select,
    update,
)

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.redaction import redact_value
from vk_collector.storage.models import Task, TaskGroup, utcnow
from vk_collector.storage.records import (
    Page,
    TaskGroupRecord,
    TaskGroupState,
    TaskRecord,
    TaskStatus,
    TaskType,
)
from vk_collector.storage.repositories._base import (
    Repository,
    page_offset,
    page_rows,
    record_of,
    table_of,
)

__all__ = [
    "SECRET_KEYS",
    "TaskGroupRepository",
    "TaskGroupTotals",
    "TaskRepository",
    "scrub_secrets",
    "task_page",
]


@dataclass(frozen=True)
class TaskGroupTotals:
    """A task's communities at a glance: ``total``, ``finished`` (done, failed or
    skipped), and the ``posts`` and ``comments`` the finished ones recorded."""

    total: int
    finished: int
    posts: int
    comments: int


SECRET_KEYS = frozenset({"token", "access_token", "tokens", "api_key", "apikey", "password"})
_JSON_FIELDS = frozenset({"stats", "errors", "parameters", "result", "current_group"})
_UPDATABLE = _JSON_FIELDS | {
    "status",
    "progress",
    "stage",
    "error_message",
    "started_at",
    "finished_at",
}


def scrub_secrets(value: Any) -> Any:
    """A copy of ``value`` without secret-named keys (any depth, any case) and with
    token-shaped strings masked."""
    if isinstance(value, Mapping):
        return {
            str(key): scrub_secrets(item)
            for key, item in value.items()
            if str(key).lower() not in SECRET_KEYS
        }
    if isinstance(value, list | tuple):
        return [scrub_secrets(item) for item in value]
    return redact_value(value)


_COLUMNS = tuple(table_of(Task).c)


def _task_row_record(row: RowMapping) -> TaskRecord:
    """A record from a Core row of every task column (no ORM object is built)."""
    return TaskRecord(
        id=row["id"],
        type=row["type"],
        status=row["status"],
        progress=row["progress"],
        stage=row["stage"],
        stats=row["stats"] or {},
        errors=row["errors"] or [],
        parameters=row["parameters"] or {},
        result=row["result"],
        error_message=row["error_message"],
        current_group=row["current_group"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


@functools.cache
def _page_statements(by_status: bool, by_type: bool) -> tuple[Select[Any], Select[Any]]:
    """The page query and its count for one combination of filters, built once with
    bound parameters (``status``, ``type``, ``limit``, ``offset``): building the
    statement and its cache key on every call cost more than running it.

    The page carries its total as an uncorrelated scalar subquery (``(SELECT count(*)
    ...)``, evaluated once per statement), not ``count(*) OVER ()``: a window over the
    whole result makes SQLite read every matching row, all columns, before the
    ``LIMIT`` (twice the time of the page at 50 tasks, and growing with the table)."""
    conditions: builtins.list[ColumnElement[bool]] = []
    if by_status:
        conditions.append(Task.status == bindparam("status"))
    if by_type:
        conditions.append(Task.type == bindparam("type"))
    counted = select(func.count()).select_from(Task).where(*conditions)
    query = (
        select(*_COLUMNS, counted.scalar_subquery().label("total"))
        .where(*conditions)
        .order_by(Task.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return query, counted


def task_page(
    connection: Connection,
    *,
    page: int = 1,
    limit: int = 20,
    status: TaskStatus | None = None,
    type: TaskType | None = None,
) -> Page[TaskRecord]:
    """A page of tasks, newest first, on a synchronous connection (run it with
    :meth:`Database.read`, or :meth:`TaskRepository.list` inside a unit of work).

    One statement: the total comes with the page's rows (see :func:`_page_statements`),
    and an empty first page means a total of 0; only an empty later page (past the
    end) asks for the total separately.  Reads columns (Core), not ORM objects:
    building twenty entities cost more than the query.  Raises
    :class:`ValidationError` for a page or limit out of range.
    """
    offset = page_offset(page, limit)
    query, counted = _page_statements(status is not None, type is not None)
    values: dict[str, Any] = {"limit": limit, "offset": offset}
    if status is not None:
        values["status"] = TaskStatus(status)
    if type is not None:
        values["type"] = TaskType(type)
    rows, total = page_rows(connection, query, counted, values, offset)
    return Page([_task_row_record(row) for row in rows], total, offset, limit)


def task_record(task: Task) -> TaskRecord:
    """JSON columns are copied, so a record never shares a mutable value with the
    session's object."""
    return record_of(
        TaskRecord,
        task,
        stats=dict(task.stats or {}),
        errors=list(task.errors or []),
        parameters=dict(task.parameters or {}),
        result=None if task.result is None else dict(task.result),
        current_group=None if task.current_group is None else dict(task.current_group),
    )


class TaskRepository(Repository):
    async def create(
        self, task_type: TaskType | str, parameters: Mapping[str, Any] | None = None
    ) -> TaskRecord:
        now = utcnow()
        task = Task(
            type=TaskType(task_type),
            status=TaskStatus.PENDING,
            progress=0,
            stats={},
            errors=[],
            parameters=scrub_secrets(parameters or {}),
            created_at=now,
            updated_at=now,
        )
        self.session.add(task)
        await self.session.flush()
        return task_record(task)

    async def get(self, task_id: int, *, for_update: bool = False) -> TaskRecord | None:
        """``for_update`` locks the row until the unit of work ends (PostgreSQL; SQLite's
        ``BEGIN IMMEDIATE`` already serialises writers)."""
        task = await self._load(task_id, for_update=for_update)
        return None if task is None else task_record(task)

    async def _load(self, task_id: int, *, for_update: bool) -> Task | None:
        return await self.session.get(
            Task, task_id, with_for_update=for_update or None, populate_existing=True
        )

    async def exists(self, task_id: int) -> bool:
        found = await self.session.scalar(select(Task.id).where(Task.id == task_id))
        return found is not None

    async def list(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        status: TaskStatus | None = None,
        type: TaskType | None = None,
    ) -> Page[TaskRecord]:
        """Newest first (see :func:`task_page`), inside this unit of work."""
        return await self.session.run_sync(
            lambda session: task_page(
                session.connection(), page=page, limit=limit, status=status, type=type
            )
        )

    async def update(self, task_id: int, **values: Any) -> TaskRecord | None:
        """Set the given columns (and ``updated_at``); ``None`` when the task is gone.

        Raises :class:`ValidationError` for a column that may not be set this way.
        """
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValidationError(
                f"cannot update task field(s) {', '.join(sorted(unknown))}",
                ErrorCode.INVALID_INPUT,
            )
        task = await self._load(task_id, for_update=True)
        if task is None:
            return None
        for name, value in values.items():
            if name in _JSON_FIELDS and value is not None:
                value = scrub_secrets(value)
            if name == "status":
                value = TaskStatus(value)
            if name == "progress":
                value = max(0, min(100, int(value)))
            setattr(task, name, value)
        task.updated_at = utcnow()
        await self.session.flush()
        return task_record(task)

    async def delete(self, task_id: int) -> bool:
        task = await self.session.get(Task, task_id)
        if task is None:
            return False
        await self.session.delete(task)
        await self.session.flush()
        return True


def _task_group_record(row: TaskGroup) -> TaskGroupRecord:
    return record_of(TaskGroupRecord, row)


class TaskGroupRepository(Repository):
    async def init(self, task_id: int, groups: Mapping[int, str | None]) -> None:
        """Add ``{vk_id: name}`` as pending; rows that exist keep their state (resume)."""
        now = utcnow()
        rows = [
            {
                "task_id": task_id,
                "group_vk_id": vk_id,
                "name": name,
                "state": TaskGroupState.PENDING,
                "posts_done": 0,
                "comments_collected": 0,
                "error": None,
                "updated_at": now,
            }
            for vk_id, name in groups.items()
        ]
        await self._upsert(table_of(TaskGroup), rows, keys=["task_id", "group_vk_id"])

    async def mark(
        self,
        task_id: int,
        group_vk_id: int,
        state: TaskGroupState,
        *,
        posts_done: int | None = None,
        comments_collected: int | None = None,
        error: str | None = None,
    ) -> bool:
        """Set the state; ``error`` is always overwritten (``None`` clears it), the
        counters only when given.  ``False`` when there is no such row."""
        values: dict[str, Any] = {
            "state": TaskGroupState(state),
            "error": None if error is None else redact_value(error),
            "updated_at": utcnow(),
        }
        if posts_done is not None:
            values["posts_done"] = posts_done
        if comments_collected is not None:
            values["comments_collected"] = comments_collected
        result = await self.session.execute(
            update(TaskGroup)
            .where(TaskGroup.task_id == task_id, TaskGroup.group_vk_id == group_vk_id)
            .values(**values)
            .returning(TaskGroup.group_vk_id)
        )
        return result.first() is not None

    async def list(
        self, task_id: int, *, states: Iterable[TaskGroupState] | None = None
    ) -> builtins.list[TaskGroupRecord]:
        query = select(TaskGroup).where(TaskGroup.task_id == task_id)
        if states is not None:
            query = query.where(TaskGroup.state.in_([TaskGroupState(s) for s in states]))
        rows = await self.session.scalars(query.order_by(TaskGroup.group_vk_id))
        return [_task_group_record(row) for row in rows]

    async def get(self, task_id: int, vk_id: int) -> TaskGroupRecord | None:
        """The state of community ``vk_id`` in task ``task_id``; None when it is not one."""
        row = await self.session.get(TaskGroup, (task_id, vk_id))
        return None if row is None else _task_group_record(row)

    async def pending(self, task_id: int) -> builtins.list[TaskGroupRecord]:
        """What a resumed job still has to do: pending, and processing (interrupted)."""
        return await self.list(task_id, states=(TaskGroupState.PENDING, TaskGroupState.PROCESSING))

    async def counts(self, task_id: int) -> dict[TaskGroupState, int]:
        rows = await self.session.execute(
            select(TaskGroup.state, func.count())
            .where(TaskGroup.task_id == task_id)
            .group_by(TaskGroup.state)
        )
        counts = dict.fromkeys(TaskGroupState, 0)
        counts.update({TaskGroupState(state): int(n) for state, n in rows})
        return counts

    async def totals(self, task_id: int) -> TaskGroupTotals:
        """One aggregate over the task's communities, for progress: how many there are,
        how many are finished (done, failed or skipped), and the posts and comments the
        finished ones recorded."""
        finished = (TaskGroupState.DONE, TaskGroupState.FAILED, TaskGroupState.SKIPPED)
        is_finished = TaskGroup.state.in_(finished)
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.count().filter(is_finished),
                    func.coalesce(func.sum(TaskGroup.posts_done), 0),
                    func.coalesce(func.sum(TaskGroup.comments_collected), 0),
                ).where(TaskGroup.task_id == task_id)
            )
        ).one()
        return TaskGroupTotals(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
