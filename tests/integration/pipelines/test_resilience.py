"""Collection survives what production throws at it, and fails fast on what it cannot.

- 20 % transient VK failures (errors 1, 6, 10, HTTP 5xx, non-JSON bodies): the stored
  posts and comments equal a fault-free run's, row for row, and what the emulator serves.
- An invalid token (VK error 5): the collection and the upload fail within seconds,
  after one attempt, with a reason that names authorization.
- A worker process killed with SIGKILL mid-collection: a second worker process takes the
  stalled job over and the stored data again equals the fault-free run's.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from vk_collector.bootstrap import Runtime
from vk_collector.pipelines import CollectRequest
from vk_collector.retries import instant_retries
from vk_collector.settings import DatabaseSettings, Settings
from vk_collector.storage import GroupData, TaskRecord, TaskStatus
from vk_emulator import EmulatorServer, FaultConfig

from support.emulator import EmulatorFactory
from support.pipelines import expected_comments, pipeline_settings, running, wait_finished
from support.polling import eventually

OPEN_GROUPS = [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]
FAILING_GROUPS = [6, 10]  # a closed wall and a disabled one: recorded as community errors
GROUPS = sorted(OPEN_GROUPS + FAILING_GROUPS)
LIMIT = 5
FAST_RPS = 100.0  # the client's own limiter; the session emulator has no limit

POST_COLUMNS = "owner_id, post_id, text, date, likes, reposts, views, comments_count, is_pinned"
COMMENT_COLUMNS = (
    "owner_id, comment_id, post_id, parent_comment_id, reply_to_comment, from_id, text, date,"
    " likes, deleted"
)

Row = tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Stored:
    posts: list[Row]
    comments: list[Row]
    result: dict[str, Any]


def variant(settings: Settings, name: str) -> Settings:
    """The same settings with a database and a queue prefix of their own."""
    database = DatabaseSettings(url=f"sqlite+aiosqlite:///{settings.data_dir / f'{name}.db'}")
    queues = settings.queues.model_copy(update={"prefix": f"{settings.queues.prefix}-{name}"})
    return settings.model_copy(update={"database": database, "queues": queues})


async def rows(runtime: Runtime, table: str, columns: str) -> list[Row]:
    async with runtime.db.unit_of_work(read_only=True) as uow:
        result = await uow.session.execute(text(f"SELECT {columns} FROM {table}"))
        return [tuple(r) for r in result]


async def stored(runtime: Runtime, task: TaskRecord) -> Stored:
    assert task.result is not None
    return Stored(
        posts=await rows(runtime, "posts", POST_COLUMNS),
        comments=await rows(runtime, "comments", COMMENT_COLUMNS),
        result=task.result,
    )


async def upload(runtime: Runtime, groups: list[int]) -> None:
    data = "\n".join(str(g) for g in groups).encode()
    task = await wait_finished(
        runtime, (await runtime.pipelines.upload_groups(data, max_bytes=1000)).task.id
    )
    assert task.status is TaskStatus.COMPLETED, task.error_message


async def collect(runtime: Runtime, groups: list[int] = GROUPS) -> TaskRecord:
    """Upload ``groups``, collect them (replies included) and wait for the task's end."""
    await upload(runtime, groups)
    task = await runtime.pipelines.start_collection(CollectRequest(vk_ids=groups, limit=LIMIT))
    done = await wait_finished(runtime, task.id, within=45)
    assert done.status is TaskStatus.COMPLETED, done.error_message
    return done


async def reference_run(settings: Settings, redis_url: str, emulator: EmulatorServer) -> Stored:
    """A fault-free collection in a database and queue prefix of its own."""
    reference = variant(pipeline_settings(settings, emulator, rps_user=FAST_RPS), "reference")
    async with running(reference, redis_url, with_workers=True) as runtime:
        return await stored(runtime, await collect(runtime))


