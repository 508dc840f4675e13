"""A CLI command's session: the runtime, in-process workers when needed, and waiting.

Commands that start work (``upload``, ``collect``) run in-process workers for as long
as they wait, unless workers of that queue already run elsewhere (seen through their
heartbeats) or ``--no-workers`` is given.  Waiting shows progress bars fed by the
task's progress in the database; Ctrl-C stops waiting, never the task: a job being
processed here is handed back to the queue and resumes with the next worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from vk_collector.bootstrap import Runtime
from vk_collector.cli.common import err_console
from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.queue.config import QueueName
from vk_collector.queue.service import QueueService
from vk_collector.settings import Settings
from vk_collector.storage import Database, TaskRecord, migrate

__all__ = ["open_database", "open_runtime", "task_summary", "wait_for_task"]

_POLL_S = 0.25


async def _workers_elsewhere(settings: Settings, redis_url: str, queue: QueueName) -> bool:
    """Whether worker processes of ``queue`` run: a heartbeat in Redis fresher than the
    stale threshold (a killed worker's key outlives it by ``heartbeat_ttl_s``)."""
    probe = QueueService(settings, redis_url)
    await probe.initialize(start_workers=False, listen_events=False)
    try:
        stats = await probe.get_queue_stats(queue.value)
    finally:
        await probe.cleanup()
    return any(beat.get("isRunning") and not beat["stale"] for beat in stats["workerDetails"])


@asynccontextmanager
async def open_runtime(
    settings: Settings, redis_url: str, *, workers: bool | None, queue: QueueName | None = None
) -> AsyncIterator[Runtime]:
    """A started runtime; ``workers=None`` means: start them when none run elsewhere.

    Without workers the runtime does not listen to queue events: a command that only
    adds jobs or reads state needs none.
    """
    start_workers = bool(workers)
    if workers is None and queue is not None:
        start_workers = not await _workers_elsewhere(settings, redis_url, queue)
    if start_workers and not settings.vk.tokens:
        raise ValidationError(
            "no VK token is configured: set VK_TOKENS (for the local emulator, "
            "`vk-collector emulator` prints the values to use)",
            ErrorCode.INVALID_SETTINGS,
        )
    runtime = Runtime.create(
        settings,
        redis_url,
        with_workers=start_workers,
        queues=[q.value for q in QueueName] if start_workers else None,
    )
    await runtime.start(listen_events=start_workers)
    try:
        yield runtime
    finally:
        await runtime.close()


def _describe(task: TaskRecord) -> str:
    stats = task.stats or {}
    if "commentsCollected" in stats:
        return (
            f"{task.stage or task.status.value}: {stats.get('groupsCompleted', 0)}/"
            f"{stats.get('totalGroups', 0)} communities, {stats.get('postsProcessed', 0)} posts,"
            f" {stats.get('commentsCollected', 0)} comments"
        )
    if "valid" in stats:
        return (
            f"{task.stage or task.status.value}: {stats.get('processed', 0)}/"
            f"{stats.get('total', 0)} identifiers, {stats.get('valid', 0)} valid"
        )
    return task.stage or task.status.value


async def wait_for_task(runtime: Runtime, task_id: int, *, show: bool) -> TaskRecord:
    """Poll the task until it finishes, with a progress bar on stderr when ``show``."""
    progress = Progress(
        TextColumn("[bold]task {task.fields[task_id]}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        disable=not show,
    )
    with progress:
        bar = progress.add_task("waiting for a worker", total=100, task_id=task_id)
        while True:
            task = await runtime.tasks.get(task_id)
            progress.update(bar, completed=task.progress, description=_describe(task))
            if task.is_finished:
                return task
            await asyncio.sleep(_POLL_S)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The migrated database alone, for commands that need no Redis."""
    db = Database.from_settings(settings)
    try:
        await migrate(db.url)
        yield db
    finally:
        await db.dispose()


def task_summary(task: TaskRecord) -> dict[str, Any]:
    """The machine-readable form of a task for ``--json``."""
    return {
        "taskId": task.id,
        "type": task.type.value,
        "status": task.status.value,
        "progress": task.progress,
        "stage": task.stage,
        "stats": task.stats,
        "errors": task.errors,
        "error": task.error_message,
        "parameters": task.parameters,
        "result": task.result,
        "createdAt": task.created_at.isoformat(),
        "startedAt": task.started_at.isoformat() if task.started_at else None,
        "finishedAt": task.finished_at.isoformat() if task.finished_at else None,
    }
