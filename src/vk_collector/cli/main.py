"""The ``vk-collector`` command.  Sub-commands live in sibling modules."""

from __future__ import annotations

import typer

from vk_collector.cli import pipeline_commands, queue_commands
from vk_collector.cli.demo import demo
from vk_collector.cli.emulator import emulator
from vk_collector.cli.reconcile_command import reconcile
from vk_collector.cli.serve import serve
from vk_collector.cli.worker_command import worker

app = typer.Typer(
    name="vk-collector",
    help="Collect VK communities, their recent posts and every comment through a job queue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("demo")(demo)
app.command("upload")(pipeline_commands.upload)
app.add_typer(pipeline_commands.groups_app, name="groups")
app.command("collect")(pipeline_commands.collect)
pipeline_commands.tasks_app.command("reconcile")(reconcile)
app.add_typer(pipeline_commands.tasks_app, name="tasks")
app.command("export")(pipeline_commands.export)
app.command("worker")(worker)
app.command("serve")(serve)
app.command("health")(queue_commands.health)
app.add_typer(queue_commands.queues_app, name="queues")
app.add_typer(queue_commands.jobs_app, name="jobs")
app.command("redis")(queue_commands.redis_server)
app.command("emulator")(emulator)


def main() -> None:
    app()
