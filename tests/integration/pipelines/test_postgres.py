"""The same pipeline on PostgreSQL: DATABASE_URL is all it takes."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from vk_collector.bootstrap import Runtime
from vk_collector.pipelines import CollectRequest
from vk_collector.settings import DatabaseSettings, Settings
from vk_collector.storage import TaskStatus
from vk_emulator import EmulatorServer

from support.pipelines import expected_comments, pipeline_settings, wait_finished


@pytest.mark.postgres
async def test_upload_and_collect_on_postgresql(
    settings: Settings, redis_url: str, emulator: EmulatorServer, fresh_postgres_url: str
) -> None:
    on_postgres = pipeline_settings(settings, emulator).model_copy(
        update={"database": DatabaseSettings(url=fresh_postgres_url)}
    )
    runtime = Runtime.create(on_postgres, redis_url, with_workers=True)
    await runtime.start()
    try:
        assert runtime.db.dialect == "postgresql"
        upload = await runtime.pipelines.upload_groups(b"1\nclub2\n", max_bytes=1000)
        assert (await wait_finished(runtime, upload.task.id)).status is TaskStatus.COMPLETED
        task = await runtime.pipelines.start_collection(CollectRequest(vk_ids=[1, 2], limit=3))
        done = await wait_finished(runtime, task.id)

        assert done.status is TaskStatus.COMPLETED, done.error_message
        async with runtime.db.unit_of_work(read_only=True) as uow:
            rows = await uow.session.execute(
                text("SELECT owner_id, comment_id, parent_comment_id, text, deleted FROM comments")
            )
            stored = [(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]
        _, comments = expected_comments(emulator.dataset, [1, 2], limit=3)
        assert len(stored) == len(set(stored))
        assert set(stored) == comments
    finally:
        await runtime.close()
