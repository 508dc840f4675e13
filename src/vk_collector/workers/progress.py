"""Progress of one job, sent to BullMQ (for QueueEvents and the original system) and
mirrored into the task row (so the API and CLI can show it without Redis).

Reports are throttled to one per ``min_interval_s`` unless ``force`` is given, so a
big community does not write the task row hundreds of times a second.
"""

from __future__ import annotations

import time

import structlog
from bullmq import Job

from vk_collector.queue.jobs import WireModel
from vk_collector.tasks import TaskService

__all__ = ["ProgressReporter"]

log = structlog.get_logger(__name__)


class ProgressReporter:
    def __init__(
        self, job: Job, tasks: TaskService, task_id: int, min_interval_s: float = 1.0
    ) -> None:
        self._job = job
        self._tasks = tasks
        self.task_id = task_id
        self._min_interval_s = min_interval_s
        self._last = 0.0

    def due(self) -> bool:
        """Whether an unforced report would be sent now (the interval has passed)."""
        return time.monotonic() - self._last >= self._min_interval_s

    async def report(self, progress: WireModel, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._min_interval_s:
            return
        self._last = now
        wire = progress.to_wire()
        await self._job.updateProgress(wire)
        await self._tasks.update_progress(
            self.task_id,
            wire["percentage"],
            stage=wire.get("stage"),
            stats=wire.get("stats"),
            current_group=wire.get("currentGroup"),
        )
