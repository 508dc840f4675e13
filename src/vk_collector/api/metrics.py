"""``GET /metrics`` (Prometheus text format) and the QueueEvents listeners feeding it.

Job and task gauges are read when Prometheus scrapes; completed/failed counters and
the duration histogram come from QueueEvents, so they count what happened while this
API process was up, in any worker process.  A job's duration runs from its ``active``
event to its ``completed``/``failed`` event as seen here (no extra Redis reads); jobs
that were already running when the process started are counted but not timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog
from fastapi import APIRouter, Response

from vk_collector.api.deps import DbDep, MetricsDep, QueueDep, SettingsDep
from vk_collector.errors import VkCollectorError
from vk_collector.metrics import Metrics
from vk_collector.queue.config import QueueName
from vk_collector.queue.service import QueueService
from vk_collector.storage import TaskStatus

__all__ = ["QueueEventMetrics", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(tags=["metrics"])

_MAX_TRACKED = 10_000
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class QueueEventMetrics:
    """Registers listeners on every queue's QueueEvents; :meth:`close` removes them."""

    def __init__(self, metrics: Metrics, queue: QueueService) -> None:
        self._metrics = metrics
        self._queue = queue
        self._started: OrderedDict[str, float] = OrderedDict()
        self._handlers: list[tuple[Any, str, Callable[..., None]]] = []

    def open(self) -> None:
        for name in QueueName:
            try:
                events = self._queue.get_queue_events(name.value)
            except VkCollectorError as exc:  # a runtime started without QueueEvents
                log.warning("metrics.no_queue_events", queue=name.value, error=exc.message)
                continue
            for event, handler in (
                ("active", self._on_active),
                ("completed", self._finished(name.value, failed=False)),
                ("failed", self._finished(name.value, failed=True)),
            ):
                events.on(event, handler)
                self._handlers.append((events, event, handler))

    def close(self) -> None:
        for events, event, handler in self._handlers:
            with contextlib.suppress(ValueError):
                events.off(event, handler)
        self._handlers.clear()

    def _on_active(self, args: dict[str, Any], *_: Any) -> None:
        job_id = str(args.get("jobId", ""))
        self._started[job_id] = time.monotonic()
        while len(self._started) > _MAX_TRACKED:
            self._started.popitem(last=False)

    def _finished(self, queue: str, *, failed: bool) -> Callable[..., None]:
        def handle(args: dict[str, Any], *_: Any) -> None:
            counter = self._metrics.jobs_failed if failed else self._metrics.jobs_completed
            counter.labels(queue).inc()
            started = self._started.pop(str(args.get("jobId", "")), None)
            if started is not None:
                self._metrics.job_duration.labels(queue).observe(time.monotonic() - started)

        return handle


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
async def metrics(
    metrics: MetricsDep, queue: QueueDep, db: DbDep, settings: SettingsDep
) -> Response:
    """Always answers: each source (Redis, the database) is read within
    ``VKC_REDIS_COMMAND_TIMEOUT_S``, and ``vkc_scrape_source_up{source}`` says which
    could not be read this time."""
    within = settings.redis.command_timeout_s
    try:
        async with asyncio.timeout(within):
            counts = await queue.get_job_counts_by_queue()
        metrics.set_job_counts(counts["queues"])
        metrics.scrape_ok.labels("redis").set(1)
    except (VkCollectorError, TimeoutError) as exc:
        metrics.scrape_ok.labels("redis").set(0)
        log.warning("metrics.job_counts_failed", error=getattr(exc, "message", "timed out"))
    try:
        async with asyncio.timeout(within), db.unit_of_work(read_only=True) as uow:
            by_status = {
                status.value: (await uow.tasks.list(page=1, limit=1, status=status)).total
                for status in TaskStatus
            }
        metrics.set_task_counts(by_status)
        metrics.scrape_ok.labels("database").set(1)
    except Exception as exc:
        metrics.scrape_ok.labels("database").set(0)
        log.warning("metrics.task_counts_failed", error=str(exc) or type(exc).__name__)
    return Response(metrics.render(), media_type=_CONTENT_TYPE)
