"""``VkCollectWorker``: the job of a collection task (``vk-collect-<taskId>``).

It is a BullMQ flow parent: it adds one child job per community and waits for them
(:mod:`vk_collector.workers.collect_parent`).  It fetches nothing itself: the children
are run by :class:`~vk_collector.workers.vk_collect_group.VkCollectGroupWorker` in any
worker process, each collecting one community
(:mod:`vk_collector.workers.community_collection`).

Failures: a fatal error (invalid token) fails the job without retries; a transient one
propagates and BullMQ retries with backoff (see :mod:`vk_collector.workers.job_errors`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from bullmq import Job

from vk_collector.queue.config import QueueName
from vk_collector.queue.jobs import VkCollectJobData
from vk_collector.workers.collect_parent import CollectParent
from vk_collector.workers.task_worker import TaskWorker

__all__ = ["VkCollectWorker"]


class VkCollectWorker(TaskWorker[VkCollectJobData]):
    queue: ClassVar[QueueName] = QueueName.VK_COLLECT
    data_model = VkCollectJobData

    async def handle(self, job: Job, data: VkCollectJobData) -> dict[str, Any]:
        """The task's job: fans out into one child job per community, completes once
        they have (:mod:`vk_collector.workers.collect_parent`)."""
        return await CollectParent(self._db, self._tasks, self._flow).run(job, data)
