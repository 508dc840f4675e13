"""A crash while comments are stored never leaves a post marked done without them.

The resume list is the task's ``task_posts`` rows not ``comments_done``; a post marked
done too early would be skipped by the retry and its missing comments lost for good.
Storage fails (injected into our own repository; the database is real SQLite) from its
second write on, while requests are still in flight; afterwards every post the task
marked done holds exactly the comments the emulator serves for it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from vk_collector.bootstrap import Runtime
from vk_collector.pipelines import CollectRequest
from vk_collector.storage import TaskStatus
from vk_collector.storage.repositories.comments import CommentRepository
from vk_emulator import EmulatorServer

from support.pipelines import wait_finished

GROUPS = [1, 2, 3]


async def test_a_crash_while_storing_marks_no_post_done_before_its_comments(
    runtime: Runtime, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = await runtime.pipelines.upload_groups(
        "\n".join(str(g) for g in GROUPS).encode(), max_bytes=1000
    )
    assert (await wait_finished(runtime, upload.task.id)).status is TaskStatus.COMPLETED

    writes = 0
    store = CommentRepository.upsert_many

    async def crash_from_the_second_write(self: CommentRepository, comments: Any) -> int:
        nonlocal writes
        writes += 1
        if writes >= 2:
            raise RuntimeError("disk full (injected)")
        return await store(self, comments)

    monkeypatch.setattr(CommentRepository, "upsert_many", crash_from_the_second_write)
    task = await runtime.pipelines.start_collection(CollectRequest(vk_ids=GROUPS, limit=25))
    done = await wait_finished(runtime, task.id, within=30)
    assert done.status is TaskStatus.FAILED, done.status
    assert writes >= 2

    async with runtime.db.unit_of_work(read_only=True) as uow:
        marks = await uow.session.execute(
            text("SELECT owner_id, post_id, comments_done FROM task_posts WHERE task_id = :t"),
            {"t": task.id},
        )
        posts = {(int(o), int(p)): bool(d) for o, p, d in marks}
        stored = await uow.session.execute(
            text("SELECT owner_id, post_id, comment_id, parent_comment_id, text FROM comments")
        )
        comments: dict[tuple[int, int], set[tuple[int, int | None, str]]] = {}
        for owner, post, cid, parent, body in stored:
            comments.setdefault((owner, post), set()).add((cid, parent, body))

    dataset = emulator.dataset
    marked = [key for key, is_done in posts.items() if is_done]
    assert any(comments.get(key) for key in marked), "no post with comments got marked"
    assert not all(posts.values()), "the crash stopped nothing"
    for key in marked:
        wanted = {(c.id, c.thread_root, c.text) for c in dataset.comments(*key)}
        assert comments.get(key, set()) == wanted, key
