"""``vk-collector worker``: a worker process that shares Redis and the database."""

from __future__ import annotations

import asyncio
import gc
import signal
from typing import Annotated

import structlog
import typer

from vk_collector.bootstrap import Runtime
from vk_collector.cli.common import err_console, load, run, using_redis
from vk_collector.gc_tuning import tune_for_service
from vk_collector.queue.config import QueueName

__all__ = ["worker"]

log = structlog.get_logger(__name__)

QUEUES = ", ".join(q.value for q in QueueName)


def worker(
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue", "-q", help=f"Queue to work on ({QUEUES}); repeat for more. Default: all."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=100, help="Jobs at once per queue (default from settings)."),
    ] = None,
) -> None:
    """Process jobs until SIGTERM or Ctrl-C, then finish or hand back the active ones."""
    settings = load(quiet=False)

    async def main() -> None:
        runtime = Runtime.create(
            settings, url, with_workers=True, queues=queue or None, concurrency=concurrency
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        tune_for_service()
        log.info("gc tuned", thresholds=gc.get_threshold(), frozen_objects=gc.get_freeze_count())
        chosen = list(queue or [q.value for q in QueueName])
        if QueueName.VK_COLLECT.value in chosen and QueueName.VK_COLLECT_GROUP.value not in chosen:
            chosen.append(QueueName.VK_COLLECT_GROUP.value)  # build_workers adds it too
        names = ", ".join(chosen)
        err_console.print(f"worker ready on {names}; Ctrl-C or SIGTERM stops it")
        try:
            await stop.wait()
            err_console.print("stopping: active jobs finish or go back to the queue")
        finally:
            await runtime.close()

    with using_redis(settings) as url:
        run(main)
