"""Health check, cross-process workers, graceful stop and a clean cleanup."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from vk_collector.embedded import EmbeddedValkey, free_port
from vk_collector.queue.config import QueueName
from vk_collector.queue.service import QueueService
from vk_collector.settings import QueuesSettings, RedisSettings, Settings

from support.polling import eventually
from support.queues import ScriptedWorker, groups_job

PG = QueueName.PROCESS_GROUPS.value
TESTS_DIR = Path(__file__).resolve().parents[2]


async def test_health_follows_redis_down_and_back(tmp_path: Path, queue_prefix: str) -> None:
    port = free_port()
    server = EmbeddedValkey(tmp_path, port=port, persistence=False, publish=False)
    url = server.start()
    settings = Settings(
        data_dir=tmp_path,
        redis=RedisSettings(url=url, connect_timeout_s=0.5),
        queues=QueuesSettings(
            prefix=queue_prefix,
            health_timeout_s=1.0,
            heartbeat_interval_s=0.2,
            shutdown_timeout_s=2,
        ),
    )
    worker = ScriptedWorker(settings, url)
    # one queue, served by the one worker: healthy while Redis answers
    service = QueueService(settings, url, workers=[worker], configs=[worker.config])
    await service.initialize()
    try:
        healthy = await service.health_check()
        assert healthy.status == "healthy", healthy.details["problems"]
        assert healthy.details["redis"]["connected"] is True
        assert len(healthy.details["workers"]) == 1

        server.stop()
        started = time.monotonic()
        down = await service.health_check()
        elapsed = time.monotonic() - started

        assert down.status == "unhealthy"
        assert down.details["redis"]["connected"] is False
        assert elapsed < 2.0

        server.start()

        async def is_healthy() -> bool:
            return (await service.health_check()).healthy

        await eventually(is_healthy, within=15)
    finally:
        await service.cleanup()
        server.stop()


async def test_backlog_over_the_threshold_is_reported(settings: Settings, redis_url: str) -> None:
    settings = settings.model_copy(
        update={"queues": settings.queues.model_copy(update={"backlog_threshold": 2})}
    )
    async with QueueService(settings, redis_url) as service:
        for task_id in (1, 2):
            await service.add_process_groups_job(groups_job("x"), task_id)
        result = await service.health_check()
    assert result.status == "unhealthy"  # no worker takes them
    assert result.details["queues"]["overThreshold"] == [PG]
    backlog = [r for r in result.reasons if r.check == "backlog"]
    assert [(r.status, r.message) for r in backlog] == [
        ("degraded", f"{PG}: 2 waiting jobs, threshold 2")
    ]


WORKER_SCRIPT = """
import asyncio, sys
from support.queues import ScriptedWorker
from vk_collector.log import configure
from vk_collector.settings import QueuesSettings, RedisSettings, Settings

async def main() -> None:
    configure("WARNING")
    settings = Settings(redis=RedisSettings(url=sys.argv[1]),
                        queues=QueuesSettings(prefix=sys.argv[2], heartbeat_interval_s=0.2,
                                              shutdown_timeout_s=2))
    worker = ScriptedWorker(settings, sys.argv[1])
    await worker.start()
    print("ready", worker.worker_id, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await worker.stop()

asyncio.run(main())
"""


async def test_a_worker_in_another_process_shows_up_in_health(
    settings: Settings, redis_url: str, queue_prefix: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    child = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, redis_url, queue_prefix],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 20)
        assert line.startswith("ready"), line
        remote_id = line.split()[1]
        async with QueueService(settings, redis_url) as service:
            result = await service.health_check()
            remote = [w for w in result.details["workers"] if not w["local"]]
            assert [w["details"]["workerId"] for w in remote] == [remote_id]
            assert remote[0]["status"] == "healthy"
            stats = await service.get_queue_stats(PG)
            assert stats["workers"] == 1

            assert child.stdin is not None
            child.stdin.close()
            await asyncio.to_thread(child.wait, 20)

            after = await service.health_check()
            assert [w for w in after.details["workers"] if not w["local"]] == []
    finally:
        if child.poll() is None:
            child.kill()


async def test_cleanup_leaves_no_connections_and_no_tasks(
    settings: Settings, redis_url: str, redis_client: aioredis.Redis
) -> None:
    async def connected() -> int:
        return len(await redis_client.client_list())

    before = await connected()
    tasks_before = asyncio.all_tasks()
    service = QueueService(settings, redis_url, workers=[ScriptedWorker(settings, redis_url)])
    await service.initialize()
    await service.add_process_groups_job(groups_job("progress:50"), 1)
    assert await connected() > before

    await service.cleanup()

    await eventually(lambda: _equals(connected(), before), within=5)
    leftover = {t for t in asyncio.all_tasks() - tasks_before if not t.done()}
    assert leftover == set()
    assert not service.is_ready()


async def _equals(value: object, expected: int) -> bool:
    assert asyncio.iscoroutine(value)
    return await value == expected


async def test_stop_hands_back_a_job_that_does_not_finish_in_time(
    settings: Settings, redis_url: str
) -> None:
    fast = settings.model_copy(
        update={"queues": settings.queues.model_copy(update={"shutdown_timeout_s": 0.3})}
    )
    first = ScriptedWorker(fast, redis_url)
    service = QueueService(fast, redis_url, workers=[first])
    await service.initialize()
    try:
        job = await service.add_process_groups_job(groups_job("block"), 9)
        await asyncio.wait_for(first.started.wait(), 10)

        await first.stop()

        stored = await service.get_job(job.id)
        assert stored is not None
        assert await service.get_job_state(stored) in {"delayed", "waiting"}
        second = ScriptedWorker(fast, redis_url)
        second.release.set()
        await second.start()
        try:
            await eventually(lambda: _state(service, job.id, "completed"))
        finally:
            await second.stop()
        assert second.processed == [job.id]
    finally:
        await service.cleanup()


async def _state(service: QueueService, job_id: str, state: str) -> bool:
    job = await service.get_job(job_id)
    return job is not None and await service.get_job_state(job) == state


EMBEDDED_PARENT = """
import sys, time
from pathlib import Path
from vk_collector.embedded import EmbeddedValkey
from vk_collector.log import configure
configure("WARNING")
server = EmbeddedValkey(Path(sys.argv[1]), persistence=False)
server.start()
print(server.pid, flush=True)
time.sleep(600)
"""


def test_the_embedded_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", EMBEDDED_PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    os.kill(server_pid, 0)  # running

    parent.send_signal(signal.SIGKILL)
    parent.wait(10)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"valkey-server {server_pid} outlived its parent")


def test_a_second_process_shares_the_embedded_server(tmp_path: Path) -> None:
    from vk_collector.bootstrap import redis_endpoint
    from vk_collector.embedded import find_running
    from vk_collector.settings import Settings as AppSettings

    with EmbeddedValkey(tmp_path, persistence=False) as owner:
        shared = find_running(tmp_path)
        assert shared is not None
        assert (shared.url, shared.pid) == (owner.url, owner.pid)
        with redis_endpoint(AppSettings(data_dir=tmp_path)) as url:
            assert url == owner.url
    assert find_running(tmp_path) is None  # the state file goes with the server
