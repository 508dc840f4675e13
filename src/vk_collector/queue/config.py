"""Queue names and per-queue options, translated to BullMQ's camelCase in one place.

The defaults (DESIGN.md, Queue configuration) live in :class:`QueuesSettings`; this
module turns them into the dicts bullmq expects, so camelCase never leaves the
queue package.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from vk_collector.settings import QueueOptions, QueuesSettings

__all__ = [
    "JOB_ID_PATTERN",
    "JOB_STATES",
    "QueueConfig",
    "QueueName",
    "bullmq_connection",
    "command_client",
    "queue_configs",
]

JOB_ID_PATTERN = r"^(?:[a-z][a-z0-9]*(?:-[a-z0-9]+)*-)?[0-9]{1,19}$"
"""Job ids this service creates (``vk-collect-12``, ``process-groups-7``) or bullmq
numbers by itself (``42``).  Anything else is refused before it reaches Redis: ids
are used as key names, and ``meta``, ``events`` or ``id`` name the queue's own keys."""

JOB_STATES = (
    "waiting",
    "active",
    "completed",
    "failed",
    "delayed",
    "paused",
    "prioritized",
    "waiting-children",
)
"""Every state a BullMQ job can be listed or counted in, in the order counts are shown
(``waiting-children``: a collection task's job waiting for its communities' jobs)."""


class QueueName(StrEnum):
    VK_COLLECT = "vk-collect"
    PROCESS_GROUPS = "process-groups"
    VK_COLLECT_GROUP = "vk-collect-group"
    """One community of a collection task: children of the task's ``vk-collect`` job."""


@dataclass(frozen=True)
class QueueConfig:
    """One queue: its name, the name of its jobs and its options."""

    name: QueueName
    job_name: str
    options: QueueOptions

    def job_options(self) -> dict[str, Any]:
        """Default job options in BullMQ's shape."""
        return {
            "attempts": self.options.attempts,
            "backoff": {"type": "exponential", "delay": self.options.backoff_delay_ms},
            "delay": self.options.delay_ms,
            "removeOnComplete": self.options.remove_on_complete,
            "removeOnFail": self.options.remove_on_fail,
        }

    def worker_options(self, concurrency: int | None = None) -> dict[str, Any]:
        """Worker options in BullMQ's shape; ``concurrency`` overrides the configured one."""
        return {
            "concurrency": concurrency or self.options.concurrency,
            "stalledInterval": self.options.stalled_interval_ms,
            "maxStalledCount": self.options.max_stalled_count,
            "lockDuration": self.options.lock_duration_ms,
            # an idle worker re-polls this often (s); it bounds how long close() waits
            "drainDelay": 1,
        }


def queue_configs(settings: QueuesSettings) -> dict[QueueName, QueueConfig]:
    return {
        QueueName.VK_COLLECT: QueueConfig(
            QueueName.VK_COLLECT, QueueName.VK_COLLECT.value, settings.vk_collect
        ),
        QueueName.PROCESS_GROUPS: QueueConfig(
            QueueName.PROCESS_GROUPS, QueueName.PROCESS_GROUPS.value, settings.process_groups
        ),
        QueueName.VK_COLLECT_GROUP: QueueConfig(
            QueueName.VK_COLLECT_GROUP, QueueName.VK_COLLECT_GROUP.value, settings.vk_collect_group
        ),
    }


def bullmq_connection(url: str, connect_timeout_s: float) -> str:
    """The Redis URL bullmq connects with, with a connect timeout so a dead server fails fast.

    bullmq builds its own clients from a URL (one per Queue, Worker and QueueEvents,
    and a second, blocking one per Worker), so options travel in the query string.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_connect_timeout", str(connect_timeout_s))
    return urlunsplit(parts._replace(query=urlencode(query)))


def command_client(url: str, connect_timeout_s: float, command_timeout_s: float) -> aioredis.Redis:
    """A client for a bullmq ``Queue`` (commands that never block): each command gives
    up after ``command_timeout_s`` and is retried once, at once.  bullmq's own clients
    retry 20 times with up to 20 s between tries, so a request needing a dead Redis
    would hang for minutes instead of answering 503."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=command_timeout_s,
        socket_connect_timeout=connect_timeout_s,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        single_connection_client=True,
    )
