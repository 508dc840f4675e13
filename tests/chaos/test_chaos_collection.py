"""One collection survives what production throws at it, all in the same run.

Ten communities are collected against the emulator at VK's real rate (3 requests/s per
token, enforced by the emulator) with 15 % injected VK faults (errors 1, 6, 10, HTTP
5xx, non-JSON bodies), by ``vk-collector worker`` processes behind a
``vk-collector serve --no-workers`` API, while, one after the other:

1. the worker is SIGKILLed and another one started;
2. the Redis server (its own, with its append-only file; Debian's Redis 7 under
   ``make pytest-redis7``) is SIGKILLed and restarted on the same port; no process
   is restarted for it;
3. PostgreSQL is stopped for 5 s (PostgreSQL run);
4. the API process is restarted while a client follows the task's SSE stream;
5. the worker is SIGTERMed mid-job: it exits 0 within its grace period and hands the
   job back, and a third worker finishes it.

Then the stored posts and comments equal what the emulator serves, none twice, and
the task's counters equal the stored rows.  The figures (faults, retries, recovery
times) are printed at the end of the session (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from vk_collector.embedded import free_port
from vk_collector.queue.keys import group_job_id
from vk_collector.storage import Database
from vk_emulator import FaultConfig

from support.chaos import ServiceProcess, SseFollower, service_env, until_changed
from support.database import _PG_BINDIR, PostgresCluster
from support.emulator import EmulatorFactory
from support.pipelines import expected_comments
from support.polling import eventually
from support.redis_server import CrashableRedis, redis_binary

GROUPS = [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]  # ten open communities
LIMIT = 10
# 15 % in all; seed 127 draws every kind within the first 8 requests
FAULTS = FaultConfig(
    error_1=0.03, error_6=0.03, error_10=0.03, http_5xx=0.03, non_json=0.03, seed=127
)
GRACE_S = 2.0  # VKC_QUEUE_SHUTDOWN_TIMEOUT_S of the chaos processes
RECOVERY_S = 30.0  # the deadline of every recovery


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def chaos_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, PostgresCluster | None]]:
    """A database URL, and on the PostgreSQL run the private cluster to stop and start."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'chaos.db'}", None
        return
    if not (_PG_BINDIR / "pg_ctl").exists():
        pytest.fail(f"PostgreSQL binaries not found in {_PG_BINDIR}; set VKC_TEST_PG_BINDIR")
    cluster = PostgresCluster(_PG_BINDIR)
    try:
        url = cluster.start()
        yield url, cluster
    finally:
        cluster.stop()


async def progress(db: Database) -> tuple[int, ...]:
    """What grows while the collection runs: comments, posts, finished communities."""
    async with db.unit_of_work(read_only=True) as uow:
        row = (
            await uow.session.execute(
                text(
                    "SELECT (SELECT count(*) FROM comments), (SELECT count(*) FROM posts),"
                    " (SELECT count(*) FROM task_groups"
                    "  WHERE state NOT IN ('pending', 'processing'))"
                )
            )
        ).one()
    return tuple(int(v) for v in row)


