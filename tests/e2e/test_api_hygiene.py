"""Security headers, clients that go away, and event streams of deleted tasks."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from urllib.parse import urlsplit

from conftest import Api, StartApi
from vk_collector.api.middleware import CONTENT_SECURITY_POLICY
from vk_collector.storage import TaskType

from support.polling import eventually
from support.sse import sse_events


async def test_every_answer_carries_the_security_headers(api: Api) -> None:
    for path in ("/", "/static/js/app.js", "/api/tasks", "/api/nope"):
        response = await api.client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    docs = await api.client.get("/docs")  # Swagger UI loads its scripts from a CDN
    assert "content-security-policy" not in docs.headers
    assert docs.headers["x-frame-options"] == "DENY"


async def test_a_client_that_goes_away_mid_upload_is_not_an_error(
    start_api: StartApi, log_capture: Callable[[str], io.StringIO]
) -> None:
    api = await start_api()
    logs = log_capture("console")
    parts = urlsplit(api.url)
    _, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        b"POST /api/groups/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 100000\r\n\r\n"
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="g.txt"\r\n\r\nclub1\n'
    )
    await writer.drain()
    await eventually(lambda: api.app.state.upload_slots.in_use == 1, within=5)
    writer.close()
    await eventually(lambda: "api.client_gone" in logs.getvalue(), within=5)
    assert "api.unhandled_error" not in logs.getvalue()
    assert api.app.state.upload_slots.in_use == 0


async def test_the_event_stream_of_a_deleted_task_ends_cleanly(api: Api) -> None:
    task = await api.runtime.tasks.create(TaskType.PROCESS_GROUPS, {})
    seen: list[str] = []
    async with api.client.stream("GET", f"/api/tasks/{task.id}/events") as response:
        assert response.status_code == 200
        async for name, data in sse_events(response):
            seen.append(name)
            if name == "snapshot":
                await api.runtime.tasks.delete(task.id)
            if name == "failed":
                assert data["failedReason"] == "task deleted"
    assert seen == ["snapshot", "failed"]


async def test_head_answers_like_get_without_a_body(api: Api) -> None:
    task = await api.runtime.tasks.create(TaskType.PROCESS_GROUPS, {})
    for path in (
        "/api/health",
        "/api/tasks",
        f"/api/tasks/{task.id}",
        "/",
        f"/api/results/{task.id}/export?format=csv",
    ):
        got = await api.client.get(path)
        head = await api.client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
    assert (await api.client.head("/api/tasks/999999")).status_code == 404
    assert api.app.state.export_slots.in_use == 0


async def test_ids_in_paths_and_numbers_in_bodies_are_strict(api: Api) -> None:
    task = await api.runtime.tasks.create(TaskType.PROCESS_GROUPS, {})
    await api.ok("GET", f"/api/tasks/{task.id}")
    for spelled in (f"+{task.id}", f"0{task.id}", f"{task.id}.0", f" {task.id}"):
        response = await api.client.get(f"/api/tasks/{spelled}")
        assert response.status_code in (400, 404), (spelled, response.text)
    for body in (
        {"groups": [1], "limit": True},
        {"groups": [True]},
        {"groups": ["1"]},
        {"groups": [1], "includeReplies": "yes"},
    ):
        error = await api.error("POST", "/api/tasks/collect", 400, json=body)
        assert error["code"] == "INVALID_INPUT", body
    error = await api.error("DELETE", "/api/groups", 400, json={"groupIds": [True]})
    assert "groupIds" in error["message"]


async def test_the_allow_header_names_every_method_of_the_path(api: Api) -> None:
    expected = {
        "/api/tasks/1": "DELETE, GET, HEAD",
        "/api/groups": "DELETE, GET, HEAD",
        "/api/jobs/vk-collect-1": "DELETE, GET, HEAD",
        "/api/groups/1": "DELETE",
        "/api/tasks/1/cancel": "POST",
    }
    for path, allow in expected.items():
        response = await api.client.options(path)
        assert response.status_code == 405, path
        assert response.headers["allow"] == allow, path