def assert_same_data(run: Stored, reference: Stored, emulator: EmulatorServer) -> None:
    posts, comments = expected_comments(emulator.dataset, OPEN_GROUPS, LIMIT)
    assert len(run.comments) == len(set(run.comments))  # none twice
    assert len(run.posts) == len(set(run.posts))
    assert {(r[0], r[1]) for r in run.posts} == posts  # none missing, none extra
    # (owner_id, comment_id, parent, text, deleted), replies included
    assert {(r[0], r[1], r[3], r[6], bool(r[9])) for r in run.comments} == comments
    assert any(r[3] is not None for r in run.comments)  # replies were collected
    assert sorted(run.posts) == sorted(reference.posts)  # every column, row for row
    assert sorted(run.comments) == sorted(reference.comments)
    for key in ("commentsCollected", "postsProcessed", "groupsProcessed", "success"):
        assert run.result[key] == reference.result[key], key
    assert sorted(int(e["groupId"]) for e in run.result["errors"]) == FAILING_GROUPS
    assert sorted(int(e["groupId"]) for e in reference.result["errors"]) == FAILING_GROUPS


# --- transient faults --------------------------------------------------------------


async def test_twenty_percent_transient_faults_change_nothing_that_is_stored(
    settings: Settings,
    redis_url: str,
    emulator: EmulatorServer,
    emulator_factory: EmulatorFactory,
) -> None:
    # seed 12 draws every kind within the first 40 requests (the run sends about 60)
    faults = FaultConfig(
        error_1=0.04, error_6=0.04, error_10=0.04, http_5xx=0.04, non_json=0.04, seed=12
    )
    # the same dataset (same seed and anchor hour) as the fault-free session emulator
    faulty = emulator_factory(faults=faults, anchor_time=emulator.dataset.anchor_time)
    with instant_retries():
        reference = await reference_run(settings, redis_url, emulator)
        fault_settings = pipeline_settings(settings, faulty, rps_user=FAST_RPS)
        async with running(fault_settings, redis_url, with_workers=True) as runtime:
            run = await stored(runtime, await collect(runtime))

    injected = faulty.stats()["faults"]
    requests = faulty.stats()["total_requests"]
    assert set(injected) >= {"error_1", "error_6", "error_10", "http_5xx", "non_json"}
    assert sum(injected.values()) >= 0.1 * requests, (injected, requests)
    assert_same_data(run, reference, emulator)


# --- fatal errors --------------------------------------------------------------------


@pytest.fixture
async def bad_token_runtime(
    settings: Settings, redis_url: str, emulator: EmulatorServer
) -> AsyncIterator[Runtime]:
    bad = pipeline_settings(settings, emulator, tokens=["not-a-token"], rps_user=FAST_RPS)
    async with running(bad, redis_url, with_workers=True) as runtime:
        yield runtime


def errors_5(emulator: EmulatorServer) -> int:
    errors = emulator.stats()["errors"]
    return int(errors.get(5, errors.get("5", 0)))


async def assert_failed_once(runtime: Runtime, job_id: str, task: TaskRecord) -> None:
    assert task.status is TaskStatus.FAILED
    assert task.error_message is not None
    assert "authoriz" in task.error_message.lower(), task.error_message
    assert "error 5" in task.error_message, task.error_message
    assert "not-a-token" not in task.error_message
    job = await runtime.queue.get_job(job_id)
    assert job is not None
    assert await runtime.queue.get_job_state(job) == "failed"
    assert job.attemptsMade == 1
    assert job.failedReason is not None
    assert "authoriz" in job.failedReason.lower()


async def test_an_invalid_token_fails_the_collection_at_once_without_retries(
    bad_token_runtime: Runtime, emulator: EmulatorServer
) -> None:
    runtime = bad_token_runtime
    async with runtime.db.unit_of_work() as uow:
        await uow.groups.upsert_many(
            [GroupData(vk_id=1, name="one"), GroupData(vk_id=2, name="two")]
        )
        await uow.commit()

    started = time.monotonic()
    task = await runtime.pipelines.start_collection(CollectRequest(vk_ids=[1, 2], limit=3))
    done = await wait_finished(runtime, task.id, within=10)
    elapsed = time.monotonic() - started

    assert elapsed < 5, elapsed
    await assert_failed_once(runtime, f"vk-collect-{task.id}", done)
    assert errors_5(emulator) == 1  # one request, no retry by the client either


async def test_an_invalid_token_fails_the_upload_at_once_without_retries(
    bad_token_runtime: Runtime, emulator: EmulatorServer
) -> None:
    runtime = bad_token_runtime
    started = time.monotonic()
    upload = await runtime.pipelines.upload_groups(b"1\n2\nclub3\n", max_bytes=1000)
    done = await wait_finished(runtime, upload.task.id, within=10)
    elapsed = time.monotonic() - started

    assert elapsed < 5, elapsed
    await assert_failed_once(runtime, f"process-groups-{upload.task.id}", done)
    assert errors_5(emulator) == 1
    async with runtime.db.unit_of_work(read_only=True) as uow:
        assert (await uow.groups.list(page=1, limit=10)).items == []


