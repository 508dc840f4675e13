"""Job operations (the seed's QueueJobHandler): add, get, list, remove, retry.

Every add goes through :meth:`QueueJobHandler.add_job`, which validates the data
against the queue's wire model *before* anything reaches Redis, merges the queue's
default options with the caller's, sets the job id ``<jobName>-<taskId>`` (so adding
the same task twice is a no-op, which also makes retried adds safe) and retries
transient Redis failures with one ``tenacity.AsyncRetrying``: ``enqueue_retries``
retries (3), waiting ``enqueue_retry_min_s`` (1 s) doubling before each (1, 2, 4 s).
A caller with someone waiting passes ``deadline_s``: no retry is started whose wait
would end past it, and one attempt never outlives it, so an add answers within about
``deadline_s`` even when Redis is down (the API and CLI pass
``enqueue_request_deadline_s``, 2 s).  :func:`vk_collector.retries.set_instant_retries`
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
    stop_before_delay,
    wait_exponential,
    wait_none,
)
from tenacity.stop import stop_base

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


def _replaying(
    first: BaseException, attempt: Callable[[], Awaitable[Job]]
) -> Callable[[], Awaitable[Job]]:
    """``attempt`` whose first call raises ``first`` again instead of touching Redis.

    The common add succeeds at once and never enters tenacity, whose machinery cost
    about 90 us of client CPU an add (449 against 360 us, a raw bullmq add 318 us;
    the single-add ratio to raw bullmq fell from 0.94 to 0.72).  When that first attempt fails, its
    failure is handed to the ``AsyncRetrying`` as attempt 1, so tenacity alone decides
    every wait, retry and stop: no hand-written sleep or count beside it."""
    replayed = False

    async def replay_then_attempt() -> Job:
        nonlocal replayed
        if not replayed:
            replayed = True
            raise first
        return await attempt()

    return replay_then_attempt


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
        *,
        deadline_s: float | None = None,
    ) -> Job:
        """Validate, merge options, set the job id and enqueue, retrying transient
        failures; ``deadline_s`` bounds the whole add, retries included (``None``: the
        retries alone bound it, 1+2+4 s of waits plus at most 5 s per attempt)."""
        queue = self.get_queue(queue_name)
        config = self._resources.configs[queue_name]
        payload = self._validate(QueueName(queue_name), data, task_id)
        job_options = {
            **config.job_options(),
            **(options or {}),
            "jobId": (options or {}).get("jobId") or job_id(config.job_name, task_id),
        }
        loop = asyncio.get_running_loop()
        ends_at = None if deadline_s is None else loop.time() + deadline_s

        async def add_once() -> Job:
            limit = _ATTEMPT_TIMEOUT_S
            if ends_at is not None:
                limit = max(0.0, min(limit, ends_at - loop.time()))
            async with asyncio.timeout(limit):
                added: Job = await queue.add(config.job_name, payload, job_options)
                return added

        try:
            try:
                job = await add_once()  # fast path: tenacity's machinery costs ~90 us an add
            except _TRANSIENT as first:
                remaining = None if ends_at is None else ends_at - loop.time()
                retrying = self._retrying(queue_name, task_id, remaining)
                job = await retrying(_replaying(first, add_once))
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

    def _retrying(self, queue_name: str, task_id: int, deadline_s: float | None) -> AsyncRetrying:
        """The whole retry policy of an add: attempt 1 (replayed, see
        :func:`_replaying`) plus ``enqueue_retries`` retries of transient failures,
        waiting ``enqueue_retry_min_s`` doubling (none when retries are instant,
        :mod:`vk_collector.retries`); with ``deadline_s``, no retry whose wait would end
        past it.  Built per failing add: an ``AsyncRetrying`` keeps per-call state."""
        minimum = self._settings.enqueue_retry_min_s
        stop: stop_base = stop_after_attempt(self._settings.enqueue_retries + 1)
        if deadline_s is not None:
            stop = stop | stop_before_delay(deadline_s)
        return AsyncRetrying(
            retry=retry_if_exception_type(_TRANSIENT),
            stop=stop,
            wait=(
                wait_exponential(multiplier=minimum, min=minimum, max=30)
                if retry_waits_enabled()
                else wait_none()
            ),
            before_sleep=self._log_retry(queue_name, task_id),
            reraise=True,
        )

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
        *,
        deadline_s: float | None = None,
    ) -> Job:
        merged = dict(options or {})
        merged.setdefault("delay", self._resources.configs[QueueName.VK_COLLECT].options.delay_ms)
        return await self.add_job(
            QueueName.VK_COLLECT, data, task_id, merged, deadline_s=deadline_s
        )

    async def add_process_groups_job(
        self,
        data: ProcessGroupsJobData | dict[str, Any],
        task_id: int,
        options: dict[str, Any] | None = None,
        *,
        deadline_s: float | None = None,
    ) -> Job:
        return await self.add_job(
            QueueName.PROCESS_GROUPS, data, task_id, options, deadline_s=deadline_s
        )

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
