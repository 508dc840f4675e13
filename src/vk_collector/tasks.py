"""Task lifecycle on top of the unit of work: create, start, progress, complete, fail.

::

    pending --start--> processing --complete--> completed
       |                   |  ^
       |                 fail  start (a retried or recovered job)
       |                   v  |
       |                  failed
       +----cancel---------+-------> cancelled  (from pending or processing)

Invariants:

* progress is an integer percentage, clamped to 0..100; ``complete`` sets it to 100;
* a finished task (completed, failed or cancelled) ignores late progress reports: a
  stale worker cannot lower a completed task; ``start`` re-opens a completed or
  failed one for a new attempt;
* a cancelled task stays cancelled: ``start`` raises :class:`TaskCancelledError`,
  ``complete`` and ``fail`` leave it as it is (the worker notices the cancel between
  VK requests and ends its job, see ``workers.task_worker``);
* ``started_at`` keeps the first start; ``finished_at`` is set by complete/fail and
  cleared by start;
* parameters, results, stats and errors never hold a token (see ``scrub_secrets``);
* at most :data:`MAX_TASK_ERRORS` errors are kept, the most recent ones.

Every method returns a :class:`TaskRecord` and raises :class:`ValidationError`
(``NOT_FOUND``, "task 123 not found") for an unknown task.
"""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from vk_collector.errors import (
    ConflictError,
    ErrorCode,
    ErrorSeverity,
    ValidationError,
    WorkerError,
    task_not_found,
)
from vk_collector.redaction import redact
from vk_collector.storage import (
    Database,
    Page,
    TaskRecord,
    TaskStatus,
    TaskType,
    UnitOfWork,
    task_page,
)
from vk_collector.storage.models import utcnow

__all__ = [
    "MAX_TASK_ERRORS",
    "TaskCancelledError",
    "TaskRecord",
    "TaskService",
    "TaskStatus",
    "TaskType",
]

MAX_TASK_ERRORS = 1000
CANCELLED_MESSAGE = "cancelled on request"


class TaskCancelledError(WorkerError):
    """The task was cancelled: its job ends now and is not retried."""

    default_code = ErrorCode.TASK_CANCELLED
    default_severity = ErrorSeverity.PERMANENT

    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} was cancelled", details={"taskId": task_id})


def _clamp(percentage: float) -> int:
    if not math.isfinite(percentage):
        return 0
    return max(0, min(100, round(percentage)))