# --- a worker process dies ---------------------------------------------------------


class WorkerProcess:
    """``vk-collector worker --queue vk-collect`` in a child process, its output in ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vk_collector.cli", "worker", "--queue", "vk-collect"],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self, within: float = 20.0) -> None:
        def started() -> bool:
            assert self.process.poll() is None, self.output()
            return "worker ready" in self.output()

        await eventually(started, within=within, every=0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._out.close()
        return self.process.returncode


def worker_env(settings: Settings, emulator: EmulatorServer) -> dict[str, str]:
    options = settings.queues.vk_collect
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VKC_", "VK_"))},
        "REDIS_URL": str(settings.redis.url),
        "DATABASE_URL": settings.database_url,
        "VK_API_URL": emulator.url,
        "VK_TOKENS": "demo-user-token",
        "VKC_DATA_DIR": str(settings.data_dir),
        "VKC_LOG_LEVEL": "INFO",
        "VKC_VK_RPS_USER": str(settings.vk.rps_user),
        "VKC_QUEUE_PREFIX": settings.queues.prefix,
        "VKC_QUEUE_SHUTDOWN_TIMEOUT_S": "5",
        "VKC_QUEUE_VK_COLLECT__ATTEMPTS": str(options.attempts),
        "VKC_QUEUE_VK_COLLECT__DELAY_MS": "0",
        "VKC_QUEUE_VK_COLLECT__BACKOFF_DELAY_MS": str(options.backoff_delay_ms),
        "VKC_QUEUE_VK_COLLECT__LOCK_DURATION_MS": str(options.lock_duration_ms),
        "VKC_QUEUE_VK_COLLECT__STALLED_INTERVAL_MS": str(options.stalled_interval_ms),
    }


async def test_a_killed_worker_process_is_taken_over_and_nothing_is_lost(
    settings: Settings, redis_url: str, emulator: EmulatorServer, tmp_path: Path
) -> None:
    # 8 requests/s (the client's per-token limit, shared through Redis by both
    # worker processes): the collection takes several seconds, time to kill it midway.
    producer = pipeline_settings(settings, emulator, rps_user=8.0)
    producer.queues.vk_collect.lock_duration_ms = 2000
    producer.queues.vk_collect.stalled_interval_ms = 1000
    env = worker_env(producer, emulator)
    # not concurrently with the runtime below: two migrations at once in one process clash
    reference = await reference_run(settings, redis_url, emulator)

    async with running(producer, redis_url, with_workers=False) as runtime:
        fast = pipeline_settings(settings, emulator, rps_user=FAST_RPS)
        async with running(fast, redis_url, with_workers=True, queues=["process-groups"]) as up:
            await upload(up, GROUPS)
        first = WorkerProcess(env, tmp_path / "worker-1.log")
        second: WorkerProcess | None = None
        try:
            await first.ready()
            task = await runtime.pipelines.start_collection(
                CollectRequest(vk_ids=GROUPS, limit=LIMIT)
            )

            async def midway() -> bool:
                if (await runtime.tasks.get(task.id)).is_finished:
                    raise AssertionError("the collection ended before the kill")
                return len(await rows(runtime, "comments", "comment_id")) > 0

            await eventually(midway, within=20, every=0.05)
            first.kill()
            assert first.process.returncode == -signal.SIGKILL
            killed_at = len(await rows(runtime, "comments", "comment_id"))

            second = WorkerProcess(env, tmp_path / "worker-2.log")
            await second.ready()
            done = await wait_finished(runtime, task.id, within=45)
            assert done.status is TaskStatus.COMPLETED, done.error_message
            run = await stored(runtime, done)
            job = await runtime.queue.get_job(f"vk-collect-{task.id}")
            assert job is not None
            assert await runtime.queue.get_job_state(job) == "completed"
        finally:
            first.stop()
            if second is not None:
                assert second.stop() == 0, second.output()  # a graceful stop on SIGTERM

    assert job.stalledCounter == 1  # taken over through stall detection, once
    assert job.attemptsMade == 1  # and not counted as a failed attempt
    _, comments = expected_comments(emulator.dataset, OPEN_GROUPS, LIMIT)
    assert 0 < killed_at < len(comments)
    assert_same_data(run, reference, emulator)
