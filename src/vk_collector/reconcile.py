"""Redis is a cache of work; the database is the record.  This module keeps them in step.

A Redis that restarts without its data (no persistence, a failover to an empty
replica, a flush) forgets every job, while the tasks of those jobs stay ``pending`` or
``processing`` in the database.  :meth:`Reconciler.run_once` looks at every unfinished
task whose row has not changed for ``VKC_QUEUE_RECONCILE_GRACE_S`` (30 s) and at its
job (``vk-collect-<taskId>`` / ``process-groups-<taskId>``):

=================================  ===================================================
job in Redis                        what happens to the task
=================================  ===================================================
waiting, delayed, active, ...       nothing: work is queued or under way
waiting-children                    nothing: a collection's job waits for its
                                    communities' jobs (``vk-collect-group``), which
                                    update the task row as they go; BullMQ wakes it
                                    when the last one ends
none (``getJob`` answers None)      a collection is enqueued again under its job id and
                                    resumes from its ``task_groups``/``task_posts``
                                    rows; an upload is failed (its identifiers lived
                                    only in the job), as is a task re-enqueued
                                    :data:`MAX_REQUEUES` times already
failed (BullMQ retries no more)     failed with the job's ``failedReason``; but a
                                    collection's job failed because it stalled too
                                    often (workers died, a Redis restart lost its
                                    lock) is retried, within :data:`MAX_REQUEUES`
completed                           completed with the job's result (the worker died
                                    between finishing the job and writing the task),
                                    or failed when that result says it failed
=================================  ===================================================

The grace period covers the moments when a task legitimately has no job yet (created,
job being added) and keeps a pass from acting on a task a live worker is writing to.

Several processes run the loop (every worker process, ``serve`` with workers): a pass
first takes ``<prefix>:vkc:reconcile:lock`` with ``SET NX PX`` for 0.9 interval, so
one process does the work per interval, and a job id makes a second add a no-op
anyway.  Each action is logged (``reconcile.requeued``, ``reconcile.failed``,
``reconcile.completed``) and counted in ``vkc_reconcile_actions_total{action}``.
Failures of a pass (Redis or the database down) are logged and the next pass retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import redis.asyncio as aioredis
import structlog

from vk_collector.metrics import record_reconcile
from vk_collector.queue.config import QueueName
from vk_collector.queue.jobs import VkCollectJobData
from vk_collector.queue.service import QueueService
from vk_collector.redaction import redact
from vk_collector.redis_clients import redis_client
from vk_collector.settings import Settings
from vk_collector.storage import Database, TaskRecord, TaskStatus, TaskType
from vk_collector.storage.models import utcnow
from vk_collector.tasks import TaskService

__all__ = [
    "MAX_REQUEUES",
    "STALLED_REASON",
    "ReconcileAction",
    "ReconcileLoop",
    "ReconcileReport",
    "Reconciler",
]

log = structlog.get_logger(__name__)

STALLED_REASON = "job stalled more than allowable limit"
"""BullMQ's reason for a job whose workers died (or lost its lock) ``maxStalledCount``
times: no fault of the task's, so a collection's job is retried, not failed."""

MAX_REQUEUES = 5
"""Re-enqueues of one task before it is failed: a job that keeps vanishing is a bug."""

_PAGE = 500
_STOP_TIMEOUT_S = 5.0

Action = Literal["requeued", "failed", "completed"]


@dataclass(frozen=True)
class ReconcileAction:
    task_id: int
    job_id: str
    action: Action
    reason: str


@dataclass(frozen=True)
class ReconcileReport:
    """``ran`` is false when another process held the pass lock; ``checked`` counts the
    unfinished tasks older than the grace period."""

    ran: bool
    checked: int = 0
    actions: tuple[ReconcileAction, ...] = ()


def job_id_of(task: TaskRecord) -> str:
    queue = (
        QueueName.VK_COLLECT if task.type is TaskType.FETCH_COMMENTS else QueueName.PROCESS_GROUPS
    )
    return f"{queue.value}-{task.id}"


class Reconciler:
    """One pass at a time over the database's unfinished tasks; see the module doc."""

    def __init__(
        self, settings: Settings, db: Database, queue: QueueService, redis: aioredis.Redis
    ) -> None:
        self._settings = settings
        self._db = db
        self._tasks = TaskService(db)
        self._queue = queue
        self._redis = redis
        self._owner = uuid.uuid4().hex
        self.lock_key = f"{settings.queues.prefix}:vkc:reconcile:lock"

    async def run_once(
        self, *, grace_s: float | None = None, force: bool = False
    ) -> ReconcileReport:
        """One pass.  ``force`` skips the lock (the operator's one-shot command);
        ``grace_s`` overrides the configured grace period."""
        queues = self._settings.queues
        if not force:
            # a little shorter than the interval, so the holder's next pass finds it gone
            lock_ms = max(100, int(queues.reconcile_interval_s * 900))
            if not await self._redis.set(self.lock_key, self._owner, nx=True, px=lock_ms):
                return ReconcileReport(ran=False)
        grace = queues.reconcile_grace_s if grace_s is None else grace_s
        cutoff = utcnow() - timedelta(seconds=grace)
        actions: list[ReconcileAction] = []
        stale = [t for t in await self._unfinished() if t.updated_at <= cutoff]
        for task in stale:
            action = await self._reconcile(task)
            if action is not None:
                actions.append(action)
                record_reconcile(action.action)
        return ReconcileReport(ran=True, checked=len(stale), actions=tuple(actions))

    async def _unfinished(self) -> list[TaskRecord]:
        found: list[TaskRecord] = []
        async with self._db.unit_of_work(read_only=True) as uow:
            for status in (TaskStatus.PENDING, TaskStatus.PROCESSING):
                number = 1
                while True:
                    page = await uow.tasks.list(page=number, limit=_PAGE, status=status)
                    found.extend(page.items)
                    if not page.has_next:
                        break
                    number += 1
        return found

    async def _reconcile(self, task: TaskRecord) -> ReconcileAction | None:
        job_id = job_id_of(task)
        job = await self._queue.get_job(job_id)
        if job is None:
            return await self._requeue(task, job_id)
        state = await self._queue.get_job_state(job)
        if state == "failed":
            reason = redact(job.failedReason or "the job failed")
            if task.type is TaskType.FETCH_COMMENTS and STALLED_REASON in reason:
                return await self._requeue(task, job_id, retry=reason)
            return await self._fail(task, job_id, f"its job failed: {reason}")
        if state == "completed":
            return await self._complete(task, job_id, job.returnvalue)
        return None

    async def _requeue(
        self, task: TaskRecord, job_id: str, *, retry: str | None = None
    ) -> ReconcileAction:
        """Enqueue the task's job again; with ``retry`` (the reason its job failed) the
        failed job is replaced by a fresh one."""
        if task.type is not TaskType.FETCH_COMMENTS:
            return await self._fail(
                task,
                job_id,
                "its job was lost from Redis before it finished, and an upload's "
                "identifiers live only in its job; upload the file again",
            )
        requeues = int(task.parameters.get("requeues") or 0)
        if requeues >= MAX_REQUEUES:
            return await self._fail(
                task, job_id, f"its job was lost or stalled {requeues} times; giving up"
            )
        options = task.parameters.get("options") or {}
        data = VkCollectJobData.model_validate(
            {"taskId": task.id, "type": "fetch_comments", "metadata": {"options": options}}
        )
        async with self._db.unit_of_work() as uow:
            await uow.tasks.update(
                task.id, parameters={**task.parameters, "requeues": requeues + 1}
            )
            await uow.commit()
        if retry is not None:
            # a fresh job rather than job.retry(): that keeps the stall counter, and the
            # next stall would fail the job again at once
            await self._queue.remove_job(job_id)
        await self._queue.add_vk_collect_job(data, task.id, {"delay": 0})
        reason = "no job in Redis" if retry is None else f"its job failed: {retry}"
        log.warning(
            "reconcile.requeued",
            task_id=task.id,
            job_id=job_id,
            reason=reason,
            status=task.status.value,
            progress=task.progress,
            requeues=requeues + 1,
            idle_s=round((utcnow() - task.updated_at).total_seconds(), 1),
        )
        return ReconcileAction(task.id, job_id, "requeued", reason)

    async def _fail(self, task: TaskRecord, job_id: str, reason: str) -> ReconcileAction:
        await self._tasks.fail(task.id, reason)
        log.warning("reconcile.failed", task_id=task.id, job_id=job_id, reason=reason)
        return ReconcileAction(task.id, job_id, "failed", reason)

    async def _complete(self, task: TaskRecord, job_id: str, result: Any) -> ReconcileAction:
        wire = result if isinstance(result, dict) else {}
        if wire.get("finalStatus") == "failed" or wire.get("success") is False:
            return await self._fail(task, job_id, "its job finished without success")
        await self._tasks.complete(task.id, wire)
        log.warning("reconcile.completed", task_id=task.id, job_id=job_id)
        return ReconcileAction(task.id, job_id, "completed", "its job completed")


