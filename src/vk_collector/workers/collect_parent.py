"""The job of a collection task (``vk-collect-<taskId>``) as a BullMQ flow parent.

The job keeps the original's wire shape, so a Node.js producer starts a collection as
before; what changed is how it is done.  Each run of the job:

1. resolves the task's communities (from the job, or the task row as the original
   did), marks the task processing and initialises its ``task_groups`` rows (kept
   rows keep their state: a re-run resumes);
2. adds one child job per unfinished community to ``vk-collect-group``, with the id
   ``vk-collect-group-<taskId>-<vkId>`` (:func:`~vk_collector.queue.keys.group_job_id`)
   and ``continueParentOnFailure``; adding a child that exists is a no-op, and a child
   left failed by an earlier attempt is removed first so it runs again;
3. moves itself to ``waiting-children`` and raises bullmq's ``WaitingChildrenError``
   (the job is then neither completed nor failed; BullMQ re-queues it when its last
   child completes), unless every child has already completed;
4. run again with no child pending, records the task's result and stats, read from
   the database as before, and completes the task (or fails it when no community
   could be collected).

Any worker process takes the children (:mod:`vk_collector.workers.vk_collect_group`).
Failures: a community failing permanently is recorded by its child, which completes.
A fatal error (invalid token) or a transient one outlasting the child's attempts
fails the child, which marks the task failed with the reason; through
``continueParentOnFailure`` BullMQ then wakes this job at once, which fails with the
child's reason (``failParentOnFailure`` would fail it with only "child ... failed").
A child that failed because its workers died too often (BullMQ's stall limit) is no
fault of the task's: this job is retried with its backoff, and the retry runs that
community again.  A cancelled task's children end at once (completed, nothing
collected) and this job then ends as cancelled.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC
from typing import Any

import structlog
from bullmq import Job, WaitingChildrenError

from vk_collector.errors import ErrorCode, ErrorSeverity, WorkerError
from vk_collector.queue.config import QueueName
from vk_collector.queue.jobs import (
    GroupError,
    VkCollectGroup,
    VkCollectGroupJobData,
    VkCollectJobData,
    VkCollectResult,
)
from vk_collector.queue.keys import group_job_id
from vk_collector.reconcile import STALLED_REASON
from vk_collector.storage import Database, TaskGroupState
from vk_collector.storage.models import utcnow
from vk_collector.tasks import TaskCancelledError, TaskService
from vk_collector.workers.collect_progress import task_progress, task_totals
from vk_collector.workers.flow_queues import FlowQueues
from vk_collector.workers.progress import ProgressReporter

__all__ = ["FINISHED", "CollectParent"]

log = structlog.get_logger(__name__)

FINISHED = (TaskGroupState.DONE, TaskGroupState.FAILED, TaskGroupState.SKIPPED)
"""A community in one of these states needs no child job."""

_ADD_CHUNK = 500
"""Child jobs added per round trip."""


class CollectParent:
    def __init__(self, db: Database, tasks: TaskService, queues: FlowQueues) -> None:
        self._db = db
        self._tasks = tasks
        self._queues = queues

    async def groups(self, data: VkCollectJobData) -> list[VkCollectGroup]:
        """The task's communities: the job's own list, else the task's stored ones.

        Raises a permanent ``WorkerError`` when the task names none, or none is stored."""
        if data.metadata.groups:
            return list(data.metadata.groups)
        task = await self._tasks.get(data.task_id)
        vk_ids = [int(i) for i in task.parameters.get("groups") or []]
        if not vk_ids:
            raise WorkerError(
                f"task {data.task_id} names no communities",
                ErrorCode.NO_GROUPS_PROVIDED,
                severity=ErrorSeverity.PERMANENT,
            )
        async with self._db.unit_of_work(read_only=True) as uow:
            stored = {g.vk_id: g for g in await uow.groups.get_by_vk_ids(vk_ids)}
        if not stored:
            raise WorkerError(
                "none of the task's communities is stored",
                ErrorCode.NO_GROUPS_FOUND,
                severity=ErrorSeverity.PERMANENT,
            )
        return [VkCollectGroup(vk_id=i, name=stored[i].name) for i in vk_ids if i in stored]

    async def run(self, job: Job, data: VkCollectJobData) -> dict[str, Any]:
        """One run of the task's job; raises ``WaitingChildrenError`` while children run."""
        task_id = data.task_id
        await self._child_failures(job)
        groups = await self.groups(data)
        await self._tasks.start(task_id)
        async with self._db.unit_of_work() as uow:
            await uow.task_groups.init(task_id, {g.vk_id: g.name for g in groups})
            await uow.commit()
            states = {r.group_vk_id: r.state for r in await uow.task_groups.list(task_id)}
        unfinished = [g for g in groups if states.get(g.vk_id) not in FINISHED]
        reporter = ProgressReporter(job, self._tasks, task_id)
        if unfinished:
            totals = await task_totals(self._db, task_id)
            await reporter.report(task_progress(totals, "starting"), force=True)
            await self._add_children(job, data, unfinished)
            if await job.moveToWaitingChildren(job.token, {}):
                log.info("collect.waiting_children", task_id=task_id, children=len(unfinished))
                raise WaitingChildrenError()
        return await self._finish(data, groups, reporter)

    async def _add_children(
        self, job: Job, data: VkCollectJobData, groups: list[VkCollectGroup]
    ) -> None:
        queue = self._queues.get(QueueName.VK_COLLECT_GROUP)
        options = data.metadata.options.to_wire()  # the token is never dumped
        parent = {"id": job.id, "queue": job.queueQualifiedName}
        ids = [group_job_id(data.task_id, g.vk_id) for g in groups]
        await self._drop_failed(ids)
        for start in range(0, len(groups), _ADD_CHUNK):
            chunk = groups[start : start + _ADD_CHUNK]
            await queue.addBulk(
                [
                    {
                        "name": QueueName.VK_COLLECT_GROUP.value,
                        "data": VkCollectGroupJobData(
                            task_id=data.task_id, vk_id=g.vk_id, name=g.name, options=options
                        ).to_wire(),
                        "opts": {
                            "jobId": group_job_id(data.task_id, g.vk_id),
                            "parent": parent,
                            "continueParentOnFailure": True,
                        },
                    }
                    for g in chunk
                ]
            )
        log.info("collect.children_added", task_id=data.task_id, children=len(groups))

    async def _child_failures(self, job: Job) -> None:
        """Fail, or retry, for the children that failed since this job last ran.

        Their reasons are read from (and removed from) the job's ``:failed`` hash, and
        the failed children are removed, so a retry starts clean."""
        queue = self._queues.get(QueueName.VK_COLLECT)
        failed_key = f"{job.queueQualifiedName}:{job.id}:failed"
        failures: dict[str, str] = await queue.client.hgetall(failed_key)
        if not failures:
            return
        await queue.client.delete(failed_key)
        children = self._queues.get(QueueName.VK_COLLECT_GROUP)
        for child_key in failures:
            child_id = child_key.rsplit(":", 1)[-1]
            with contextlib.suppress(Exception):  # gone already: nothing to remove
                await children.remove(child_id, {"removeChildren": False})
        reasons = sorted(set(failures.values()))
        log.warning("collect.children_failed", job_id=job.id, reasons=reasons[:5])
        if all(STALLED_REASON in reason for reason in reasons):
            raise WorkerError(
                f"{len(failures)} communities' jobs stalled too often ({reasons[0]}); "
                "retrying them",
                ErrorCode.JOB_PROCESSING_FAILED,
                severity=ErrorSeverity.TRANSIENT,
            )
        raise WorkerError(
            next(r for r in reasons if STALLED_REASON not in r),
            ErrorCode.JOB_PROCESSING_FAILED,
            severity=ErrorSeverity.PERMANENT,
        )

    async def _drop_failed(self, ids: list[str]) -> None:
        """Remove children an earlier attempt left failed (a retried task), so adding
        them again runs them instead of finding them there."""
        queue = self._queues.get(QueueName.VK_COLLECT_GROUP)
        failed_key = queue.keys["failed"]
        for start in range(0, len(ids), _ADD_CHUNK):
            chunk = ids[start : start + _ADD_CHUNK]
            async with queue.client.pipeline(transaction=False) as pipe:
                for child in chunk:
                    pipe.zscore(failed_key, child)
                scores = await pipe.execute()
            for child, score in zip(chunk, scores, strict=True):
                if score is not None:
                    await queue.remove(child, {"removeChildren": False})
                    log.info("collect.failed_child_removed", job_id=child)

    async def _finish(
        self, data: VkCollectJobData, groups: list[VkCollectGroup], reporter: ProgressReporter
    ) -> dict[str, Any]:
        task_id = data.task_id
        task = await self._tasks.get(task_id)
        if await self._tasks.is_cancelled(task_id):
            raise TaskCancelledError(task_id)
        async with self._db.unit_of_work(read_only=True) as uow:
            rows = await uow.task_groups.list(task_id)
            posts = await uow.posts.count_for_task(task_id)
            comments = await uow.comments.count_for_task(task_id)
        left = [r.group_vk_id for r in rows if r.state not in FINISHED]
        if left:
            # every child completed, yet a community is unfinished: its child was lost
            # or removed; a retry adds it again
            raise WorkerError(
                f"{len(left)} communities were left unfinished by their jobs "
                f"(first: {left[0]}); retrying",
                ErrorCode.JOB_PROCESSING_FAILED,
                severity=ErrorSeverity.TRANSIENT,
            )
        errors = [
            GroupError(group_id=r.group_vk_id, error=r.error or "failed")
            for r in rows
            if r.state is TaskGroupState.FAILED
        ]
        # the stored rows, not the communities' own counts (a community re-run after its
        # worker died counts only what its last run stored)
        totals = replace(await task_totals(self._db, task_id), posts=posts, comments=comments)
        await reporter.report(task_progress(totals, "saving_data"), force=True)
        started_at = task.started_at or utcnow()
        if started_at.tzinfo is None:  # SQLite gives naive UTC datetimes back
            started_at = started_at.replace(tzinfo=UTC)
        failed_all = bool(groups) and len(errors) == len(groups)
        result = VkCollectResult(
            success=not failed_all,
            task_id=task_id,
            comments_collected=comments,
            posts_processed=posts,
            groups_processed=len(groups) - len(errors),
            errors=errors,
            processing_time=max(0, round((utcnow() - started_at).total_seconds() * 1000)),
            final_status="failed" if failed_all else "completed",
        )
        wire = result.to_wire()
        await reporter.report(task_progress(totals, "completing"), force=True)
        if failed_all:
            await self._tasks.fail(
                task_id,
                "no community could be collected: "
                + "; ".join(f"{e.group_id}: {e.error}" for e in errors[:5]),
            )
        else:
            await self._tasks.complete(task_id, wire)
        log.info(
            "collect.finished", task_id=task_id, posts=posts, comments=comments, errors=len(errors)
        )
        return wire
