"""Helpers for tests that run the whole pipeline against the emulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from vk_collector.bootstrap import Runtime
from vk_collector.settings import Settings, VkSettings
from vk_collector.storage import TaskRecord, TaskStatus
from vk_emulator import EmulatorServer
from vk_emulator.dataset import Dataset

from support.polling import eventually


def pipeline_settings(settings: Settings, emulator: EmulatorServer, **vk: Any) -> Settings:
    """Settings pointing at the emulator, with no enqueue delay so tests run at once."""
    queues = settings.queues.model_copy(deep=True)
    queues.vk_collect.delay_ms = 0
    queues.vk_collect.backoff_delay_ms = 50
    queues.process_groups.backoff_delay_ms = 50
    queues.vk_collect_group.backoff_delay_ms = 50
    vk_settings = VkSettings(
        api_url=emulator.url, tokens=vk.pop("tokens", ["demo-user-token"]),
        backoff_base_s=0.01, backoff_max_s=0.05, **vk,
    )  # fmt: skip
    return settings.model_copy(update={"vk": vk_settings, "queues": queues})


async def wait_finished(runtime: Runtime, task_id: int, within: float = 60.0) -> TaskRecord:
    async def finished() -> bool:
        return (await runtime.tasks.get(task_id)).is_finished

    await eventually(finished, within=within, every=0.05)
    return await runtime.tasks.get(task_id)


def expected_comments(
    dataset: Dataset, group_ids: list[int], limit: int, include_replies: bool = True
) -> tuple[set[tuple[int, int]], set[tuple[int, int, int | None, str, bool]]]:
    """The posts and comments a collection of ``group_ids`` must store."""
    posts: set[tuple[int, int]] = set()
    comments: set[tuple[int, int, int | None, str, bool]] = set()
    for gid in group_ids:
        wall = dataset.posts(gid)
        recent = sorted(wall, key=lambda p: (p.date, p.id), reverse=True)[:limit]
        for post in recent:
            posts.add((post.owner_id, post.id))
            if post.comments_disabled:
                continue
            for c in dataset.comments(post.owner_id, post.id):
                if c.thread_root is not None and not include_replies:
                    continue
                comments.add((c.owner_id, c.id, c.thread_root, c.text, c.deleted))
    return posts, comments


def write_groups_file(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


__all__ = ["TaskStatus", "expected_comments", "pipeline_settings", "wait_finished"]


@contextlib.asynccontextmanager
async def running(settings: Settings, redis_url: str, **options: Any) -> AsyncIterator[Runtime]:
    """A started :class:`Runtime` (``options`` as ``Runtime.create``'s), closed on the way out."""
    runtime = Runtime.create(settings, redis_url, **options)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()
