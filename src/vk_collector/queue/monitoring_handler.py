"""Counts, statistics and the health check (the seed's QueueMonitoringHandler).

The health check itself lives in :mod:`vk_collector.queue.health` (the verdict, from
plain observations) and :mod:`vk_collector.queue.health_probe` (the reads from Redis);
this handler is its entry point.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from vk_collector.errors import ErrorCode, QueueError
from vk_collector.queue.config import JOB_STATES
from vk_collector.queue.health import HealthCheckResult
from vk_collector.queue.health_probe import HealthProbe, read_counts
from vk_collector.queue.init_handler import QueueResources
from vk_collector.queue.worker_contract import Heartbeat, read_heartbeats
from vk_collector.settings import QueuesSettings

__all__ = ["HealthCheckResult", "QueueMonitoringHandler"]

log = structlog.get_logger(__name__)


class QueueMonitoringHandler:
    def __init__(self, resources: QueueResources, settings: QueuesSettings) -> None:
        self._resources = resources
        self._settings = settings

    # --- counts and stats ---------------------------------------------------------

    async def _queue_counts(self, name: str) -> dict[str, int]:
        return await read_counts(self._resources.queues[name])

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
        total = {state: sum(c[state] for c in per_queue) for state in JOB_STATES}
        return {"queues": queues, "total": total}

    async def get_queue_stats(self, queue_name: str) -> dict[str, Any]:
        """Counts, paused flag, connected workers and completion/failure figures.

        ``workerDetails``: the heartbeats of the queue's workers in every process, each
        with ``stale`` (no heartbeat for ``heartbeat_stale_s``: it died or hangs).
        """
        queue = self._resources.queue(queue_name)
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
        now, stale_s = time.time(), self._settings.heartbeat_stale_s
        finished = counts["completed"] + counts["failed"]
        return {
            "name": queue_name,
            "counts": counts,
            "paused": bool(paused),
            # a bullmq worker holds two named connections (commands and blocking)
            "workers": len({c.get("rawname") for c in connected}),
            "workerDetails": [
                {**beat.to_dict(), "stale": now - beat.last_heartbeat > stale_s}
                for beat in heartbeats
            ],
            "failureRate": round(counts["failed"] / finished, 4) if finished else 0.0,
        }

    # --- health -------------------------------------------------------------------

    async def _heartbeats(self, queue_name: str = "*") -> list[Heartbeat]:
        client = self._resources.redis
        if client is None:
            return []
        return await read_heartbeats(client, self._settings.prefix, queue_name)

    async def health_check(self) -> HealthCheckResult:
        """The verdict of :mod:`vk_collector.queue.health`, read by
        :class:`~vk_collector.queue.health_probe.HealthProbe`; never raises."""
        result = await HealthProbe(self._resources, self._settings).run()
        if result.reasons:
            level = log.warning if result.status == "unhealthy" else log.info
            level("health.not_healthy", status=result.status, problems=result.details["problems"])
        return result
