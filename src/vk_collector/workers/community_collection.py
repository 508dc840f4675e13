"""One community of a collection task: its recent posts and every comment, stored.

Used by :class:`~vk_collector.workers.vk_collect_group.VkCollectGroupWorker` (one
child job per community); the task's own job (:mod:`vk_collector.workers.vk_collect`)
fetches nothing.

For the community: the ``limit`` most recent posts (the pinned one only if its date
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
blocked wall) is recorded in the task's errors and its row marked failed; a post whose
comments are off (212) is simply done.  Any other error propagates to the job.
"""

from __future__ import annotations

import contextlib

import structlog

from vk_collector.queue.jobs import GroupError, VkCollectGroup
from vk_collector.storage import Database, PostData, TaskGroupState
from vk_collector.tasks import TaskService
from vk_collector.vk.client import VkClient
from vk_collector.vk.collect import fetch_recent_posts, stream_comments
from vk_collector.vk.errors import VkObjectError
from vk_collector.vk.models import Post
from vk_collector.workers.collect_progress import task_progress, task_totals
from vk_collector.workers.progress import ProgressReporter

__all__ = ["CommunityCollector", "CommunityRun", "matches_filter"]

log = structlog.get_logger(__name__)


def matches_filter(text: str, words: list[str]) -> bool:
    """True when no words are given or ``text`` contains one of them (case-insensitive)."""
    if not words:
        return True
    folded = text.casefold()
    return any(word.casefold() in folded for word in words)


class CommunityRun:
    """One attempt at one community: its counters and the progress it reports.

    Its reports describe the whole task (:mod:`vk_collector.workers.collect_progress`):
    the task's ``task_groups`` totals plus this community while it runs; unforced ones
    are throttled by the reporter before the database is read.  Set ``finished`` once
    the community's row is final so its counts are not added twice.
    """

    def __init__(self, group: VkCollectGroup, reporter: ProgressReporter, db: Database) -> None:
        self.group = group
        self.reporter = reporter
        self._db = db
        self.posts = 0
        self.comments = 0
        self.finished = False

    @property
    def task_id(self) -> int:
        return self.reporter.task_id

    async def report(self, stage: str, group_progress: float = 0.0, *, force: bool = False) -> None:
        """Report the task's progress; ``group_progress`` is this community's share, 0-1."""
        if not force and not self.reporter.due():
            return
        totals = await task_totals(self._db, self.task_id)
        in_flight = not self.finished
        progress = task_progress(
            totals,
            stage,
            self.group if in_flight else None,
            group_progress if in_flight else 0.0,
            posts=self.posts if in_flight else 0,
            comments=self.comments if in_flight else 0,
        )
        await self.reporter.report(progress, force=True)


class CommunityCollector:
    """Fetches and stores one community of a task (see the module doc)."""

    def __init__(self, db: Database, tasks: TaskService, vk: VkClient) -> None:
        self._db = db
        self._tasks = tasks
        self._vk = vk

    async def collect(
        self,
        run: CommunityRun,
        limit: int,
        include_replies: bool,
        words: list[str],
        token: str | None,
    ) -> None:
        """Collect ``run.group``: posts, then comments; its ``task_groups`` row ends
        done, or failed when VK refuses the community (:class:`VkObjectError`)."""
        group = run.group
        owner_id = -group.vk_id
        await self._mark(run, TaskGroupState.PROCESSING)
        await run.report("fetching_posts", force=True)
        try:
            posts = await fetch_recent_posts(self._vk, owner_id, limit, token=token)
        except VkObjectError as exc:
            await self._record_failure(run, exc.message)
            return
        await self._store_posts(run, posts)
        async with self._db.unit_of_work(read_only=True) as uow:
            pending = await uow.posts.pending_comments(run.task_id, owner_id=owner_id)
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
                        await uow.posts.mark_comments_done(run.task_id, owner, post_id)
                    await uow.commit()
                stored += len(kept)
                run.comments += len(kept)
                done_posts += len(finished)
                await run.report("fetching_comments", done_posts / max(1, len(posts)))
        async with self._db.unit_of_work() as uow:
            await uow.task_groups.mark(
                run.task_id,
                group.vk_id,
                TaskGroupState.DONE,
                posts_done=len(posts),
                comments_collected=stored,
            )
            await uow.commit()

    async def _store_posts(self, run: CommunityRun, posts: list[Post]) -> None:
        async with self._db.unit_of_work() as uow:
            await uow.posts.upsert_many(
                [PostData.from_vk(p.model_dump()) for p in posts], task_id=run.task_id
            )
            await uow.commit()
        run.posts += len(posts)

    async def _mark(self, run: CommunityRun, state: TaskGroupState) -> None:
        async with self._db.unit_of_work() as uow:
            await uow.task_groups.mark(run.task_id, run.group.vk_id, state)
            await uow.commit()

    async def _record_failure(self, run: CommunityRun, reason: str) -> None:
        error = GroupError(group_id=run.group.vk_id, error=reason)
        async with self._db.unit_of_work() as uow:
            await uow.task_groups.mark(
                run.task_id, run.group.vk_id, TaskGroupState.FAILED, error=reason
            )
            await uow.commit()
        await self._tasks.add_errors(run.task_id, [error.to_wire()])
        log.info("collect.group_failed", group=run.group.vk_id, reason=reason)
