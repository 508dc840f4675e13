"""Reconciliation decisions, one per state a task's job can be in (real Valkey, SQLite).

The whole story (a Redis restarted empty mid-collection) is in
``tests/chaos/test_redis_restarted_empty.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from bullmq import Job, Worker

from vk_collector.bootstrap import Runtime
from vk_collector.metrics import Metrics, install, uninstall
from vk_collector.pipelines import CollectRequest
from vk_collector.queue.config import bullmq_connection
from vk_collector.queue.jobs import VkCollectJobData
from vk_collector.reconcile import MAX_REQUEUES, STALLED_REASON, Reconciler
from vk_collector.settings import Settings
from vk_collector.storage import GroupData, TaskRecord, TaskStatus, TaskType

from support.pipelines import running
from support.polling import eventually
from support.queues import ScriptedWorker, groups_job

VK = "vk-collect"


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime.create(settings, str(settings.redis.url))
    await runtime.start(start_workers=False, listen_events=False)
    yield runtime
    await runtime.close()


@pytest.fixture
def reconciler(runtime: Runtime, redis_client: aioredis.Redis) -> Reconciler:
    return Reconciler(runtime.settings, runtime.db, runtime.queue, redis_client)


async def collection_task(runtime: Runtime, **parameters: object) -> TaskRecord:
    return await runtime.tasks.create(
        TaskType.FETCH_COMMENTS,
        {"groups": [1, 2], "options": {"limit": 3, "includeReplies": False}, **parameters},
    )


async def test_a_collection_without_a_job_is_enqueued_again_once(
    runtime: Runtime, reconciler: Reconciler
) -> None:
    task = await collection_task(runtime)
    await runtime.tasks.start(task.id)
    metrics = Metrics()
    install(metrics)
    try:
        report = await reconciler.run_once(grace_s=0, force=True)
    finally:
        uninstall(metrics)
    assert 'vkc_reconcile_actions_total{action="requeued"} 1.0' in metrics.render().decode()

    assert [(a.task_id, a.action) for a in report.actions] == [(task.id, "requeued")]
    job = await runtime.queue.get_job(f"vk-collect-{task.id}")
    assert job is not None
    data = VkCollectJobData.model_validate(job.data)
    assert data.task_id == task.id
    assert data.metadata.options.limit == 3
    assert data.metadata.options.include_replies is False
    assert await runtime.queue.get_job_state(job) in ("waiting", "prioritized")
    assert (await runtime.tasks.get(task.id)).parameters["requeues"] == 1
    again = await reconciler.run_once(grace_s=0, force=True)  # the job exists now
    assert again.checked == 1
    assert again.actions == ()


async def test_a_task_inside_its_grace_period_is_left_alone(
    runtime: Runtime, reconciler: Reconciler
) -> None:
    task = await collection_task(runtime)
    report = await reconciler.run_once(grace_s=60, force=True)
    assert report.ran
    assert report.checked == 0
    assert report.actions == ()
    assert await runtime.queue.get_job(f"vk-collect-{task.id}") is None
    assert (await runtime.tasks.get(task.id)).status is TaskStatus.PENDING


async def test_a_task_whose_job_keeps_vanishing_is_failed(
    runtime: Runtime, reconciler: Reconciler
) -> None:
    task = await collection_task(runtime, requeues=MAX_REQUEUES)
    report = await reconciler.run_once(grace_s=0, force=True)
    assert [a.action for a in report.actions] == ["failed"]
    failed = await runtime.tasks.get(task.id)
    assert failed.status is TaskStatus.FAILED
    assert f"lost or stalled {MAX_REQUEUES} times" in (failed.error_message or "")
    assert await runtime.queue.get_job(f"vk-collect-{task.id}") is None


async def test_a_lost_upload_is_failed_with_what_to_do(
    runtime: Runtime, reconciler: Reconciler
) -> None:
    task = await runtime.tasks.create(TaskType.PROCESS_GROUPS, {"source": "file"})
    await reconciler.run_once(grace_s=0, force=True)
    failed = await runtime.tasks.get(task.id)
    assert failed.status is TaskStatus.FAILED
    assert "upload the file again" in (failed.error_message or "")


async def test_jobs_that_ended_settle_their_tasks(
    runtime: Runtime, reconciler: Reconciler, settings: Settings
) -> None:
    # The scripted worker ends jobs without touching the tasks: as if the real worker
    # had died between finishing the job and writing the task.
    failing = await runtime.tasks.create(TaskType.PROCESS_GROUPS)
    finishing = await runtime.tasks.create(TaskType.PROCESS_GROUPS)
    running = await runtime.tasks.create(TaskType.PROCESS_GROUPS)
    worker = ScriptedWorker(settings, str(settings.redis.url))
    await worker.start()
    try:
        await runtime.queue.add_process_groups_job(groups_job("fail:permanent"), failing.id)
        await runtime.queue.add_process_groups_job(groups_job("x"), finishing.id)
        await runtime.queue.add_process_groups_job(groups_job("block"), running.id)

        async def ended() -> bool:
            states = []
            for task in (failing, finishing):
                job = await runtime.queue.get_job(f"process-groups-{task.id}")
                assert job is not None
                states.append(await runtime.queue.get_job_state(job))
            return states == ["failed", "completed"] and worker.started.is_set()

        await eventually(ended)
        report = await reconciler.run_once(grace_s=0, force=True)
    finally:
        worker.release.set()
        await worker.stop()

    assert sorted((a.task_id, a.action) for a in report.actions) == [
        (failing.id, "failed"),
        (finishing.id, "completed"),
    ]
    failed = await runtime.tasks.get(failing.id)
    assert failed.status is TaskStatus.FAILED
    assert "permanent failure" in (failed.error_message or "")
    completed = await runtime.tasks.get(finishing.id)
    assert completed.status is TaskStatus.COMPLETED
    assert completed.result == {"success": True, "taskId": finishing.id, "steps": ["x"]}
    assert (await runtime.tasks.get(running.id)).status is TaskStatus.PENDING  # job active


async def test_a_collection_whose_job_stalled_too_often_gets_a_fresh_job(
    runtime: Runtime, reconciler: Reconciler, settings: Settings
) -> None:
    # BullMQ fails a job whose workers died (or lost its lock) maxStalledCount times,
    # with this reason; a worker failing it with the same reason stands in for that.
    task = await collection_task(runtime)
    data = {"taskId": task.id, "metadata": {}}
    await runtime.queue.add_vk_collect_job(data, task.id, {"attempts": 1, "delay": 0})

    async def stall(job: Job, token: str) -> None:
        raise RuntimeError(STALLED_REASON)

    worker = Worker(
        "vk-collect",
        stall,
        {
            "connection": bullmq_connection(str(settings.redis.url), 2.0),
            "prefix": settings.queues.prefix,
        },
    )
    job_id = f"vk-collect-{task.id}"

    async def failed() -> bool:
        job = await runtime.queue.get_job(job_id)
        return job is not None and await runtime.queue.get_job_state(job) == "failed"

    try:
        await eventually(failed)
    finally:
        await worker.close(force=True)

    report = await reconciler.run_once(grace_s=0, force=True)

    assert [a.action for a in report.actions] == ["requeued"]
    assert STALLED_REASON in report.actions[0].reason
    job = await runtime.queue.get_job(job_id)
    assert job is not None
    assert await runtime.queue.get_job_state(job) in ("waiting", "prioritized")
    assert job.attemptsMade == 0
    assert job.opts["attempts"] == settings.queues.vk_collect.attempts  # a fresh job
    assert (await runtime.tasks.get(task.id)).status is TaskStatus.PENDING


async def test_one_process_per_interval_runs_a_pass(
    runtime: Runtime, redis_client: aioredis.Redis
) -> None:
    reconcilers = [
        Reconciler(runtime.settings, runtime.db, runtime.queue, redis_client) for _ in range(4)
    ]
    reports = await asyncio.gather(*(r.run_once() for r in reconcilers))
    assert sorted(r.ran for r in reports) == [False, False, False, True]
    ttl = await redis_client.pttl(reconcilers[0].lock_key)
    assert 0 < ttl <= runtime.settings.queues.reconcile_interval_s * 1000


async def test_the_cli_runs_one_pass_now(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    task = await collection_task(runtime)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VKC_", "VK_"))}
    env.update(
        REDIS_URL=str(settings.redis.url),
        DATABASE_URL=settings.database_url,
        VKC_DATA_DIR=str(tmp_path),
        VKC_QUEUE_PREFIX=settings.queues.prefix,
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "vk_collector.cli", "tasks", "reconcile", "--grace", "0", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["actions"] == [
        {
            "taskId": task.id,
            "jobId": f"vk-collect-{task.id}",
            "action": "requeued",
            "reason": "no job in Redis",
        }
    ]
    assert await runtime.queue.get_job(f"vk-collect-{task.id}") is not None


async def test_a_collection_waiting_for_its_communities_jobs_is_left_alone(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    queues = settings.queues.model_copy(deep=True)
    queues.vk_collect.delay_ms = 0
    fanned = settings.model_copy(update={"queues": queues})
    async with running(fanned, str(settings.redis.url), with_workers=True, queues=[VK]) as rt:
        await rt.queue.pause_queue("vk-collect-group")  # the communities' jobs wait
        async with rt.db.unit_of_work() as uow:
            await uow.groups.upsert_many(
                [GroupData(vk_id=1, name="a"), GroupData(vk_id=2, name="b")]
            )
            await uow.commit()
        task = await rt.pipelines.start_collection(CollectRequest(vk_ids=[1, 2], limit=3))
        parent = f"vk-collect-{task.id}"

        async def waiting_children() -> bool:
            job = await rt.queue.get_job(parent)
            return job is not None and await rt.queue.get_job_state(job) == "waiting-children"

        await eventually(waiting_children, within=10)
        stats = await rt.queue.get_queue_stats(VK)
        assert stats["counts"]["waiting-children"] == 1
        children = await rt.queue.get_queue_stats("vk-collect-group")
        assert children["counts"]["paused"] + children["counts"]["waiting"] == 2

        reconciler = Reconciler(rt.settings, rt.db, rt.queue, redis_client)
        report = await reconciler.run_once(grace_s=0, force=True)
        assert report.checked == 1
        assert report.actions == ()  # work under way: nothing re-enqueued, nothing failed
        assert (await rt.tasks.get(task.id)).status is TaskStatus.PROCESSING
        assert await waiting_children()
        await rt.pipelines.cancel_task(task.id)
