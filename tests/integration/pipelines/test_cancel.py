"""Cancelling a task stops its job: a running one within about a second, a waiting one
before it starts; either way the task reads ``cancelled`` and the job is not retried."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vk_collector.bootstrap import Runtime
from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.pipelines import CollectRequest
from vk_collector.queue.keys import group_job_id
from vk_collector.settings import Settings
from vk_collector.storage import TaskGroupState, TaskStatus
from vk_emulator import EmulatorServer

from support.collections import GROUPS, LIMIT, upload
from support.pipelines import pipeline_settings
from support.polling import eventually

# 2,000 identifiers at 2 requests/s: four groups.getById batches, about two seconds
SLOW_FILE = "\n".join(str(900_000 + i) for i in range(2000)).encode()


@pytest.fixture
async def runtime(
    settings: Settings, redis_url: str, emulator: EmulatorServer
) -> AsyncIterator[Runtime]:
    slow = pipeline_settings(settings, emulator, rps_user=2.0)
    rt = Runtime.create(slow, redis_url, with_workers=True)
    await rt.start()
    yield rt
    await rt.close()


async def _job_state(runtime: Runtime, job_id: str) -> str:
    job = await runtime.queue.get_job(job_id)
    return "gone" if job is None else await runtime.queue.get_job_state(job)


async def test_a_running_job_stops_when_its_task_is_cancelled(
    runtime: Runtime, emulator: EmulatorServer
) -> None:
    before = emulator.stats()["methods"].get("groups.getById", 0)
    upload = await runtime.pipelines.upload_groups(SLOW_FILE, max_bytes=100_000)
    task_id = upload.task.id
    job_id = f"process-groups-{task_id}"
    await eventually(lambda: _job_state_is(runtime, job_id, "active"), within=10)

    cancelled = await runtime.pipelines.cancel_task(task_id)
    assert cancelled.status is TaskStatus.CANCELLED

    await eventually(lambda: _job_state_is(runtime, job_id, "failed"), within=3)
    job = await runtime.queue.get_job(job_id)
    assert job is not None
    assert job.attemptsMade == 1  # not retried
    assert "cancelled" in (job.failedReason or "")
    task = await runtime.tasks.get(task_id)
    assert task.status is TaskStatus.CANCELLED
    assert task.error_message == "cancelled on request"
    calls = emulator.stats()["methods"].get("groups.getById", 0) - before
    assert calls < 4  # the later batches were never asked for

    with pytest.raises(ValidationError) as refused:
        await runtime.pipelines.cancel_task(task_id)
    assert refused.value.code is ErrorCode.CONFLICT
    await runtime.pipelines.delete_task(task_id)  # an ended task can be deleted


async def test_a_waiting_job_is_removed_when_its_task_is_cancelled(runtime: Runtime) -> None:
    await runtime.queue.pause_queue("process-groups")
    upload = await runtime.pipelines.upload_groups(b"club1\n", max_bytes=100)
    cancelled = await runtime.pipelines.cancel_task(upload.task.id)
    assert cancelled.status is TaskStatus.CANCELLED
    assert await _job_state(runtime, f"process-groups-{upload.task.id}") == "gone"


async def test_a_cancelled_collection_ends_its_communities_jobs_and_its_own(
    runtime: Runtime,
) -> None:
    await upload(runtime, GROUPS)
    task = await runtime.pipelines.start_collection(CollectRequest(vk_ids=GROUPS, limit=LIMIT))
    children = [group_job_id(task.id, g) for g in GROUPS]
    parent = f"vk-collect-{task.id}"

    async def a_child_active() -> bool:
        return any([await _job_state_is(runtime, c, "active") for c in children])

    await eventually(a_child_active, within=10)
    assert await _job_state(runtime, parent) == "waiting-children"
    cancelled = await runtime.pipelines.cancel_task(task.id)
    assert cancelled.status is TaskStatus.CANCELLED

    async def all_ended() -> bool:
        states = [await _job_state(runtime, c) for c in [parent, *children]]
        return all(state in ("completed", "failed", "gone") for state in states)

    await eventually(all_ended, within=5)
    state = await _job_state(runtime, parent)
    ended_cancelled = []
    for child in children:
        job = await runtime.queue.get_job(child)
        value = job.returnvalue if job is not None else None
        if isinstance(value, dict) and value.get("cancelled") is True:
            ended_cancelled.append(child)
    if state == "failed":  # it waited for its communities' jobs, then ended as cancelled
        job = await runtime.queue.get_job(parent)
        assert job is not None
        assert "cancelled" in (job.failedReason or "")
        assert ended_cancelled  # the unfinished communities' jobs ended without collecting
    else:  # removed with its communities' waiting jobs by the cancel
        assert state == "gone"
    done = await runtime.tasks.get(task.id)
    assert done.status is TaskStatus.CANCELLED
    async with runtime.db.unit_of_work(read_only=True) as uow:
        states = await uow.task_groups.counts(task.id)
    assert states[TaskGroupState.DONE] < len(GROUPS)  # it stopped before the end


async def _job_state_is(runtime: Runtime, job_id: str, state: str) -> bool:
    return await _job_state(runtime, job_id) == state
