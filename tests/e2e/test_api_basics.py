"""Cross-cutting behaviour: envelope, request ids, health, OpenAPI, auth, metrics."""

from __future__ import annotations

import os
import re
import socket

import pytest

from conftest import API_KEY, Api, StartApi
from vk_collector.settings import Settings


async def test_liveness_is_enveloped_with_a_generated_request_id(api: Api) -> None:
    response = await api.client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["status"] == "healthy"
    assert body["data"]["version"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", body["timestamp"])
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert body["requestId"] == response.headers["x-request-id"]


async def test_a_sane_request_id_is_echoed_and_an_odd_one_replaced(api: Api) -> None:
    sane = await api.client.get("/api/health", headers={"X-Request-ID": "abc-123.x:y"})
    assert sane.headers["x-request-id"] == "abc-123.x:y"
    odd = await api.client.get("/api/health", headers={"X-Request-ID": "a b<script>" + "x" * 200})
    assert odd.headers["x-request-id"] != "a b<script>"
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])


async def test_detailed_health_without_workers_is_degraded_and_says_why(api: Api) -> None:
    data = await api.ok("GET", "/api/health/detailed")
    assert data["status"] == "degraded"
    assert data["reasons"] == [
        {"check": "workers", "status": "degraded", "message": "vk-collect: no live worker"},
        {"check": "workers", "status": "degraded", "message": "process-groups: no live worker"},
        {"check": "workers", "status": "degraded", "message": "vk-collect-group: no live worker"},
    ]
    details = data["details"]
    assert details["redis"]["connected"] is True
    assert details["database"]["connected"] is True
    assert details["queues"]["backlogOk"] is True
    assert details["workers"] == []


async def test_detailed_health_is_503_when_jobs_wait_and_no_worker_takes_them(
    start_api: StartApi, settings: Settings
) -> None:
    queues = settings.queues.model_copy(update={"backlog_threshold": 1})
    api = await start_api(settings.model_copy(update={"queues": queues}))
    await api.ok("POST", "/api/groups/upload", 202, files={"file": ("g.txt", b"club1\n")})
    response = await api.client.get("/api/health/detailed")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["data"]["status"] == "unhealthy"
    assert {
        "check": "processing",
        "status": "unhealthy",
        "message": "process-groups: 1 job waits and no worker takes them",
    } in body["data"]["reasons"]
    assert "backlog" in {r["check"] for r in body["data"]["reasons"]}
    assert "process-groups: 1 job waits and no worker takes them" in body["message"]


async def test_detailed_health_shows_details_only_with_the_key(start_api: StartApi) -> None:
    api = await start_api(workers=True, key=API_KEY)
    response = await api.client.get("/api/health/detailed")
    assert response.status_code == 200
    anonymous = response.json()["data"]
    assert anonymous == {
        "status": "healthy",
        "version": anonymous["version"],
        "reasons": [],
        "details": None,
    }
    wrong = await api.ok("GET", "/api/health/detailed", headers={"X-API-Key": "wrong-key-123"})
    assert wrong["details"] is None

    data = await api.ok("GET", "/api/health/detailed", headers={"X-API-Key": API_KEY})
    assert data["status"] == "healthy"
    workers = data["details"]["workers"]
    assert sorted(w["details"]["queueName"] for w in workers) == [
        "process-groups",
        "vk-collect",
        "vk-collect-group",
    ]
    assert {w["details"]["pid"] for w in workers} == {os.getpid()}
    assert {w["details"]["host"] for w in workers} == {socket.gethostname()}


async def test_unknown_endpoint_and_method_are_enveloped(api: Api) -> None:
    error = await api.error("GET", "/api/nope", 404)
    assert error["code"] == "NOT_FOUND"
    assert "/api/nope" in error["message"]
    error = await api.error("PUT", "/api/health", 405)
    assert error["code"] == "METHOD_NOT_ALLOWED"


