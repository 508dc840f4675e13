"""Whole collections for the resilience and fan-out tests: a reference run, what was
stored, the checks that two runs stored the same, and ``vk-collector worker`` child
processes."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from vk_collector.bootstrap import Runtime
from vk_collector.pipelines import CollectRequest
from vk_collector.settings import DatabaseSettings, Settings
from vk_collector.storage import TaskRecord, TaskStatus
from vk_emulator import EmulatorServer

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


async def upload_before_workers(
    settings: Settings, redis_url: str, emulator: EmulatorServer
) -> None:
    """Upload :data:`GROUPS` through a runtime of its own with only a process-groups
    worker (at :data:`FAST_RPS`), so worker processes started after it only collect."""
    fast = pipeline_settings(settings, emulator, rps_user=FAST_RPS)
    async with running(fast, redis_url, with_workers=True, queues=["process-groups"]) as up:
        await upload(up, GROUPS)


async def start(runtime: Runtime, groups: list[int] = GROUPS) -> TaskRecord:
    """Start collecting ``groups`` (:data:`LIMIT` posts each, replies included)."""
    return await runtime.pipelines.start_collection(CollectRequest(vk_ids=groups, limit=LIMIT))


async def completed(runtime: Runtime, task_id: int) -> TaskRecord:
    """The task once finished (45 s at the most), asserted completed."""
    done = await wait_finished(runtime, task_id, within=45)
    assert done.status is TaskStatus.COMPLETED, done.error_message
    return done


async def collect(runtime: Runtime, groups: list[int] = GROUPS) -> TaskRecord:
    """Upload ``groups``, collect them (replies included) and wait for the task's end."""
    await upload(runtime, groups)
    return await completed(runtime, (await start(runtime, groups)).id)


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
    group = settings.queues.vk_collect_group
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
        "VKC_QUEUE_VK_COLLECT_GROUP__ATTEMPTS": str(group.attempts),
        "VKC_QUEUE_VK_COLLECT_GROUP__BACKOFF_DELAY_MS": str(group.backoff_delay_ms),
        "VKC_QUEUE_VK_COLLECT_GROUP__LOCK_DURATION_MS": str(group.lock_duration_ms),
        "VKC_QUEUE_VK_COLLECT_GROUP__STALLED_INTERVAL_MS": str(group.stalled_interval_ms),
        "VKC_QUEUE_VK_COLLECT_GROUP__MAX_STALLED_COUNT": str(group.max_stalled_count),
        "VKC_QUEUE_VK_COLLECT_GROUP__CONCURRENCY": str(group.concurrency),
    }
