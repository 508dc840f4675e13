"""``VkCollectWorker``: the recent posts of each community of a task and every comment.

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
import time
from typing import Any, ClassVar

import structlog
from bullmq import Job

from vk_collector.errors import ErrorCode, ErrorSeverity, WorkerError
from vk_collector.queue.config import QueueName
from vk_collector.queue.jobs import (
    CurrentGroup,
    GroupError,
    VkCollectGroup,
    VkCollectJobData,
    VkCollectProgress,
    VkCollectResult,
    VkCollectStats,
)
from vk_collector.storage import CommentData, PostData, TaskGroupState
from vk_collector.vk.collect import fetch_recent_posts, stream_comments
from vk_collector.vk.errors import VkObjectError
from vk_collector.vk.models import Comment, Post
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

    async def handle(self, job: Job, data: VkCollectJobData) -> dict[str, Any]:
        return await self._collect(job, data)

    async def _groups(self, data: VkCollectJobData) -> list[VkCollectGroup]:
        if data.metadata.groups:
            return list(data.metadata.groups)
        task = await self._tasks.get(data.task_id)
        vk_ids = [int(i) for i in task.parameters.get("groups") or []]
        if not vk_ids:
            raise WorkerError(
                f"task {data.task_id} names no communities",
                ErrorCode.NO_GROUPS_PROVIDED,
                severity=ErrorSeverity.PERMANENT,
            )
        async with self._db.unit_of_work(read_only=True) as uow:
            stored = {g.vk_id: g for g in await uow.groups.get_by_vk_ids(vk_ids)}
        if not stored:
            raise WorkerError(
                "none of the task's communities is stored",
                ErrorCode.NO_GROUPS_FOUND,
                severity=ErrorSeverity.PERMANENT,
            )
        return [VkCollectGroup(vk_id=i, name=stored[i].name) for i in vk_ids if i in stored]

    async def _collect(self, job: Job, data: VkCollectJobData) -> dict[str, Any]:
        started = time.monotonic()
        task_id = data.task_id
        options = data.metadata.options
        token = options.token.get_secret_value() if options.token else None
        groups = await self._groups(data)
        await self._tasks.start(task_id)
        async with self._db.unit_of_work() as uow:
            await uow.task_groups.init(task_id, {g.vk_id: g.name for g in groups})
            await uow.commit()
            states = {r.group_vk_id: r for r in await uow.task_groups.list(task_id)}
        run = _Run(groups, ProgressReporter(job, self._tasks, task_id, self.progress_interval_s))
        run.completed = sum(1 for r in states.values() if r.state in _FINISHED)
        run.errors = [
            GroupError(group_id=r.group_vk_id, error=r.error or "failed")
            for r in states.values()
            if r.state is TaskGroupState.FAILED
        ]
        await run.report("starting", 0, force=True)

        for index, group in enumerate(groups):
            if states[group.vk_id].state in _FINISHED:
                continue
            await self._collect_group(
                run,
                index,
                group,
                options.limit or 10,
                options.include_replies is not False,
                options.filter_words or [],
                token,
            )
            run.completed += 1
            await run.report("fetching_comments", index + 1, force=True)

        await run.report("saving_data", len(groups), force=True)
        async with self._db.unit_of_work(read_only=True) as uow:
            posts = await uow.posts.count_for_task(task_id)
            comments = await uow.comments.count_for_task(task_id)
        run.posts, run.comments = posts, comments
        failed_all = bool(groups) and len(run.errors) == len(groups)
        result = VkCollectResult(
            success=not failed_all,
            task_id=task_id,
            comments_collected=comments,
            posts_processed=posts,
            groups_processed=len(groups) - len(run.errors),
            errors=run.errors,
            processing_time=round((time.monotonic() - started) * 1000),
            final_status="failed" if failed_all else "completed",
        )
        wire = result.to_wire()
        await run.report("completing", len(groups), force=True)
        if failed_all:
            await self._tasks.fail(
                task_id,
                "no community could be collected: "
                + "; ".join(f"{e.group_id}: {e.error}" for e in run.errors[:5]),
            )
        else:
            await self._tasks.complete(task_id, wire)
        log.info(
            "collect.finished",
            task_id=task_id,
            posts=posts,
            comments=comments,
            errors=len(run.errors),
        )
        return wire

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