class TaskService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _locked(self, uow: UnitOfWork, task_id: int) -> TaskRecord:
        task = await uow.tasks.get(task_id, for_update=True)
        if task is None:
            raise task_not_found(task_id)
        return task

    async def _update(
        self, task_id: int, *, _unless_cancelled: bool = False, **values: Any
    ) -> TaskRecord:
        async with self._db.unit_of_work() as uow:
            current = await self._locked(uow, task_id)
            if _unless_cancelled and current.status is TaskStatus.CANCELLED:
                return current
            task = await uow.tasks.update(task_id, **values)
            await uow.commit()
        if task is None:  # pragma: no cover - deleted between the lock and the update
            raise task_not_found(task_id)
        return task

    async def create(
        self, task_type: TaskType | str, parameters: Mapping[str, Any] | None = None
    ) -> TaskRecord:
        """A pending task; a ``token`` in ``parameters`` (at any depth) is dropped."""
        try:
            kind = TaskType(task_type)
        except ValueError:
            allowed = ", ".join(t.value for t in TaskType)
            raise ValidationError(
                f"unknown task type {task_type!r}; use one of {allowed}", ErrorCode.INVALID_INPUT
            ) from None
        async with self._db.unit_of_work() as uow:
            task = await uow.tasks.create(kind, parameters)
            await uow.commit()
        return task

    async def get(self, task_id: int) -> TaskRecord:
        async with self._db.unit_of_work(read_only=True) as uow:
            task = await uow.tasks.get(task_id)
        if task is None:
            raise task_not_found(task_id)
        return task

    async def list(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        status: TaskStatus | None = None,
        type: TaskType | None = None,
    ) -> Page[TaskRecord]:
        """Newest first (one statement: no snapshot transaction needed)."""
        return await self._db.read(
            functools.partial(task_page, page=page, limit=limit, status=status, type=type)
        )

    async def start(self, task_id: int) -> TaskRecord:
        """Raises :class:`TaskCancelledError` for a cancelled task."""
        async with self._db.unit_of_work() as uow:
            task = await self._locked(uow, task_id)
            if task.status is TaskStatus.CANCELLED:
                raise TaskCancelledError(task_id)
            updated = await uow.tasks.update(
                task_id,
                status=TaskStatus.PROCESSING,
                started_at=task.started_at or utcnow(),
                finished_at=None,
                error_message=None,
            )
            await uow.commit()
        return updated or task

    async def update_progress(
        self,
        task_id: int,
        percentage: float,
        stage: str | None = None,
        stats: Mapping[str, Any] | None = None,
        current_group: Mapping[str, Any] | None = None,
    ) -> TaskRecord:
        """Record progress; ``stage`` and ``stats`` are kept when not given, ``stats``
        replaces the stored stats, ``current_group`` is always overwritten."""
        async with self._db.unit_of_work() as uow:
            task = await self._locked(uow, task_id)
            if task.is_finished:
                return task
            values: dict[str, Any] = {
                "progress": _clamp(percentage),
                "current_group": None if current_group is None else dict(current_group),
            }
            if stage is not None:
                values["stage"] = stage
            if stats is not None:
                values["stats"] = dict(stats)
            updated = await uow.tasks.update(task_id, **values)
            await uow.commit()
        return updated or task

    async def complete(self, task_id: int, result: Mapping[str, Any] | None = None) -> TaskRecord:
        """Mark completed; a cancelled task stays cancelled."""
        return await self._update(
            task_id,
            _unless_cancelled=True,
            status=TaskStatus.COMPLETED,
            progress=100,
            result=dict(result or {}),
            current_group=None,
            finished_at=utcnow(),
            error_message=None,
        )

    async def fail(
        self,
        task_id: int,
        reason: str,
        errors: Sequence[Mapping[str, Any]] | None = None,
    ) -> TaskRecord:
        """Mark failed with ``reason`` (token-shaped text masked); ``errors`` are
        appended to the task's error list."""
        async with self._db.unit_of_work() as uow:
            task = await self._locked(uow, task_id)
            if task.status is TaskStatus.CANCELLED:
                return task
            updated = await uow.tasks.update(
                task_id,
                status=TaskStatus.FAILED,
                error_message=redact(reason),
                errors=self._merged(task.errors, errors or ()),
                current_group=None,
                finished_at=utcnow(),
            )
            await uow.commit()
        return updated or task

    async def cancel(self, task_id: int) -> TaskRecord:
        """Mark a pending or processing task cancelled (its worker ends the job at its
        next check).  Raises ``ConflictError`` for a finished one."""
        async with self._db.unit_of_work() as uow:
            task = await self._locked(uow, task_id)
            if task.is_finished:
                raise ConflictError(
                    f"task {task_id} is already {task.status.value}; only pending or "
                    "processing tasks can be cancelled",
                    details={"taskId": task_id, "status": task.status.value},
                )
            updated = await uow.tasks.update(
                task_id,
                status=TaskStatus.CANCELLED,
                error_message=CANCELLED_MESSAGE,
                current_group=None,
                finished_at=utcnow(),
            )
            await uow.commit()
        return updated or task

    async def is_cancelled(self, task_id: int) -> bool:
        """True for a cancelled task, and for one deleted meanwhile."""
        async with self._db.unit_of_work(read_only=True) as uow:
            task = await uow.tasks.get(task_id)
        return task is None or task.status is TaskStatus.CANCELLED

    async def add_errors(self, task_id: int, errors: Sequence[Mapping[str, Any]]) -> TaskRecord:
        async with self._db.unit_of_work() as uow:
            task = await self._locked(uow, task_id)
            if not errors:
                return task
            updated = await uow.tasks.update(task_id, errors=self._merged(task.errors, errors))
            await uow.commit()
        return updated or task

    async def delete(self, task_id: int) -> None:
        """Delete the task with its per-community state and post links; stored posts
        and comments stay (other tasks may share them)."""
        async with self._db.unit_of_work() as uow:
            if not await uow.tasks.delete(task_id):
                raise task_not_found(task_id)
            await uow.commit()

    @staticmethod
    def _merged(
        current: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
    ) -> builtins.list[dict[str, Any]]:
        merged = [dict(error) for error in current] + [dict(error) for error in new]
        return merged[-MAX_TASK_ERRORS:]