class Api:
    """The API as its client sees it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def up(self, within: float = RECOVERY_S) -> float:
        started = time.monotonic()

        async def answers() -> bool:
            try:
                return (await self.client.get("/api/health")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(answers, within=within, every=0.05)
        return round(time.monotonic() - started, 2)

    async def data(self, method: str, url: str, **kwargs: Any) -> Any:
        answer = await self.client.request(method, url, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer.json()["data"]

    async def task(self, task_id: int) -> dict[str, Any]:
        task: dict[str, Any] = await self.data("GET", f"/api/tasks/{task_id}")
        return task

    async def finished(self, task_id: int, within: float) -> dict[str, Any]:
        async def done() -> bool:
            return (await self.task(task_id))["status"] in ("completed", "failed")

        await eventually(done, within=within, every=0.1)
        return await self.task(task_id)

    async def job_state(self, job_id: str) -> str:
        answer = await self.client.get(f"/api/jobs/{job_id}")
        return str(answer.json()["data"]["state"]) if answer.status_code == 200 else "none"


async def test_one_collection_survives_everything_at_once(
    chaos_database: tuple[str, PostgresCluster | None],
    persistent_redis: CrashableRedis,
    emulator_factory: EmulatorFactory,
    tmp_path: Path,
    queue_prefix: str,
    chaos_figures: list[dict[str, Any]],
) -> None:
    database_url, cluster = chaos_database
    emulator = emulator_factory(faults=FAULTS, rps=3.0)
    env = service_env(
        redis_url=persistent_redis.url,
        database_url=database_url,
        vk_api_url=emulator.url,
        data_dir=tmp_path / "data",
        prefix=queue_prefix,
    )
    port = free_port()
    figures: dict[str, Any] = {
        "run": f"{'redis-server' if redis_binary() else 'valkey'} + "
        f"{'postgresql' if cluster else 'sqlite'}"
    }
    processes: list[ServiceProcess] = []

    def spawn(name: str, *args: str) -> ServiceProcess:
        process = ServiceProcess(name, list(args), env, tmp_path)
        processes.append(process)
        return process

    db = Database(database_url)
    redis = aioredis.Redis.from_url(persistent_redis.url, decode_responses=True)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    api = Api(client)
    began = time.monotonic()
    following: asyncio.Task[None] | None = None
    try:
        first_api = spawn("api-1", "serve", "--port", str(port), "--no-workers")
        worker = spawn("worker-1", "worker")
        await api.up()
        await worker.ready("worker ready")
        content = "\n".join(str(g) for g in GROUPS).encode()
        upload = await api.data("POST", "/api/groups/upload", files={"file": ("g.txt", content)})
        resolved = await api.finished(upload["taskId"], within=RECOVERY_S)
        assert resolved["status"] == "completed", resolved["errorMessage"]
        created = await api.data(
            "POST", "/api/tasks/collect", json={"vkIds": GROUPS, "limit": LIMIT}
        )
        task_id, job_id = created["id"], created["jobId"]
        follower = SseFollower(str(client.base_url), task_id)
        following = asyncio.create_task(follower.run())

        async def mid_collection(fault: str) -> None:
            await until_changed(lambda: progress(db), within=RECOVERY_S)
            task = await api.task(task_id)
            assert task["status"] == "processing", f"the collection ended too early: {task}"
            done = await progress(db)
            figures.setdefault("comments stored when injected", {})[fault] = done[0]

        # 1. a worker SIGKILLed, another started
        await mid_collection("worker SIGKILL")
        worker.kill()
        worker = spawn("worker-2", "worker")
        figures["worker SIGKILL: recovery s"] = await until_changed(
            lambda: progress(db), within=RECOVERY_S
        )

        # 2. Redis SIGKILLed and restarted on its port; nothing else is restarted
        await mid_collection("redis SIGKILL")
        persistent_redis.kill()
        persistent_redis.start()
        figures["redis SIGKILL: recovery s"] = await until_changed(
            lambda: progress(db), within=RECOVERY_S
        )
        assert (await client.get("/api/queues")).status_code == 200  # the API reconnected

        # 3. PostgreSQL down for 5 s
        if cluster is not None:
            await mid_collection("postgresql stop")
            await asyncio.to_thread(cluster.stop_server)
            await asyncio.sleep(5)  # the outage itself, not a wait for something
            await asyncio.to_thread(cluster.start_server)
            figures["postgresql 5 s outage: recovery s after restart"] = await until_changed(
                lambda: progress(db), within=RECOVERY_S
            )

        # 4. the API restarted while the client follows the SSE stream
        await mid_collection("API restart")
        streams_before = follower.streams
        code, _ = await first_api.terminate(within=30)
        assert code == 0, first_api.output()[-3000:]
        spawn("api-2", "serve", "--port", str(port), "--no-workers")
        figures["API restart: down s"] = await api.up()

        # 5. the worker SIGTERMed mid-job: exits 0 within its grace, hands the job back
        await mid_collection("worker SIGTERM")
        # the task's job waits for its communities' jobs: one of those is handed back
        children = [group_job_id(task_id, g) for g in GROUPS]
        active: list[str] = []

        async def a_child_active() -> bool:
            active[:] = [c for c in children if await api.job_state(c) == "active"]
            return bool(active)

        await eventually(a_child_active, within=RECOVERY_S, every=0.05)
        code, took = await worker.terminate(within=GRACE_S + 10)
        assert code == 0, worker.output()[-3000:]
        assert took < GRACE_S + 3, took
        # each community it held was either finished within the grace period or handed
        # back to the queue (a community is a few seconds of work at 3 requests/s)
        output = worker.output()
        handed = [c for c in active if re.search(rf"job\.handed_back\s+job_id={c}\s", output)]
        finished = [c for c in active if await api.job_state(c) == "completed"]
        assert sorted(handed + finished) == sorted(active), (active, handed, finished)
        for child in handed:
            assert await api.job_state(child) in ("waiting", "delayed", "prioritized")
        figures["worker SIGTERM: communities handed back"] = len(handed)
        figures["worker SIGTERM: exit s"] = round(took, 2)
        worker = spawn("worker-3", "worker")
        if (await progress(db))[2] < len(GROUPS):  # communities left: the new worker goes on
            figures["worker SIGTERM: recovery s"] = await until_changed(
                lambda: progress(db), within=RECOVERY_S
            )

        task = await api.finished(task_id, within=90)
        figures["collection s"] = round(time.monotonic() - began, 1)
        await eventually(following.done, within=RECOVERY_S)
        following.result()
        job = await api.data("GET", f"/api/jobs/{job_id}")
        stalled = await redis.hget(f"{queue_prefix}:vk-collect:{job_id}", "stc")
    finally:
        if following is not None and not following.done():
            following.cancel()
        for process in processes:
            process.close()
        await client.aclose()
        await redis.aclose()

    # the task completed, and the client following it saw that
    assert task["status"] == "completed", task["errorMessage"]
    assert follower.final is not None
    assert follower.final[0] in ("completed", "polled:completed"), follower.final
    assert follower.drops >= 1
    assert follower.streams > streams_before  # the stream was reopened on the new API
    assert job["state"] == "completed"

    # the stored rows are exactly what the emulator serves
    async with db.unit_of_work(read_only=True) as uow:
        session = uow.session
        posts = [
            tuple(r) for r in await session.execute(text("SELECT owner_id, post_id FROM posts"))
        ]
        comments = [
            (r[0], r[1], r[2], r[3], bool(r[4]))
            for r in await session.execute(
                text("SELECT owner_id, comment_id, parent_comment_id, text, deleted FROM comments")
            )
        ]
    await db.dispose()
    expected_posts, expected = expected_comments(emulator.dataset, GROUPS, LIMIT)
    assert len(posts) == len(set(posts))
    assert set(posts) == expected_posts
    assert len(comments) == len(set(comments))
    assert set(comments) == expected
    result = task["result"]
    assert result["postsProcessed"] == len(posts)
    assert result["commentsCollected"] == len(comments)
    assert result["groupsProcessed"] == len(GROUPS)
    assert result["errors"] == []
    assert task["stats"]["postsProcessed"] == len(posts)
    assert task["stats"]["commentsCollected"] == len(comments)

    stats = emulator.stats()
    injected = stats["faults"]
    assert set(injected) >= {"error_1", "error_6", "error_10", "http_5xx", "non_json"}
    figures.update(
        {
            "VK requests": stats["total_requests"],
            "VK faults injected": dict(sorted(injected.items())),
            "VK request retries": sum(p.output().count("vk.retry") for p in processes),
            "job attempts made": job["attemptsMade"],
            "job stalled and taken over": int(stalled or 0),
            "job re-enqueued by reconciliation": task["parameters"].get("requeues", 0),
            "SSE streams opened / dropped / polls": (
                f"{follower.streams} / {follower.drops} / {follower.polls}"
            ),
            "posts / comments": f"{len(posts)} / {len(comments)}",
        }
    )
    chaos_figures.append(figures)
