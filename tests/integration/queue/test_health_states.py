"""The three health states against real worker processes, started and killed.

Heartbeats are shortened so a killed worker turns stale within a second and its key
expires a few seconds later (interval 0.2 s, stale after 1 s, TTL 3 s).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from vk_collector.queue.config import QueueName
from vk_collector.queue.health import HealthCheckResult
from vk_collector.queue.service import QueueService
from vk_collector.settings import Settings
from vk_emulator import EmulatorServer

from support.polling import eventually
from support.queues import ScriptedWorker, groups_job

VK = QueueName.VK_COLLECT.value
PG = QueueName.PROCESS_GROUPS.value
VKG = QueueName.VK_COLLECT_GROUP.value
TESTS_DIR = Path(__file__).resolve().parents[2]
HEARTBEAT = {"heartbeat_interval_s": 0.2, "heartbeat_stale_s": 1.0, "heartbeat_ttl_s": 3.0}


def fast(settings: Settings, **queues: Any) -> Settings:
    return settings.model_copy(
        update={"queues": settings.queues.model_copy(update={**HEARTBEAT, **queues})}
    )


@pytest.fixture
async def service(settings: Settings, redis_url: str) -> AsyncIterator[QueueService]:
    queue = QueueService(fast(settings), redis_url)
    await queue.initialize(listen_events=False)
    yield queue
    await queue.cleanup()


class WorkerProcess:
    """``vk-collector worker`` (both queues) in a child process, its output in a file."""

    def __init__(self, settings: Settings, emulator: EmulatorServer, log: Path) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("VKC_", "VK_"))},
            "REDIS_URL": str(settings.redis.url),
            "DATABASE_URL": settings.database_url,
            "VK_API_URL": emulator.url,
            "VK_TOKENS": "demo-user-token",
            "VKC_DATA_DIR": str(settings.data_dir),
            "VKC_QUEUE_PREFIX": settings.queues.prefix,
            "VKC_QUEUE_SHUTDOWN_TIMEOUT_S": "5",
            "VKC_QUEUE_HEARTBEAT_INTERVAL_S": str(HEARTBEAT["heartbeat_interval_s"]),
            "VKC_QUEUE_HEARTBEAT_STALE_S": str(HEARTBEAT["heartbeat_stale_s"]),
            "VKC_QUEUE_HEARTBEAT_TTL_S": str(HEARTBEAT["heartbeat_ttl_s"]),
        }
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vk_collector.cli", "worker"],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self) -> None:
        def started() -> bool:
            assert self.process.poll() is None, self.output()
            return "worker ready" in self.output()

        await eventually(started, within=30, every=0.05)

    def signal(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        return self.process.wait(20)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._out.close()


def remote(result: HealthCheckResult) -> list[dict[str, Any]]:
    return [w for w in result.details["workers"] if not w["local"]]


def messages(result: HealthCheckResult) -> list[str]:
    return [r.message for r in result.reasons]


async def test_a_killed_worker_goes_stale_then_away_and_its_queue_turns_unhealthy(
    service: QueueService, settings: Settings, emulator: EmulatorServer, tmp_path: Path
) -> None:
    first = WorkerProcess(settings, emulator, tmp_path / "worker-1.log")
    second: WorkerProcess | None = None
    try:
        await first.ready()

        # healthy: a live worker on each queue, nothing waits
        async def healthy() -> bool:
            return (await service.health_check()).status == "healthy"

        await eventually(healthy, within=10)
        result = await service.health_check()
        assert sorted(w["details"]["queueName"] for w in remote(result)) == [PG, VK, VKG]
        assert {w["details"]["pid"] for w in remote(result)} == {first.process.pid}

        # SIGKILL: the heartbeats stop, the workers stay listed as stale
        assert first.signal(signal.SIGKILL) == -signal.SIGKILL
        killed_at = time.monotonic()

        async def stale() -> bool:
            found = remote(await service.health_check())
            return len(found) == 3 and all(w["status"] == "stale" for w in found)

        await eventually(stale, within=5)
        result = await service.health_check()
        assert result.status == "degraded"
        assert f"{VK}: 1 worker stopped sending heartbeats" in messages(result)
        assert f"{VK}: no live worker" in messages(result)
        for worker in remote(result):
            assert worker["details"]["pid"] == first.process.pid
            assert worker["details"]["host"]
            assert worker["lastSeen"].endswith("Z")
            assert worker["heartbeatAgeS"] > HEARTBEAT["heartbeat_stale_s"]
        stats = await service.get_queue_stats(VK)
        assert [(d["pid"], d["stale"]) for d in stats["workerDetails"]] == [
            (first.process.pid, True)
        ]

        # a collection job is added with its 2 s delay: not due, so not yet unhealthy
        added_at = time.monotonic()
        await service.add_vk_collect_job({}, 1)
        early = await service.health_check()
        assert early.status == "degraded", messages(early)
        assert early.details["queues"]["processing"][VK]["dueDelayed"] == 0

        async def unhealthy() -> bool:
            return (await service.health_check()).status == "unhealthy"

        await eventually(unhealthy, within=10)
        assert time.monotonic() - added_at >= 1.95
        result = await service.health_check()
        assert f"{VK}: 1 job waits and no worker takes them" in messages(result)
        assert [r.check for r in result.reasons if r.status == "unhealthy"] == ["processing"]

        # the heartbeat keys expire after their TTL: the stale workers leave the list
        await eventually(lambda: _no_remote(service), within=10)
        assert time.monotonic() - killed_at >= HEARTBEAT["heartbeat_ttl_s"] - 0.5

        # a new worker process takes the job (it fails: no such task) and all is well
        second = WorkerProcess(settings, emulator, tmp_path / "worker-2.log")
        await second.ready()

        async def job_taken() -> bool:
            counts = (await service.get_job_counts_by_queue())["queues"][VK]
            return counts["delayed"] + counts["waiting"] + counts["active"] == 0

        # health turns green as soon as a live worker is there, before it takes the job
        await eventually(job_taken, within=15)
        await eventually(healthy, within=15)

        # SIGTERM: the worker removes its heartbeat, no stale entry, no live worker
        assert second.signal(signal.SIGTERM) == 0
        result = await service.health_check()
        assert remote(result) == []
        assert result.status == "degraded"
        assert messages(result) == [
            f"{VK}: no live worker",
            f"{PG}: no live worker",
            f"{VKG}: no live worker",
        ]
    finally:
        first.close()
        if second is not None:
            second.close()


async def _no_remote(service: QueueService) -> bool:
    return remote(await service.health_check()) == []


class StuckWorker(ScriptedWorker):
    """Alive, heartbeat fresh, not paused by its own account, and takes no job: the
    bullmq worker underneath stopped fetching (as after a lost blocking read)."""

    async def stop_taking_jobs(self) -> None:
        assert self._worker is not None
        await self._worker.pause(do_not_wait_active=True)

    def take_jobs_again(self) -> None:
        assert self._worker is not None
        self._worker.resume()


async def test_a_live_worker_that_takes_nothing_while_jobs_wait_is_unhealthy(
    settings: Settings, redis_url: str
) -> None:
    stuck_settings = fast(settings, health_stuck_after_s=1.0)
    worker = StuckWorker(stuck_settings, redis_url)
    async with QueueService(stuck_settings, redis_url, workers=[worker]) as service:
        await worker.stop_taking_jobs()
        await service.add_process_groups_job(groups_job("x"), 1)
        first = await service.health_check()
        assert not any(r.status == "unhealthy" for r in first.reasons), messages(first)
        assert [w["status"] for w in first.details["workers"]] == ["healthy"]

        async def unhealthy() -> bool:
            return (await service.health_check()).status == "unhealthy"

        await eventually(unhealthy, within=10)
        result = await service.health_check()
        stuck = [m for m in messages(result) if m.startswith(f"{PG}: 1 job waits for")]
        assert len(stuck) == 1, messages(result)
        assert stuck[0].endswith("s and none of 1 live worker takes them")
        assert [r.check for r in result.reasons if r.status == "unhealthy"] == ["processing"]

        worker.take_jobs_again()
        await eventually(lambda: _processed(worker, 1), within=10)
        after = await service.health_check()
        assert after.status == "degraded"
        assert messages(after) == [f"{VK}: no live worker", f"{VKG}: no live worker"]


def _processed(worker: ScriptedWorker, n: int) -> bool:
    return len(worker.processed) == n


BLOCKING_WORKER = """
import asyncio, sys
from support.queues import ScriptedWorker
from vk_collector.log import configure
from vk_collector.queue.config import QueueName
from vk_collector.settings import QueuesSettings, RedisSettings, Settings

