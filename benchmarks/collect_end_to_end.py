"""Comments/s stored in SQLite by a whole collection, against VK's limit and the original.

    python benchmarks/collect_end_to_end.py [--groups 5] [--limit 25]

The VK emulator runs in its own process (spawned; 3 requests/s for one user token), a
private Valkey in another; this process runs SQLite in a temporary directory and a
:class:`~vk_collector.bootstrap.Runtime` with its in-process workers, so the CPU time it
reports (``time.process_time()`` over the collection, per 100,000 stored comments) is
the worker side's alone.  The run uploads
``--groups`` communities by id, waits for the process-groups task, then collects the
``--limit`` most recent posts of each with their top-level comments, from the enqueue
to the task's completion; comments/s are the rows in the ``comments`` table over that
time.

Full pages: on the emulator's own walls most posts have fewer than 30 comments, so a
page holds about half of its 100 and no collector gets near the limit.  The emulator
here serves *heavy* walls (a benchmark-only ``Dataset``: every post that takes
comments has 1,001-3,000 top-level ones, the range of community 1's featured post;
``--natural`` serves the ordinary walls instead, for comparison).  Comment trees are
built before the clock starts (VK has its data ready).

Compared in the same run with:

* the limit: 3 requests/s x 25 calls per ``execute`` x 100 comments = 7,500 comments/s;
* the original system's loop, reimplemented faithfully and minimally: sequential,
  ``wall.get`` count 10, then ``wall.getComments`` count 100, offset += 100 until a
  short page, one page per request, every page stored through the same repositories,
  for ``--baseline-seconds``.

Targets (issue 11): 0.8 of the limit and 25x the baseline.

The run fails (exit 1, ``NotMeasuredError``) when it did not measure what it says: the
pipeline stored other posts or comments than the emulator serves for those walls, or
either run counted no request.  ``tests/benchmarks/`` runs it with tiny sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from heavy_walls import (
    RPS,
    EmulatorProcess,
    NotMeasuredError,
    build_dataset,
    emulator_options,
    open_groups,
    recent_posts,
)
from pydantic import SecretStr
from sqlalchemy import text

from vk_collector.bootstrap import Runtime
from vk_collector.embedded import EmbeddedValkey
from vk_collector.gc_tuning import tune_for_service
from vk_collector.log import configure
from vk_collector.pipelines import CollectRequest
from vk_collector.queue.keys import vk_key_prefix
from vk_collector.settings import (
    DatabaseSettings,
    QueuesSettings,
    RedisSettings,
    Settings,
    VkSettings,
)
from vk_collector.storage import CommentData, Database, PostData, TaskRecord, migrate
from vk_collector.vk.client import VkClient
from vk_collector.vk.errors import VkObjectError
from vk_collector.vk.models import Comment, CommentsPage, WallPage

LIMIT_COMMENTS = RPS * 25 * 100
TOKEN = "demo-user-token"


def comment_data(comment: Comment, owner_id: int, post_id: int) -> CommentData:
    """The original loop's row: a top-level comment as the repositories store it."""
    return CommentData(
        owner_id=owner_id,
        comment_id=comment.id,
        post_id=post_id,
        date=comment.date,
        from_id=comment.from_id,
        text=comment.text,
        likes=comment.likes.count if comment.likes else 0,
        deleted=bool(comment.deleted),
        parent_comment_id=None,  # the loop reads the top level only
        reply_to_comment=comment.reply_to_comment,
        author_id=comment.from_id,
        author_name=None,  # asked without extended=1, VK names no author
    )


@dataclass
class Figures:
    name: str
    comments: int
    posts: int
    requests: int
    pages: int
    errors_6: int
    seconds: float
    cpu_s: float = 0.0
    """CPU time of this (the worker's) process over the run, seconds."""
    emulator_cpu_s: float = 0.0

    @property
    def per_second(self) -> float:
        return self.comments / self.seconds

    @property
    def cpu_per_100k(self) -> float:
        """CPU-seconds of the worker process per 100,000 stored comments."""
        return self.cpu_s * 100_000 / max(1, self.comments)


def emulator_counts(server: EmulatorProcess) -> tuple[int, int, int]:
    stats = server.stats()
    pages = stats["inner_calls"].get("wall.getComments", 0)
    pages += stats["methods"].get("wall.getComments", 0)
    errors = stats["errors"]
    return stats["total_requests"], pages, int(errors.get(6, errors.get("6", 0)))


