"""``VkCollectGroupWorker``: one community of a collection task, a child job of the task's
``vk-collect`` job (:mod:`vk_collector.workers.collect_parent`).

Any worker process on any machine takes these jobs; each collects its community with
:class:`~vk_collector.workers.community_collection.CommunityCollector` (posts, then
every comment; writes are upserts, so a job re-run after its worker died stores nothing
twice) and reports the whole task's progress to the task's own job
(:mod:`vk_collector.workers.collect_progress`).

* A community already finished (a re-run after the worker died just after finishing)
  is not collected again.
* A token the task's job carries (``metadata.options.token``, the original's) is read
  from that parent job: child jobs never hold one.
* Cancelled task: the job ends at once, completed with ``{"cancelled": true}`` and
  nothing more stored, so the parent runs again and ends as cancelled.  A task that
  already failed (another community's job hit an invalid token) is not collected
  further either: the job completes with ``{"skipped": "failed"}``.
* Failures (:mod:`vk_collector.workers.job_errors`): a fatal one (invalid token), or
  a transient one on the last attempt, marks the task failed with the reason and
  fails this job, which fails the parent (``failParentOnFailure``); a transient one
  on an earlier attempt is retried with the queue's backoff.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from bullmq import Job

from vk_collector.queue.config import QueueName
from vk_collector.queue.jobs import VkCollectGroup, VkCollectGroupJobData, VkCollectJobData
from vk_collector.queue.keys import job_id
from vk_collector.storage import TaskStatus
from vk_collector.tasks import TaskCancelledError
from vk_collector.workers.collect_parent import FINISHED
from vk_collector.workers.community_collection import CommunityCollector, CommunityRun
from vk_collector.workers.job_errors import failing_task
from vk_collector.workers.progress import ProgressReporter
from vk_collector.workers.task_worker import TaskWorker

__all__ = ["VkCollectGroupWorker"]

log = structlog.get_logger(__name__)


class VkCollectGroupWorker(TaskWorker[VkCollectGroupJobData]):
    queue: ClassVar[QueueName] = QueueName.VK_COLLECT_GROUP
    data_model = VkCollectGroupJobData
    progress_interval_s: float = 2.0
    """How often progress is reported within one community (every community ends with one)."""

    async def process(self, job: Job, token: str) -> dict[str, Any]:
        data = self._data(job)
        cancelled = {"taskId": data.task_id, "vkId": data.vk_id, "cancelled": True}
        async with failing_task(self._tasks, data.task_id, job, self.config.options.attempts):
            task = await self._tasks.get(data.task_id)
            if task.status is TaskStatus.CANCELLED:
                return cancelled
            if task.status is TaskStatus.FAILED:
                return {"taskId": data.task_id, "vkId": data.vk_id, "skipped": "failed"}
            try:
                return await self._until_cancelled(data.task_id, self.handle(job, data))
            except TaskCancelledError:
                log.info("collect.group_cancelled", task_id=data.task_id, group=data.vk_id)
                return cancelled

    async def handle(self, job: Job, data: VkCollectGroupJobData) -> dict[str, Any]:
        """Collect the job's community unless its row is already final; the result
        counts what this run stored."""
        task_id = data.task_id
        group = VkCollectGroup(vk_id=data.vk_id, name=data.name)
        result: dict[str, Any] = {"taskId": task_id, "vkId": data.vk_id}
        async with self._db.unit_of_work(read_only=True) as uow:
            row = await uow.task_groups.get(task_id, data.vk_id)
        if row is not None and row.state in FINISHED:
            return {**result, "state": row.state.value}
        parent = await Job.fromId(
            self._flow.get(QueueName.VK_COLLECT), job_id(QueueName.VK_COLLECT, task_id)
        )
        token: str | None = None
        if parent is not None:
            options = VkCollectJobData.model_validate(parent.data).metadata.options
            token = options.token.get_secret_value() if options.token else None
        # progress goes to the task's own job, where listeners of the task look for it
        target = parent if parent is not None else job
        reporter = ProgressReporter(target, self._tasks, task_id, self.progress_interval_s)
        run = CommunityRun(group, reporter, self._db)
        options = data.options
        await CommunityCollector(self._db, self._tasks, self._vk).collect(
            run,
            options.limit or 10,
            options.include_replies is not False,
            options.filter_words or [],
            token,
        )
        run.finished = True
        await run.report("fetching_comments", force=True)
        log.info(
            "collect.group_finished",
            task_id=task_id,
            group=data.vk_id,
            posts=run.posts,
            comments=run.comments,
        )
        return {**result, "postsProcessed": run.posts, "commentsCollected": run.comments}
