"""User commands: ``upload``, ``groups list``, ``collect``, ``tasks``, ``export``."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vk_collector.bootstrap import Runtime
from vk_collector.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    console,
    err_console,
    fail,
    load,
    print_json,
    run,
    using_redis,
)
from vk_collector.cli.session import open_database, open_runtime, task_summary, wait_for_task
from vk_collector.errors import ValidationError
from vk_collector.export import ExportFormat, write_export
from vk_collector.pipelines import CollectRequest, Pipelines
from vk_collector.queue.config import QueueName
from vk_collector.settings import Settings
from vk_collector.storage import GroupRecord, Page, TaskRecord, TaskStatus
from vk_collector.tasks import TaskService

__all__ = ["collect", "export", "groups_app", "tasks_app", "upload"]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of tables and bars.")
]
NoWait = Annotated[
    bool, typer.Option("--no-wait", help="Queue the work and return at once with the task id.")
]
Workers = Annotated[
    bool | None,
    typer.Option(
        "--workers/--no-workers",
        help="Process in this command while it waits (default: only when no worker "
        "process is running).",
        show_default=False,
    ),
]


def _finish(task: TaskRecord, json_output: bool) -> None:
    if json_output:
        print_json(task_summary(task))
    else:
        _print_task(task)
    if task.status is TaskStatus.FAILED:
        raise typer.Exit(EXIT_FAILED)


def _start_and_wait(
    settings: Settings,
    queue: QueueName,
    start: Callable[[Runtime], Awaitable[TaskRecord]],
    *,
    workers: bool | None,
    no_wait: bool,
    json_output: bool,
) -> None:
    """Start a task, then wait for it (unless ``no_wait``) and exit by its outcome."""
    started: list[int] = []

    async def main() -> TaskRecord:
        in_process = False if no_wait else workers
        async with open_runtime(settings, url, workers=in_process, queue=queue) as runtime:
            task = await start(runtime)
            started.append(task.id)
            if no_wait:
                return task
            return await wait_for_task(runtime, task.id, show=not json_output)

    with using_redis(settings) as url:
        try:
            task = run(main)
        except typer.Exit as exit_:
            if exit_.exit_code == EXIT_INTERRUPTED and started:
                _interrupted(started[0])
            raise
    _finish(task, json_output)


def _interrupted(task_id: int) -> None:
    err_console.print(
        f"stopped waiting; task {task_id} goes on. Follow it with "
        f"`vk-collector tasks show {task_id}`."
    )
    raise typer.Exit(EXIT_INTERRUPTED)


def upload(
    file: Annotated[
        Path, typer.Argument(help="A text or one-column CSV file, one community per line.")
    ],
    encoding: Annotated[
        str | None,
        typer.Option(
            help="utf-8, windows-1251, koi8-r, iso-8859-1 or ascii (detected when "
            "omitted); base64 or hex for a list written in base64 or hexadecimal."
        ),
    ] = None,
    no_wait: NoWait = False,
    workers: Workers = None,
    json_output: JsonOption = False,
) -> None:
    """Upload communities (ids, screen names or links) and resolve them through VK."""
    settings = load()
    try:  # bad files are refused before anything starts; parsed as a stream
        with file.open("rb") as data:
            parsed = Pipelines.parse_upload(
                data,
                encoding=encoding,
                max_bytes=settings.max_upload_bytes,
                max_identifiers=settings.max_upload_identifiers,
            )
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}", EXIT_USAGE)
    except ValidationError as exc:
        fail(exc.message, EXIT_USAGE)

    async def start(runtime: Runtime) -> TaskRecord:
        result = await runtime.pipelines.upload_groups(
            parsed, file_name=file.name, max_bytes=settings.max_upload_bytes
        )
        if not json_output:
            lines = result.parsed
            console.print(
                f"task {result.task.id}: {len(lines.identifiers)} identifiers queued "
                f"({lines.error_count} bad lines, {lines.duplicate_count} repeated)"
            )
            for error in lines.errors[:10]:
                console.print(f"  [yellow]{error}[/]", highlight=False)
        return result.task

    _start_and_wait(
        settings,
        QueueName.PROCESS_GROUPS,
        start,
        workers=workers,
        no_wait=no_wait,
        json_output=json_output,
    )


groups_app = typer.Typer(help="List the stored communities.", no_args_is_help=True)


@groups_app.command("list")
def groups_list(
    search: Annotated[str | None, typer.Option(help="Part of a name or screen name.")] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json_output: JsonOption = False,
) -> None:
    """Stored communities; the VK id is what `collect --groups` takes."""
    settings = load()

    async def main() -> Page[GroupRecord]:
        async with open_database(settings) as db, db.unit_of_work(read_only=True) as uow:
            return await uow.groups.list(page=page, limit=limit, search=search)

    result = run(main)
    if json_output:
        items = [
            {
                "id": g.id,
                "vkId": g.vk_id,
                "name": g.name,
                "screenName": g.screen_name,
                "membersCount": g.members_count,
                "isClosed": g.is_closed,
            }
            for g in result.items
        ]
        print_json({"items": items, "total": result.total, "page": page, "pages": result.pages})
        return
    table = Table("vk id", "name", "screen name", "members", "closed")
    closed = {1: "closed", 2: "private"}
    for g in result.items:
        table.add_row(
            str(g.vk_id),
            g.name,
            g.screen_name or "",
            str(g.members_count or ""),
            closed.get(g.is_closed, ""),
        )
    console.print(table)
    console.print(f"{result.total} communities, page {page} of {max(1, result.pages)}")


def _parse_ids(text: str) -> list[int]:
    ids: list[int] = []
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        value = part.strip().removeprefix("-").removeprefix("club").removeprefix("public")
        if not value.isdigit() or int(value) <= 0:
            fail(
                f"--groups takes VK community ids separated by commas; {part!r} is not one",
                EXIT_USAGE,
            )
        ids.append(int(value))
    return ids


def collect(
    groups: Annotated[
        str | None, typer.Option("--groups", help="VK community ids, comma-separated.")
    ] = None,
    all_groups: Annotated[bool, typer.Option("--all", help="Every stored community.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Recent posts per community.")] = 10,
    no_replies: Annotated[
        bool, typer.Option("--no-replies", help="Top-level comments only.")
    ] = False,
    filter_words: Annotated[
        str | None,
        typer.Option("--filter-words", help="Keep only comments containing one of these words."),
    ] = None,
    no_wait: NoWait = False,
    workers: Workers = None,
    json_output: JsonOption = False,
) -> None:
    """Collect the recent posts of stored communities and every comment on them."""
    if bool(groups) == all_groups:
        fail("choose the communities: --groups ID,... or --all", EXIT_USAGE)
    settings = load()
    request = CollectRequest(
        vk_ids=_parse_ids(groups) if groups else (),
        all_groups=all_groups,
        limit=limit,
        include_replies=not no_replies,
        filter_words=tuple(w for w in (filter_words or "").split(",") if w.strip()),
    )

    async def start(runtime: Runtime) -> TaskRecord:
        task = await runtime.pipelines.start_collection(request)
        if not json_output:
            console.print(
                f"task {task.id}: collecting {len(task.parameters['groups'])} communities"
            )
        return task

    _start_and_wait(
        settings,
        QueueName.VK_COLLECT,
        start,
        workers=workers,
        no_wait=no_wait,
        json_output=json_output,
    )


tasks_app = typer.Typer(
    help="List tasks, show one, cancel one, or reconcile them with Redis.", no_args_is_help=True
)


@tasks_app.command("list")
def tasks_list(
    status: Annotated[
        str | None, typer.Option(help="pending, processing, completed, failed or cancelled.")
    ] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    json_output: JsonOption = False,
) -> None:
    """Tasks, newest first."""
    settings = load()
    if status is not None and status not in {s.value for s in TaskStatus}:
        allowed = ", ".join(s.value for s in TaskStatus)
        fail(f"unknown status {status!r}; use one of {allowed}", EXIT_USAGE)

    async def main() -> list[TaskRecord]:
        async with open_database(settings) as db:
            page_ = await TaskService(db).list(
                page=page, limit=limit, status=TaskStatus(status) if status else None
            )
            return list(page_.items)

    tasks = run(main)
    if json_output:
        print_json([task_summary(t) for t in tasks])
        return
    table = Table("id", "type", "status", "progress", "stage", "created", "finished")
    for t in tasks:
        table.add_row(
            str(t.id),
            t.type.value,
            t.status.value,
            f"{t.progress}%",
            t.stage or "",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.finished_at:%H:%M:%S}" if t.finished_at else "",
        )
    console.print(table)


def _print_task(task: TaskRecord) -> None:
    colour = {"completed": "green", "failed": "red"}.get(task.status.value, "yellow")
    console.print(
        f"task {task.id} ({task.type.value}): [bold {colour}]{task.status.value}[/] "
        f"{task.progress}%" + (f", stage {task.stage}" if task.stage else "")
    )
    if task.error_message:
        console.print(f"[red]reason:[/] {task.error_message}", highlight=False)
    result = task.result or {}
    if "stats" in result:
        console.print("result: " + ", ".join(f"{k} {v}" for k, v in result["stats"].items()))
    elif "commentsCollected" in result:
        console.print(
            f"result: {result['groupsProcessed']} communities, "
            f"{result['postsProcessed']} posts, {result['commentsCollected']} comments "
            f"in {result['processingTime'] / 1000:.1f}s"
        )
    if task.errors:
        console.print(f"errors ({len(task.errors)}):")
        for error in task.errors[:20]:
            subject = error.get("groupId") or error.get("identifier") or ""
            console.print(f"  {subject}: {error.get('error')}", highlight=False)
        if len(task.errors) > 20:
            console.print(f"  ... and {len(task.errors) - 20} more (--json shows all)")


@tasks_app.command("show")
def tasks_show(
    task_id: Annotated[int, typer.Argument(help="The task id.")], json_output: JsonOption = False
) -> None:
    """One task: status, progress, stage, stats, errors and result."""
    settings = load()

    async def main() -> TaskRecord:
        async with open_database(settings) as db:
            return await TaskService(db).get(task_id)

    task = run(main)
    if json_output:
        print_json(task_summary(task))
    else:
        _print_task(task)


@tasks_app.command("cancel")
def tasks_cancel(
    task_id: Annotated[int, typer.Argument(help="The task id.")], json_output: JsonOption = False
) -> None:
    """Cancel a pending or running task; its worker stops within about a second."""
    settings = load()

    async def main() -> TaskRecord:
        async with open_database(settings) as db:
            return await TaskService(db).cancel(task_id)

    task = run(main)
    if json_output:
        print_json(task_summary(task))
    else:
        _print_task(task)


def export(
    task_id: Annotated[int, typer.Argument(help="The collection task to export.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, jsonl, csv or xlsx.")] = "csv",
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="File to write; '-' for standard output."),
    ] = None,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="CSV: write cells verbatim (by default cells starting with = + - @ get a "
            "leading ' so spreadsheets do not run them as formulas).",
        ),
    ] = False,
) -> None:
    """Export a task's comments (one row each; json nests them under their posts)."""
    settings = load()

    async def main() -> tuple[str, int]:
        chosen = ExportFormat.parse(fmt)
        async with open_database(settings) as db:
            await TaskService(db).get(task_id)
            if output == "-":
                written = await write_export(db, task_id, chosen, sys.stdout.buffer, raw=raw)
                return "-", written
            target = Path(output or chosen.filename(task_id))
            written = await write_export(db, task_id, chosen, target, raw=raw)
            return str(target), written

    target, written = run(main)
    if target != "-":
        err_console.print(f"wrote {written:,} bytes to {target}")
