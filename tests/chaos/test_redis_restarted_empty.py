"""A Redis that comes back empty mid-collection loses the job, not the task.

The database is the record: the reconciliation loop of the worker's process sees an
unfinished task without a job, enqueues it again under its job id, and the collection
resumes from what it recorded.  The stored data equals what the emulator serves.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from vk_collector.bootstrap import Runtime
from vk_collector.pipelines import CollectRequest
from vk_collector.settings import RedisSettings, Settings
from vk_collector.storage import TaskStatus
from vk_emulator import EmulatorServer

from support.pipelines import expected_comments, pipeline_settings, wait_finished
from support.polling import eventually
from support.redis_server import CrashableRedis

GROUPS = [1, 2, 3, 4, 5, 11]
LIMIT = 4


async def count(runtime: Runtime, table: str) -> int:
    async with runtime.db.unit_of_work(read_only=True) as uow:
        return int(await uow.session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def test_a_redis_restarted_empty_mid_collection_loses_nothing(
    settings: Settings,
    emulator: EmulatorServer,
    crashable_redis: CrashableRedis,
    chaos_figures: list[dict[str, Any]],
) -> None:
    configured = pipeline_settings(settings, emulator, rps_user=10.0).model_copy(
        update={"redis": RedisSettings(url=crashable_redis.url)}
    )
    configured.queues.reconcile_grace_s = 1.0
    configured.queues.reconcile_interval_s = 0.3
    runtime = Runtime.create(configured, crashable_redis.url, with_workers=True)
    await runtime.start()
    try:
        upload = await runtime.pipelines.upload_groups(
            "\n".join(map(str, GROUPS)).encode(), max_bytes=1000
        )
        assert (await wait_finished(runtime, upload.task.id)).status is TaskStatus.COMPLETED
        task = await runtime.pipelines.start_collection(CollectRequest(vk_ids=GROUPS, limit=LIMIT))

        async def midway() -> bool:
            assert not (await runtime.tasks.get(task.id)).is_finished, "ended before the crash"
            return await count(runtime, "comments") > 0

        await eventually(midway, within=20, every=0.05)
        crashable_redis.kill()
        at_crash = await count(runtime, "comments")
        crashable_redis.start()  # same port, no data: the job is gone
        restarted = time.monotonic()
        assert await runtime.queue.get_job(f"vk-collect-{task.id}") is None

        done = await wait_finished(runtime, task.id, within=40)
        recovered_s = time.monotonic() - restarted
        assert done.status is TaskStatus.COMPLETED, done.error_message
        assert done.parameters["requeues"] >= 1
        job = await runtime.queue.get_job(f"vk-collect-{task.id}")
        assert job is not None
        assert await runtime.queue.get_job_state(job) == "completed"

        async with runtime.db.unit_of_work(read_only=True) as uow:
            posts = [
                tuple(r)
                for r in await uow.session.execute(text("SELECT owner_id, post_id FROM posts"))
            ]
            comments = [
                tuple(r)
                for r in await uow.session.execute(
                    text(
                        "SELECT owner_id, comment_id, parent_comment_id, text, deleted"
                        " FROM comments"
                    )
                )
            ]
        expected_posts, expected = expected_comments(emulator.dataset, GROUPS, LIMIT)
        assert 0 < at_crash < len(expected)
        assert len(posts) == len(set(posts))
        assert set(posts) == expected_posts
        assert len(comments) == len(set(comments))
        assert {(o, c, p, t, bool(d)) for o, c, p, t, d in comments} == expected
        assert done.result is not None
        assert done.result["commentsCollected"] == len(comments)
        assert done.result["postsProcessed"] == len(posts)
        assert recovered_s < 30
        chaos_figures.append(
            {
                "run": "Redis restarted empty (reconciliation grace 1 s, interval 0.3 s)",
                "comments stored at the crash": at_crash,
                "re-enqueued": done.parameters["requeues"],
                "restart to completed s": round(recovered_s, 2),
            }
        )
    finally:
        await runtime.close()
