"""A process with several workers stops within one shutdown timeout, not one per worker."""

from __future__ import annotations

import asyncio
import time

from vk_collector.queue.service import QueueService
from vk_collector.settings import Settings

from support.queues import ScriptedWorker, groups_job


async def test_workers_stop_together_and_hand_back_their_jobs(
    settings: Settings, redis_url: str
) -> None:
    timeout_s = 1.0
    fast = settings.model_copy(
        update={"queues": settings.queues.model_copy(update={"shutdown_timeout_s": timeout_s})}
    )
    workers = [ScriptedWorker(fast, redis_url, concurrency=1) for _ in range(3)]
    service = QueueService(fast, redis_url, workers=workers)
    await service.initialize()
    jobs = [await service.add_process_groups_job(groups_job("block"), n) for n in (1, 2, 3)]
    await asyncio.wait_for(asyncio.gather(*(w.started.wait() for w in workers)), 10)

    started = time.monotonic()
    await service.cleanup()
    elapsed = time.monotonic() - started

    assert timeout_s <= elapsed < 2 * timeout_s, elapsed  # one at a time took 3 s
    probe = QueueService(fast, redis_url)
    await probe.initialize(start_workers=False, listen_events=False)
    try:
        for job in jobs:
            stored = await probe.get_job(str(job.id))
            assert stored is not None
            assert await probe.get_job_state(stored) in {"delayed", "waiting"}  # handed back
    finally:
        await probe.cleanup()
