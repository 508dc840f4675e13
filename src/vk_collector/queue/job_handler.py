"""Job operations (the seed's QueueJobHandler): add, get, list, remove, retry.

Every add goes through :meth:`QueueJobHandler.add_job`, which validates the data
against the queue's wire model *before* anything reaches Redis, merges the queue's
default options with the caller's, sets the job id ``<jobName>-<taskId>`` (so adding
the same task twice is a no-op, which also makes retried adds safe) and retries
transient Redis failures with tenacity: ``enqueue_retries`` retries (3), exponential
from ``enqueue_retry_min_s`` (1 s).  :func:`vk_collector.retries.set_instant_retries`
turns the waits off in tests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import redis.exceptions
import structlog
from bullmq import Job, Queue
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_none,
)

from vk_collector.errors import ErrorCode, QueueError, ValidationError
from vk_collector.queue.config import JOB_ID_PATTERN, JOB_STATES, QueueName
from vk_collector.queue.init_handler import QueueResources
from vk_collector.queue.jobs import ProcessGroupsJobData, VkCollectGroupJobData, VkCollectJobData
from vk_collector.queue.keys import job_id
from vk_collector.retries import retry_waits_enabled
from vk_collector.settings import QueuesSettings

__all__ = ["QueueJobHandler", "reason"]

log = structlog.get_logger(__name__)

_ATTEMPT_TIMEOUT_S = 5.0
_TRANSIENT = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    ConnectionError,
    TimeoutError,
)
_WIRE_MODELS: dict[QueueName, type[BaseModel]] = {
    QueueName.VK_COLLECT: VkCollectJobData,
    QueueName.PROCESS_GROUPS: ProcessGroupsJobData,
    QueueName.VK_COLLECT_GROUP: VkCollectGroupJobData,
}


def reason(exc: BaseException) -> str:
    """A failure as words, never empty: timeouts carry no message of their own."""
    if isinstance(exc, TimeoutError | redis.exceptions.TimeoutError):
        return f"Redis did not answer in time ({str(exc) or type(exc).__name__})"
    if isinstance(exc, redis.exceptions.ConnectionError | ConnectionError):
        return f"Redis is unreachable ({str(exc) or type(exc).__name__})"
    return str(exc) or type(exc).__name__


class QueueJobHandler:
    def __init__(self, resources: QueueResources, settings: QueuesSettings) -> None:
        self._resources = resources
        self._settings = settings

    def get_queue(self, queue_name: str) -> Queue:
        return self._resources.queue(queue_name)

    async def add_job(
        self,
        queue_name: str,
        data: BaseModel | dict[str, Any],
        task_id: int,
        options: dict[str, Any] | None = None,
    ) -> Job:
        """Validate, merge options, set the job id and enqueue, retrying transient failures."""
        queue = self.get_queue(queue_name)
        config = self._resources.configs[queue_name]
        payload = self._validate(QueueName(queue_name), data, task_id)
        job_options = {
            **config.job_options(),
            **(options or {}),
            "jobId": (options or {}).get("jobId") or job_id(config.job_name, task_id),
        }

        async def add_once() -> Job:
            async with asyncio.timeout(_ATTEMPT_TIMEOUT_S):
                added: Job = await queue.add(config.job_name, payload, job_options)
                return added

        try:
            try:
                job = await add_once()  # the common case never enters the retry machinery
            except _TRANSIENT as first:
                job = await self._retry(add_once, first, queue_name, task_id)
        except Exception as exc:
            log.error("job.add_failed", queue=queue_name, task_id=task_id, error=str(exc))
            raise QueueError(
                f"could not add a {queue_name} job for task {task_id}: {reason(exc)}",
                ErrorCode.ADD_JOB_FAILED,
                cause=exc,
            ) from exc
        log.info("job.added", queue=queue_name, job_id=job.id, task_id=task_id)
        return job

    async def add_jobs(
        self,
        queue_name: str,
        items: list[tuple[BaseModel | dict[str, Any], int]],
        options: dict[str, Any] | None = None,
    ) -> list[Job]:
        """Validate every item first, then add them in one round trip (``addBulk``).

        All or nothing on validation: one bad item enqueues none.  Not retried as a
        whole, since a partial bulk add cannot be told apart from a failed one.
        """
        queue = self.get_queue(queue_name)
        config = self._resources.configs[queue_name]
        bulk = [
            {
                "name": config.job_name,
                "data": self._validate(QueueName(queue_name), data, task_id),
                "opts": {
                    **config.job_options(),
                    **(options or {}),
                    "jobId": job_id(config.job_name, task_id),
                },
            }
            for data, task_id in items
        ]
        try:
            jobs: list[Job] = await queue.addBulk(bulk)
        except Exception as exc:
            raise QueueError(
                f"could not add {len(bulk)} {queue_name} jobs: {exc}",
                ErrorCode.ADD_JOB_FAILED,
                cause=exc,
            ) from exc
        log.info("job.added_bulk", queue=queue_name, count=len(jobs))
        return jobs

    @staticmethod
    def _validate(queue: QueueName, data: BaseModel | dict[str, Any], task_id: int) -> Any:
        model = _WIRE_MODELS[queue]
        raw = data.model_dump(by_alias=True, mode="json") if isinstance(data, BaseModel) else data
        try:
            parsed = model.model_validate({**raw, "taskId": task_id})
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ValidationError(f"invalid {queue.value} job data: {problems}") from exc
        # tokens are excluded from dumps: jobs created here never carry one
        return parsed.model_dump(by_alias=True, exclude_none=True, mode="json")

    async def _retry(
        self,
        add_once: Callable[[], Awaitable[Job]],
        first: BaseException,
        queue_name: str,
        task_id: int,
    ) -> Job:
        """Retries after a first transient failure: waits 1, 2, 4 s (``enqueue_retry_min_s``
        doubling) before retries 1, 2, 3, or none when retries are instant
        (:mod:`vk_collector.retries`)."""
        minimum = self._settings.enqueue_retry_min_s
        log.warning("job.add_retry", queue=queue_name, task_id=task_id, attempt=1, error=str(first))
        if self._settings.enqueue_retries == 0:
            raise first
        if retry_waits_enabled():
            await asyncio.sleep(minimum)
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_TRANSIENT),
            stop=stop_after_attempt(self._settings.enqueue_retries),
            wait=(
                wait_exponential(multiplier=2 * minimum, min=minimum, max=30)
                if retry_waits_enabled()
                else wait_none()
            ),
            before_sleep=self._log_retry(queue_name, task_id),
            reraise=True,
        )
        job: Job = await retrying(add_once)
        return job

    @staticmethod
    def _log_retry(queue: str, task_id: int) -> Any:
        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "job.add_retry",
                queue=queue,
                task_id=task_id,
                attempt=state.attempt_number,
                error=str(error),
            )

        return before_sleep

    async def add_vk_collect_job(
        self,
        data: VkCollectJobData | dict[str, Any],
        task_id: int,
        options: dict[str, Any] | None = None,
    ) -> Job:
        merged = dict(options or {})
        merged.setdefault("delay", self._resources.configs[QueueName.VK_COLLECT].options.delay_ms)
        return await self.add_job(QueueName.VK_COLLECT, data, task_id, merged)

    async def add_process_groups_job(
        self,
        data: ProcessGroupsJobData | dict[str, Any],
        task_id: int,
        options: dict[str, Any] | None = None,
    ) -> Job:
        return await self.add_job(QueueName.PROCESS_GROUPS, data, task_id, options)

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id in any queue, or None (also for an id that is not a job
        id: ids are Redis key names, see ``JOB_ID_PATTERN``)."""
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            return None
        try:
            for queue in self._resources.queues.values():
                job: Job | None = await queue.getJob(job_id)
                if job is not None:
                    return job
        except Exception as exc:
            raise QueueError(
                f"could not read job {job_id}: {reason(exc)}",
                ErrorCode.GET_JOB_FAILED,
                job_id,
                cause=exc,
            ) from exc
        return None

    async def get_jobs(
        self, status: str, queue_name: str | None = None, start: int = 0, end: int = -1
    ) -> list[Job]:
        if status not in JOB_STATES:
            raise ValidationError(
                f"unknown job status {status!r}; use one of: {', '.join(JOB_STATES)}"
            )
        queues = [self.get_queue(queue_name)] if queue_name else self._resources.queues.values()
        jobs: list[Job] = []
        try:
            for queue in queues:
                jobs.extend(await queue.getJobs([status], start, end))
        except Exception as exc:
            raise QueueError(
                f"could not list jobs: {reason(exc)}", ErrorCode.GET_JOB_FAILED, cause=exc
            ) from exc
        return jobs

    async def get_job_state(self, job: Job) -> str:
        state: str = await job.queue.getJobState(job.id)
        return state

    async def remove_job(self, job_id: str) -> None:
        """Remove a job; ``JOB_NOT_FOUND`` when absent, ``REMOVE_JOB_FAILED`` when locked."""
        job = await self.get_job(job_id)
        if job is None:
            raise QueueError(f"job {job_id} not found", ErrorCode.JOB_NOT_FOUND, job_id)
        try:
            await job.remove()
        except Exception as exc:
            raise QueueError(
                f"could not remove job {job_id} (is it being processed?): {exc}",
                ErrorCode.REMOVE_JOB_FAILED,
                job_id,
                cause=exc,
            ) from exc
        log.info("job.removed", job_id=job_id)

    async def retry_job(self, job_id: str) -> None:
        """Move a failed job back to waiting; ``JOB_NOT_FOUND`` when absent."""
        job = await self.get_job(job_id)
        if job is None:
            raise QueueError(f"job {job_id} not found", ErrorCode.JOB_NOT_FOUND, job_id)
        state = await self.get_job_state(job)
        if state not in ("failed", "completed"):
            raise QueueError(
                f"job {job_id} is {state}; only failed or completed jobs can be retried",
                ErrorCode.RETRY_JOB_FAILED,
                job_id,
            )
        try:
            await job.retry(state, {"resetAttemptsMade": True})
        except Exception as exc:
            raise QueueError(
                f"could not retry job {job_id}: {exc}",
                ErrorCode.RETRY_JOB_FAILED,
                job_id,
                cause=exc,
            ) from exc
        log.info("job.retried", job_id=job_id, previous_state=state)
