"""One typed, redacted view of a BullMQ job, built here and rendered by the API and the CLI.

:class:`JobSummary` is what a job list shows; :class:`JobInfo` adds the data, the return
value and the stack trace.  Both are wire models (camelCase on the wire), so the API
returns them as they are.  bullmq's ``Job`` is read attribute by attribute only here.
Everything a person may see is redacted on the way in (progress, data, return value,
failure reason, the last ten stack trace lines), so no renderer can forget it.  Times
are Unix milliseconds, ``None`` when the job has not got there.
"""

from __future__ import annotations

from typing import Any

from bullmq import Job

from vk_collector.queue.jobs import WireModel
from vk_collector.redaction import redact, redact_value

__all__ = ["JobInfo", "JobSummary"]

_STACK_LINES = 10


def _millis(value: Any) -> int | None:
    return int(value) if value else None


def _summary(job: Job, state: str) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "name": str(job.name),
        "queue": str(job.queue.name),
        "state": state,
        "attempts_made": int(job.attemptsMade or 0),
        "attempts": int(job.opts.get("attempts") or 1),
        "progress": redact_value(job.progress),
        "timestamp": _millis(job.timestamp),
        "processed_on": _millis(job.processedOn),
        "finished_on": _millis(job.finishedOn),
        "failed_reason": redact(job.failedReason) if job.failedReason else None,
    }


class JobSummary(WireModel):
    id: str
    name: str
    queue: str
    state: str
    attempts_made: int
    attempts: int
    progress: Any = None
    timestamp: int | None = None
    processed_on: int | None = None
    finished_on: int | None = None
    failed_reason: str | None = None

    @classmethod
    def of(cls, job: Job, state: str) -> JobSummary:
        """``job`` as it is now; ``state`` comes from ``getJobState`` (one more round trip,
        so the caller decides whether to pay it)."""
        return JobSummary(**_summary(job, state))


class JobInfo(JobSummary):
    data: Any = None
    return_value: Any = None
    stacktrace: list[str] = []

    @classmethod
    def of(cls, job: Job, state: str) -> JobInfo:
        """:meth:`JobSummary.of` plus data, return value and stack trace."""
        return JobInfo(
            **_summary(job, state),
            data=redact_value(job.data),
            return_value=redact_value(job.returnvalue),
            stacktrace=[redact(str(line)) for line in (job.stacktrace or [])][-_STACK_LINES:],
        )
