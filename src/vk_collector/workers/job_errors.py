"""How a job's failure reaches its task.

Inside :func:`failing_task` a permanent error, or any error on the job's last
attempt, marks the task failed with a reason a person can read before the error
propagates (the base worker then turns permanent ones into ``UnrecoverableError``).
A transient error on an earlier attempt leaves the task as it is: BullMQ retries.
bullmq's ``WaitingChildrenError`` (a collection's job waiting for its communities'
jobs, :mod:`vk_collector.workers.collect_parent`) is no failure: it passes through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from bullmq import Job, WaitingChildrenError

from vk_collector.errors import (
    ErrorCode,
    ErrorSeverity,
    NotFoundError,
    VkCollectorError,
    WorkerError,
)
from vk_collector.redaction import redact
from vk_collector.tasks import TaskService

__all__ = ["failing_task"]

log = structlog.get_logger(__name__)


@asynccontextmanager
async def failing_task(
    tasks: TaskService, task_id: int, job: Job, attempts: int
) -> AsyncIterator[None]:
    try:
        await tasks.get(task_id)
    except NotFoundError as exc:
        raise WorkerError(
            exc.message,
            ErrorCode.TASK_NOT_FOUND,
            severity=ErrorSeverity.PERMANENT,
            cause=exc,
        ) from exc
    last_attempt = int(job.attemptsMade or 0) + 1 >= int(job.opts.get("attempts", attempts))
    try:
        yield
    except WaitingChildrenError:
        raise
    except VkCollectorError as exc:
        if exc.severity is ErrorSeverity.PERMANENT or last_attempt:
            await tasks.fail(task_id, redact(exc.message))
        raise
    except Exception as exc:
        if last_attempt:
            await tasks.fail(task_id, redact(f"unexpected error: {exc}"))
        raise
