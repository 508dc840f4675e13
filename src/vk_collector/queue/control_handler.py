"""Queue and worker control (the seed's QueueControlHandler).

Pausing a *queue* is global (every worker in every process stops taking its jobs;
the flag lives in Redis).  Pausing *workers* is local to this process: its workers
finish what they run and take nothing new, while workers elsewhere carry on.
"""

from __future__ import annotations

import structlog
from bullmq import Queue, QueueEvents

from vk_collector.errors import ErrorCode, QueueError
from vk_collector.queue.init_handler import QueueResources

__all__ = ["QueueControlHandler"]

log = structlog.get_logger(__name__)


class QueueControlHandler:
    def __init__(self, resources: QueueResources) -> None:
        self._resources = resources

    def _select(self, queue_name: str | None) -> list[tuple[str, Queue]]:
        queues = self._resources.queues
        if queue_name is None:
            return list(queues.items())
        return [(queue_name, self._resources.queue(queue_name))]

    async def pause_queue(self, queue_name: str | None = None) -> list[str]:
        """Pause one queue, or all when ``queue_name`` is None; returns the names paused."""
        selected = self._select(queue_name)
        for name, queue in selected:
            await queue.pause()
            log.info("queue.paused", queue=name)
        return [name for name, _ in selected]

    async def resume_queue(self, queue_name: str | None = None) -> list[str]:
        selected = self._select(queue_name)
        for name, queue in selected:
            await queue.resume()
            log.info("queue.resumed", queue=name)
        return [name for name, _ in selected]

    async def pause_workers(self) -> int:
        """Pause this process's workers; returns how many."""
        workers = list(self._resources.workers.values())
        for worker in workers:
            await worker.pause()
        return len(workers)

    async def resume_workers(self) -> int:
        workers = list(self._resources.workers.values())
        for worker in workers:
            await worker.resume()
        return len(workers)

    def get_queue_events(self, queue_name: str) -> QueueEvents:
        events = self._resources.queue_events.get(queue_name)
        if events is not None:
            return events
        if queue_name in self._resources.queues:
            raise QueueError(
                "this process does not listen to queue events (initialized with "
                "listen_events=False)",
                ErrorCode.NOT_INITIALIZED,
            )
        raise self._resources.queue_not_found(queue_name)
