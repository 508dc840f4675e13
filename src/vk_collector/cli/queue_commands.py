"""Operator commands: ``health``, ``queues``, ``jobs`` and ``redis``."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from vk_collector.cli.common import (
    EXIT_FAILED,
    console,
    fail,
    load,
    print_json,
    run,
    unreachable,
    using_redis,
)
from vk_collector.cli.session import open_runtime
from vk_collector.embedded import EmbeddedValkey, find_running
from vk_collector.errors import VkCollectorError
from vk_collector.queue.config import QueueName
from vk_collector.queue.job_info import JobInfo
from vk_collector.redaction import redact

__all__ = ["health", "jobs_app", "queues_app", "redis_server"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
QUEUE_NAMES = ", ".join(q.value for q in QueueName)


EXIT_DEGRADED = 2
_HEALTH_EXIT = {"healthy": 0, "degraded": EXIT_DEGRADED, "unhealthy": EXIT_FAILED}
_HEALTH_COLOUR = {"healthy": "green", "degraded": "yellow", "unhealthy": "red"}


def health(json_output: JsonOption = False) -> None:
    """Check Redis, queues, workers and recent jobs; exit 0 healthy, 2 degraded, 1 unhealthy."""
    settings = load()

    async def main() -> dict[str, Any]:
        try:
            async with open_runtime(settings, url, workers=False) as runtime:
                return (await runtime.queue.health_check()).to_dict()
        except (VkCollectorError, SQLAlchemyError, OSError) as exc:
            if not json_output:
                raise
            message = exc.message if isinstance(exc, VkCollectorError) else unreachable(exc)
            return {"status": "unhealthy", "error": redact(message or str(exc))}

    with using_redis(settings) as url:
        result = run(main)
    if json_output:
        print_json(result)  # also when Redis or the database could not be reached
    else:
        _print_health(result)
    code = _HEALTH_EXIT[result["status"]]
    if code:
        raise typer.Exit(code)


def _print_health(result: dict[str, Any]) -> None:
    details = result["details"]
    console.print(f"status: [bold {_HEALTH_COLOUR[result['status']]}]{result['status']}[/]")
    redis = details["redis"]
    console.print(
        f"redis: {'connected' if redis['connected'] else 'NOT connected'}"
        + (f" ({redis['latencyMs']} ms)" if redis.get("latencyMs") is not None else "")
    )
    counts = (details["queues"].get("counts") or {}).get("queues", {})
    processing = details["queues"].get("processing") or {}
    for name, c in counts.items():
        due = (processing.get(name) or {}).get("dueDelayed", 0)
        console.print(
            f"queue {name}: waiting {c['waiting']}, delayed {c['delayed']} ({due} due), "
            f"active {c['active']}, failed {c['failed']}"
        )
    console.print(f"workers: {len(details['workers'])}")
    for worker in details["workers"]:
        d = worker["details"]
        seen = f", last seen {worker['lastSeen']}" if worker.get("lastSeen") else ""
        console.print(
            f"  {d.get('queueName')} {d.get('workerId')} (host {d.get('host')}, "
            f"pid {d.get('pid')}{seen}): {worker['status']}",
            highlight=False,
        )
    for reason in result["reasons"]:
        colour = _HEALTH_COLOUR[reason["status"]]
        console.print(f"[{colour}]{reason['status']}:[/] {reason['message']}", highlight=False)


queues_app = typer.Typer(help="Show queue counts, or pause and resume queues.")


@queues_app.callback(invoke_without_command=True)
def queues(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """A table of job counts per queue and whether it is paused."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load()

    async def main() -> list[dict[str, Any]]:
        async with open_runtime(settings, url, workers=False) as runtime:
            return [await runtime.queue.get_queue_stats(q.value) for q in QueueName]

    with using_redis(settings) as url:
        stats = run(main)
    if json_output:
        print_json(stats)
        return
    table = Table()
    table.add_column("queue", no_wrap=True)
    for column in ("paused", "waiting", "active", "delayed", "completed", "failed", "workers"):
        table.add_column(column, justify="right")
    for s in stats:
        c = s["counts"]
        table.add_row(
            s["name"],
            "yes" if s["paused"] else "no",
            str(c["waiting"] + c["paused"]),
            str(c["active"]),
            str(c["delayed"]),
            str(c["completed"]),
            str(c["failed"]),
            str(s["workers"]),
        )
    console.print(table)


