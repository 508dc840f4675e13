"""Counts, statistics and the health check (the seed's QueueMonitoringHandler).

``health_check()`` runs four checks concurrently, each bounded by
``queues.health_timeout_s`` (1.5 s by default), so a dead Redis gives ``unhealthy``
within two seconds instead of hanging:

* Redis answers PING (with its latency);
* every queue's waiting backlog is under ``queues.backlog_threshold``;
* every worker is healthy: workers of this process report directly, workers of other
  processes through their heartbeat keys (a worker whose heartbeat expired is gone);
* job counts per queue.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import structlog

from vk_collector.errors import ErrorCode, QueueError
from vk_collector.queue.init_handler import QueueResources
from vk_collector.queue.jobs import utc_now_iso
from vk_collector.settings import QueuesSettings
from vk_collector.workers.base import heartbeat_pattern

__all__ = ["COUNT_STATES", "HealthCheckResult", "QueueMonitoringHandler"]

log = structlog.get_logger(__name__)

COUNT_STATES = ("waiting", "active", "completed", "failed", "delayed", "paused", "prioritized")
T = TypeVar("T")


@dataclass(frozen=True)
class HealthCheckResult:
    status: Literal["healthy", "unhealthy"]
    details: dict[str, Any]

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "details": self.details}


class _CheckFailedError(Exception):
    pass


class QueueMonitoringHandler:
    def __init__(self, resources: QueueResources, settings: QueuesSettings) -> None:
        self._resources = resources
        self._settings = settings

    async def _bounded(self, what: str, awaitable: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(awaitable, self._settings.health_timeout_s)
        except TimeoutError as exc:
            raise _CheckFailedError(
                f"{what}: no answer within {self._settings.health_timeout_s}s"
            ) from exc
        except Exception as exc:
            raise _CheckFailedError(f"{what}: {exc}") from exc

    # --- counts and stats ---------------------------------------------------------

    async def _queue_counts(self, name: str) -> dict[str, int]:
        queue = self._resources.queues[name]
        counts: dict[str, int] = await queue.getJobCounts(*COUNT_STATES)
        return {state: int(counts.get(state, 0)) for state in COUNT_STATES}

    async def get_job_counts(self) -> dict[str, Any]:
        """``{"queues": {name: {state: n}}, "total": {state: n}}``."""
        try:
            names = list(self._resources.queues)
            per_queue = await asyncio.gather(*(self._queue_counts(n) for n in names))
        except Exception as exc:
            raise QueueError(
                f"could not read job counts: {exc}", ErrorCode.GET_JOB_FAILED, cause=exc
            ) from exc
        queues = dict(zip(names, per_queue, strict=True))
        total = {state: sum(c[state] for c in per_queue) for state in COUNT_STATES}
        return {"queues": queues, "total": total}

    async def get_queue_stats(self, queue_name: str) -> dict[str, Any]:
        """Counts, paused flag, connected workers and completion/failure figures."""
        queue = self._resources.queues.get(queue_name)
        if queue is None:
            raise QueueError(f"queue not found: {queue_name!r}", ErrorCode.QUEUE_NOT_FOUND)
        try:
            counts, paused, connected, heartbeats = await asyncio.gather(
                self._queue_counts(queue_name),
                queue.isPaused(),
                queue.get_workers(),
                self._heartbeats(queue_name),
            )
        except Exception as exc:
            raise QueueError(
                f"could not read stats of {queue_name}: {exc}", ErrorCode.GET_JOB_FAILED, cause=exc
            ) from exc
        finished = counts["completed"] + counts["failed"]
        return {
            "name": queue_name,
            "counts": counts,
            "paused": bool(paused),
            # a bullmq worker holds two named connections (commands and blocking)
            "workers": len({c.get("rawname") for c in connected}),
            "workerDetails": heartbeats,
            "failureRate": round(counts["failed"] / finished, 4) if finished else 0.0,
        }

    # --- health -------------------------------------------------------------------

    async def _check_redis(self) -> dict[str, Any]:
        client = self._resources.redis
        if client is None:
            raise _CheckFailedError("redis: no connection")
        started = time.perf_counter()
        await self._bounded("redis", client.ping())
        return {"connected": True, "latencyMs": round((time.perf_counter() - started) * 1000, 2)}

    async def _heartbeats(self, queue_name: str = "*") -> list[dict[str, Any]]:
        client = self._resources.redis
        if client is None:
            return []
        keys = [
            key
            async for key in client.scan_iter(
                match=heartbeat_pattern(self._settings.prefix, queue_name), count=500
            )
        ]
        if not keys:
            return []
        beats: list[dict[str, Any]] = []
        for raw in await client.mget(keys):
            if raw is None:
                continue  # expired between SCAN and MGET
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            if isinstance(data, dict):
                beats.append(data)
        return beats

    async def _check_workers(self) -> list[dict[str, Any]]:
        local = dict(self._resources.workers)
        reports: list[dict[str, Any]] = []
        for worker in local.values():
            check = await worker.health_check()
            reports.append({**check.to_dict(), "local": True})
        stale_after = time.time() - self._settings.heartbeat_ttl_s
        for beat in await self._bounded("workers", self._heartbeats()):
            if beat.get("workerId") in local:
                continue
            fresh = float(beat.get("lastHeartbeat", 0)) >= stale_after
            ok = fresh and bool(beat.get("isRunning"))
            report: dict[str, Any] = {
                "status": "healthy" if ok else "unhealthy",
                "details": beat,
                "local": False,
            }
            if not ok:
                report["error"] = "heartbeat is stale" if not fresh else "worker is not running"
            reports.append(report)
        return reports

    async def _check_backlog(self) -> dict[str, Any]:
        counts = await self._bounded("queues", self.get_job_counts())
        threshold = self._settings.backlog_threshold
        over = [name for name, c in counts["queues"].items() if c["waiting"] >= threshold]
        return {
            "backlogOk": not over,
            "threshold": threshold,
            "overThreshold": over,
            "counts": counts,
        }

    async def health_check(self) -> HealthCheckResult:
        redis_r, queues_r, workers_r = await asyncio.gather(
            self._check_redis(),
            self._check_backlog(),
            self._check_workers(),
            return_exceptions=True,
        )
        problems: list[str] = []
        if isinstance(redis_r, BaseException):
            problems.append(str(redis_r))
            redis_r = {"connected": False, "latencyMs": None, "error": str(redis_r)}
        if isinstance(queues_r, BaseException):
            problems.append(str(queues_r))
            queues_r = {"backlogOk": False, "counts": None, "error": str(queues_r)}
        elif not queues_r["backlogOk"]:
            problems.append(f"backlog over {queues_r['threshold']} in {queues_r['overThreshold']}")
        if isinstance(workers_r, BaseException):
            problems.append(str(workers_r))
            workers_r = []
        unhealthy = [w for w in workers_r if w["status"] != "healthy"]
        if unhealthy:
            problems.append(f"{len(unhealthy)} unhealthy worker(s)")
        status: Literal["healthy", "unhealthy"] = "unhealthy" if problems else "healthy"
        details = {
            "redis": redis_r,
            "queues": queues_r,
            "workers": workers_r,
            "problems": problems,
            "timestamp": utc_now_iso(),
        }
        if problems:
            log.warning("health.unhealthy", problems=problems)
        return HealthCheckResult(status, details)