async def main() -> None:
    configure("WARNING")
    queues = QueuesSettings(prefix=sys.argv[2], heartbeat_interval_s=0.2,
                            heartbeat_stale_s=1.0, heartbeat_ttl_s=3.0)
    queues.process_groups.lock_duration_ms = 1000
    queues.process_groups.stalled_interval_ms = 1000
    worker = ScriptedWorker(Settings(redis=RedisSettings(url=sys.argv[1]), queues=queues),
                            sys.argv[1])
    await worker.start()
    await worker.started.wait()
    print("running", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_stalled_jobs_and_failures_make_it_degraded(
    settings: Settings, redis_url: str, queue_prefix: str
) -> None:
    quick_stall = settings.queues.process_groups.model_copy(
        update={"lock_duration_ms": 1000, "stalled_interval_ms": 1000, "max_stalled_count": 5}
    )
    tuned = fast(
        settings,
        health_failure_min_jobs=2,
        health_failure_rate_max=0.5,
        process_groups=quick_stall,
    )
    child = subprocess.Popen(
        [sys.executable, "-c", BLOCKING_WORKER, redis_url, queue_prefix],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(TESTS_DIR)},
        text=True,
    )
    try:
        async with QueueService(tuned, redis_url) as producer:
            job = await producer.add_process_groups_job(groups_job("block"), 1)
            assert child.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 30)
            assert line.strip() == "running"
            child.send_signal(signal.SIGKILL)
            child.wait(10)

        # a worker in this process finds the killed worker's job stalled, runs it, and
        # fails two more
        worker = ScriptedWorker(tuned, redis_url)
        worker.release.set()
        async with QueueService(tuned, redis_url, workers=[worker]) as service:
            await eventually(lambda: _processed(worker, 1), within=15)
            assert worker.processed == [job.id]
            for task_id in (2, 3):
                await service.add_process_groups_job(groups_job("fail:permanent"), task_id)

            async def failures_reported() -> bool:
                found = messages(await service.health_check())
                return f"{PG}: 2 of 3 jobs failed in the last 5 min" in found

            await eventually(failures_reported, within=10)
            result = await service.health_check()
            assert f"{PG}: 1 job stalled in the last 5 min" in messages(result)
            assert result.status == "degraded"
            activity = result.details["activity"]["queues"][PG]
            assert (activity["stalled"], activity["completed"], activity["failed"]) == (1, 1, 2)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


async def test_a_paused_queue_holding_jobs_is_degraded_until_resumed(
    service: QueueService,
) -> None:
    await service.pause_queue(PG)
    await service.add_process_groups_job(groups_job("x"), 1)
    paused = await service.health_check()
    assert paused.status == "degraded"
    assert f"{PG}: the queue is paused with 1 job" in messages(paused)

    await service.resume_queue(PG)
    resumed = await service.health_check()
    assert resumed.status == "unhealthy"
    assert f"{PG}: 1 job waits and no worker takes them" in messages(resumed)
