"""The health verdict: ``healthy``, ``degraded`` or ``unhealthy``, with the reasons.

This module decides from plain observations (what :mod:`vk_collector.queue.health_probe`
read from Redis); it does no I/O, so every rule is testable with literal data.

Rules, per check (``HealthReason.check``):

* ``redis`` (unhealthy): PING not answered within ``health_timeout_s``.
* ``queues`` (unhealthy): the job counts could not be read.
* ``processing`` (unhealthy): a queue has work (waiting, prioritized, or delayed jobs
  whose time has come) and no live worker: "vk-collect: 3 jobs wait and no worker
  takes them".  A live worker runs, is not paused, and (in another process) sent a
  heartbeat within the stale threshold.  Also unhealthy: live workers exist but none
  has taken a job while jobs have been due for ``health_stuck_after_s`` (no job
  active, no ``active`` event in that time): a worker alive that takes nothing.
* ``processing`` (degraded): a queue paused by an operator still holds jobs.
* ``workers`` (degraded): a queue has no live worker although it has nothing to do;
  a worker's heartbeat is stale (it stays listed, as ``stale``, until its key expires
  after ``heartbeat_ttl_s``); a worker reports it is not running.
* ``backlog`` (degraded): waiting jobs of a queue at or over ``backlog_threshold``.
* ``stalled`` (degraded): more than ``health_stalled_max`` stalled jobs in the last
  ``health_window_s`` seconds.
* ``failures`` (degraded): of the jobs finished in that window (at least
  ``health_failure_min_jobs``), a share over ``health_failure_rate_max`` failed.
* ``activity`` (degraded): the events stream could not be read.

Reason messages name queues and counts only, never hosts, PIDs or worker ids: they are
shown to callers without the API key.  The specifics live in ``details``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vk_collector.settings import QueuesSettings

__all__ = [
    "STATUS_ORDER",
    "HealthCheckResult",
    "HealthReason",
    "HealthStatus",
    "QueueActivity",
    "QueueObservation",
    "WorkerObservation",
    "evaluate",
    "worker_state",
]

HealthStatus = Literal["healthy", "degraded", "unhealthy"]
STATUS_ORDER: dict[HealthStatus, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}
WorkerState = Literal["healthy", "paused", "stale", "unhealthy"]


@dataclass(frozen=True)
class HealthReason:
    """One failed check: ``check`` names it, ``status`` is what it costs the verdict."""

    check: str
    status: Literal["degraded", "unhealthy"]
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status, "message": self.message}


@dataclass(frozen=True)
class HealthCheckResult:
    """The verdict.  ``details`` holds redis, queues, workers, activity and timestamp;
    it may name hosts, PIDs and worker ids, the reasons never do."""

    status: HealthStatus
    details: dict[str, Any]
    reasons: tuple[HealthReason, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reasons": [r.to_dict() for r in self.reasons],
            "details": self.details,
        }


@dataclass(frozen=True)
class QueueObservation:
    """One queue as read for the check.

    ``due_delayed``: delayed jobs whose time has come (a job added with a delay is not
    due before it ends).  ``oldest_due_age_s``: how long the job that waits longest has
    been due, in seconds; ``None`` when no job is due.
    """

    name: str
    counts: dict[str, int]
    due_delayed: int = 0
    paused: bool = False
    oldest_due_age_s: float | None = None

    @property
    def work(self) -> int:
        """Jobs a worker could take now, were the queue not paused."""
        return self.counts.get("waiting", 0) + self.counts.get("prioritized", 0) + self.due_delayed


@dataclass(frozen=True)
class WorkerObservation:
    """One worker.  ``heartbeat_age_s`` is ``None`` for a worker of this process."""

    queue: str
    running: bool
    paused: bool
    heartbeat_age_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class QueueActivity:
    """Events of one queue within the window; ``last_active_age_s`` is ``None`` when no
    job became active in it.  ``truncated``: the window held more entries than read."""

    stalled: int = 0
    completed: int = 0
    failed: int = 0
    last_active_age_s: float | None = None
    truncated: bool = False

    @property
    def failure_rate(self) -> float:
        finished = self.completed + self.failed
        return self.failed / finished if finished else 0.0


def worker_state(worker: WorkerObservation, heartbeat_stale_s: float) -> WorkerState:
    if worker.heartbeat_age_s is not None and worker.heartbeat_age_s > heartbeat_stale_s:
        return "stale"
    if not worker.running:
        return "unhealthy"
    if worker.paused:
        return "paused"
    return "healthy"


class _Verdict:
    def __init__(self) -> None:
        self.reasons: list[HealthReason] = []

    def unhealthy(self, check: str, message: str) -> None:
        self.reasons.append(HealthReason(check, "unhealthy", message))

    def degraded(self, check: str, message: str) -> None:
        self.reasons.append(HealthReason(check, "degraded", message))

    @property
    def status(self) -> HealthStatus:
        worst: HealthStatus = "healthy"
        for reason in self.reasons:
            if STATUS_ORDER[reason.status] > STATUS_ORDER[worst]:
                worst = reason.status
        return worst


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _wait(n: int) -> str:
    return "1 job waits" if n == 1 else f"{n} jobs wait"


def _check_queue(
    verdict: _Verdict,
    queue: QueueObservation,
    states: Sequence[WorkerState],
    activity: QueueActivity | None,
    settings: QueuesSettings,
) -> None:
    live = states.count("healthy")
    paused_workers = states.count("paused")
    name, work = queue.name, queue.work
    held = work + queue.counts.get("paused", 0)  # bullmq keeps a paused queue's jobs waiting
    if queue.paused and held:
        verdict.degraded("processing", f"{name}: the queue is paused with {_plural(held, 'job')}")
    if work and not queue.paused and not live:
        note = f" ({_plural(paused_workers, 'worker')} paused)" if paused_workers else ""
        verdict.unhealthy("processing", f"{name}: {_wait(work)} and no worker takes them{note}")
    elif not live and not queue.paused:
        verdict.degraded("workers", f"{name}: no live worker")
    elif work and live and not queue.paused and queue.counts.get("active", 0) == 0:
        age = queue.oldest_due_age_s
        recent = activity.last_active_age_s if activity is not None else None
        stuck = settings.health_stuck_after_s
        if age is not None and age > stuck and (recent is None or recent > stuck):
            verdict.unhealthy(
                "processing",
                f"{name}: {_wait(work)} for {age:.0f} s and none of "
                f"{_plural(live, 'live worker')} takes them",
            )
    if queue.counts.get("waiting", 0) >= settings.backlog_threshold:
        verdict.degraded(
            "backlog",
            f"{name}: {queue.counts['waiting']} waiting jobs, "
            f"threshold {settings.backlog_threshold}",
        )


def _check_workers(verdict: _Verdict, queue: str, states: Sequence[WorkerState]) -> None:
    stale, stopped = states.count("stale"), states.count("unhealthy")
    if stale:
        verdict.degraded(
            "workers", f"{queue}: {_plural(stale, 'worker')} stopped sending heartbeats"
        )
    if stopped:
        verdict.degraded("workers", f"{queue}: {_plural(stopped, 'worker')} not running")


def _check_activity(
    verdict: _Verdict, queue: str, activity: QueueActivity, settings: QueuesSettings
) -> None:
    minutes = f"{settings.health_window_s / 60:g} min"
    if activity.stalled > settings.health_stalled_max:
        verdict.degraded(
            "stalled", f"{queue}: {_plural(activity.stalled, 'job')} stalled in the last {minutes}"
        )
    finished = activity.completed + activity.failed
    if (
        finished >= settings.health_failure_min_jobs
        and activity.failure_rate > settings.health_failure_rate_max
    ):
        verdict.degraded(
            "failures",
            f"{queue}: {activity.failed} of {finished} jobs failed in the last {minutes}",
        )


def evaluate(
    settings: QueuesSettings,
    *,
    redis_error: str | None,
    queues: Sequence[QueueObservation] | None,
    workers: Sequence[WorkerObservation],
    activity: dict[str, QueueActivity] | None,
) -> tuple[HealthStatus, list[HealthReason], list[WorkerState]]:
    """The verdict, its reasons, and the state of each worker (in ``workers`` order).

    ``queues`` or ``activity`` is ``None`` when it could not be read.
    """
    verdict = _Verdict()
    states = [worker_state(w, settings.heartbeat_stale_s) for w in workers]
    if redis_error is not None:
        verdict.unhealthy("redis", "redis: no answer")
    if queues is None:
        if redis_error is None:
            verdict.unhealthy("queues", "queues: the job counts could not be read")
    else:
        for queue in queues:
            mine = [s for w, s in zip(workers, states, strict=True) if w.queue == queue.name]
            seen = (activity or {}).get(queue.name)
            _check_queue(verdict, queue, mine, seen, settings)
            _check_workers(verdict, queue.name, mine)
            if seen is not None:
                _check_activity(verdict, queue.name, seen, settings)
    if activity is None and redis_error is None:
        verdict.degraded("activity", "activity: the events stream could not be read")
    return verdict.status, verdict.reasons, states