class ReconcileLoop:
    """Runs :meth:`Reconciler.run_once` every ``VKC_QUEUE_RECONCILE_INTERVAL_S`` (15 s)
    in a task of its own, from ``start()`` to ``stop()``; owns its Redis client."""

    def __init__(self, settings: Settings, db: Database, queue: QueueService) -> None:
        self._settings = settings
        self._db = db
        self._queue = queue
        self._client: aioredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self.passes = 0

    async def start(self) -> None:
        if self._task is not None:
            return
        self._client = redis_client(
            self._queue.redis_url,
            socket_timeout_s=self._settings.queues.health_timeout_s,
            connect_timeout_s=self._settings.redis.connect_timeout_s,
        )
        self._stopped = asyncio.Event()
        reconciler = Reconciler(self._settings, self._db, self._queue, self._client)
        self._task = asyncio.create_task(self._loop(reconciler), name="reconcile")

    async def _loop(self, reconciler: Reconciler) -> None:
        # Stopped through an event, not cancellation (see vk_collector.cancellation).
        interval = self._settings.queues.reconcile_interval_s
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), interval)
            if self._stopped.is_set():
                return
            try:
                await reconciler.run_once()
                self.passes += 1
            except Exception as exc:  # Redis or the database down: the next pass retries
                log.warning("reconcile.pass_failed", error=redact(str(exc)))

    async def stop(self) -> None:
        self._stopped.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=_STOP_TIMEOUT_S)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=_STOP_TIMEOUT_S)
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
