"""``VkCollectWorker``: the recent posts of each community of a task and every comment.

The task's job (``vk-collect-<taskId>``) is a BullMQ flow parent: it adds one child
job per community and waits for them (:mod:`vk_collector.workers.collect_parent`);
the children are run by :class:`~vk_collector.workers.vk_collect_group.VkCollectGroupWorker`
in any worker process, each through :meth:`VkCollectWorker._collect_group` below.

For each community: the ``limit`` most recent posts (the pinned one only if its date
puts it among them), stored and linked to the task, then every comment of each post
(replies included unless ``includeReplies`` is false), kept only when it contains one
of ``filterWords`` (case-insensitive) if any are given.  Comment pages of several
posts share ``execute`` requests, and requests stay in flight while comments are stored
(:func:`vk_collector.vk.collect.stream_comments`).

Resuming: the task's ``task_groups`` rows record which communities are done and its
``task_posts`` rows which posts have all their comments, so a retried job, or one
taken over after its worker died, continues where it stopped; writes are upserts, so
whatever is fetched twice is stored once.

Failures: a community that fails permanently (closed, private, deleted, banned,
blocked wall) is recorded in the task's errors and the job goes on; a post whose
comments are off (212) is simply done.  A fatal error (invalid token) fails the job
without retries; a transient one propagates and BullMQ retries with backoff.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import structlog
from bullmq import Job

from vk_collector.queue.config import QueueName
from vk_collector.queue.jobs import (
    CurrentGroup,
    GroupError,
    VkCollectGroup,
    VkCollectJobData,
    VkCollectProgress,
    VkCollectStats,
)
from vk_collector.settings import Settings
from vk_collector.storage import CommentData, Database, PostData, TaskGroupState
from vk_collector.vk.client import VkClient
from vk_collector.vk.collect import fetch_recent_posts, stream_comments
from vk_collector.vk.errors import VkObjectError
from vk_collector.vk.models import Comment, Post
from vk_collector.workers.collect_parent import CollectParent
from vk_collector.workers.flow_queues import FlowQueues
from vk_collector.workers.progress import ProgressReporter
from vk_collector.workers.task_worker import TaskWorker

__all__ = ["VkCollectWorker", "comment_data", "matches_filter"]

log = structlog.get_logger(__name__)

_FINISHED = (TaskGroupState.DONE, TaskGroupState.FAILED, TaskGroupState.SKIPPED)


def matches_filter(text: str, words: list[str]) -> bool:
    """True when no words are given or ``text`` contains one of them (case-insensitive)."""
    if not words:
        return True
    folded = text.casefold()
    return any(word.casefold() in folded for word in words)


def comment_data(comment: Comment, owner_id: int, post_id: int) -> CommentData:
    """A fetched comment as stored; replies keep their thread's top comment id."""
    return CommentData(
        owner_id=owner_id,
        comment_id=comment.id,
        post_id=post_id,
        date=comment.date,
        from_id=comment.from_id,
        text=comment.text,
        likes=comment.likes.count if comment.likes else 0,
        deleted=bool(comment.deleted),
        parent_comment_id=comment.parent_id,
        reply_to_comment=comment.reply_to_comment,
        author_id=comment.from_id,
        author_name=comment.author_name,
    )


_FINAL_STAGES = {"saving_data": 95, "completing": 100}


class _Run:
    """The state of one job's attempt: counters and the progress it reports."""

    def __init__(self, groups: list[VkCollectGroup], reporter: ProgressReporter) -> None:
        self.groups = groups
        self.reporter = reporter
        self.completed = 0
        self.posts = 0
        self.comments = 0
        self.errors: list[GroupError] = []

    def stats(self) -> VkCollectStats:
        return VkCollectStats(
            groups_completed=self.completed,
            total_groups=len(self.groups),
            posts_processed=self.posts,
            comments_collected=self.comments,
        )

    async def report(
        self,
        stage: str,
        index: int,
        group: VkCollectGroup | None = None,
        group_progress: float = 0.0,
        *,
        force: bool = False,
    ) -> None:
        total = max(1, len(self.groups))
        # the original's scale: 0-90 over the communities, 95 saving, 100 completing
        percentage = _FINAL_STAGES.get(stage, round(90 * (index + group_progress) / total))
        current = (
            CurrentGroup(vk_id=group.vk_id, name=group.name, progress=round(group_progress * 100))
            if group is not None
            else None
        )
        await self.reporter.report(
            VkCollectProgress(
                percentage=min(percentage, 100),
                stage=stage,
                current_group=current,
                stats=self.stats(),
            ),
            force=force,
        )


