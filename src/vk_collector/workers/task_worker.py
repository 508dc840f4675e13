"""``TaskWorker``: the base of workers whose every job belongs to a task.

It validates the job data against the queue's wire model (malformed data is a
permanent failure), checks the task exists, and marks the task failed when the job
fails for good (see :mod:`vk_collector.workers.job_errors`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Generic, TypeVar

from bullmq import Job
from pydantic import ValidationError as PydanticValidationError

from vk_collector.errors import ValidationError
from vk_collector.queue.config import queue_configs
from vk_collector.queue.jobs import ProcessGroupsJobData, VkCollectJobData
from vk_collector.settings import Settings
from vk_collector.storage import Database
from vk_collector.tasks import TaskService
from vk_collector.vk.client import VkClient
from vk_collector.workers.base import QueueWorker
from vk_collector.workers.job_errors import failing_task

__all__ = ["TaskWorker"]

D = TypeVar("D", VkCollectJobData, ProcessGroupsJobData)


class TaskWorker(QueueWorker, Generic[D]):
    data_model: type[D]

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

    async def process(self, job: Job, token: str) -> dict[str, Any]:
        try:
            data = self.data_model.model_validate(job.data)
        except PydanticValidationError as exc:
            raise ValidationError(f"malformed {self.queue_name} job data: {exc}") from exc
        async with failing_task(self._tasks, data.task_id, job, self.config.options.attempts):
            return await self.handle(job, data)

    @abstractmethod
    async def handle(self, job: Job, data: D) -> dict[str, Any]:
        """Do the task's work; return the job's result in its wire shape."""
