"""Comments/s of one collection task spread over K worker processes with N user tokens.

    python benchmarks/scale_out.py [--seconds 20] [--groups 8] [--limit 3]
                                   [--matrix 1x1,2x1,2x2,4x2] [--concurrency 4[,2,8]]
                                   [--backends sqlite,postgres]

Every part runs in its own process, as in production: the VK emulator (serving heavy
walls: every post that takes comments has 1,001-3,000 top-level ones, see
``collect_end_to_end.py``; ``scale_out_processes.py`` runs it), a private
Valkey, the database (SQLite in a temporary directory, or a private PostgreSQL 15
cluster started as ``tests/support/database.py`` does; a missing ``initdb`` is an
error, not a skip), and K ``vk-collector worker`` processes with N user tokens at
3 requests/s each (the emulator enforces the same limit).

Run size: with ``--seconds S`` (default 20) a run with N tokens collects the first
communities (``--limit`` recent posts each, top-level comments, at least ``--groups``
communities) that hold S x N x 7,500 comments, so it lasts about S seconds at VK's
limit and start-up (job pick-up, the first ``wall.get`` and pages, the last
community's tail) is a small part of it; ``--seconds 0`` collects ``--groups``
communities whatever N is.  The emulator builds every comment tree of the largest run
before the first clock starts and keeps them all.

For each communities-at-once value (``--concurrency``, the workers'
``vk-collect-group`` concurrency), backend and (N, K), the run uploads the
communities, starts one collection task, times it from the enqueue to the task's
completion, and prints:

* comments/s, and its ratio to N x 7,500 (3 requests/s x 25 calls per ``execute`` x
  100 comments, VK's limit for N tokens);
* pages per request (``wall.getComments`` pages over HTTP requests, the emulator's
  counters), errors 6 (a token over its rate), the workers' peak memory;
* the CPU-seconds over the run of every process (each worker, the emulator, Valkey,
  PostgreSQL's postmaster and backends, this coordinator) and of "other" programs, the
  machine's busy share over the run and the 1-minute load average before and after it
  (``scale_out_cpu.py``); a run is CPU-bound when the machine was at least 85 % busy;
* from the workers' CPU-seconds per 100,000 comments, what one more machine of as
  many cores running only workers would store (comments/s, and user tokens at the
  limit that is).

The run fails (exit 1, :class:`NotMeasuredError`) when a collection stored other
posts or comments than the emulator serves for those walls, or counted no request.
``tests/benchmarks/`` runs it with tiny sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psutil
from sqlalchemy import text

from vk_collector.bootstrap import Runtime
from vk_collector.embedded import EmbeddedValkey
from vk_collector.log import configure
from vk_collector.pipelines import CollectRequest
from vk_collector.queue_settings import VkCollectGroupQueueOptions
from vk_collector.settings import (
    DatabaseSettings,
    QueuesSettings,
    RedisSettings,
    Settings,
    VkSettings,
)
from vk_collector.storage import TaskRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or imported
from scale_out_cpu import CpuMeter, own_cpu_s, peak_rss_mb, tree_cpu_s
from scale_out_processes import (
    PER_TOKEN,
    RPS,
    Emulator,
    Walls,
    WorkerProcess,
    new_postgres_database,
    postgres,
    tokens,
)
from scale_out_report import HEADER, Run, print_report, print_run

DEFAULT_CONCURRENCY = VkCollectGroupQueueOptions().concurrency
"""Communities at once per worker process unless ``--concurrency`` says otherwise."""


class NotMeasuredError(RuntimeError):
    """The run did not do the work it reports."""


@dataclass(frozen=True)
class Plan:
    """What one invocation measures: ``groups`` communities at least, ``limit`` recent
    posts each, sized to ``seconds`` at N x 7,500 (0: ``groups`` whatever N), every
    (N, K) of ``matrix`` for each ``concurrency`` and backend."""

    groups: int
    limit: int
    matrix: list[tuple[int, int]]
    backends: list[str]
    seconds: float = 0.0
    concurrency: tuple[int, ...] = (DEFAULT_CONCURRENCY,)

    def comments_for(self, n: int) -> int:
        return int(self.seconds * n * PER_TOKEN)


def settings_for(
    data_dir: Path, redis_url: str, database_url: str, api_url: str, n: int, concurrency: int
) -> Settings:
    queues = QueuesSettings(prefix=f"scale-{uuid.uuid4().hex[:8]}")
    queues.vk_collect.delay_ms = 0
    queues.vk_collect_group.concurrency = concurrency
    return Settings(
        data_dir=data_dir,
        redis=RedisSettings(url=redis_url),
        database=DatabaseSettings(url=database_url),
        vk=VkSettings(api_url=api_url, tokens=tokens(n), rps_user=RPS),  # type: ignore[arg-type]
        queues=queues,
    )


def worker_env(settings: Settings, n: int) -> dict[str, str]:
    concurrency = settings.queues.vk_collect_group.concurrency
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VKC_", "VK_"))},
        "REDIS_URL": str(settings.redis.url),
        "DATABASE_URL": settings.database_url,
        "VK_API_URL": settings.vk.api_url,
        "VK_TOKENS": ",".join(tokens(n)),
        "VKC_DATA_DIR": str(settings.data_dir),
        "VKC_LOG_LEVEL": "WARNING",
        "VKC_VK_RPS_USER": str(RPS),
        "VKC_QUEUE_PREFIX": settings.queues.prefix,
        "VKC_QUEUE_VK_COLLECT__DELAY_MS": "0",
        "VKC_QUEUE_VK_COLLECT_GROUP__CONCURRENCY": str(concurrency),
    }


# --- one measurement -----------------------------------------------------------------


@dataclass(frozen=True)
class Services:
    """The long-lived parts every run shares: the emulator, Valkey's URL and process,
    the PostgreSQL postmaster (``None`` without PostgreSQL)."""

    emulator: Emulator
    redis_url: str
    valkey: psutil.Process
    postmaster: psutil.Process | None


async def count(runtime: Runtime, table: str) -> int:
    async with runtime.db.unit_of_work(read_only=True) as uow:
        result = await uow.session.execute(text(f"SELECT count(*) FROM {table}"))
        return int(result.scalar_one())


async def wait_task(runtime: Runtime, task_id: int, within: float) -> TaskRecord:
    deadline = time.monotonic() + within
    while not (task := await runtime.tasks.get(task_id)).is_finished:
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} did not finish within {within} s")
        await asyncio.sleep(0.05)
    return task


def meter(services: Services, backend: str, workers: list[WorkerProcess]) -> CpuMeter:
    """The parts of one run: each worker, the emulator, Valkey, PostgreSQL (its
    postmaster with every backend) when ``backend`` is it, and this process."""
    parts: dict[str, Callable[[], float]] = {
        f"worker {i + 1}": partial(own_cpu_s, w.ps) for i, w in enumerate(workers)
    }
    parts["emulator"] = partial(own_cpu_s, psutil.Process(services.emulator.process.pid))
    parts["valkey"] = partial(own_cpu_s, services.valkey)
    if backend == "postgres" and services.postmaster is not None:
        parts["postgres"] = partial(tree_cpu_s, services.postmaster)
    parts["coordinator"] = partial(own_cpu_s, psutil.Process())
    return CpuMeter(parts)


async def measure_one(
    services: Services,
    backend: str,
    database_url: str,
    size: tuple[int, int, int, int],
    walls: Walls,
    tmp: Path,
) -> Run:
    """One collection of ``walls``; ``size`` is (N tokens, K processes, recent posts
    per community, communities at once per process)."""
    n, k, limit, concurrency = size
    emulator = services.emulator
    settings = settings_for(tmp, services.redis_url, database_url, emulator.url, n, concurrency)
    runtime = Runtime.create(settings, services.redis_url, with_workers=False)
    await runtime.start(listen_events=False)  # migrates the database first
    env = worker_env(settings, n)
    name = f"{backend}-{n}x{k}-c{concurrency}"
    workers = [WorkerProcess(env, tmp / f"w-{name}-{i}.log") for i in range(k)]
    try:
        for worker in workers:
            await worker.ready()
        ids = "\n".join(str(g) for g in walls.groups).encode()
        upload = await runtime.pipelines.upload_groups(ids, max_bytes=1 << 20)
        resolved = await wait_task(runtime, upload.task.id, 300)
        if resolved.status.value != "completed":
            raise RuntimeError(f"upload failed: {resolved.error_message}")
        emulator.reset()
        cpu_meter = meter(services, backend, workers)
        cpu_meter.start()
        task = await runtime.pipelines.start_collection(
            CollectRequest(vk_ids=walls.groups, limit=limit, include_replies=False)
        )
        done = await wait_task(runtime, task.id, 1800)
        cpu = cpu_meter.stop()
        if done.status.value != "completed":
            raise RuntimeError(f"collection failed: {done.error_message}")
        stats = emulator.stats()
        pages = stats["inner_calls"].get("wall.getComments", 0)
        pages += stats["methods"].get("wall.getComments", 0)
        run = Run(
            backend=backend,
            tokens=n,
            processes=k,
            comments=await count(runtime, "comments"),
            posts=await count(runtime, "posts"),
            seconds=cpu.seconds,
            requests=int(stats["total_requests"]),
            pages=int(pages),
            errors_6=int(stats["errors"].get("6", 0)),
            worker_cpu_s=cpu.workers,
            emulator_cpu_s=cpu.parts["emulator"],
            concurrency=concurrency,
            groups=len(walls.groups),
            cpu=cpu,
            worker_peak_mb=[peak_rss_mb(w.process.pid) for w in workers],
        )
    finally:
        for worker in workers:
            worker.stop()
        await runtime.close()
    check(run, walls)
    return run


def check(run: Run, walls: Walls) -> None:
    """Raise :class:`NotMeasuredError` unless the run stored exactly what is served."""
    if (run.posts, run.comments) != (walls.posts, walls.comments):
        raise NotMeasuredError(
            f"{run.backend} {run.tokens}x{run.processes}: stored {run.posts} posts and "
            f"{run.comments} comments; the emulator serves {walls.posts} and "
            f"{walls.comments} for those walls"
        )
    if run.requests == 0 or run.pages == 0:
        raise NotMeasuredError(
            f"{run.backend} {run.tokens}x{run.processes}: {run.requests} requests and "
            f"{run.pages} pages counted"
        )


async def measure(
    groups: int,
    limit: int,
    matrix: list[tuple[int, int]],
    backends: list[str],
    *,
    seconds: float = 0.0,
    concurrency: tuple[int, ...] = (DEFAULT_CONCURRENCY,),
) -> list[Run]:
    """Every run of the plan, in order: concurrency, then backend, then (N, K)."""
    plan = Plan(groups, limit, matrix, backends, seconds, concurrency)
    runs: list[Run] = []
    most = max(n for n, _ in matrix)
    emulator = Emulator.start(groups, plan.comments_for(most), limit, most)
    print(
        f"emulator: {emulator.trees} comment trees built in {emulator.build_s:.1f} s, "
        "before every clock",
        flush=True,
    )
    print(HEADER, flush=True)
    try:
        with contextlib.ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            valkey = stack.enter_context(
                EmbeddedValkey(tmp / "valkey", persistence=False, publish=False)
            )
            pg = stack.enter_context(postgres()) if "postgres" in backends else None
            assert valkey.pid is not None
            services = Services(
                emulator,
                valkey.url,
                psutil.Process(valkey.pid),
                psutil.Process(pg[1]) if pg else None,
            )
            for at_once in concurrency:
                for backend in backends:
                    for n, k in matrix:
                        if backend == "sqlite":
                            db = tmp / f"scale-{n}x{k}-c{at_once}.db"
                            url = f"sqlite+aiosqlite:///{db}"
                        else:
                            assert pg is not None
                            url = await new_postgres_database(pg[0])
                        walls = emulator.pick(groups, plan.comments_for(n))
                        size = (n, k, limit, at_once)
                        run = await measure_one(services, backend, url, size, walls, tmp)
                        runs.append(run)
                        print_run(run, flush=True)
    finally:
        emulator.stop()
    return runs


def parse_matrix(text_value: str) -> list[tuple[int, int]]:
    pairs = []
    for item in text_value.split(","):
        n, _, k = item.strip().partition("x")
        pairs.append((int(n), int(k)))
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=20.0,
        help="size each run to last this long at N x 7,500 (0: --groups communities)",
    )  # fmt: skip
    parser.add_argument("--groups", type=int, default=8, help="communities, at least")
    parser.add_argument("--limit", type=int, default=3, help="recent posts per community")
    parser.add_argument("--matrix", default="1x1,2x1,2x2,4x2", help="N tokens x K processes")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--concurrency",
        default=str(DEFAULT_CONCURRENCY),
        help="communities at once per worker process, e.g. 2,4,8 (default: the setting's)",
    )
    args = parser.parse_args()
    configure("WARNING")
    try:
        runs = asyncio.run(
            measure(
                args.groups,
                args.limit,
                parse_matrix(args.matrix),
                args.backends.split(","),
                seconds=args.seconds,
                concurrency=tuple(int(c) for c in args.concurrency.split(",")),
            )
        )
    except NotMeasuredError as exc:
        print(f"benchmark invalid: {exc}", file=sys.stderr)
        return 1
    print_report(runs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
