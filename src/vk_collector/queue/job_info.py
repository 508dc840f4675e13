"""One typed, redacted view of a BullMQ job, built here and rendered by the API and the CLI.

bullmq's ``Job`` is read attribute by attribute in one place only (:meth:`JobInfo.of`).
Everything a person may see is redacted on the way in (progress, data, return value,
failure reason, the last ten stack trace lines), so no renderer can forget it.
Times are Unix milliseconds, ``None`` when the job has not got there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bullmq import Job

from vk_collector.redaction import redact, redact_value

__all__ = ["JobInfo"]

_STACK_LINES = 10


def _millis(value: Any) -> int | None:
    return int(value) if value else None


@dataclass(frozen=True)
class JobInfo:
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
    data: Any = None
    return_value: Any = None
    stacktrace: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, job: Job, state: str) -> JobInfo:
        """``job`` as it is now; ``state`` comes from ``getJobState`` (one more round trip,
        so the caller decides whether to pay it)."""
        return cls(
            id=str(job.id),
            name=str(job.name),
            queue=str(job.queue.name),
            state=state,
            attempts_made=int(job.attemptsMade or 0),
            attempts=int(job.opts.get("attempts") or 1),
            progress=redact_value(job.progress),
            timestamp=_millis(job.timestamp),
            processed_on=_millis(job.processedOn),
            finished_on=_millis(job.finishedOn),
            failed_reason=redact(job.failedReason) if job.failedReason else None,
            data=redact_value(job.data),
            return_value=redact_value(job.returnvalue),
            stacktrace=[redact(str(line)) for line in (job.stacktrace or [])][-_STACK_LINES:],
        )
