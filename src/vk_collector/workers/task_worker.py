"""``TaskWorker``: the base of workers whose every job belongs to a task.

It validates the job data against the queue's wire model (malformed data is a
permanent failure), checks the task exists, and marks the task failed when the job
fails for good (see :mod:`vk_collector.workers.job_errors`).

Cancellation: while a job runs, its task's status is read every
:attr:`TaskWorker.cancel_check_s` seconds; once the task is cancelled (or deleted)
the job's work is cancelled at its next await (between or during VK requests; a
database transaction in progress rolls back) and the job fails with
:class:`~vk_collector.tasks.TaskCancelledError`, a permanent error: no retry.

Flows: :attr:`TaskWorker._flow` reaches the other queues of a collection flow (the
parent adds its children, a child reads its parent); it connects on first use only
and is closed by :meth:`TaskWorker.stop`.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Coroutine
from typing import Any, ClassVar, Generic, TypeVar

from bullmq import Job
from pydantic import ValidationError as PydanticValidationError

from vk_collector.cancellation import cancel_until_done
from vk_collector.errors import ValidationError
from vk_collector.queue.config import queue_configs
from vk_collector.queue.jobs import (
    ProcessGroupsJobData,
    VkCollectGroupJobData,
    VkCollectJobData,
)
from vk_collector.settings import Settings
from vk_collector.storage import Database
from vk_collector.tasks import TaskCancelledError, TaskService
from vk_collector.vk.client import VkClient
from vk_collector.workers.base import QueueWorker
from vk_collector.workers.flow_queues import FlowQueues
from vk_collector.workers.job_errors import failing_task

__all__ = ["TaskWorker"]

D = TypeVar("D", VkCollectJobData, VkCollectGroupJobData, ProcessGroupsJobData)


_CANCEL_WITHIN_S = 5.0


class TaskWorker(QueueWorker, Generic[D]):
    data_model: type[D]
    cancel_check_s: ClassVar[float] = 1.0
    """How often a running job looks for its task's cancellation, in seconds."""

    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        db: Database,
        vk: VkClient,
        *,
        concurrency: int | None = None,
    ) -> None:
        super().__init__(
            settings, redis_url, queue_configs(settings.queues)[self.queue], concurrency=concurrency
        )
        self._db = db
        self._tasks = TaskService(db)
        self._vk = vk
        self._flow = FlowQueues(settings, redis_url)

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            await self._flow.close()

    async def process(self, job: Job, token: str) -> dict[str, Any]:
        data = self._data(job)
        async with failing_task(self._tasks, data.task_id, job, self.config.options.attempts):
            return await self._until_cancelled(data.task_id, self.handle(job, data))

    def _data(self, job: Job) -> D:
        """The job's data as the queue's wire model; malformed data raises a permanent
        :class:`~vk_collector.errors.ValidationError`."""
        try:
            return self.data_model.model_validate(job.data)
        except PydanticValidationError as exc:
            raise ValidationError(f"malformed {self.queue_name} job data: {exc}") from exc

    async def _until_cancelled(
        self, task_id: int, work: Coroutine[Any, Any, dict[str, Any]]
    ) -> dict[str, Any]:
        runner = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({runner}, timeout=self.cancel_check_s)
                if done:
                    return runner.result()
                if await self._tasks.is_cancelled(task_id):
                    break
        finally:
            if not runner.done():
                await cancel_until_done({runner}, lambda: runner, _CANCEL_WITHIN_S)
        if runner.done() and not runner.cancelled() and runner.exception() is None:
            return runner.result()  # it finished just as the cancel came in
        raise TaskCancelledError(task_id)

    @abstractmethod
    async def handle(self, job: Job, data: D) -> dict[str, Any]:
        """Do the task's work; return the job's result in its wire shape."""