async def count(db: Database, table: str) -> int:
    async with db.unit_of_work(read_only=True) as uow:
        return int((await uow.session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def wait_task(runtime: Runtime, task_id: int, within: float) -> TaskRecord:
    deadline = time.monotonic() + within
    while True:
        task = await runtime.tasks.get(task_id)
        if task.is_finished:
            return task
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} did not finish within {within} s")
        await asyncio.sleep(0.05)


def settings_for(data_dir: Path, redis_url: str, api_url: str, name: str) -> Settings:
    # one queue prefix, so both runs share the token's rate limiter in Redis
    queues = QueuesSettings(prefix="bench")
    queues.vk_collect.delay_ms = 0
    return Settings(
        data_dir=data_dir,
        redis=RedisSettings(url=redis_url),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{data_dir / f'{name}.db'}"),
        vk=VkSettings(api_url=api_url, tokens=[SecretStr(TOKEN)], rps_user=RPS),
        queues=queues,
    )


async def run_pipeline(
    settings: Settings, server: EmulatorProcess, groups: list[int], limit: int
) -> Figures:
    assert settings.redis.url is not None
    runtime = Runtime.create(settings, settings.redis.url, with_workers=True)
    await runtime.start()
    tune_for_service()  # as `vk-collector serve` and `worker` do once started
    try:
        ids = "\n".join(str(g) for g in groups).encode()
        upload = await runtime.pipelines.upload_groups(ids, max_bytes=1 << 20)
        resolved = await wait_task(runtime, upload.task.id, 60)
        if resolved.status.value != "completed":
            raise RuntimeError(f"upload failed: {resolved.error_message}")
        server.reset_stats()
        started = time.monotonic()
        cpu, emulator_cpu = time.process_time(), server.cpu_s()
        task = await runtime.pipelines.start_collection(
            CollectRequest(vk_ids=groups, limit=limit, include_replies=False)
        )
        done = await wait_task(runtime, task.id, 900)
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu
        emulator_cpu = server.cpu_s() - emulator_cpu
        if done.status.value != "completed":
            raise RuntimeError(f"collection failed: {done.error_message}")
        requests, pages, errors_6 = emulator_counts(server)
        comments = await count(runtime.db, "comments")
        posts = await count(runtime.db, "posts")
    finally:
        await runtime.close()
    return Figures(
        "pipeline (execute)",
        comments,
        posts,
        requests,
        pages,
        errors_6,
        elapsed,
        cpu,
        emulator_cpu,
    )


async def run_original(
    settings: Settings, server: EmulatorProcess, groups: list[int], seconds: float
) -> Figures:
    """The original collector's loop, one page per request, sequential, stored as it goes."""
    db = Database(settings.database_url)
    await migrate(db.url)
    redis = aioredis.Redis.from_url(str(settings.redis.url))
    vk_settings = settings.vk.model_copy(update={"use_execute": False})
    server.reset_stats()
    comments = posts = 0
    started = time.monotonic()
    cpu, emulator_cpu = time.process_time(), server.cpu_s()
    deadline = started + seconds
    try:
        async with VkClient(
            vk_settings, redis=redis, key_prefix=vk_key_prefix(settings.queues.prefix)
        ) as client:
            for group_id in groups:
                if time.monotonic() >= deadline:
                    break
                wall = WallPage.model_validate(
                    await client.call("wall.get", {"owner_id": -group_id, "count": 10})
                )
                async with db.unit_of_work() as uow:
                    await uow.posts.upsert_many(
                        [PostData.from_vk(p.model_dump()) for p in wall.items]
                    )
                    await uow.commit()
                posts += len(wall.items)
                for post in wall.items:
                    offset = 0
                    while time.monotonic() < deadline:
                        params = {
                            "owner_id": post.owner_id,
                            "post_id": post.id,
                            "count": 100,
                            "offset": offset,
                            "need_likes": 1,
                            "sort": "asc",
                        }
                        try:
                            answer = await client.call("wall.getComments", params)
                        except VkObjectError:  # comments disabled (212), post deleted
                            break
                        page = CommentsPage.model_validate(answer)
                        rows = [comment_data(c, post.owner_id, post.id) for c in page.items]
                        if rows:
                            async with db.unit_of_work() as uow:
                                await uow.comments.upsert_many(rows)
                                await uow.commit()
                        comments += len(rows)
                        offset += 100
                        if len(page.items) < 100:
                            break
                    if time.monotonic() >= deadline:
                        break
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu
        emulator_cpu = server.cpu_s() - emulator_cpu
    finally:
        await redis.aclose()
        await db.dispose()
    requests, pages, errors_6 = emulator_counts(server)
    return Figures(
        "original loop", comments, posts, requests, pages, errors_6, elapsed, cpu, emulator_cpu
    )


@dataclass
class Report:
    pipeline: Figures
    original: Figures
    expected_posts: int
    expected_comments: int
    warm_s: float

    def check(self) -> None:
        """Raise :class:`NotMeasuredError` unless the runs did the work they report."""
        p = self.pipeline
        if (p.posts, p.comments) != (self.expected_posts, self.expected_comments):
            raise NotMeasuredError(
                f"the pipeline stored {p.posts} posts and {p.comments} comments; the emulator "
                f"serves {self.expected_posts} and {self.expected_comments} for those walls"
            )
        for run in (p, self.original):
            if run.requests == 0 or run.comments == 0:
                raise NotMeasuredError(
                    f"{run.name}: {run.requests} requests and {run.comments} comments counted"
                )


async def measure(groups: int, limit: int, baseline_seconds: float, *, heavy: bool) -> Report:
    options = emulator_options(groups, limit)
    dataset = build_dataset(options, heavy=heavy)  # the same walls the emulator serves
    chosen = open_groups(dataset, groups)
    baseline_groups = open_groups(dataset, 3, skip=groups)
    recent = [p for g in chosen for p in recent_posts(dataset, g, limit)]
    warm = recent + [p for g in baseline_groups for p in recent_posts(dataset, g, 10)]
    server = EmulatorProcess(options, heavy=heavy, warm=[(p.owner_id, p.id) for p in warm])
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            EmbeddedValkey(Path(tmp) / "valkey", persistence=False, publish=False) as valkey,
        ):
            data_dir = Path(tmp)
            pipeline = await run_pipeline(
                settings_for(data_dir, valkey.url, server.url, "pipeline"), server, chosen, limit
            )
            original = await run_original(
                settings_for(data_dir, valkey.url, server.url, "original"),
                server,
                baseline_groups,
                baseline_seconds,
            )
    finally:
        server.stop()
    report = Report(
        pipeline,
        original,
        expected_posts=len(recent),
        expected_comments=sum(len(p.thread_sizes) for p in recent),
        warm_s=server.warm_s,
    )
    report.check()
    return report


