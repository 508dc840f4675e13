"""Closing the queue service never hangs, and QueueEvents loses no event.

The hang these tests guard against was a cancellation lost inside redis-py on Python
3.11 (see ``vk_collector.cancellation``): ``cleanup()`` then waited out a blocking
``XREAD`` (10 s) or ``BZPOPMIN``.  It struck in about one run in five, so each test
repeats the whole cycle many times.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis

from vk_collector.queue.config import QueueName
from vk_collector.queue.event_stream import QueueEventStream
from vk_collector.queue.service import QueueService
from vk_collector.settings import Settings

from support.polling import eventually
from support.queues import ScriptedWorker, groups_job

PG = QueueName.PROCESS_GROUPS.value
VK_COLLECT_DATA: dict[str, Any] = {"type": "fetch_comments", "metadata": {"options": {}}}
CYCLES = 100
CLEANUP_LIMIT_S = 1.0


async def test_initialize_add_cleanup_never_hangs(settings: Settings, redis_url: str) -> None:
    slowest = 0.0
    for task_id in range(1, CYCLES + 1):
        service = QueueService(settings, redis_url)
        await service.initialize(start_workers=False)
        await service.add_vk_collect_job(VK_COLLECT_DATA, task_id)
        started = time.monotonic()
        await service.cleanup()
        slowest = max(slowest, time.monotonic() - started)
        assert slowest < CLEANUP_LIMIT_S, f"cleanup of cycle {task_id} took {slowest:.2f}s"


async def test_cleanup_with_a_worker_running_a_job_never_hangs(
    settings: Settings, redis_url: str
) -> None:
    slowest = 0.0
    for task_id in range(1, CYCLES + 1):
        worker = ScriptedWorker(settings, redis_url)
        service = QueueService(settings, redis_url, workers=[worker])
        await service.initialize()
        await service.add_process_groups_job(groups_job("block"), task_id)
        await asyncio.wait_for(worker.started.wait(), 10)
        # the job finishes while cleanup is draining the worker
        asyncio.get_running_loop().call_soon(worker.release.set)
        started = time.monotonic()
        await service.cleanup()
        slowest = max(slowest, time.monotonic() - started)
        assert worker.processed == [f"{PG}-{task_id}"]
        assert slowest < CLEANUP_LIMIT_S, f"cleanup of cycle {task_id} took {slowest:.2f}s"


async def test_cleanup_right_after_workers_start_never_hangs(
    settings: Settings, redis_url: str
) -> None:
    # A worker whose run loop is still naming its connections when close() shuts them
    # sat in redis-py's reconnect backoff for two seconds.
    for task_id in range(1, CYCLES // 2 + 1):
        service = QueueService(settings, redis_url, workers=[ScriptedWorker(settings, redis_url)])
        await service.initialize()
        started = time.monotonic()
        await service.cleanup()
        elapsed = time.monotonic() - started
        assert elapsed < CLEANUP_LIMIT_S, f"cleanup of cycle {task_id} took {elapsed:.2f}s"


async def test_events_of_a_job_added_right_after_initialize_arrive(
    settings: Settings, redis_url: str
) -> None:
    # QueueEvents read from "$": entries added before its first XREAD reached Redis were
    # lost.  A worker in another service processes the job at once.
    worker = ScriptedWorker(settings, redis_url)
    async with QueueService(settings, redis_url, workers=[worker]):
        for attempt in range(20):
            await _job_events_arrive(settings, redis_url, task_id=1000 + attempt)


async def _job_events_arrive(settings: Settings, redis_url: str, task_id: int) -> None:
    listener = QueueService(settings, redis_url)
    await listener.initialize(start_workers=False)
    completed: list[str] = []
    listener.get_queue_events(PG).on("completed", lambda args, *_: completed.append(args["jobId"]))
    try:
        job = await listener.add_process_groups_job(groups_job("x"), task_id)
        await eventually(lambda: completed == [job.id], within=5)
    finally:
        await listener.cleanup()


async def test_no_completed_event_is_lost_across_an_events_restart(
    settings: Settings, redis_url: str, redis_client: aioredis.Redis
) -> None:
    jobs = 200
    async with QueueService(settings, redis_url) as service:
        events = service.get_queue_events(PG)
        assert isinstance(events, QueueEventStream)
        completed: set[str] = set()
        errors: list[BaseException] = []
        events.on("completed", lambda args, *_: completed.add(args["jobId"]))
        events.on("error", lambda err, *_: errors.append(err))
        await service.add_jobs(PG, [(groups_job("x"), n) for n in range(1, jobs // 2 + 1)])

        worker = ScriptedWorker(settings, redis_url, concurrency=10)
        await worker.start()
        try:
            await eventually(lambda: len(completed) == jobs // 2, within=20)
            # Break the consumer: the events key turns into a string, XREAD fails with
            # WRONGTYPE and run() ends; the supervisor restarts it with backoff.
            key = f"{settings.queues.prefix}:{PG}:events"
            await redis_client.rename(key, f"{key}:aside")
            await redis_client.set(key, "not a stream")
            await eventually(lambda: bool(errors), within=15)
            await worker.pause()
            await redis_client.delete(key)
            await redis_client.rename(f"{key}:aside", key)
            # The rest complete while the consumer waits to restart; a consumer that
            # restarted from "$" never saw them.
            await service.add_jobs(
                PG, [(groups_job("x"), n) for n in range(jobs // 2 + 1, jobs + 1)]
            )
            await worker.resume()
            await eventually(lambda: len(worker.processed) == jobs, within=30)
            await eventually(lambda: len(completed) == jobs, within=15)
        finally:
            await worker.stop()
    assert completed == {f"{PG}-{n}" for n in range(1, jobs + 1)}
