"""The whole flow over HTTP with in-process workers against the VK emulator:
upload, resolution, collection, results and every export format."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl
from pydantic import SecretStr

from conftest import Api, StartApi
from vk_collector.export import EXPORT_COLUMNS, export_rows
from vk_collector.settings import QueueOptions, Settings, VkSettings
from vk_emulator import EmulatorServer

from support.polling import eventually
from support.sse import sse_events


def _flow_settings(settings: Settings, emulator: EmulatorServer) -> Settings:
    vk = VkSettings(api_url=emulator.url, tokens=[SecretStr("demo-user-token")], rps_user=200)
    queues = settings.queues.model_copy(
        update={"vk_collect": QueueOptions(attempts=2, delay_ms=0, concurrency=1)}
    )
    return settings.model_copy(update={"vk": vk, "queues": queues})


async def _finished(api: Api, task_id: int) -> dict[str, Any]:
    async def done() -> bool:
        task = await api.ok("GET", f"/api/tasks/{task_id}")
        return bool(task["status"] in ("completed", "failed"))

    await eventually(done, within=30, every=0.1)
    task: dict[str, Any] = await api.ok("GET", f"/api/tasks/{task_id}")
    return task


def _typed(value: Any) -> str:
    """Rows compared as text: CSV and XLSX do not keep JSON types."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def test_upload_collect_read_and_export(
    start_api: StartApi, settings: Settings, emulator: EmulatorServer
) -> None:
    api = await start_api(_flow_settings(settings, emulator), workers=True)
    content = b"1\nclub2\nhttps://vk.com/club3\n-4\npublic5\n"
    upload = await api.ok("POST", "/api/groups/upload", 202, files={"file": ("g.txt", content)})
    assert upload["identifiers"] == 5
    resolved = await _finished(api, upload["taskId"])
    assert resolved["status"] == "completed", resolved
    status = await api.ok("GET", f"/api/groups/upload/{upload['taskId']}/status")
    assert status["status"] == "completed"
    assert status["progress"]["percentage"] == 100
    groups = await api.ok("GET", "/api/groups", params={"sortBy": "vkId"})
    assert [g["vkId"] for g in groups] == [1, 2, 3, 4, 5]

    # the task's job waits in its paused queue until the stream's listeners are in place
    await api.runtime.queue.pause_queue("vk-collect")
    task = await api.ok(
        "POST", "/api/tasks/collect", 201, json={"groups": [g["id"] for g in groups], "limit": 2}
    )
    seen: list[tuple[str, dict[str, Any]]] = []
    async with api.client.stream("GET", f"/api/tasks/{task['id']}/events") as response:
        async for name, data in sse_events(response):
            seen.append((name, data))
            if name == "snapshot":
                await api.runtime.queue.resume_queue("vk-collect")
    events = [name for name, _ in seen]
    assert (events[0], events[-1]) == ("snapshot", "completed"), events
    # the communities are collected by child jobs; their progress reaches the task's job
    progress = [data["progress"] for name, data in seen if name == "progress"]
    assert {data["jobId"] for name, data in seen[1:]} == {f"vk-collect-{task['id']}"}
    assert [p["percentage"] for p in progress][-2:] == [95, 100]  # saving, completing
    assert {p["stats"]["totalGroups"] for p in progress} == {5}
    assert max(p["stats"]["groupsCompleted"] for p in progress) == 5
    assert progress[-1]["stats"]["commentsCollected"] > 0
    assert any(p["stage"] == "fetching_comments" and 0 < p["percentage"] <= 90 for p in progress)
    collected = await _finished(api, task["id"])
    assert collected["status"] == "completed", collected
    assert "demo-user-token" not in json.dumps(collected)

    summary = await api.ok("GET", f"/api/results/{task['id']}/summary")
    assert summary["totalPosts"] == 10
    assert summary["totalGroups"] == 5
    assert summary["totalComments"] > 0
    results = await api.ok(
        "GET", f"/api/results/{task['id']}", params={"limit": 1000, "commentsLimit": 1000}
    )
    assert len(results["posts"]) == 10
    assert sum(len(p["comments"]) for p in results["posts"]) == summary["totalComments"]

    expected = [row async for row in export_rows(api.runtime.db, task["id"])]
    assert len(expected) == summary["totalComments"]
    as_text = [[_typed(row[c]) for c in EXPORT_COLUMNS] for row in expected]
    exports = {
        fmt: await api.client.get(f"/api/results/{task['id']}/export", params={"format": fmt})
        for fmt in ("json", "jsonl", "csv", "xlsx")
    }
    assert all(r.status_code == 200 for r in exports.values())
    doc = json.loads(exports["json"].content)
    assert len(doc["posts"]) == 10
    assert sum(len(p["comments"]) for p in doc["posts"]) == len(expected)
    assert [json.loads(line) for line in exports["jsonl"].text.splitlines()] == expected
    reader = csv.reader(io.StringIO(exports["csv"].content.decode("utf-8-sig")))
    assert next(reader) == list(EXPORT_COLUMNS)
    assert list(reader) == as_text
    book = openpyxl.load_workbook(io.BytesIO(exports["xlsx"].content), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert [[_typed(v) for v in row] for row in rows[1:]] == as_text

    metrics = (await api.client.get("/metrics")).text
    assert 'vkc_jobs_completed_total{queue="vk-collect"} 1.0' in metrics
    assert 'vkc_jobs_completed_total{queue="process-groups"} 1.0' in metrics
    assert 'vkc_tasks{status="completed"} 2.0' in metrics
    assert 'vkc_job_duration_seconds_count{queue="vk-collect"} 1.0' in metrics