class VkCollectWorker(TaskWorker[VkCollectJobData]):
    queue: ClassVar[QueueName] = QueueName.VK_COLLECT
    data_model = VkCollectJobData
    progress_interval_s: float = 2.0
    """How often progress is reported within one community (every community ends with one)."""

    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        db: Database,
        vk: VkClient,
        *,
        concurrency: int | None = None,
    ) -> None:
        super().__init__(settings, redis_url, db, vk, concurrency=concurrency)
        self._flow = FlowQueues(settings, redis_url)
        self._parent = CollectParent(db, self._tasks, self._flow)

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            await self._flow.close()

    async def handle(self, job: Job, data: VkCollectJobData) -> dict[str, Any]:
        """The task's job: fans out into one child job per community, completes once
        they have (:mod:`vk_collector.workers.collect_parent`)."""
        return await self._parent.run(job, data)

    async def _collect_group(
        self,
        run: _Run,
        index: int,
        group: VkCollectGroup,
        limit: int,
        include_replies: bool,
        words: list[str],
        token: str | None,
    ) -> None:
        owner_id = -group.vk_id
        await self._mark(run, group, TaskGroupState.PROCESSING)
        await run.report("fetching_posts", index, group, force=True)
        try:
            posts = await fetch_recent_posts(self._vk, owner_id, limit, token=token)
        except VkObjectError as exc:
            await self._record_failure(run, group, exc.message)
            return
        await self._store_posts(run, posts)
        async with self._db.unit_of_work(read_only=True) as uow:
            pending = await uow.posts.pending_comments(self._task_id(run), owner_id=owner_id)
        done_posts = len(posts) - len(pending)
        stored = 0
        streaming = stream_comments(self._vk, pending, include_replies, token=token)
        async with contextlib.aclosing(streaming) as stream:
            # the senders keep fetching while one batch list is stored: rows and the
            # posts they finish go in one transaction, in the order they were fetched,
            # so a post is never marked done before its comments are stored
            async for batches in stream:
                kept = [
                    c
                    for b in batches
                    for c in b.comments
                    if not words or matches_filter(c.text, words)
                ]
                finished = [(b.owner_id, b.post_id) for b in batches if b.done]
                async with self._db.unit_of_work() as uow:
                    if kept:
                        await uow.comments.upsert_many(kept)
                    for owner, post_id in finished:
                        await uow.posts.mark_comments_done(self._task_id(run), owner, post_id)
                    await uow.commit()
                stored += len(kept)
                run.comments += len(kept)
                done_posts += len(finished)
                await run.report("fetching_comments", index, group, done_posts / max(1, len(posts)))
        async with self._db.unit_of_work() as uow:
            await uow.task_groups.mark(
                self._task_id(run),
                group.vk_id,
                TaskGroupState.DONE,
                posts_done=len(posts),
                comments_collected=stored,
            )
            await uow.commit()

    def _task_id(self, run: _Run) -> int:
        return run.reporter.task_id

    async def _store_posts(self, run: _Run, posts: list[Post]) -> None:
        async with self._db.unit_of_work() as uow:
            await uow.posts.upsert_many(
                [PostData.from_vk(p.model_dump()) for p in posts], task_id=self._task_id(run)
            )
            await uow.commit()
        run.posts += len(posts)

    async def _mark(self, run: _Run, group: VkCollectGroup, state: TaskGroupState) -> None:
        async with self._db.unit_of_work() as uow:
            await uow.task_groups.mark(self._task_id(run), group.vk_id, state)
            await uow.commit()

    async def _record_failure(self, run: _Run, group: VkCollectGroup, reason: str) -> None:
        error = GroupError(group_id=group.vk_id, error=reason)
        run.errors.append(error)
        async with self._db.unit_of_work() as uow:
            await uow.task_groups.mark(
                self._task_id(run), group.vk_id, TaskGroupState.FAILED, error=reason
            )
            await uow.commit()
        await self._tasks.add_errors(self._task_id(run), [error.to_wire()])
        log.info("collect.group_failed", group=group.vk_id, reason=reason)
