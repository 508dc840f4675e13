"""QueueService against a real Valkey: a job's whole life, idempotent adds, control."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from vk_collector.errors import ErrorCode, QueueError, ValidationError
from vk_collector.queue.config import QueueName
from vk_collector.queue.service import QueueService
from vk_collector.settings import Settings

from support.polling import eventually
from support.queues import ScriptedWorker, groups_job

PG = QueueName.PROCESS_GROUPS.value


async def job_state(service: QueueService, job_id: str) -> str:
    job = await service.get_job(job_id)
    assert job is not None
    return await service.get_job_state(job)


@pytest.fixture
async def worker(settings: Settings, redis_url: str) -> ScriptedWorker:
    return ScriptedWorker(settings, redis_url)


@pytest.fixture
async def service(
    settings: Settings, redis_url: str, worker: ScriptedWorker
) -> AsyncIterator[QueueService]:
    service = QueueService(settings, redis_url, workers=[worker])
    await service.initialize()
    yield service
    worker.release.set()
    await service.cleanup()


async def test_a_job_lives_its_whole_life_with_progress_events(
    service: QueueService, worker: ScriptedWorker
) -> None:
    events = service.get_queue_events(PG)
    progress: list[dict[str, Any]] = []
    completed = asyncio.Event()
    events.on("progress", lambda args, *_: progress.append(args["data"]))
    events.on("completed", lambda args, *_: completed.set())
    # QueueEvents reads from "$": make sure it is listening before the job runs
    await eventually(lambda: bool(events.running))

    job = await service.add_process_groups_job(groups_job("progress:40", "progress:80"), 7)

    assert job.id == "process-groups-7"
    await asyncio.wait_for(completed.wait(), 10)
    assert [p["percentage"] for p in progress] == [40, 80]
    stored = await service.get_job("process-groups-7")
    assert stored is not None
    assert stored.returnvalue == {
        "success": True,
        "taskId": 7,
        "steps": ["progress:40", "progress:80"],
    }
    assert await service.get_job_state(stored) == "completed"


async def test_the_same_task_added_twice_gives_one_job(service: QueueService) -> None:
    await service.pause_queue(PG)
    first = await service.add_process_groups_job(groups_job("a"), 11)
    second = await service.add_process_groups_job(groups_job("b"), 11)

    assert first.id == second.id == "process-groups-11"
    counts = await service.get_job_counts_by_queue()
    waiting = counts["queues"][PG]["waiting"] + counts["queues"][PG]["paused"]
    assert waiting == 1
    job = await service.get_job("process-groups-11")
    assert job is not None
    assert job.data["metadata"]["groupIdentifiers"] == ["a"]


async def test_vk_collect_jobs_get_the_default_delay_and_queue_options(
    service: QueueService,
) -> None:
    job = await service.add_vk_collect_job({"metadata": {"options": {"limit": 3}}}, 5)

    stored = await service.get_job(job.id)
    assert stored is not None
    assert stored.opts["delay"] == 2000
    assert stored.opts["attempts"] == 5
    assert stored.opts["backoff"] == {"type": "exponential", "delay": 5000}
    assert await service.get_job_state(stored) == "delayed"
    assert stored.data == {
        "taskId": 5,
        "type": "fetch_comments",
        "metadata": {"options": {"limit": 3}},
    }


async def test_invalid_job_data_enqueues_nothing(service: QueueService) -> None:
    with pytest.raises(ValidationError, match="groupIdentifiers"):
        await service.add_process_groups_job({"metadata": {"groupIdentifiers": []}}, 3)
    with pytest.raises(ValidationError, match="taskId"):
        await service.add_vk_collect_job({}, 0)

    counts = await service.get_job_counts_by_queue()
    assert sum(counts["total"].values()) == 0
    assert await service.get_job_counts() == {
        "waiting": 0,
        "active": 0,
        "completed": 0,
        "failed": 0,
    }


async def test_a_paused_queue_keeps_its_jobs_until_resumed(
    service: QueueService, worker: ScriptedWorker
) -> None:
    assert await service.pause_queue(PG) == [PG]
    job = await service.add_process_groups_job(groups_job("x"), 21)
    stats = await service.get_queue_stats(PG)
    assert stats["paused"] is True

    await service.resume_queue(PG)

    await eventually(lambda: _state_is(service, job.id, "completed"))
    assert worker.processed == [job.id]


async def test_paused_workers_take_nothing_and_resumed_ones_do(
    service: QueueService, worker: ScriptedWorker
) -> None:
    assert await service.pause_workers() == 1
    assert worker.get_status().is_paused
    job = await service.add_process_groups_job(groups_job("x"), 31)
    # the job stays waiting while the only worker is paused
    for _ in range(10):
        assert await job_state(service, job.id) == "waiting"
        await asyncio.sleep(0.02)

    await service.resume_workers()

    await eventually(lambda: _state_is(service, job.id, "completed"))


async def test_a_permanent_failure_is_not_retried_and_retry_job_revives_it(
    service: QueueService, worker: ScriptedWorker
) -> None:
    job = await service.add_process_groups_job(groups_job("fail:permanent"), 41)
    await eventually(lambda: _state_is(service, job.id, "failed"))
    failed = await service.get_job(job.id)
    assert failed is not None
    assert failed.attemptsMade == 1
    assert failed.failedReason == "permanent failure"
    assert [j.id for j in await service.get_jobs("failed")] == [job.id]

    await service.retry_job(job.id)

    assert await job_state(service, job.id) in {"waiting", "active", "failed"}
    await eventually(lambda: _attempts_at_least(service, job.id, 1))


async def test_a_transient_failure_is_retried_with_backoff(
    service: QueueService,
) -> None:
    job = await service.add_process_groups_job(
        groups_job("fail:transient"), 42, {"backoff": {"type": "fixed", "delay": 10}}
    )
    await eventually(lambda: _state_is(service, job.id, "failed"))
    failed = await service.get_job(job.id)
    assert failed is not None
    assert failed.attemptsMade == 3  # process-groups: 3 attempts


async def test_retry_and_remove_of_an_unknown_job_say_not_found(service: QueueService) -> None:
    with pytest.raises(QueueError) as retry:
        await service.retry_job("nope")
    assert retry.value.code is ErrorCode.JOB_NOT_FOUND
    with pytest.raises(QueueError) as remove:
        await service.remove_job_or_raise("nope")
    assert remove.value.code is ErrorCode.JOB_NOT_FOUND
    assert await service.get_job("nope") is None


async def test_the_seeds_remove_job_warns_about_a_missing_job(
    service: QueueService, log_capture: Callable[[str], io.StringIO]
) -> None:
    stream = log_capture("json")
    assert await service.remove_job("nope") is False
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    missing = [line for line in lines if line.get("event") == "job.remove_missing"]
    assert missing, lines
    assert missing[0]["job_id"] == "nope"
    assert missing[0]["level"] == "warning"


async def test_the_seeds_flat_counts_and_default_queue_events(service: QueueService) -> None:
    await service.add_vk_collect_job({"metadata": {"options": {}}}, 61)  # delayed 2 s
    await service.pause_queue(PG)
    await service.add_process_groups_job(groups_job("x"), 62)
    by_queue = await service.get_job_counts_by_queue()
    assert by_queue["queues"]["vk-collect"]["delayed"] == 1
    flat = await service.get_job_counts()
    assert set(flat) == {"waiting", "active", "completed", "failed"}
    assert flat == {state: by_queue["total"][state] for state in flat}
    assert service.get_queue_events() is service.get_queue_events("vk-collect")


async def test_remove_job_deletes_it(service: QueueService) -> None:
    await service.pause_queue(PG)
    job = await service.add_process_groups_job(groups_job("x"), 51)

    assert await service.remove_job(job.id) is True

    assert await service.get_job(job.id) is None


async def test_unknown_queue_names_are_refused(service: QueueService) -> None:
    with pytest.raises(QueueError) as err:
        await service.pause_queue("nope")
    assert err.value.code is ErrorCode.QUEUE_NOT_FOUND
    with pytest.raises(QueueError):
        await service.get_jobs("waiting", "nope")
    with pytest.raises(ValidationError):
        await service.get_jobs("sleeping")


async def test_nothing_works_before_initialize(settings: Settings, redis_url: str) -> None:
    service = QueueService(settings, redis_url)
    assert not service.is_ready()
    with pytest.raises(QueueError) as err:
        await service.get_job_counts()
    assert err.value.code is ErrorCode.NOT_INITIALIZED


async def test_initialize_is_idempotent(service: QueueService) -> None:
    await service.initialize()
    await service.initialize()
    assert service.is_ready()
    counts = await service.get_job_counts_by_queue()
    assert set(counts["queues"]) == {"vk-collect", "process-groups", "vk-collect-group"}


async def _state_is(service: QueueService, job_id: str, state: str) -> bool:
    return await job_state(service, job_id) == state


async def _attempts_at_least(service: QueueService, job_id: str, n: int) -> bool:
    job = await service.get_job(job_id)
    return job is not None and job.attemptsMade >= n


async def test_concurrent_pause_and_resume_leave_the_worker_taking_jobs(
    service: QueueService, worker: ScriptedWorker
) -> None:
    """10 overlapping pause/resume pairs once left the worker idle for good: no
    blocking read, not paused, taking nothing while jobs waited."""
    first = await service.add_process_groups_job(groups_job("x"), 50)
    await eventually(lambda: _state_is(service, first.id, "completed"))
    # idle now: the worker sits in its blocking read, which a pause cancels
    for _ in range(3):
        await asyncio.gather(
            *(call() for _ in range(10) for call in (service.pause_workers, service.resume_workers))
        )
        await service.resume_workers()
        assert not worker.get_status().is_paused
    job = await service.add_process_groups_job(groups_job("x"), 51)
    await eventually(lambda: _state_is(service, job.id, "completed"), within=5)


async def test_a_worker_whose_job_loop_ended_is_unhealthy(
    service: QueueService, worker: ScriptedWorker
) -> None:
    assert (await worker.health_check()).status == "healthy"
    run_task = worker._run_task  # what bullmq's run loop ending looks like from outside
    assert run_task is not None
    run_task.cancel()
    await asyncio.wait({run_task})
    check = await worker.health_check()
    assert check.status == "unhealthy"
    assert check.error is not None
    assert "takes no jobs" in check.error
