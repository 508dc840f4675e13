"""Queue throughput: QueueService against raw bullmq, measured in the same run.

    python benchmarks/queue_throughput.py [--jobs 3000] [--rounds 3]

Starts a private Valkey, then measures jobs/s for single adds, bulk adds, and
processing no-op jobs at concurrency 1 and 50, once through vk-collector's
QueueService/QueueWorker and once through raw bullmq Queue/Worker, alternating the
two to spread machine noise, and prints each figure with the ratio
service / raw (target: 0.9 or more).  A measurement whose queue does not hold the jobs
it added, or whose worker did not process every job exactly once, fails the run (exit
1, ``NotMeasuredError``); ``tests/benchmarks/`` runs it with tiny sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bullmq import Job, Queue, QueueEvents, Worker

from vk_collector.cancellation import cancel_until_done
from vk_collector.embedded import EmbeddedValkey
from vk_collector.log import configure
from vk_collector.queue.config import QueueName, queue_configs
from vk_collector.queue.keys import job_id
from vk_collector.queue.service import QueueService
from vk_collector.settings import QueuesSettings, RedisSettings, Settings
from vk_collector.workers.base import QueueWorker

QUEUE = QueueName.PROCESS_GROUPS.value
DATA = {"metadata": {"groupIdentifiers": ["apiclub"], "source": "manual"}}


class NotMeasuredError(RuntimeError):
    """A measurement did not do the work it reports."""


async def _require_jobs(queue: Queue, expected: int, what: str) -> None:
    counts = await queue.getJobCounts("waiting", "paused", "active", "delayed", "prioritized")
    held = sum(int(v) for v in counts.values())
    if held != expected:
        raise NotMeasuredError(f"{what}: the queue holds {held} jobs, expected {expected}")


def settings_for(url: str, concurrency: int) -> Settings:
    queues = QueuesSettings(prefix=f"bench-{uuid.uuid4().hex[:8]}")
    queues.process_groups.concurrency = concurrency
    queues.process_groups.remove_on_complete = 0
    return Settings(redis=RedisSettings(url=url), queues=queues)


class NoopWorker(QueueWorker):
    queue: ClassVar[QueueName] = QueueName.PROCESS_GROUPS
    done: asyncio.Event
    target: int
    count: int

    async def process(self, job: Job, token: str) -> dict[str, Any]:
        self.count += 1
        if self.count >= self.target:
            self.done.set()
        return {}


async def service_adds(url: str, n: int, bulk: bool, events: bool) -> float:
    settings = settings_for(url, 1)
    service = QueueService(settings, url)
    await service.initialize(listen_events=events)
    try:
        await service.pause_queue(QUEUE)
        started = time.perf_counter()
        if bulk:
            for chunk in range(0, n, 500):
                await service.add_jobs(
                    QUEUE, [(DATA, i + 1) for i in range(chunk, min(n, chunk + 500))]
                )
        else:
            for i in range(n):
                await service.add_process_groups_job(DATA, i + 1)
        elapsed = time.perf_counter() - started
        queue = Queue(QUEUE, {"connection": url, "prefix": settings.queues.prefix})
        try:
            await _require_jobs(queue, n, "service adds")
            await queue.obliterate(force=True)
        finally:
            await queue.close()
    finally:
        await service.cleanup()
    return n / elapsed


async def raw_adds(url: str, n: int, bulk: bool, events: bool) -> float:
    settings = settings_for(url, 1)
    config = queue_configs(settings.queues)[QueueName.PROCESS_GROUPS]
    opts = {"connection": url, "prefix": settings.queues.prefix}
    queue = Queue(QUEUE, opts)
    # the same observer the service runs: a QueueEvents consumer with a listener
    listener = QueueEvents(QUEUE, {**opts, "autorun": False}) if events else None
    consumer = None
    if listener is not None:
        listener.on("waiting", lambda *_: None)
        consumer = asyncio.ensure_future(listener.run())
    await queue.pause()
    started = time.perf_counter()
    if bulk:
        for chunk in range(0, n, 500):
            await queue.addBulk(
                [
                    {
                        "name": QUEUE,
                        "data": {**DATA, "taskId": i + 1},
                        "opts": {**config.job_options(), "jobId": job_id(QUEUE, i + 1)},
                    }
                    for i in range(chunk, min(n, chunk + 500))
                ]
            )
    else:
        for i in range(n):
            await queue.add(
                QUEUE,
                {**DATA, "taskId": i + 1, "type": "process_groups"},
                {**config.job_options(), "jobId": job_id(QUEUE, i + 1)},
            )
    elapsed = time.perf_counter() - started
    await _require_jobs(queue, n, "raw adds")
    await queue.obliterate(force=True)
    if listener is not None and consumer is not None:
        # bullmq's close() cancels the consumer once, which Python 3.11 can lose
        closing = asyncio.ensure_future(listener.close())
        await cancel_until_done({closing, consumer}, lambda: consumer, 10.0)
    await queue.close()
    return n / elapsed


async def _fill(url: str, prefix: str, n: int) -> None:
    queue = Queue(QUEUE, {"connection": url, "prefix": prefix})
    for chunk in range(0, n, 1000):
        await queue.addBulk(
            [
                {
                    "name": QUEUE,
                    "data": {**DATA, "taskId": i + 1},
                    "opts": {"jobId": job_id(QUEUE, i + 1), "removeOnComplete": True},
                }
                for i in range(chunk, min(n, chunk + 1000))
            ]
        )
    await queue.close()


async def service_processing(url: str, n: int, concurrency: int) -> float:
    settings = settings_for(url, concurrency)
    await _fill(url, settings.queues.prefix, n)
    config = queue_configs(settings.queues)[QueueName.PROCESS_GROUPS]
    worker = NoopWorker(settings, url, config, concurrency=concurrency)
    worker.done, worker.target, worker.count = asyncio.Event(), n, 0
    started = time.perf_counter()
    await worker.start()
    await worker.done.wait()
    elapsed = time.perf_counter() - started
    await worker.stop()
    await _require_processed(url, settings.queues.prefix, worker.count, n, "service")
    return n / elapsed


async def _require_processed(url: str, prefix: str, processed: int, n: int, what: str) -> None:
    queue = Queue(QUEUE, {"connection": url, "prefix": prefix})
    try:
        if processed != n:
            raise NotMeasuredError(f"{what} processing: {processed} jobs run, expected {n}")
        await _require_jobs(queue, 0, f"{what} processing")
        await queue.obliterate(force=True)
    finally:
        await queue.close()


async def raw_processing(url: str, n: int, concurrency: int) -> float:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    await _fill(url, prefix, n)
    done = asyncio.Event()
    count = 0

    async def noop(job: Job, token: str) -> dict[str, Any]:
        nonlocal count
        count += 1
        if count >= n:
            done.set()
        return {}

    started = time.perf_counter()
    worker = Worker(QUEUE, noop, {"connection": url, "prefix": prefix, "concurrency": concurrency})
    await done.wait()
    elapsed = time.perf_counter() - started
    await worker.close()
    await _require_processed(url, prefix, count, n, "raw")
    return n / elapsed


Measure = Callable[[str, int], Awaitable[float]]


@dataclass(frozen=True)
class Row:
    label: str
    service: float
    raw: float


async def compare(url: str, label: str, ours: Measure, raw: Measure, n: int, rounds: int) -> Row:
    ours_rates, raw_rates = [], []
    for round_ in range(rounds):  # alternate who goes first, so neither gets a warmer Redis
        if round_ % 2:
            ours_rates.append(await ours(url, n))
            raw_rates.append(await raw(url, n))
        else:
            raw_rates.append(await raw(url, n))
            ours_rates.append(await ours(url, n))
    return Row(label, statistics.median(ours_rates), statistics.median(raw_rates))


async def measure(jobs: int, rounds: int) -> list[Row]:
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedValkey(Path(tmp), persistence=False, publish=False) as server,
    ):
        url = server.url
        for events in (False, True):
            mode = "listening" if events else "producer"

            def single(e: bool) -> tuple[Measure, Measure]:
                return (lambda u, n: service_adds(u, n, False, e)), (
                    lambda u, n: raw_adds(u, n, False, e)
                )

            def bulk(e: bool) -> tuple[Measure, Measure]:
                return (lambda u, n: service_adds(u, n, True, e)), (
                    lambda u, n: raw_adds(u, n, True, e)
                )

            rows.append(await compare(url, f"single add ({mode})", *single(events), jobs, rounds))
            rows.append(await compare(url, f"bulk add ({mode})", *bulk(events), jobs * 5, rounds))
        for concurrency in (1, 50):
            row = await compare(
                url,
                f"process no-op, conc. {concurrency}",
                lambda u, n, c=concurrency: service_processing(u, n, c),  # type: ignore[misc]
                lambda u, n, c=concurrency: raw_processing(u, n, c),  # type: ignore[misc]
                jobs,
                rounds,
            )
            rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure("WARNING")
    try:
        rows = asyncio.run(measure(args.jobs, args.rounds))
    except NotMeasuredError as exc:
        print(f"benchmark invalid: {exc}", file=sys.stderr)
        return 1
    print(f"jobs per measurement: {args.jobs}, rounds: {args.rounds} (median)")
    print(f"{'figure (jobs/s)':<28} {'service':>10} {'raw':>10} {'ratio':>8}")
    for row in rows:
        print(
            f"{row.label:<28} {row.service:>10,.0f} {row.raw:>10,.0f} {row.service / row.raw:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
