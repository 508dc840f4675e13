"""Redis down: every endpoint that needs it answers 503 with a reason within seconds,
and /metrics still answers, marking what it could not read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import StartApi
from vk_collector.embedded import EmbeddedValkey, free_port
from vk_collector.settings import RedisSettings, Settings
from vk_collector.storage import GroupData, TaskStatus, TaskType

NEEDS_REDIS = [
    ("GET", "/api/queues"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/vk-collect-1"),
    ("POST", "/api/queues/vk-collect/pause"),
    ("POST", "/api/jobs/vk-collect-1/retry"),
    ("DELETE", "/api/jobs/vk-collect-1"),
]


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[EmbeddedValkey]:
    server = EmbeddedValkey(tmp_path / "valkey", port=free_port(), persistence=False)
    server.start()
    yield server
    server.stop()


async def test_without_redis_every_endpoint_answers_503_with_a_reason_in_seconds(
    start_api: StartApi, settings: Settings, own_valkey: EmbeddedValkey
) -> None:
    custom = settings.model_copy(
        update={
            "redis": RedisSettings(url=own_valkey.url, connect_timeout_s=0.5),
            "queues": settings.queues.model_copy(update={"enqueue_retry_min_s": 0.1}),
        }
    )
    api = await start_api(custom)
    await api.ok("GET", "/api/queues")
    own_valkey.stop()
    try:
        for method, path in NEEDS_REDIS:
            started = time.monotonic()
            error = await api.error(method, path, 503)
            assert time.monotonic() - started < 5, (method, path)
            assert len(error["message"]) > 25, (method, path, error)
        started = time.monotonic()
        error = await api.error(
            "POST", "/api/groups/upload", 503, files={"file": ("g.txt", b"club1\n")}
        )
        assert time.monotonic() - started < 5
        assert "Redis" in error["message"], error

        started = time.monotonic()
        scraped = await api.client.get("/metrics")
        assert time.monotonic() - started < 5
        assert scraped.status_code == 200
        assert 'vkc_scrape_source_up{source="redis"} 0.0' in scraped.text
        assert 'vkc_scrape_source_up{source="database"} 1.0' in scraped.text
        assert "vkc_tasks{" in scraped.text  # what it could read is there
    finally:
        own_valkey.start()  # the app's shutdown talks to Redis


async def test_upload_and_collect_answer_503_within_seconds_and_fail_their_task_with_the_reason(
    start_api: StartApi, settings: Settings, own_valkey: EmbeddedValkey
) -> None:
    """The default enqueue retries (1+2+4 s) once made these take 7 s; a request's add
    now gives up at ``enqueue_request_deadline_s`` (2 s).  The task row stays, failed
    with the reason, so nothing is silently lost."""
    assert settings.queues.enqueue_retry_min_s == 1.0  # the seed's retries, not shortened
    custom = settings.model_copy(update={"redis": RedisSettings(url=own_valkey.url)})
    api = await start_api(custom)
    async with api.runtime.db.unit_of_work() as uow:
        await uow.groups.upsert_many([GroupData(vk_id=1, name="One")])
        await uow.commit()
    stored = await api.ok("GET", "/api/groups")
    own_valkey.stop()
    try:
        started = time.monotonic()
        upload = await api.error(
            "POST", "/api/groups/upload", 503, files={"file": ("g.txt", b"club1\n")}
        )
        upload_s = time.monotonic() - started
        started = time.monotonic()
        collect = await api.error(
            "POST", "/api/tasks/collect", 503, json={"groups": [stored[0]["id"]]}
        )
        collect_s = time.monotonic() - started
    finally:
        own_valkey.start()
    assert upload_s < 3, upload_s
    assert collect_s < 3, collect_s
    for error in (upload, collect):
        assert "Redis" in error["message"], error
    tasks = (await api.runtime.tasks.list(limit=10)).items
    assert sorted(t.type for t in tasks) == sorted(
        [TaskType.PROCESS_GROUPS, TaskType.FETCH_COMMENTS]
    )
    for task in tasks:
        assert task.status is TaskStatus.FAILED, task
        message = task.error_message or ""
        assert "could not queue the job" in message
        assert "Redis" in message


async def test_job_ids_that_are_not_job_ids_never_reach_redis(start_api: StartApi) -> None:
    api = await start_api()
    for name in ("meta", "events", "id", "completed", "x:meta"):
        response = await api.client.get(f"/api/jobs/{name}")
        assert response.status_code == 400, (name, response.text)
    assert (await api.error("GET", "/api/jobs/vk-collect-999", 404))["code"] == "JOB_NOT_FOUND"
    assert await api.runtime.queue.get_job("meta") is None
