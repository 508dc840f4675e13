"""Reads what the health verdict (:mod:`vk_collector.queue.health`) decides on.

Four reads run concurrently, each bounded by ``health_timeout_s`` (1.5 s by default),
so a dead Redis gives ``unhealthy`` within about two seconds instead of hanging:

* Redis PING and its latency;
* per queue: job counts, the paused flag, delayed jobs whose time has come (the
  delayed set's score is the due time in ms times 0x1000, BullMQ's encoding), and how
  long the job that waits longest has been due;
* workers: this process's workers directly, other processes' through their heartbeat
  keys (``<prefix>:vkc:heartbeat:<queue>:<worker id>``);
* activity: the queue's events stream over the last ``health_window_s`` seconds
  (``stalled``, ``completed``, ``failed`` and the newest ``active`` entry), at most
  ``_MAX_EVENTS`` entries per queue.

Key names come from bullmq's ``Queue.keys``; none is spelled out here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis.asyncio as aioredis
from bullmq import Queue

from vk_collector.clock import iso_z, utc_now_iso
from vk_collector.queue.config import JOB_STATES
from vk_collector.queue.health import (
    HealthCheckResult,
    QueueActivity,
    QueueObservation,
    WorkerObservation,
    evaluate,
)
from vk_collector.queue.init_handler import QueueResources
from vk_collector.queue.worker_contract import read_heartbeats
from vk_collector.settings import QueuesSettings

__all__ = ["HealthProbe", "read_counts"]

_DELAYED_SCORE_SHIFT = 0x1000  # BullMQ: score = due time (ms) * 0x1000 + counter
_MAX_EVENTS = 5000
T = TypeVar("T")


async def read_counts(queue: Queue) -> dict[str, int]:
    counts: dict[str, int] = await queue.getJobCounts(*JOB_STATES)
    return {state: int(counts.get(state, 0)) for state in JOB_STATES}


class HealthProbe:
    def __init__(self, resources: QueueResources, settings: QueuesSettings) -> None:
        self._resources = resources
        self._settings = settings

    async def _bounded(self, awaitable: Awaitable[T]) -> T:
        return await asyncio.wait_for(awaitable, self._settings.health_timeout_s)

    def _client(self) -> aioredis.Redis:
        client = self._resources.redis
        if client is None:
            raise ConnectionError("no Redis connection")
        return client

    # --- reads ----------------------------------------------------------------------

    async def _redis(self) -> float:
        started = time.perf_counter()
        await self._bounded(self._client().ping())
        return round((time.perf_counter() - started) * 1000, 2)

    async def _queue(self, queue: Queue, now_ms: int) -> QueueObservation:
        client = self._client()
        delayed_key = queue.keys["delayed"]
        counts, paused, due, first, oldest = await asyncio.gather(
            read_counts(queue),
            queue.isPaused(),
            client.zcount(delayed_key, 0, (now_ms + 1) * _DELAYED_SCORE_SHIFT - 1),
            client.zrange(delayed_key, 0, 0, withscores=True),
            queue.getWaiting(0, 0),  # ascending: the job that waits longest
        )
        due_since: list[float] = []
        if first and int(first[0][1]) // _DELAYED_SCORE_SHIFT <= now_ms:
            due_since.append(int(first[0][1]) // _DELAYED_SCORE_SHIFT)
        if oldest:
            job = oldest[0]
            # a retried job keeps its first timestamp; it waits since its last run at most
            due_since.append(
                max(job.timestamp + (job.delay or 0), job.processedOn or 0, job.finishedOn or 0)
            )
        return QueueObservation(
            name=queue.name,
            counts=counts,
            due_delayed=int(due),
            paused=bool(paused),
            oldest_due_age_s=max(0.0, (now_ms - min(due_since)) / 1000) if due_since else None,
        )

    async def _queues(self) -> list[QueueObservation]:
        now_ms = int(time.time() * 1000)
        queues = list(self._resources.queues.values())
        return list(await self._bounded(asyncio.gather(*(self._queue(q, now_ms) for q in queues))))

    async def _workers(self) -> list[WorkerObservation]:
        local = dict(self._resources.workers)
        observed: list[WorkerObservation] = []
        for worker in local.values():
            check = await worker.health_check()
            status = worker.get_status()
            observed.append(
                WorkerObservation(
                    queue=worker.queue_name,
                    running=check.status == "healthy",
                    paused=status.is_paused,
                    details=check.details,
                    error=check.error,
                )
            )
        beats = await self._bounded(read_heartbeats(self._client(), self._settings.prefix))
        now = time.time()
        for beat in beats:
            if beat.worker_id in local:
                continue
            observed.append(
                WorkerObservation(
                    queue=beat.queue_name,
                    running=beat.is_running,
                    paused=beat.is_paused,
                    heartbeat_age_s=round(beat.age_s(now), 3),
                    details=beat.to_dict(),
                )
            )
        return observed

    async def _activity_of(self, queue: Queue, now_ms: int) -> QueueActivity:
        since = now_ms - int(self._settings.health_window_s * 1000)
        entries = (
            await self._client().xrevrange(
                queue.keys["events"], max="+", min=str(since), count=_MAX_EVENTS
            )
            or []
        )
        counted = {"stalled": 0, "completed": 0, "failed": 0}
        last_active: float | None = None
        for entry_id, fields in entries:
            event = (fields or {}).get("event")
            if event in counted:
                counted[event] += 1
            elif event == "active" and last_active is None:
                last_active = (now_ms - int(str(entry_id).split("-", 1)[0])) / 1000
        return QueueActivity(
            **counted,
            last_active_age_s=None if last_active is None else max(0.0, last_active),
            truncated=len(entries) >= _MAX_EVENTS,
        )

    async def _activity(self) -> dict[str, QueueActivity]:
        now_ms = int(time.time() * 1000)
        queues = list(self._resources.queues.values())
        found = await self._bounded(asyncio.gather(*(self._activity_of(q, now_ms) for q in queues)))
        return {q.name: a for q, a in zip(queues, found, strict=True)}

    # --- the check ------------------------------------------------------------------

    async def run(self) -> HealthCheckResult:
        redis_r, queues_r, workers_r, activity_r = await asyncio.gather(
            self._redis(), self._queues(), self._workers(), self._activity(),
            return_exceptions=True,
        )  # fmt: skip
        redis_error = _error(redis_r)
        queues = None if isinstance(queues_r, BaseException) else queues_r
        workers = [] if isinstance(workers_r, BaseException) else workers_r
        activity = None if isinstance(activity_r, BaseException) else activity_r
        status, reasons, states = evaluate(
            self._settings,
            redis_error=redis_error,
            queues=queues,
            workers=workers,
            activity=activity,
        )
        details: dict[str, Any] = {
            "redis": (
                {"connected": False, "latencyMs": None, "error": redis_error}
                if redis_error is not None
                else {"connected": True, "latencyMs": redis_r}
            ),
            "queues": self._queues_details(queues, _error(queues_r), workers, states),
            "workers": [_worker_report(w, s) for w, s in zip(workers, states, strict=True)],
            "activity": self._activity_details(activity, _error(activity_r)),
            "problems": [r.message for r in reasons],
            "timestamp": utc_now_iso(),
        }
        if isinstance(workers_r, BaseException):
            details["workersError"] = _error(workers_r)
        return HealthCheckResult(status, details, tuple(reasons))

    def _queues_details(
        self,
        queues: Sequence[QueueObservation] | None,
        error: str | None,
        workers: Sequence[WorkerObservation],
        states: Sequence[str],
    ) -> dict[str, Any]:
        threshold = self._settings.backlog_threshold
        if queues is None:
            return {"backlogOk": False, "threshold": threshold, "counts": None, "error": error}
        over = [q.name for q in queues if q.counts["waiting"] >= threshold]
        total = {s: sum(q.counts[s] for q in queues) for s in JOB_STATES}
        return {
            "backlogOk": not over,
            "threshold": threshold,
            "overThreshold": over,
            "counts": {"queues": {q.name: q.counts for q in queues}, "total": total},
            "processing": {
                q.name: {
                    "work": q.work,
                    "dueDelayed": q.due_delayed,
                    "paused": q.paused,
                    "oldestDueAgeS": q.oldest_due_age_s,
                    "liveWorkers": sum(
                        1
                        for w, s in zip(workers, states, strict=True)
                        if w.queue == q.name and s == "healthy"
                    ),
                }
                for q in queues
            },
        }

    def _activity_details(
        self, activity: dict[str, QueueActivity] | None, error: str | None
    ) -> dict[str, Any]:
        window = self._settings.health_window_s
        if activity is None:
            return {"windowS": window, "queues": None, "error": error}
        return {
            "windowS": window,
            "queues": {
                name: {
                    "stalled": a.stalled,
                    "completed": a.completed,
                    "failed": a.failed,
                    "failureRate": round(a.failure_rate, 4),
                    "lastActiveAgeS": a.last_active_age_s,
                    "truncated": a.truncated,
                }
                for name, a in activity.items()
            },
        }


def _error(result: object) -> str | None:
    if not isinstance(result, BaseException):
        return None
    if isinstance(result, TimeoutError):
        return "no answer in time"
    return str(result) or type(result).__name__


def _worker_report(worker: WorkerObservation, state: str) -> dict[str, Any]:
    report: dict[str, Any] = {
        "status": state,
        "local": worker.heartbeat_age_s is None,
        "details": worker.details,
    }
    if worker.heartbeat_age_s is not None:
        last = float(worker.details.get("lastHeartbeat", 0))
        report["lastSeen"] = iso_z(datetime.fromtimestamp(last, UTC), "auto")
        report["heartbeatAgeS"] = worker.heartbeat_age_s
    error = worker.error
    if state == "stale":
        error = f"no heartbeat for {worker.heartbeat_age_s:.1f} s"
    elif state == "unhealthy" and error is None:
        error = "worker is not running"
    if error:
        report["error"] = error
    return report
