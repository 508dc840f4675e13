"""The composition root: settings in, wired services out.

Entry points (the CLI, the API server, the demo) call :func:`redis_endpoint` from
the main thread to get a Redis URL (the configured one, an embedded server another
process already runs on the same data directory, or a new private one), then build a
:class:`Runtime` inside their event loop.  Nothing here runs at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog

from vk_collector.embedded import EmbeddedValkey, find_running
from vk_collector.errors import ValidationError
from vk_collector.pipelines import Pipelines
from vk_collector.queue.config import QueueName
from vk_collector.queue.keys import vk_key_prefix
from vk_collector.queue.service import QueueService
from vk_collector.queue.worker_contract import BaseWorker
from vk_collector.reconcile import ReconcileLoop
from vk_collector.redaction import register_secret
from vk_collector.redis_clients import redis_client
from vk_collector.settings import Settings
from vk_collector.storage import Database, migrate
from vk_collector.tasks import TaskService
from vk_collector.vk.client import VkClient
from vk_collector.workers.groups_parse import GroupsParseWorker
from vk_collector.workers.vk_collect import VkCollectWorker
from vk_collector.workers.vk_collect_group import VkCollectGroupWorker

__all__ = ["Runtime", "build_workers", "redis_endpoint", "register_settings_secrets"]

log = structlog.get_logger(__name__)


def register_settings_secrets(settings: Settings) -> None:
    """Teach the redactor every secret the settings hold."""
    for token in settings.vk.tokens:
        register_secret(token.get_secret_value().split(":", 1)[-1])
        register_secret(token.get_secret_value())
    if settings.api.key is not None:
        register_secret(settings.api.key.get_secret_value())


@contextlib.contextmanager
def redis_endpoint(settings: Settings) -> Iterator[str]:
    """Yield the Redis URL to use, running a private Valkey for the duration if needed.

    Call from the main thread: the embedded server is tied to the calling thread's life.
    """
    if settings.redis.url:
        yield settings.redis.url
        return
    shared = find_running(settings.data_dir)
    if shared is not None:
        log.info("embedded_redis.shared", url=shared.url, owner_pid=shared.pid)
        yield shared.url
        return
    with EmbeddedValkey(settings.data_dir) as server:
        yield server.url


def build_workers(
    settings: Settings,
    redis_url: str,
    db: Database,
    vk: VkClient,
    *,
    queues: Sequence[str] | None = None,
    concurrency: int | None = None,
) -> list[BaseWorker]:
    """The workers of the named queues (every queue by default).

    ``vk-collect`` brings ``vk-collect-group`` with it: a process that runs collection
    tasks also takes their communities' jobs.  ``vk-collect-group`` alone makes a
    process that only collects communities, for scaling out."""
    wanted = set(queues or [q.value for q in QueueName])
    unknown = wanted - {q.value for q in QueueName}
    if unknown:
        raise ValidationError(
            f"unknown queue(s): {', '.join(sorted(unknown))}; use "
            + " or ".join(q.value for q in QueueName)
        )
    workers: list[BaseWorker] = []
    if QueueName.PROCESS_GROUPS.value in wanted:
        workers.append(GroupsParseWorker(settings, redis_url, db, vk, concurrency=concurrency))
    if QueueName.VK_COLLECT.value in wanted:
        workers.append(VkCollectWorker(settings, redis_url, db, vk, concurrency=concurrency))
        wanted.add(QueueName.VK_COLLECT_GROUP.value)
    if QueueName.VK_COLLECT_GROUP.value in wanted:
        workers.append(VkCollectGroupWorker(settings, redis_url, db, vk, concurrency=concurrency))
    return workers


@dataclass
class Runtime:
    """The services one process uses; ``close()`` releases them in reverse order.

    ``db`` is migrated by ``start()``.  With ``with_workers`` the runtime owns a VK
    client and the workers of ``queues``, started by ``start()`` unless
    ``start(start_workers=False)``, and with them the reconciliation loop
    (:mod:`vk_collector.reconcile`), which re-enqueues tasks whose jobs Redis lost.
    """

    settings: Settings
    redis_url: str
    db: Database
    tasks: TaskService
    queue: QueueService
    pipelines: Pipelines
    vk: VkClient | None = None
    vk_redis: aioredis.Redis | None = None
    reconcile: ReconcileLoop | None = None

    @classmethod
    def create(
        cls,
        settings: Settings,
        redis_url: str,
        *,
        with_workers: bool = False,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
    ) -> Runtime:
        db = Database.from_settings(settings)
        tasks = TaskService(db)
        vk: VkClient | None = None
        vk_redis: aioredis.Redis | None = None
        workers: list[BaseWorker] = []
        if with_workers:
            vk_redis = redis_client(redis_url, connect_timeout_s=settings.redis.connect_timeout_s)
            vk = VkClient(
                settings.vk, redis=vk_redis, key_prefix=vk_key_prefix(settings.queues.prefix)
            )
            workers = build_workers(
                settings, redis_url, db, vk, queues=queues, concurrency=concurrency
            )
        queue = QueueService(settings, redis_url, workers=workers)
        reconcile = ReconcileLoop(settings, db, queue) if with_workers else None
        pipelines = Pipelines(db, tasks, queue)
        return cls(settings, redis_url, db, tasks, queue, pipelines, vk, vk_redis, reconcile)

    async def start(self, *, start_workers: bool = True, listen_events: bool = True) -> None:
        await migrate(self.db.url)
        await self.queue.initialize(start_workers=start_workers, listen_events=listen_events)
        if start_workers and self.reconcile is not None:
            await self.reconcile.start()

    async def close(self) -> None:
        try:
            if self.reconcile is not None:
                await self.reconcile.stop()
            await self.queue.cleanup()
        finally:
            if self.vk is not None:
                await self.vk.aclose()
            if self.vk_redis is not None:
                await self.vk_redis.aclose()
            await self.db.dispose()

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
