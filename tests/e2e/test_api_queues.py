"""Operator endpoints: queues, workers, jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from conftest import Api
from vk_collector.settings import Settings
from vk_collector.storage import TaskType

from support.polling import eventually
from support.queues import ScriptedWorker, groups_job


@pytest.fixture
async def scripted(settings: Settings) -> AsyncIterator[ScriptedWorker]:
    worker = ScriptedWorker(settings, settings.redis.url or "")
    await worker.start()
    yield worker
    await worker.stop()


async def _job(api: Api, *steps: str) -> str:
    task = await api.runtime.tasks.create(TaskType.PROCESS_GROUPS, {})
    data: dict[str, Any] = {"taskId": task.id, "type": "process_groups", **groups_job(*steps)}
    await api.runtime.queue.add_process_groups_job(data, task.id)
    return f"process-groups-{task.id}"


async def test_pause_and_resume_a_queue(api: Api) -> None:
    queues = {q["name"]: q for q in await api.ok("GET", "/api/queues")}
    assert queues["vk-collect"]["paused"] is False
    assert set(queues["vk-collect"]["counts"]) >= {"waiting", "active", "failed", "completed"}
    assert await api.ok("POST", "/api/queues/process-groups/pause") == {
        "queues": ["process-groups"],
        "paused": True,
    }
    queues = {q["name"]: q for q in await api.ok("GET", "/api/queues")}
    assert queues["process-groups"]["paused"] is True
    assert queues["vk-collect"]["paused"] is False
    await api.ok("POST", "/api/queues/process-groups/resume")
    queues = {q["name"]: q for q in await api.ok("GET", "/api/queues")}
    assert queues["process-groups"]["paused"] is False
    error = await api.error("POST", "/api/queues/nope/pause", 404)
    assert "nope" in error["message"]


async def test_queues_show_workers_of_other_processes(api: Api, scripted: ScriptedWorker) -> None:
    async def counted() -> bool:
        queues = {q["name"]: q for q in await api.ok("GET", "/api/queues")}
        return bool(queues["process-groups"]["workers"] >= 1)

    await eventually(counted)


async def test_pause_and_resume_workers_of_this_process(api: Api) -> None:
    assert await api.ok("POST", "/api/workers/pause") == {"workers": 0, "paused": True}
    assert await api.ok("POST", "/api/workers/resume") == {"workers": 0, "paused": False}


async def test_list_show_retry_and_remove_jobs(api: Api, scripted: ScriptedWorker) -> None:
    failed_id = await _job(api, "fail:permanent")
    ok_id = await _job(api, "progress:50")

    async def state_of(job_id: str) -> str | None:
        job = await api.runtime.queue.get_job(job_id)
        return None if job is None else await api.runtime.queue.get_job_state(job)

    async def both_done() -> bool:
        return await state_of(failed_id) == "failed" and await state_of(ok_id) == "completed"

    await eventually(both_done)
    failed = await api.ok("GET", "/api/jobs", params={"status": "failed"})
    assert [j["id"] for j in failed] == [failed_id]
    assert failed[0]["failedReason"] == "permanent failure"
    assert failed[0]["state"] == "failed"
    assert failed[0]["queue"] == "process-groups"
    every = await api.ok("GET", "/api/jobs", params={"queue": "process-groups"})
    assert {j["id"] for j in every} == {failed_id, ok_id}
    assert await api.ok("GET", "/api/jobs", params={"queue": "vk-collect"}) == []
    shown = await api.ok("GET", f"/api/jobs/{ok_id}")
    assert shown["state"] == "completed"
    assert shown["returnValue"]["success"] is True
    assert shown["progress"]["percentage"] == 50
    assert shown["data"]["metadata"]["groupIdentifiers"] == ["progress:50"]

    await scripted.stop()  # keep the retried job waiting
    retried = await api.ok("POST", f"/api/jobs/{failed_id}/retry")
    assert retried == {"id": failed_id, "action": "retried"}
    assert await state_of(failed_id) == "waiting"
    error = await api.error("POST", f"/api/jobs/{failed_id}/retry", 409)
    assert "waiting" in error["message"]
    assert await api.ok("DELETE", f"/api/jobs/{failed_id}") == {
        "id": failed_id,
        "action": "removed",
    }
    assert await state_of(failed_id) is None
    await api.error("DELETE", f"/api/jobs/{failed_id}", 404)
    await api.error("POST", f"/api/jobs/{failed_id}/retry", 404)
    await api.error("GET", f"/api/jobs/{failed_id}", 404)


async def test_job_data_is_shown_without_tokens(api: Api) -> None:
    task = await api.runtime.tasks.create(TaskType.FETCH_COMMENTS, {})
    data = {
        "taskId": task.id,
        "type": "fetch_comments",
        "metadata": {
            "groups": [{"vkId": 1, "name": "g"}],
            "options": {"limit": 1, "token": "vk1.a.very-secret-token"},
        },
    }
    await api.runtime.queue.add_vk_collect_job(data, task.id)
    response = await api.client.get(f"/api/jobs/vk-collect-{task.id}")
    assert response.status_code == 200
    assert "very-secret-token" not in response.text
    assert response.json()["data"]["data"]["metadata"]["options"].get("token") in (None, "***")
    listing = await api.client.get("/api/jobs")
    assert "very-secret-token" not in listing.text


async def test_jobs_reject_bad_parameters(api: Api) -> None:
    error = await api.error("GET", "/api/jobs", 400, params={"status": "sleeping"})
    assert "status" in error["message"]
    assert await api.ok("GET", "/api/jobs", params={"status": ""}) == []  # every state
    await api.error("GET", "/api/jobs", 404, params={"queue": "nope"})
    assert await api.ok("GET", "/api/jobs", params={"start": 10, "end": 5}) == []
    await api.error("GET", "/api/jobs", 400, params={"start": -1})