QueueArg = Annotated[
    str | None, typer.Argument(help=f"Queue name ({QUEUE_NAMES}); all queues when omitted.")
]


def _control(action: str, name: str | None) -> None:
    settings = load()

    async def main() -> list[str]:
        async with open_runtime(settings, url, workers=False) as runtime:
            if action == "pause":
                return await runtime.queue.pause_queue(name)
            return await runtime.queue.resume_queue(name)

    with using_redis(settings) as url:
        names = run(main)
    console.print(f"{action}d: {', '.join(names)}")


@queues_app.command("pause")
def pause(name: QueueArg = None) -> None:
    """Pause a queue for every worker in every process (active jobs finish)."""
    _control("pause", name)


@queues_app.command("resume")
def resume(name: QueueArg = None) -> None:
    """Resume a paused queue."""
    _control("resume", name)


jobs_app = typer.Typer(help="Inspect, retry or remove one job.", no_args_is_help=True)
JobArg = Annotated[str, typer.Argument(help="Job id, e.g. vk-collect-12.")]


def _with_job(action: str, job_id: str) -> dict[str, Any] | None:
    settings = load()

    async def main() -> dict[str, Any] | None:
        async with open_runtime(settings, url, workers=False) as runtime:
            if action == "retry":
                await runtime.queue.retry_job(job_id)
                return None
            if action == "remove":
                await runtime.queue.remove_job_or_raise(job_id)
                return None
            job = await runtime.queue.get_job(job_id)
            if job is None:
                return None
            info = JobInfo.of(job, await runtime.queue.get_job_state(job))
            return {
                "id": info.id,
                "name": info.name,
                "queue": info.queue,
                "state": info.state,
                "attemptsMade": info.attempts_made,
                "progress": info.progress,
                "data": info.data,
                "returnValue": info.return_value,
                "failedReason": info.failed_reason,
                "timestamp": info.timestamp,
                "processedOn": info.processed_on,
                "finishedOn": info.finished_on,
            }

    with using_redis(settings) as url:
        return run(main)


@jobs_app.command("show")
def show(job_id: JobArg) -> None:
    """Print a job: state, attempts, progress, data and result (JSON)."""
    job = _with_job("show", job_id)
    if job is None:
        fail(f"job {job_id} not found")
    print_json(job)


@jobs_app.command("retry")
def retry(job_id: JobArg) -> None:
    """Move a failed (or completed) job back to the queue."""
    _with_job("retry", job_id)
    console.print(f"retried {job_id}")


@jobs_app.command("remove")
def remove(job_id: JobArg) -> None:
    """Delete a job that is not being processed."""
    _with_job("remove", job_id)
    console.print(f"removed {job_id}")


def redis_server() -> None:
    """Run the embedded Valkey in the foreground and print its URL.

    Other vk-collector processes on the same data directory (VKC_DATA_DIR) find and
    share it; set REDIS_URL to the printed URL for processes elsewhere on this host.
    """
    settings = load(quiet=False)
    if settings.redis.url:
        fail("REDIS_URL is set: there is no embedded server to run", 2)
    shared = find_running(settings.data_dir)
    if shared is not None:
        fail(
            f"an embedded server already runs for {settings.data_dir}: {shared.url} "
            f"(pid {shared.pid})"
        )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with EmbeddedValkey(settings.data_dir) as server:
        console.print(f"REDIS_URL={server.url}", highlight=False)
        console.print("Ctrl-C stops it.", style="dim")
        stop.wait()
