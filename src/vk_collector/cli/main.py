"""The ``vk-collector`` command.  Sub-commands live in sibling modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vk-collector",
    help="Collect VK communities, their recent posts and every comment through a job queue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main() -> None:
    app()
