"""Comments/s of one collection task spread over K worker processes with N user tokens.

    python benchmarks/scale_out.py [--groups 8] [--limit 3] [--matrix 1x1,2x1,2x2,4x2]
                                   [--backends sqlite,postgres]

Every part runs in its own process, as in production: the VK emulator (serving heavy
walls: every post that takes comments has 1,001-3,000 top-level ones, see
``collect_end_to_end.py``; ``scale_out_processes.py`` runs it), a private
Valkey, the database (SQLite in a temporary directory, or a private PostgreSQL 15
cluster started as ``tests/support/database.py`` does; a missing ``initdb`` is an
error, not a skip), and K ``vk-collector worker`` processes with N user tokens at
3 requests/s each (the emulator enforces the same limit).  For each (N, K) and backend
the run uploads ``--groups`` communities, starts one collection task (top-level
comments), times it from the enqueue to the task's completion, and prints:

* comments/s, and its ratio to N x 7,500 (3 requests/s x 25 calls per ``execute`` x
  100 comments, VK's limit for N tokens);
* the CPU-seconds of each worker process and of the emulator over the collection
  (psutil);
* pages per request (``wall.getComments`` pages over HTTP requests, the emulator's
  counters) and errors 6 (a token over its rate).

The run fails (exit 1, :class:`NotMeasuredError`) when a collection stored other
posts or comments than the emulator serves for those walls, or counted no request.
``tests/benchmarks/`` runs it with tiny sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from sqlalchemy import text

from vk_collector.bootstrap import Runtime
from vk_collector.embedded import EmbeddedValkey
from vk_collector.log import configure
from vk_collector.pipelines import CollectRequest
from vk_collector.settings import (
    DatabaseSettings,
    QueuesSettings,
    RedisSettings,
    Settings,
    VkSettings,
)
from vk_collector.storage import TaskRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or imported
from scale_out_processes import (
    RPS,
    Emulator,
    WorkerProcess,
    new_postgres_database,
    postgres,
    tokens,
)

PER_TOKEN = RPS * 25 * 100
CONCURRENCY = [2]
"""Communities each worker process collects at once (``--concurrency``)."""


class NotMeasuredError(RuntimeError):
    """The run did not do the work it reports."""


def settings_for(
    data_dir: Path, redis_url: str, database_url: str, api_url: str, n: int
) -> Settings:
    queues = QueuesSettings(prefix=f"scale-{uuid.uuid4().hex[:8]}")
    queues.vk_collect.delay_ms = 0
    queues.vk_collect_group.concurrency = CONCURRENCY[0]
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


@dataclass
class Run:
    backend: str
    tokens: int
    processes: int
    comments: int
    posts: int
    seconds: float
    requests: int
    pages: int
    errors_6: int
    worker_cpu_s: list[float] = field(default_factory=list)
    emulator_cpu_s: float = 0.0

    @property
    def per_second(self) -> float:
        return self.comments / self.seconds

    @property
    def of_limit(self) -> float:
        return self.per_second / (self.tokens * PER_TOKEN)

    @property
    def cpu_per_100k(self) -> float:
        """Worker CPU-seconds per 100,000 stored comments (all processes together)."""
        return sum(self.worker_cpu_s) * 100_000 / max(1, self.comments)


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


async def measure_one(
    emulator: Emulator,
    backend: str,
    database_url: str,
    redis_url: str,
    size: tuple[int, int, int],
    tmp: Path,
) -> Run:
    """One collection; ``size`` is (N tokens, K processes, recent posts per community)."""
    n, k, limit = size
    settings = settings_for(tmp, redis_url, database_url, emulator.url, n)
    runtime = Runtime.create(settings, redis_url, with_workers=False)
    await runtime.start(listen_events=False)  # migrates the database first
    env = worker_env(settings, n)
    workers = [WorkerProcess(env, tmp / f"w-{backend}-{n}x{k}-{i}.log") for i in range(k)]
    try:
        for worker in workers:
            await worker.ready()
        ids = "\n".join(str(g) for g in emulator.groups).encode()
        upload = await runtime.pipelines.upload_groups(ids, max_bytes=1 << 20)
        resolved = await wait_task(runtime, upload.task.id, 120)
        if resolved.status.value != "completed":
            raise RuntimeError(f"upload failed: {resolved.error_message}")
        emulator.reset()
        emulator_ps = psutil.Process(emulator.process.pid)
        emulator_cpu = sum(emulator_ps.cpu_times()[:2])
        cpu_before = [w.cpu_s() for w in workers]
        started = time.monotonic()
        task = await runtime.pipelines.start_collection(
            CollectRequest(vk_ids=emulator.groups, limit=limit, include_replies=False)
        )
        done = await wait_task(runtime, task.id, 1800)
        seconds = time.monotonic() - started
        cpu = [w.cpu_s() - b for w, b in zip(workers, cpu_before, strict=True)]
        emulator_cpu = sum(emulator_ps.cpu_times()[:2]) - emulator_cpu
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
            seconds=seconds,
            requests=int(stats["total_requests"]),
            pages=int(pages),
            errors_6=int(stats["errors"].get("6", 0)),
            worker_cpu_s=cpu,
            emulator_cpu_s=emulator_cpu,
        )
    finally:
        for worker in workers:
            worker.stop()
        await runtime.close()
    check(run, emulator)
    return run


def check(run: Run, emulator: Emulator) -> None:
    """Raise :class:`NotMeasuredError` unless the run stored exactly what is served."""
    if (run.posts, run.comments) != (emulator.posts, emulator.comments):
        raise NotMeasuredError(
            f"{run.backend} {run.tokens}x{run.processes}: stored {run.posts} posts and "
            f"{run.comments} comments; the emulator serves {emulator.posts} and "
            f"{emulator.comments} for those walls"
        )
    if run.requests == 0 or run.pages == 0:
        raise NotMeasuredError(
            f"{run.backend} {run.tokens}x{run.processes}: {run.requests} requests and "
            f"{run.pages} pages counted"
        )


async def measure(
    groups: int, limit: int, matrix: list[tuple[int, int]], backends: list[str]
) -> list[Run]:
    runs: list[Run] = []
    emulator = Emulator.start(groups, limit, max(n for n, _ in matrix))
    try:
        with contextlib.ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            valkey = stack.enter_context(
                EmbeddedValkey(tmp / "valkey", persistence=False, publish=False)
            )
            pg_server = stack.enter_context(postgres()) if "postgres" in backends else None
            for backend in backends:
                for n, k in matrix:
                    if backend == "sqlite":
                        url = f"sqlite+aiosqlite:///{tmp / f'scale-{n}x{k}.db'}"
                    else:
                        assert pg_server is not None
                        url = await new_postgres_database(pg_server)
                    runs.append(
                        await measure_one(emulator, backend, url, valkey.url, (n, k, limit), tmp)
                    )
    finally:
        emulator.stop()
    return runs


def print_report(runs: list[Run], args: argparse.Namespace) -> None:
    print(
        f"Scale-out: {args.groups} communities x {args.limit} recent posts, top-level "
        f"comments, heavy walls; user tokens at {RPS:g} req/s each; Python "
        f"{platform.python_version()}, {multiprocessing.cpu_count()} CPUs (shared); "
        f"{args.concurrency} communities at once per process"
    )
    print(
        f"{'db':<9}{'N':>3}{'K':>3}{'comments':>10}{'s':>7}{'comments/s':>11}{'of Nx7500':>10}"
        f"{'pg/req':>7}{'err6':>5}{'cpu/100k':>9}  worker CPU-s each; emulator CPU-s"
    )
    for r in runs:
        each = ", ".join(f"{c:.1f}" for c in r.worker_cpu_s)
        print(
            f"{r.backend:<9}{r.tokens:>3}{r.processes:>3}{r.comments:>10,}{r.seconds:>7.1f}"
            f"{r.per_second:>11,.0f}{r.of_limit:>10.3f}{r.pages / max(1, r.requests):>7.1f}"
            f"{r.errors_6:>5}{r.cpu_per_100k:>9.1f}  [{each}]; {r.emulator_cpu_s:.1f}"
        )


def parse_matrix(text_value: str) -> list[tuple[int, int]]:
    pairs = []
    for item in text_value.split(","):
        n, _, k = item.strip().partition("x")
        pairs.append((int(n), int(k)))
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=8, help="communities to collect")
    parser.add_argument("--limit", type=int, default=3, help="recent posts per community")
    parser.add_argument("--matrix", default="1x1,2x1,2x2,4x2", help="N tokens x K processes")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="communities at once per worker process"
    )
    args = parser.parse_args()
    configure("WARNING")
    CONCURRENCY[0] = args.concurrency
    try:
        runs = asyncio.run(
            measure(args.groups, args.limit, parse_matrix(args.matrix), args.backends.split(","))
        )
    except NotMeasuredError as exc:
        print(f"benchmark invalid: {exc}", file=sys.stderr)
        return 1
    print_report(runs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
