"""Exhaustion without a key: bodies refused before they are read, bounded exports and
upload parses, a busy database answered with 503 in seconds, and connections that
cannot hang on forever."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from urllib.parse import urlsplit

from conftest import API_KEY, Api, StartApi
from vk_collector.settings import ApiSettings, DatabaseSettings, Settings
from vk_collector.storage import CommentData, PostData, TaskType
from vk_collector.storage.engine import READER_THREADS

from support.polling import eventually


def _api_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"api": ApiSettings(**changes)})  # type: ignore[arg-type]


async def _raw(api: Api, head: str, body: bytes = b"", within: float = 5.0) -> tuple[int, bytes]:
    """Send a request head (and maybe part of a body) on a raw socket; return the
    status and the answer.  The server must answer without the rest of the body."""
    parts = urlsplit(api.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), within)
        return int(answer.split(b" ", 2)[1]), answer
    finally:
        writer.close()


def _head(path: str, length: int, content_type: str, *extra: str) -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
        *extra,
    ]
    return "\n".join(lines) + "\n"


async def test_the_key_is_checked_before_a_huge_body_is_read(start_api: StartApi) -> None:
    api = await start_api(key=API_KEY)
    started = time.monotonic()
    status, answer = await _raw(
        api, _head("/api/tasks/collect", 300 * 1024 * 1024, "application/json"), b"{"
    )
    assert status == 401
    assert b"UNAUTHORIZED" in answer
    assert time.monotonic() - started < 3


async def test_a_wrong_content_type_is_415_before_the_body(api: Api) -> None:
    status, answer = await _raw(api, _head("/api/tasks/collect", 400_000_000, "text/plain"))
    assert status == 415
    assert b"application/json" in answer
    status, _ = await _raw(api, _head("/api/groups/upload", 1000, "application/json"))
    assert status == 415


async def test_json_bodies_are_capped_declared_or_streamed(start_api: StartApi) -> None:
    api = await start_api()
    status, answer = await _raw(
        api, _head("/api/tasks/collect", 1024 * 1024 + 1, "application/json")
    )
    assert status == 413
    assert b"1048576" in answer

    # no Content-Length: the body is counted as it streams in, and cut off past 1 MiB
    chunk = b" " * (1024 * 1024 + 10)
    status, answer = await _raw(
        api,
        "POST /api/tasks/collect HTTP/1.1\nHost: 127.0.0.1\n"
        "Content-Type: application/json\nTransfer-Encoding: chunked\n",
        f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n",
    )
    assert status == 413
    assert b"FILE_TOO_LARGE" in answer
    # a small body still reaches the route
    response = await api.client.post("/api/tasks/collect", json={"groupIds": []})
    assert response.status_code in (202, 400), response.text


async def test_an_upload_with_too_many_identifiers_is_refused(
    start_api: StartApi, settings: Settings
) -> None:
    api = await start_api(settings.model_copy(update={"max_upload_identifiers": 10}))
    content = "\n".join(f"club{i}" for i in range(1, 12)).encode()
    error = await api.error("POST", "/api/groups/upload", 413, files={"file": ("g.txt", content)})
    assert "more than 10 identifiers" in error["message"]
    await api.ok("POST", "/api/groups/upload", 202, files={"file": ("g.txt", content[:-7])})


async def test_concurrent_upload_parses_are_bounded(
    start_api: StartApi, settings: Settings
) -> None:
    api = await start_api(_api_settings(settings, max_concurrent_uploads=1))
    parts = urlsplit(api.url)
    _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:  # an upload whose body is still arriving holds the only parse slot
        boundary = "b0undary"
        writer.write(
            _head(
                "/api/groups/upload", 100_000, f"multipart/form-data; boundary={boundary}"
            ).encode()
            + b"\r\n"
            + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="g.txt"\r\n\r\nclub1\n'.encode()
        )
        await writer.drain()
        await eventually(lambda: api.app.state.upload_slots.in_use == 1, within=5)
        error = await api.error(
            "POST", "/api/groups/upload", 429, files={"file": ("g.txt", b"club1")}
        )
        assert error["code"] == "TOO_MANY_REQUESTS"
    finally:
        writer.close()
    await eventually(lambda: api.app.state.upload_slots.in_use == 0, within=5)
    await api.ok("POST", "/api/groups/upload", 202, files={"file": ("g.txt", b"club1")})


async def _large_task(api: Api, comments: int = 20_000) -> int:
    async with api.runtime.db.unit_of_work() as uow:
        task = await uow.tasks.create(TaskType.FETCH_COMMENTS, {})
        await uow.posts.upsert_many([PostData(owner_id=-1, post_id=1, date=1)], task_id=task.id)
        await uow.comments.upsert_many(
            CommentData(owner_id=-1, comment_id=i, post_id=1, date=1, from_id=1, text="x" * 400)
            for i in range(comments)
        )
        await uow.commit()
    return task.id


async def test_concurrent_exports_are_bounded_with_429_and_retry_after(
    start_api: StartApi, settings: Settings
) -> None:
    api = await start_api(_api_settings(settings, max_concurrent_exports=1))
    task_id = await _large_task(api)
    url = f"/api/results/{task_id}/export?format=csv"
    parts = urlsplit(api.url)
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # no autotuning
    stalled.connect((parts.hostname, parts.port))
    stalled.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=stalled)
    try:
        writer.write(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
        # then stop reading: the server's writes block once the buffers are full
        second = await api.client.get(url)
        assert second.status_code == 429
        assert second.headers["retry-after"].isdigit()
        assert second.json()["code"] == "TOO_MANY_REQUESTS"
        # once its writes block, the stalled download holds no database connection
        pool = api.runtime.db.engine.pool
        await eventually(lambda: pool.checkedout() == 0, within=5)  # type: ignore[attr-defined]
        await api.ok("GET", f"/api/results/{task_id}/summary")
    finally:
        writer.close()
    # the client went away: its slot is free again
    await eventually(lambda: api.app.state.export_slots.in_use == 0, within=5)
    done = await api.client.get(url)
    assert done.status_code == 200
    assert done.content.count(b"\n") == 20_001


async def test_a_database_without_free_connections_is_503_within_seconds(
    start_api: StartApi, settings: Settings
) -> None:
    custom = settings.model_copy(
        update={"database": DatabaseSettings(url=settings.database.url, pool_timeout_s=0.5)}
    )
    api = await start_api(custom)
    task = await api.ok("POST", "/api/tasks", 201, json={"ownerId": -1, "postId": 1})
    engine = api.runtime.db.engine
    held = [await engine.connect() for _ in range(15)]  # pool_size 5 + max_overflow 10
    try:
        started = time.monotonic()
        # a unit of work (the list pages read through Database.read's own pool)
        error = await api.error("GET", f"/api/tasks/{task['taskId']}", 503)
        assert time.monotonic() - started < 3
        assert error["code"] == "DATABASE_UNAVAILABLE"
        assert "busy" in error["message"]
    finally:
        for connection in held:
            await connection.close()
    await api.ok("GET", f"/api/tasks/{task['taskId']}")


async def test_list_pages_are_503_within_seconds_while_every_reader_thread_is_stuck(
    start_api: StartApi, settings: Settings
) -> None:
    custom = settings.model_copy(
        update={"database": DatabaseSettings(url=settings.database.url, pool_timeout_s=0.5)}
    )
    api = await start_api(custom)
    db = api.runtime.db
    release = threading.Event()
    entered = threading.Semaphore(0)

    def stuck(_connection: object) -> None:
        entered.release()
        release.wait(10)

    stuck_reads = [asyncio.create_task(db.read(stuck)) for _ in range(READER_THREADS)]
    try:
        for _ in range(READER_THREADS):
            assert await asyncio.to_thread(entered.acquire, True, 5)
        started = time.monotonic()
        error = await api.error("GET", "/api/tasks?page=1&limit=20", 503)
        assert time.monotonic() - started < 3
        assert error["code"] == "DATABASE_UNAVAILABLE"
        assert "busy" in error["message"]
    finally:
        release.set()
        await asyncio.gather(*stuck_reads)
    await api.ok("GET", "/api/tasks?page=1&limit=20")
