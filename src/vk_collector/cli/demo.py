"""``vk-collector demo``: the whole product on embedded defaults, in about a minute.

A private Valkey (unless REDIS_URL is set), SQLite in the data directory, the local
VK API emulator on a free loopback port and in-process workers.  A bundled groups file
in mixed forms (with a few bad lines) is uploaded and resolved, a collection runs over
the stored communities with progress bars, and a summary says what was collected,
where it is and how to export it.  Everything it started is stopped on the way out.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Annotated

import typer
from rich.table import Table

from vk_collector.cli.common import EXIT_FAILED, console, load, run, using_redis
from vk_collector.cli.session import open_runtime, wait_for_task
from vk_collector.pipelines import CollectRequest
from vk_collector.settings import Settings, VkSettings
from vk_collector.storage import TaskRecord, TaskStatus
from vk_emulator import EmulatorConfig, EmulatorServer

__all__ = ["demo"]

DEMO_TOKEN = "demo-user-token"  # noqa: S105 - the emulator's public demo token


def _sample() -> bytes:
    return resources.files("vk_collector.data").joinpath("sample_groups.txt").read_bytes()


def _demo_settings(settings: Settings, emulator_url: str) -> Settings:
    queues = settings.queues.model_copy(deep=True)
    queues.vk_collect.delay_ms = 0
    vk = VkSettings(api_url=emulator_url, tokens=[DEMO_TOKEN])
    return settings.model_copy(update={"vk": vk, "queues": queues})


def demo(
    limit: Annotated[int, typer.Option(min=1, max=100, help="Recent posts per community.")] = 5,
    rps: Annotated[
        float, typer.Option(min=0.5, help="Requests per second the emulator allows a token.")
    ] = 3.0,
) -> None:
    """Run the end-to-end demo: upload, resolve, collect, summarise."""
    base = load()
    config = EmulatorConfig(seed=42, groups=200, rps=rps)
    with EmulatorServer(config) as emulator:
        console.print(f"VK API emulator at {emulator.url} ({rps:g} requests/s per token)")
        settings = _demo_settings(base, emulator.url)
        started = time.monotonic()

        async def main() -> tuple[TaskRecord, TaskRecord | None]:
            async with open_runtime(settings, url, workers=True) as runtime:
                console.rule("1. upload the sample groups file")
                upload = await runtime.pipelines.upload_groups(
                    _sample(), file_name="sample_groups.txt", max_bytes=settings.max_upload_bytes
                )
                resolved = await wait_for_task(runtime, upload.task.id, show=True)
                if resolved.status is TaskStatus.FAILED:
                    return resolved, None
                stats = (resolved.result or {}).get("stats", {})
                console.print(
                    f"  resolved: {stats.get('valid', 0)} new, "
                    f"{stats.get('duplicate', 0)} already stored, "
                    f"{stats.get('invalid', 0)} invalid"
                )
                for error in resolved.errors:
                    console.print(
                        f"  {error.get('identifier')}: {error.get('error')}",
                        style="yellow",
                        highlight=False,
                    )
                console.rule("2. collect recent posts and every comment")
                task = await runtime.pipelines.start_collection(
                    CollectRequest(all_groups=True, limit=limit)
                )
                collected = await wait_for_task(runtime, task.id, show=True)
                return resolved, collected

        with using_redis(settings) as url:
            resolved, collected = run(main)
    elapsed = time.monotonic() - started
    if collected is None:
        console.print(f"[red]the upload failed: {resolved.error_message}[/]")
        raise typer.Exit(EXIT_FAILED)
    _summary(settings, collected, elapsed)
    if collected.status is TaskStatus.FAILED:
        raise typer.Exit(EXIT_FAILED)


def _summary(settings: Settings, task: TaskRecord, elapsed: float) -> None:
    result = task.result or {}
    comments = int(result.get("commentsCollected", 0))
    seconds = max(0.001, result.get("processingTime", 0) / 1000)
    console.rule("3. summary")
    table = Table(show_header=False)
    table.add_row("communities collected", str(result.get("groupsProcessed", 0)))
    table.add_row("posts", str(result.get("postsProcessed", 0)))
    table.add_row("comments", f"{comments:,}")
    table.add_row("communities with errors", str(len(result.get("errors", []))))
    table.add_row("collection time", f"{seconds:.1f} s")
    table.add_row("comments/s", f"{comments / seconds:,.0f}")
    table.add_row("demo time", f"{elapsed:.1f} s")
    console.print(table)
    for error in result.get("errors", []):
        console.print(f"  community {error['groupId']}: {error['error']}", highlight=False)
    console.print(f"data: {settings.database_url.split(':///')[-1]}", highlight=False)
    console.print(f"export: vk-collector export {task.id} --format csv  (or json, jsonl, xlsx)")
    console.print("browse: vk-collector serve, then open http://127.0.0.1:8000/")
