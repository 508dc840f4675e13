"""What the queue layer needs of a worker, and the heartbeat it reads of workers elsewhere.

The queue service manages workers through :class:`BaseWorker` (start, stop, pause,
resume, status, health); :class:`vk_collector.workers.base.QueueWorker` implements it.
The queue layer owns this contract so ``workers/`` imports ``queue/`` and never the
reverse (as saq's ``Queue`` owns worker info).

A worker in any process writes a :class:`Heartbeat` every ``heartbeat_interval_s`` to
``<prefix>:vkc:heartbeat:<queue>:<worker id>`` (:mod:`vk_collector.queue.keys`) with a
TTL of ``heartbeat_ttl_s``; health and monitoring read them with
:func:`read_heartbeats`.  On the wire a heartbeat is one JSON object: the worker's
details (``workerId``, ``queueName``, ``isRunning``, ``isPaused``, ``concurrency``,
``activeJobs``, ``completed``, ``failed``, ``uptime`` in s, ``pid``, ``host``) plus
``lastHeartbeat`` (Unix time in s).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import redis.asyncio as aioredis

from vk_collector.queue.keys import heartbeat_key, heartbeat_pattern

__all__ = [
    "BaseWorker",
    "Heartbeat",
    "WorkerHealthCheck",
    "WorkerStatus",
    "read_heartbeats",
    "write_heartbeat",
]


@dataclass(frozen=True)
class WorkerStatus:
    is_running: bool
    is_paused: bool
    concurrency: int
    queue_name: str


@dataclass(frozen=True)
class WorkerHealthCheck:
    status: Literal["healthy", "unhealthy"]
    details: dict[str, Any]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "details": self.details}
        if self.error:
            data["error"] = self.error
        return data


@runtime_checkable
class BaseWorker(Protocol):
    """What the queue service needs of a worker (the seed's ``BaseWorker``)."""

    @property
    def worker_id(self) -> str: ...

    @property
    def queue_name(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    def get_status(self) -> WorkerStatus: ...

    async def health_check(self) -> WorkerHealthCheck: ...


@dataclass(frozen=True)
class Heartbeat:
    """One worker's heartbeat: its details (camelCase, as on the wire) and when it beat."""

    details: dict[str, Any]
    last_heartbeat: float

    @property
    def worker_id(self) -> str:
        return str(self.details.get("workerId", ""))

    @property
    def queue_name(self) -> str:
        return str(self.details.get("queueName", ""))

    @property
    def is_running(self) -> bool:
        return bool(self.details.get("isRunning"))

    @property
    def is_paused(self) -> bool:
        return bool(self.details.get("isPaused"))

    def age_s(self, now: float) -> float:
        """Seconds since the beat (never negative: clocks of two hosts may differ)."""
        return max(0.0, now - self.last_heartbeat)

    def to_dict(self) -> dict[str, Any]:
        return {**self.details, "lastHeartbeat": self.last_heartbeat}

    def to_wire(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_wire(cls, raw: str | bytes) -> Heartbeat | None:
        """The heartbeat in ``raw``, or ``None`` when it is not a JSON object."""
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            last = float(data.pop("lastHeartbeat", 0))
        except (TypeError, ValueError):
            last = 0.0
        return cls(details=data, last_heartbeat=last)


async def write_heartbeat(
    client: aioredis.Redis, prefix: str, beat: Heartbeat, ttl_s: float
) -> None:
    key = heartbeat_key(prefix, beat.queue_name, beat.worker_id)
    await client.set(key, beat.to_wire(), px=int(ttl_s * 1000))


async def read_heartbeats(
    client: aioredis.Redis, prefix: str, queue_name: str = "*"
) -> list[Heartbeat]:
    """Every heartbeat of ``queue_name`` (``*``: all queues); keys that expire between
    SCAN and MGET, or hold no JSON object, are left out."""
    keys = [
        key
        async for key in client.scan_iter(match=heartbeat_pattern(prefix, queue_name), count=500)
    ]
    if not keys:
        return []
    beats = (Heartbeat.from_wire(raw) for raw in await client.mget(keys) if raw is not None)
    return [beat for beat in beats if beat is not None]
