"""A worker of the test suite: processes ``process-groups`` jobs by the instructions in
their identifiers, so tests can drive progress, failures and long-running jobs."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from bullmq import Job

from vk_collector.errors import ErrorSeverity, WorkerError
from vk_collector.queue.config import QueueName, queue_configs
from vk_collector.settings import Settings
from vk_collector.workers.base import QueueWorker


class ScriptedWorker(QueueWorker):
    """Identifiers are instructions: ``progress:N``, ``fail:permanent``,
    ``fail:transient``, ``block`` (waits until ``release`` is set), anything else: echo."""

    queue: ClassVar[QueueName] = QueueName.PROCESS_GROUPS

    def __init__(self, settings: Settings, redis_url: str, concurrency: int | None = None) -> None:
        super().__init__(
            settings,
            redis_url,
            queue_configs(settings.queues)[QueueName.PROCESS_GROUPS],
            concurrency=concurrency,
        )
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.processed: list[str] = []

    async def process(self, job: Job, token: str) -> dict[str, Any]:
        self.started.set()
        steps: list[str] = job.data["metadata"]["groupIdentifiers"]
        for step in steps:
            if step.startswith("progress:"):
                await job.updateProgress(
                    {"percentage": int(step.split(":")[1]), "stage": "fetching"}
                )
            elif step == "fail:permanent":
                raise WorkerError("permanent failure", severity=ErrorSeverity.PERMANENT)
            elif step == "fail:transient":
                raise WorkerError("transient failure", severity=ErrorSeverity.TRANSIENT)
            elif step == "block":
                await self.release.wait()
        self.processed.append(str(job.id))
        return {"success": True, "taskId": job.data["taskId"], "steps": steps}


def groups_job(*steps: str) -> dict[str, Any]:
    return {"metadata": {"groupIdentifiers": list(steps), "source": "manual"}}
