"""``QueueService``: the facade of the seed over its four handlers.

The constructor does no I/O.  ``initialize()`` (idempotent) creates queues,
QueueEvents and workers through :class:`QueueInitHandler` and hands the resulting
resources to the job, control and monitoring handlers.  Calling anything else
before it raises ``QueueError(NOT_INITIALIZED)``.

The seed's contract is kept where it was specified: ``get_job_counts()`` is flat
``{waiting, active, completed, failed}`` over all queues, ``remove_job`` of a missing
job logs a warning, ``get_queue_events()`` without a name is vk-collect's.  The richer
forms sit beside them: :meth:`get_job_counts_by_queue` and :meth:`remove_job_or_raise`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from bullmq import Job, QueueEvents
from pydantic import BaseModel

from vk_collector.errors import ErrorCode, QueueError
from vk_collector.queue.config import QueueConfig, QueueName, queue_configs
from vk_collector.queue.control_handler import QueueControlHandler
from vk_collector.queue.health import HealthCheckResult
from vk_collector.queue.init_handler import QueueInitHandler
from vk_collector.queue.job_handler import QueueJobHandler
from vk_collector.queue.jobs import ProcessGroupsJobData, VkCollectJobData
from vk_collector.queue.monitoring_handler import QueueMonitoringHandler
from vk_collector.queue.worker_contract import BaseWorker
from vk_collector.settings import Settings

__all__ = ["SEED_COUNT_STATES", "QueueService"]

log = structlog.get_logger(__name__)

SEED_COUNT_STATES = ("waiting", "active", "completed", "failed")
"""The states of the seed's flat ``get_job_counts()``."""


class QueueService:
    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        workers: Sequence[BaseWorker] = (),
        configs: Sequence[QueueConfig] | None = None,
    ) -> None:
        self.settings = settings
        self.redis_url = redis_url
        configs = list(configs or queue_configs(settings.queues).values())
        self._init = QueueInitHandler(settings, redis_url, configs, workers)
        self._jobs: QueueJobHandler | None = None
        self._control: QueueControlHandler | None = None
        self._monitoring: QueueMonitoringHandler | None = None

    # --- lifecycle ------------------------------------------------------------------

    async def initialize(self, start_workers: bool = True, listen_events: bool = True) -> None:
        resources = await self._init.initialize(
            start_workers=start_workers, listen_events=listen_events
        )
        self._jobs = QueueJobHandler(resources, self.settings.queues)
        self._control = QueueControlHandler(resources)
        self._monitoring = QueueMonitoringHandler(resources, self.settings.queues)

    async def cleanup(self) -> None:
        self._jobs = self._control = self._monitoring = None
        await self._init.cleanup()

    def is_ready(self) -> bool:
        return self._init.is_ready()

    async def __aenter__(self) -> QueueService:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cleanup()

    def _ready(self) -> tuple[QueueJobHandler, QueueControlHandler, QueueMonitoringHandler]:
        if self._jobs is None or self._control is None or self._monitoring is None:
            raise QueueError(
                "the queue service is not initialized; call initialize() first",
                ErrorCode.NOT_INITIALIZED,
            )
        return self._jobs, self._control, self._monitoring

    # --- jobs -----------------------------------------------------------------------

    async def add_vk_collect_job(
        self,
        data: VkCollectJobData | dict[str, Any],
        task_id: int,
        options: dict[str, Any] | None = None,
        *,
        deadline_s: float | None = None,
    ) -> Job:
        return await self._ready()[0].add_vk_collect_job(
            data, task_id, options, deadline_s=deadline_s
        )

    async def add_process_groups_job(
        self,
        data: ProcessGroupsJobData | dict[str, Any],
        task_id: int,
        options: dict[str, Any] | None = None,
        *,
        deadline_s: float | None = None,
    ) -> Job:
        return await self._ready()[0].add_process_groups_job(
            data, task_id, options, deadline_s=deadline_s
        )

    async def add_jobs(
        self,
        queue_name: str,
        items: list[tuple[BaseModel | dict[str, Any], int]],
        options: dict[str, Any] | None = None,
    ) -> list[Job]:
        return await self._ready()[0].add_jobs(queue_name, items, options)

    async def get_job(self, job_id: str) -> Job | None:
        return await self._ready()[0].get_job(job_id)

    async def get_job_state(self, job: Job) -> str:
        return await self._ready()[0].get_job_state(job)

    async def get_jobs(
        self, status: str, queue_name: str | None = None, start: int = 0, end: int = -1
    ) -> list[Job]:
        return await self._ready()[0].get_jobs(status, queue_name, start, end)

    async def remove_job(self, job_id: str) -> bool:
        """Remove a job (the seed's contract): a missing one is logged as a warning and
        gives False; one that cannot be removed (locked by a worker) still raises
        ``REMOVE_JOB_FAILED``."""
        try:
            await self._ready()[0].remove_job(job_id)
        except QueueError as exc:
            if exc.code is not ErrorCode.JOB_NOT_FOUND:
                raise
            log.warning("job.remove_missing", job_id=job_id)
            return False
        return True

    async def remove_job_or_raise(self, job_id: str) -> None:
        """Remove a job; ``JOB_NOT_FOUND`` when absent (the API answers 404 with it)."""
        await self._ready()[0].remove_job(job_id)

    async def retry_job(self, job_id: str) -> None:
        await self._ready()[0].retry_job(job_id)

    # --- control --------------------------------------------------------------------

    async def pause_queue(self, queue_name: str | None = None) -> list[str]:
        return await self._ready()[1].pause_queue(queue_name)

    async def resume_queue(self, queue_name: str | None = None) -> list[str]:
        return await self._ready()[1].resume_queue(queue_name)

    async def pause_workers(self) -> int:
        return await self._ready()[1].pause_workers()

    async def resume_workers(self) -> int:
        return await self._ready()[1].resume_workers()

    def get_queue_events(self, queue_name: str | None = None) -> QueueEvents:
        """The queue's events; without a name, vk-collect's (the seed's default)."""
        return self._ready()[1].get_queue_events(queue_name or QueueName.VK_COLLECT.value)

    # --- monitoring -----------------------------------------------------------------

    async def get_job_counts(self) -> dict[str, int]:
        """The seed's flat counts summed over every queue: ``{waiting, active,
        completed, failed}`` as BullMQ reports them (delayed, paused and prioritized
        jobs are only in :meth:`get_job_counts_by_queue`)."""
        total = (await self.get_job_counts_by_queue())["total"]
        return {state: int(total.get(state, 0)) for state in SEED_COUNT_STATES}

    async def get_job_counts_by_queue(self) -> dict[str, Any]:
        """``{"queues": {name: {state: n}}, "total": {state: n}}`` over every state."""
        return await self._ready()[2].get_job_counts()

    async def get_queue_stats(self, queue_name: str) -> dict[str, Any]:
        return await self._ready()[2].get_queue_stats(queue_name)

    async def health_check(self) -> HealthCheckResult:
        return await self._ready()[2].health_check()
