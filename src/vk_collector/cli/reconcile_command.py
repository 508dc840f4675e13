"""``vk-collector tasks reconcile``: one reconciliation pass now, for operators.

The same pass every worker process runs every ``VKC_QUEUE_RECONCILE_INTERVAL_S``
(see :mod:`vk_collector.reconcile`), without waiting for the pass lock: after a Redis
that came back empty, run it to re-enqueue the lost collections at once
(``--grace 0``) instead of after the grace period.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from vk_collector.bootstrap import Runtime
from vk_collector.cli.common import console, load, print_json, run, using_redis
from vk_collector.reconcile import Reconciler, ReconcileReport
from vk_collector.redis_clients import redis_client

__all__ = ["reconcile"]


def reconcile(
    grace: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Act on tasks unchanged for this many seconds "
            "[default: VKC_QUEUE_RECONCILE_GRACE_S or 30]",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Re-enqueue unfinished tasks whose job Redis lost; settle tasks whose job ended."""
    settings = load()

    async def main() -> ReconcileReport:
        runtime = Runtime.create(settings, url)
        await runtime.start(start_workers=False, listen_events=False)
        client = redis_client(url, connect_timeout_s=settings.redis.connect_timeout_s)
        try:
            reconciler = Reconciler(settings, runtime.db, runtime.queue, client)
            return await reconciler.run_once(grace_s=grace, force=True)
        finally:
            await client.aclose()
            await runtime.close()

    with using_redis(settings) as url:
        report = run(main)
    if json_output:
        print_json(
            {
                "checked": report.checked,
                "actions": [
                    {"taskId": a.task_id, "jobId": a.job_id, "action": a.action, "reason": a.reason}
                    for a in report.actions
                ],
            }
        )
        return
    console.print(
        f"checked {report.checked} unfinished task(s) past the grace period; "
        f"{len(report.actions)} set right"
    )
    if report.actions:
        table = Table("task", "job", "action", "reason")
        for a in report.actions:
            table.add_row(str(a.task_id), a.job_id, a.action, a.reason)
        console.print(table)
