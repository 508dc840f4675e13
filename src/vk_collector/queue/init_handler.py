"""Creates and tears down the queue service's resources (the seed's QueueInitHandler).

``initialize()`` builds one bullmq ``Queue`` and one ``QueueEvents`` per queue, logs
every queue event as a structured line, and starts the registered workers.
``cleanup()`` stops workers first (their jobs finish or are handed back), then the
QueueEvents consumers, then the queues and the service's own Redis client, and leaves
no connection or task behind.

Each queue's events are read by a :class:`~vk_collector.queue.event_stream.QueueEventStream`,
which restarts after Redis errors, resumes after the last entry it delivered, and
closes at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import structlog
from bullmq import Queue

from vk_collector.errors import ErrorCode, QueueError
from vk_collector.queue.config import QueueConfig, bullmq_connection, command_client
from vk_collector.queue.event_stream import QueueEventStream
from vk_collector.queue.worker_contract import BaseWorker
from vk_collector.redaction import redact_url, redact_value
from vk_collector.redis_clients import reconnect_promptly, redis_client
from vk_collector.settings import Settings

__all__ = ["QueueInitHandler", "QueueResources"]

log = structlog.get_logger(__name__)

_LOGGED_EVENTS = ("waiting", "active", "completed", "failed", "progress", "removed", "stalled")
_CLOSE_TIMEOUT_S = 10.0


@dataclass
class QueueResources:
    """Everything the other handlers work with; owned by :class:`QueueInitHandler`."""

    queues: dict[str, Queue] = field(default_factory=dict)
    queue_events: dict[str, QueueEventStream] = field(default_factory=dict)
    workers: dict[str, BaseWorker] = field(default_factory=dict)
    configs: dict[str, QueueConfig] = field(default_factory=dict)
    redis: aioredis.Redis | None = None

    def queue(self, name: str) -> Queue:
        """The queue called ``name``; ``QueueError`` (``QUEUE_NOT_FOUND``) when there is none."""
        queue = self.queues.get(name)
        if queue is None:
            raise self.queue_not_found(name)
        return queue

    def queue_not_found(self, name: str) -> QueueError:
        """The one "queue not found" error, naming the queues there are."""
        known = ", ".join(sorted(self.queues)) or "none"
        return QueueError(f"queue not found: {name!r} (known: {known})", ErrorCode.QUEUE_NOT_FOUND)


class QueueInitHandler:
    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        configs: Sequence[QueueConfig],
        workers: Sequence[BaseWorker] = (),
    ) -> None:
        self._settings = settings
        self._redis_url = redis_url
        self._configs = list(configs)
        self._pending_workers = list(workers)
        self._resources = QueueResources()
        self._initialized = False
        self._lock = asyncio.Lock()

    @property
    def resources(self) -> QueueResources:
        return self._resources

    def is_ready(self) -> bool:
        return self._initialized

    async def initialize(
        self, *, start_workers: bool = True, listen_events: bool = True
    ) -> QueueResources:
        """``listen_events=False`` skips the QueueEvents consumers: for processes that only
        add jobs or read state (CLI commands), which then cost no event traffic."""
        async with self._lock:
            if self._initialized:
                return self._resources
            try:
                await self._initialize_queues(listen_events)
                if start_workers:
                    await self._initialize_workers()
            except Exception as exc:
                await self._close_all()
                if isinstance(exc, QueueError):
                    raise
                raise QueueError(
                    f"queue initialization failed: {exc}", ErrorCode.INIT_FAILED, cause=exc
                ) from exc
            self._initialized = True
            log.info(
                "queue.initialized",
                queues=list(self._resources.queues),
                workers=len(self._resources.workers),
            )
            return self._resources

    async def _initialize_queues(self, listen_events: bool) -> None:
        connection = bullmq_connection(self._redis_url, self._settings.redis.connect_timeout_s)
        prefix = self._settings.queues.prefix
        resources = self._resources
        resources.redis = redis_client(
            self._redis_url,
            decode_responses=True,
            socket_timeout_s=self._settings.queues.health_timeout_s,
            connect_timeout_s=self._settings.redis.connect_timeout_s,
        )
        try:
            await asyncio.wait_for(resources.redis.ping(), self._settings.redis.connect_timeout_s)
        except Exception as exc:
            raise QueueError(
                f"Redis at {redact_url(self._redis_url)} does not answer: {exc}",
                ErrorCode.INIT_FAILED,
                cause=exc,
            ) from exc
        for config in self._configs:
            name = config.name.value
            resources.configs[name] = config
            resources.queues[name] = Queue(
                name,
                {
                    "connection": command_client(
                        self._redis_url,
                        self._settings.redis.connect_timeout_s,
                        self._settings.redis.command_timeout_s,
                    ),
                    "prefix": prefix,
                    "defaultJobOptions": config.job_options(),
                },
            )
            # the queue's own client already retries a stale connection once, at once
            if not listen_events:
                continue
            events = QueueEventStream(name, {"connection": connection, "prefix": prefix})
            reconnect_promptly(events.client)
            self._setup_event_logging(name, events)
            resources.queue_events[name] = events
            await events.start(resources.redis)
            log.info(
                "queue.created",
                queue=name,
                attempts=config.options.attempts,
                concurrency=config.options.concurrency,
            )

    async def _initialize_workers(self) -> None:
        for worker in self._pending_workers:
            try:
                await worker.start()
            except Exception as exc:
                raise QueueError(
                    f"worker for {worker.queue_name} did not start: {exc}",
                    ErrorCode.WORKERS_INIT_FAILED,
                    cause=exc,
                ) from exc
            self._resources.workers[worker.worker_id] = worker

    def _setup_event_logging(self, name: str, events: QueueEventStream) -> None:
        for event in _LOGGED_EVENTS:
            events.on(event, self._logger_for(name, event))
        events.on(
            "error", lambda err, *_: log.warning("queue.events_error", queue=name, error=str(err))
        )

    @staticmethod
    def _logger_for(queue: str, event: str) -> Any:
        level = {
            "failed": "warning",
            "stalled": "warning",
            "progress": "debug",
            "waiting": "debug",
            "removed": "debug",
        }.get(event, "info")

        def handler(args: dict[str, Any], *_: Any) -> None:
            fields = {k: v for k, v in redact_value(args).items() if k != "prev"}
            getattr(log, level)(f"job.{event}", queue=queue, **fields)

        return handler

    async def cleanup(self) -> None:
        """Stop workers (all at once), then QueueEvents, then queues.  Idempotent."""
        async with self._lock:
            errors = await self._close_all()
            self._initialized = False
            if errors:
                raise QueueError(
                    f"cleanup finished with {len(errors)} error(s): {errors[0]}",
                    ErrorCode.CLEANUP_FAILED,
                    cause=errors[0],
                )
            log.info("queue.cleaned_up")

    async def _close_all(self) -> list[BaseException]:
        resources = self._resources
        errors: list[BaseException] = []
        # at once: each may wait its shutdown timeout for active jobs, and a process must
        # be gone within one timeout (plus closing), not one per worker
        workers = list(resources.workers.values())
        stopped = await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
        for worker, outcome in zip(workers, stopped, strict=True):
            if isinstance(outcome, Exception):
                log.warning(
                    "queue.worker_stop_failed", worker_id=worker.worker_id, error=str(outcome)
                )
                errors.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        for name, events in resources.queue_events.items():
            try:
                await events.stop(_CLOSE_TIMEOUT_S)
            except Exception as exc:
                log.warning("queue.close_failed", step=f"events:{name}", error=str(exc))
                errors.append(exc)
        for name, queue in resources.queues.items():
            await self._bounded(f"queue:{name}", queue.close(), errors)
        if resources.redis is not None:
            await self._bounded("redis", resources.redis.aclose(), errors)
        self._resources = QueueResources()
        return errors

    @staticmethod
    async def _bounded(step: str, awaitable: Awaitable[Any], errors: list[BaseException]) -> None:
        """Close one resource, but never wait on it for more than ``_CLOSE_TIMEOUT_S``:
        redis-py retries a broken connection with backoff for minutes otherwise."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task}, timeout=_CLOSE_TIMEOUT_S)
        if not done:
            task.cancel()
            log.warning("queue.close_timeout", step=step, timeout_s=_CLOSE_TIMEOUT_S)
            errors.append(TimeoutError(f"closing {step} took longer than {_CLOSE_TIMEOUT_S}s"))
        elif not task.cancelled() and task.exception() is not None:
            errors.append(task.exception())  # type: ignore[arg-type]
