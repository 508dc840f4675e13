"""Operator endpoints: queues, workers and jobs.  All of them need the API key."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from bullmq import Job
from fastapi import APIRouter, Path, Query

from vk_collector.api.deps import ApiKey, QueueDep, RequestId
from vk_collector.api.envelope import ApiModel, Envelope, envelope
from vk_collector.api.errors import ApiError
from vk_collector.errors import ErrorCode, QueueError
from vk_collector.queue.config import JOB_ID_PATTERN, JOB_STATES, QueueName
from vk_collector.queue.job_info import JobInfo, JobSummary
from vk_collector.queue.service import QueueService
from vk_collector.redaction import redact_value

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["operators"], dependencies=[ApiKey])

_MAX_JOBS = 1000
JobIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=JOB_ID_PATTERN,
        description="A job id: vk-collect-<taskId>, process-groups-<taskId> or a number",
    ),
]


class QueueOut(ApiModel):
    name: str
    counts: dict[str, int]
    paused: bool
    workers: int
    worker_details: list[dict[str, Any]]
    failure_rate: float


class QueueActionOut(ApiModel):
    queues: list[str]
    paused: bool


class WorkersActionOut(ApiModel):
    workers: int
    paused: bool


class JobActionOut(ApiModel):
    id: str
    action: str


@router.get("/queues", response_model=Envelope[list[QueueOut]], summary="Queues at a glance")
async def list_queues(queue: QueueDep, request_id: RequestId) -> Envelope[list[QueueOut]]:
    stats = await asyncio.gather(*(queue.get_queue_stats(name.value) for name in QueueName))
    out = [
        QueueOut(
            name=s["name"],
            counts=s["counts"],
            paused=s["paused"],
            workers=s["workers"],
            worker_details=redact_value(s["workerDetails"]),
            failure_rate=s["failureRate"],
        )
        for s in stats
    ]
    return envelope(out, request_id)


QueueNamePath = Annotated[str, Path(max_length=100)]
"""A queue's name in a path, at most 100 characters (unknown names: see ``_select``
of :class:`~vk_collector.queue.control_handler.QueueControlHandler`)."""


@router.post("/queues/{name}/pause", response_model=Envelope[QueueActionOut])
async def pause_queue(
    name: QueueNamePath, queue: QueueDep, request_id: RequestId
) -> Envelope[QueueActionOut]:
    names = await queue.pause_queue(name)
    return envelope(QueueActionOut(queues=names, paused=True), request_id, f"{name} paused")


@router.post("/queues/{name}/resume", response_model=Envelope[QueueActionOut])
async def resume_queue(
    name: QueueNamePath, queue: QueueDep, request_id: RequestId
) -> Envelope[QueueActionOut]:
    names = await queue.resume_queue(name)
    return envelope(QueueActionOut(queues=names, paused=False), request_id, f"{name} resumed")


@router.post(
    "/workers/pause",
    response_model=Envelope[WorkersActionOut],
    summary="Pause this process's workers (others keep going; pause a queue to stop all)",
)
async def pause_workers(queue: QueueDep, request_id: RequestId) -> Envelope[WorkersActionOut]:
    count = await queue.pause_workers()
    return envelope(WorkersActionOut(workers=count, paused=True), request_id)


@router.post("/workers/resume", response_model=Envelope[WorkersActionOut])
async def resume_workers(queue: QueueDep, request_id: RequestId) -> Envelope[WorkersActionOut]:
    count = await queue.resume_workers()
    return envelope(WorkersActionOut(workers=count, paused=False), request_id)


async def _jobs_in(
    queue: QueueService, state: str, queue_name: str | None, start: int, end: int
) -> list[JobSummary]:
    jobs = await queue.get_jobs(state, queue_name, start, end)
    return [JobSummary.of(job, state) for job in jobs if job is not None]


@router.get("/jobs", response_model=Envelope[list[JobSummary]], summary="Jobs by state and queue")
async def list_jobs(
    queue: QueueDep,
    request_id: RequestId,
    status: Annotated[
        str | None,
        Query(
            description=f"One of {', '.join(JOB_STATES)}; empty or absent: every state",
            pattern=f"^(|{'|'.join(JOB_STATES)})$",
        ),
    ] = None,
    queue_name: Annotated[str | None, Query(alias="queue", max_length=100)] = None,
    start: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    end: Annotated[
        int,
        Query(
            ge=-1,
            le=1_000_000,
            description="Inclusive; -1 = up to 1000; below start: an empty list",
        ),
    ] = 49,
) -> Envelope[list[JobSummary]]:
    status = status or None
    if status is not None and status not in JOB_STATES:
        raise ApiError(
            400,
            ErrorCode.INVALID_INPUT,
            f"status: unknown job state {status!r}; use one of {', '.join(JOB_STATES)}",
            {"fields": [{"field": "status", "in": "query", "message": "unknown job state"}]},
        )
    if end == -1 or end - start >= _MAX_JOBS:
        end = start + _MAX_JOBS - 1
    if end < start:  # an empty range, as in Redis
        return envelope([], request_id)
    states = [status] if status else list(JOB_STATES)
    found = await asyncio.gather(*(_jobs_in(queue, s, queue_name, start, end) for s in states))
    out = [job for jobs in found for job in jobs]
    return envelope(out, request_id)


async def _find(queue: QueueService, job_id: str) -> Job:
    job = await queue.get_job(job_id)
    if job is None:
        raise QueueError(f"job {job_id} not found", ErrorCode.JOB_NOT_FOUND, job_id)
    return job


@router.get("/jobs/{job_id}", response_model=Envelope[JobInfo], summary="One job")
async def get_job(job_id: JobIdPath, queue: QueueDep, request_id: RequestId) -> Envelope[JobInfo]:
    job = await _find(queue, job_id)
    state = await queue.get_job_state(job)
    out = JobInfo.of(job, state)
    return envelope(out, request_id)


@router.post("/jobs/{job_id}/retry", response_model=Envelope[JobActionOut])
async def retry_job(
    job_id: JobIdPath, queue: QueueDep, request_id: RequestId
) -> Envelope[JobActionOut]:
    await queue.retry_job(job_id)
    return envelope(JobActionOut(id=job_id, action="retried"), request_id, f"job {job_id} retried")


@router.delete("/jobs/{job_id}", response_model=Envelope[JobActionOut])
async def remove_job(
    job_id: JobIdPath, queue: QueueDep, request_id: RequestId
) -> Envelope[JobActionOut]:
    await queue.remove_job_or_raise(job_id)
    return envelope(JobActionOut(id=job_id, action="removed"), request_id, f"job {job_id} removed")
