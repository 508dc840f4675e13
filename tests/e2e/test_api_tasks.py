"""Tasks: start a collection, list, read, delete; live progress over SSE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conftest import Api
from vk_collector.settings import Settings
from vk_collector.storage import GroupData, TaskType

from support.polling import eventually
from support.queues import ScriptedWorker, groups_job
from support.sse import sse_events


async def _store_groups(api: Api, *vk_ids: int) -> list[int]:
    async with api.runtime.db.unit_of_work() as uow:
        await uow.groups.upsert_many([GroupData(vk_id=i, name=f"g{i}") for i in vk_ids])
        await uow.commit()
        found = await uow.groups.get_by_vk_ids(vk_ids)
    return [g.id for g in found]


@pytest.fixture
async def scripted(settings: Settings) -> AsyncIterator[ScriptedWorker]:
    worker = ScriptedWorker(settings, settings.redis.url or "")
    await worker.start()
    yield worker
    worker.release.set()
    await worker.stop()


async def _groups_task(api: Api, *steps: str) -> int:
    task = await api.runtime.tasks.create(TaskType.PROCESS_GROUPS, {"identifiers": len(steps)})
    data: dict[str, Any] = {"taskId": task.id, "type": "process_groups", **groups_job(*steps)}
    await api.runtime.queue.add_process_groups_job(data, task.id)
    return task.id


async def test_collect_by_internal_ids_vk_ids_or_all(api: Api) -> None:
    ids = await _store_groups(api, 11, 12, 13)
    task = await api.ok(
        "POST",
        "/api/tasks/collect",
        201,
        json={"groups": ids[:2], "limit": 5, "includeReplies": False, "filterWords": ["x"]},
    )
    assert task["type"] == "fetch_comments"
    assert task["status"] == "pending"
    assert task["jobId"] == f"vk-collect-{task['id']}"
    assert task["parameters"]["groups"] == [11, 12]
    assert task["parameters"]["options"] == {
        "limit": 5,
        "includeReplies": False,
        "filterWords": ["x"],
    }
    assert task["progress"] == {"percentage": 0, "processed": 0, "total": 2}
    job = await api.runtime.queue.get_job(task["jobId"])
    assert job is not None
    assert "token" not in job.data["metadata"]["options"]
    by_vk = await api.ok("POST", "/api/tasks/collect", 201, json={"vkIds": [13]})
    assert by_vk["parameters"]["groups"] == [13]
    every = await api.ok("POST", "/api/tasks/collect", 201, json={"groups": "all"})
    assert sorted(every["parameters"]["groups"]) == [11, 12, 13]


async def test_collect_rejects_bad_bodies(api: Api) -> None:
    ids = await _store_groups(api, 21)
    for body, words in (
        ({"groups": []}, "groups: List should have at least 1 item"),
        ({"vkIds": []}, "vkIds: List should have at least 1 item"),
        ({"groups": None, "vkIds": [21]}, "groups: Value error, leave the field out"),
        ({"groups": ids, "limit": True}, "limit"),
        ({}, "choose the communities"),
        ({"groups": ids, "vkIds": [21]}, "choose the communities"),
        ({"groups": [0]}, "groups"),
        ({"groups": "some"}, "groups"),
        ({"groups": ids, "limit": 0}, "limit"),
        ({"groups": ids, "limit": 1001}, "limit"),
        ({"groups": ids, "filterWords": ["w"] * 101}, "filterWords"),
        ({"groups": ids, "token": "abc"}, "token"),
    ):
        error = await api.error("POST", "/api/tasks/collect", 400, json=body)
        assert words in error["message"], (body, error)
    missing = await api.error("POST", "/api/tasks/collect", 404, json={"groups": [9999]})
    assert "9999" in missing["message"]
    error = await api.error("POST", "/api/tasks/collect", 415, content=b"groups=1")
    assert "application/json" in error["message"]
    error = await api.error(
        "POST",
        "/api/tasks/collect",
        400,
        content=b"[1,",
        headers={"content-type": "application/json"},
    )
    assert error["code"] == "INVALID_INPUT"


async def test_collect_all_with_nothing_stored_is_404(api: Api) -> None:
    error = await api.error("POST", "/api/tasks/collect", 404, json={"groups": "all"})
    assert "upload" in error["message"]


async def test_list_filter_and_read_tasks(api: Api) -> None:
    ids = await _store_groups(api, 31)
    collect = await api.ok("POST", "/api/tasks/collect", 201, json={"groups": ids})
    upload = await api.ok("POST", "/api/groups/upload", 202, files={"file": ("g.txt", b"club5\n")})
    response = await api.client.get("/api/tasks")
    body = response.json()
    assert [t["id"] for t in body["data"]] == [upload["taskId"], collect["id"]]
    assert body["pagination"]["total"] == 2
    only = await api.ok("GET", "/api/tasks", params={"type": "process_groups"})
    assert [t["id"] for t in only] == [upload["taskId"]]
    pending = await api.ok("GET", "/api/tasks", params={"status": "pending", "limit": 1})
    assert len(pending) == 1
    await api.error("GET", "/api/tasks", 400, params={"status": "sleeping"})
    await api.error("GET", "/api/tasks", 400, params={"limit": 10001})
    task = await api.ok("GET", f"/api/tasks/{collect['id']}")
    assert set(task) >= {
        "id", "status", "progress", "stage", "stats", "errors", "parameters", "result",
        "createdAt", "updatedAt", "startedAt", "finishedAt",
    }  # fmt: skip
    error = await api.error("GET", "/api/tasks/424242", 404)
    assert "424242" in error["message"]
    await api.error("GET", "/api/tasks/-1", 400)


async def test_task_never_shows_a_token(api: Api) -> None:
    task = await api.runtime.tasks.create(
        TaskType.FETCH_COMMENTS, {"groups": [1], "options": {"token": "vk1.a.secret-token"}}
    )
    response = await api.client.get(f"/api/tasks/{task.id}")
    assert "secret-token" not in response.text


async def test_delete_task_removes_its_waiting_job(api: Api) -> None:
    ids = await _store_groups(api, 41)
    task = await api.ok("POST", "/api/tasks/collect", 201, json={"groups": ids})
    deleted = await api.ok("DELETE", f"/api/tasks/{task['id']}")
    assert deleted == {"taskId": task["id"], "deleted": True}
    assert await api.runtime.queue.get_job(task["jobId"]) is None
    await api.error("GET", f"/api/tasks/{task['id']}", 404)
    await api.error("DELETE", f"/api/tasks/{task['id']}", 404)


async def test_delete_task_is_409_while_its_job_runs(api: Api, scripted: ScriptedWorker) -> None:
    task_id = await _groups_task(api, "block")
    await asyncio.wait_for(scripted.started.wait(), 10)
    error = await api.error("DELETE", f"/api/tasks/{task_id}", 409)
    assert "being processed" in error["message"]
    scripted.release.set()
    job_id = f"process-groups-{task_id}"

    async def finished() -> bool:
        job = await api.runtime.queue.get_job(job_id)
        return job is not None and await api.runtime.queue.get_job_state(job) == "completed"

    await eventually(finished)
    await api.ok("DELETE", f"/api/tasks/{task_id}")


async def test_events_stream_snapshot_progress_then_completed(
    api: Api, scripted: ScriptedWorker
) -> None:
    task_id = await _groups_task(api, "block", "progress:40", "progress:80")
    seen: list[tuple[str, dict[str, Any]]] = []
    async with api.client.stream("GET", f"/api/tasks/{task_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-request-id"]
        async for event in sse_events(response):
            seen.append(event)
            if event[0] == "snapshot":
                scripted.release.set()  # the listeners are in place: let the job go on
    names = [name for name, _ in seen]
    assert names == ["snapshot", "progress", "progress", "completed"]
    snapshot = seen[0][1]
    assert snapshot["task"]["id"] == task_id
    assert snapshot["task"]["status"] == "pending"
    assert [data["progress"]["percentage"] for _, data in seen[1:3]] == [40, 80]
    assert seen[3][1]["result"]["success"] is True
    assert seen[3][1]["jobId"] == f"process-groups-{task_id}"
    events = api.runtime.queue.get_queue_events("process-groups")
    await eventually(lambda: not events._callbacks.get(f"progress:process-groups-{task_id}"))


async def test_events_stream_ends_with_failed(api: Api, scripted: ScriptedWorker) -> None:
    task_id = await _groups_task(api, "block", "fail:permanent")
    seen: list[str] = []
    async with api.client.stream("GET", f"/api/tasks/{task_id}/events") as response:
        async for name, data in sse_events(response):
            seen.append(name)
            if name == "snapshot":
                scripted.release.set()
            if name == "failed":
                assert "permanent failure" in data["failedReason"]
    assert seen == ["snapshot", "failed"]


async def test_events_of_a_finished_task_end_at_once(api: Api) -> None:
    task = await api.runtime.tasks.create(TaskType.PROCESS_GROUPS, {})
    await api.runtime.tasks.complete(task.id, {"success": True})
    async with api.client.stream("GET", f"/api/tasks/{task.id}/events") as response:
        seen = [name async for name, _ in sse_events(response)]
    assert seen == ["snapshot", "completed"]


async def test_events_of_unknown_task_is_404(api: Api) -> None:
    error = await api.error("GET", "/api/tasks/777/events", 404)
    assert "777" in error["message"]


async def test_a_client_that_leaves_removes_its_listeners(api: Api) -> None:
    task_id = await _groups_task(api, "progress:1")  # no worker: stays waiting
    channel = f"progress:process-groups-{task_id}"
    events = api.runtime.queue.get_queue_events("process-groups")
    async with api.client.stream("GET", f"/api/tasks/{task_id}/events") as response:
        async for name, _ in sse_events(response):
            assert name == "snapshot"
            assert events._callbacks.get(channel)
            break
    await eventually(lambda: not events._callbacks.get(channel))


async def test_a_quiet_stream_follows_the_task_row_when_events_are_missed(api: Api) -> None:
    # no job at all: nothing reaches QueueEvents, as when events are lost on the way
    task = await api.runtime.tasks.create(TaskType.PROCESS_GROUPS, {})
    seen: list[tuple[str, dict[str, Any]]] = []
    async with api.client.stream("GET", f"/api/tasks/{task.id}/events") as response:
        async for name, data in sse_events(response):
            seen.append((name, data))
            if name == "snapshot":
                await api.runtime.tasks.start(task.id)
                await api.runtime.tasks.update_progress(task.id, 60, stage="fetching")
            elif name == "progress":
                await api.runtime.tasks.complete(task.id, {"success": True})
    assert [name for name, _ in seen] == ["snapshot", "progress", "completed"]
    assert seen[1][1]["progress"]["percentage"] == 60
    assert seen[1][1]["progress"]["stage"] == "fetching"
    assert seen[2][1]["result"] == {"success": True}


async def test_cancel_a_waiting_task_then_refuse_a_second_cancel(api: Api) -> None:
    ids = await _store_groups(api, 41)
    task = await api.ok("POST", "/api/tasks/collect", 201, json={"groups": ids})
    cancelled = await api.ok("POST", f"/api/tasks/{task['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    assert cancelled["errorMessage"] == "cancelled on request"
    assert await api.runtime.queue.get_job(task["jobId"]) is None  # never runs
    error = await api.error("POST", f"/api/tasks/{task['id']}/cancel", 409)
    assert "already cancelled" in error["message"]
    await api.error("POST", "/api/tasks/999999/cancel", 404)
    listed = await api.ok("GET", "/api/tasks?status=cancelled")
    assert [t["id"] for t in listed] == [task["id"]]
    await api.ok("DELETE", f"/api/tasks/{task['id']}")