async def test_openapi_and_docs_are_served(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path in (
        "/api/health",
        "/api/health/detailed",
        "/api/groups/upload",
        "/api/groups/upload/{task_id}/status",
        "/api/groups",
        "/api/groups/{group_id}",
        "/api/stats/groups",
        "/api/tasks/collect",
        "/api/tasks",
        "/api/tasks/{task_id}",
        "/api/tasks/{task_id}/events",
        "/api/results/{task_id}",
        "/api/results/{task_id}/summary",
        "/api/results/{task_id}/export",
        "/api/queues",
        "/api/queues/{name}/pause",
        "/api/queues/{name}/resume",
        "/api/workers/pause",
        "/api/workers/resume",
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/retry",
        "/metrics",
    ):
        assert path in paths, path
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_metrics_expose_every_metric_name(api: Api) -> None:
    from vk_collector.metrics import record_rate_limit_wait, record_vk_error, record_vk_request

    record_vk_request("wall.get", "ok")
    record_vk_error(6)
    record_rate_limit_wait(0.2)
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "x-request-id" in response.headers
    text = response.text
    for name in (
        "vkc_queue_jobs",
        "vkc_jobs_completed_total",
        "vkc_jobs_failed_total",
        "vkc_job_duration_seconds",
        "vkc_tasks",
        "vkc_vk_requests_total",
        "vkc_vk_errors_total",
        "vkc_rate_limit_wait_seconds",
    ):
        assert name in text, name
    assert 'vkc_queue_jobs{queue="vk-collect",state="waiting"} 0.0' in text
    assert 'vkc_tasks{status="pending"} 0.0' in text
    assert 'vkc_vk_requests_total{method="wall.get",outcome="ok"} 1.0' in text
    assert 'vkc_vk_errors_total{code="6"} 1.0' in text


async def test_two_apps_do_not_share_metrics(start_api: StartApi, settings: Settings) -> None:
    from vk_collector.metrics import record_vk_error

    first = await start_api()
    record_vk_error(5)
    second = await start_api()
    first_text = (await first.client.get("/metrics")).text
    second_text = (await second.client.get("/metrics")).text
    assert 'vkc_vk_errors_total{code="5"} 1.0' in first_text
    assert 'code="5"' not in second_text


MUTATING = [
    ("POST", "/api/groups/upload"),
    ("DELETE", "/api/groups/1"),
    ("DELETE", "/api/groups"),
    ("POST", "/api/tasks/collect"),
    ("DELETE", "/api/tasks/1"),
    ("GET", "/api/queues"),
    ("POST", "/api/queues/vk-collect/pause"),
    ("POST", "/api/queues/vk-collect/resume"),
    ("POST", "/api/workers/pause"),
    ("POST", "/api/workers/resume"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/x"),
    ("POST", "/api/jobs/x/retry"),
    ("DELETE", "/api/jobs/x"),
]


async def test_with_a_key_mutating_and_operator_endpoints_need_it(start_api: StartApi) -> None:
    api = await start_api(key=API_KEY)
    for method, path in MUTATING:
        error = await api.error(method, path, 401)
        assert error["code"] == "UNAUTHORIZED"
        assert "X-API-Key" in error["message"]
        wrong = await api.error(method, path, 401, headers={"X-API-Key": "wrong-key-123"})
        assert "wrong" in wrong["message"]
    # reads of data stay open, and the right key opens the rest
    await api.ok("GET", "/api/groups")
    await api.ok("GET", "/api/tasks")
    assert (await api.client.get("/metrics")).status_code == 200
    queues = await api.ok("GET", "/api/queues", headers={"X-API-Key": API_KEY})
    assert {q["name"] for q in queues} == {"vk-collect", "process-groups", "vk-collect-group"}
    paused = await api.ok("POST", "/api/queues/vk-collect/pause", headers={"X-API-Key": API_KEY})
    assert paused == {"queues": ["vk-collect"], "paused": True}


async def test_without_a_key_everything_is_open(api: Api) -> None:
    for method, path in MUTATING:
        response = await api.client.request(method, path)
        assert response.status_code != 401, (method, path)


async def test_a_bug_is_a_500_envelope_naming_the_request_id(api: Api) -> None:
    async def boom() -> None:
        raise RuntimeError("bug with access_token=abc123secret")

    api.app.add_api_route("/boom", boom)
    error = await api.error("GET", "/boom", 500, headers={"X-Request-ID": "req-500"})
    assert error["code"] == "INTERNAL_ERROR"
    assert "req-500" in error["message"]
    assert "abc123secret" not in error["message"]


async def test_the_dashboard_is_served_at_the_root(api: Api) -> None:
    pytest.importorskip("vk_collector.api.dashboard")
    page = await api.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "cdn" not in page.text.lower()


@pytest.mark.parametrize(
    "accept",
    [
        "",  # curl and scripts that name nothing
        "*/*",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",  # Chromium
        "text/html, application/json",
    ],
)
async def test_the_root_answers_the_dashboard_unless_json_alone_is_asked_for(
    api: Api, accept: str
) -> None:
    page = await api.client.get("/", headers={"Accept": accept})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Accept" in page.headers["vary"]


@pytest.mark.parametrize("accept", ["application/json", "application/json, text/plain, */*"])
async def test_the_root_answers_the_originals_info_object_to_a_json_client(
    api: Api, accept: str
) -> None:
    """The original backend answered ``GET /`` with {success, data: {version,
    environment, uptime}, message, timestamp}; axios sends the second header."""
    answer = await api.client.get("/", headers={"Accept": accept})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert "Accept" in answer.headers["vary"]
    body = answer.json()
    assert body["success"] is True
    assert set(body["data"]) == {"version", "environment", "uptime"}
    assert body["data"]["version"] == (await api.ok("GET", "/api/health"))["version"]
    assert body["data"]["environment"] == "production"
    assert isinstance(body["data"]["uptime"], float)
    assert body["data"]["uptime"] >= 0
    assert body["message"] == "vk-collector is running"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", body["timestamp"])
    assert body["requestId"] == answer.headers["x-request-id"]