def print_report(report: Report, args: argparse.Namespace) -> int:
    pipeline, original = report.pipeline, report.original
    walls = "ordinary" if args.natural else "heavy (1,001-3,000 top-level comments per post)"
    print(
        f"Collection end to end: {args.groups} communities x {args.limit} recent posts, "
        f"top-level comments, {walls} walls; 1 user token at {RPS:g} req/s; "
        f"Python {platform.python_version()}, {multiprocessing.cpu_count()} CPUs; "
        f"comment trees pre-built in {report.warm_s:.1f} s"
    )
    print(f"limit: {LIMIT_COMMENTS:,.0f} comments/s")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"{'run':<20}{'posts':>6}{'comments':>10}{'requests':>9}{'pages':>7}{'pg/req':>7}"
        f"{'err 6':>6}{'seconds':>9}{'comments/s':>12}{'of limit':>9}"
        f"{'cpu s':>8}{'cpu s/100k':>11}{'emu cpu s':>10}"
    )
    for r in (pipeline, original):
        print(
            f"{r.name:<20}{r.posts:>6}{r.comments:>10,}{r.requests:>9,}{r.pages:>7,}"
            f"{r.pages / max(1, r.requests):>7.1f}{r.errors_6:>6}{r.seconds:>9.1f}"
            f"{r.per_second:>12,.0f}{r.per_second / LIMIT_COMMENTS:>9.3f}"
            f"{r.cpu_s:>8.1f}{r.cpu_per_100k:>11.2f}{r.emulator_cpu_s:>10.1f}"
        )
    ratio = pipeline.per_second / LIMIT_COMMENTS
    speedup = pipeline.per_second / original.per_second
    print(f"pipeline / limit: {ratio:.3f} (target 0.8)")
    print(f"pipeline / original: {speedup:.1f}x (target 25x)")
    print(f"worker CPU per 100,000 comments: {pipeline.cpu_per_100k:.2f} s")
    return 0 if ratio >= 0.8 and speedup >= 25 else 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=5, help="communities to collect")
    parser.add_argument("--limit", type=int, default=25, help="recent posts per community")
    parser.add_argument(
        "--baseline-seconds", type=float, default=15.0, help="duration of the original loop"
    )
    parser.add_argument(
        "--natural", action="store_true", help="the emulator's ordinary walls, not heavy ones"
    )
    args = parser.parse_args()
    configure("WARNING")
    try:
        report = asyncio.run(
            measure(args.groups, args.limit, args.baseline_seconds, heavy=not args.natural)
        )
    except NotMeasuredError as exc:
        print(f"benchmark invalid: {exc}", file=sys.stderr)
        return 1
    return print_report(report, args)


if __name__ == "__main__":
    sys.exit(main())
