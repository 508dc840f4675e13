"""What every command shares: settings, logging, the event loop, errors and exit codes.

Exit codes: 0 success, 1 the operation failed (an unhealthy check, a failed task, a
Redis that does not answer), 2 bad input or configuration (and, for ``health``, a
degraded service), 130 interrupted.  A user
mistake prints one line that says what to do, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from sqlalchemy import exc as sa_exc

from vk_collector.bootstrap import redis_endpoint, register_settings_secrets
from vk_collector.errors import ErrorCode, ValidationError, VkCollectorError
from vk_collector.log import configure
from vk_collector.redaction import redact
from vk_collector.settings import Settings, load_settings

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "console",
    "err_console",
    "fail",
    "load",
    "print_json",
    "run",
    "unreachable",
    "using_redis",
]

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {redact(message)}", highlight=False)
    raise typer.Exit(code)


def load(quiet: bool = True) -> Settings:
    """Settings from the environment; logging configured once, secrets registered.

    ``quiet`` commands (everything but the long-running services) log warnings only,
    unless VKC_LOG_LEVEL asks for more.
    """
    try:
        settings = load_settings()
    except ValidationError as exc:
        fail(exc.message, EXIT_USAGE)
    explicit = "VKC_LOG_LEVEL" in os.environ
    level = "WARNING" if quiet and not explicit else settings.log.level
    configure(level, settings.log.format)
    register_settings_secrets(settings)
    return settings


def _exit_code(exc: VkCollectorError) -> int:
    if isinstance(exc, ValidationError) or exc.code is ErrorCode.INVALID_SETTINGS:
        return EXIT_USAGE
    return EXIT_FAILED


def unreachable(exc: BaseException) -> str | None:
    """One line for a database or network failure (an unreachable PostgreSQL, a
    refused connection), or None for anything else."""
    if isinstance(exc, sa_exc.SQLAlchemyError):
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"the database does not answer: {detail[0] if detail else type(exc).__name__}"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc.strerror or exc}"
    return None


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; domain errors, an unreachable database and refused connections
    become one line and an exit code (never a traceback)."""
    try:
        return asyncio.run(_call(main))
    except VkCollectorError as exc:
        fail(exc.message, _exit_code(exc))
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        fail(unreachable(exc) or str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()


@contextmanager
def using_redis(settings: Settings) -> Iterator[str]:
    """The Redis URL for this command (embedded when REDIS_URL is unset)."""
    try:
        with redis_endpoint(settings) as url:
            yield url
    except VkCollectorError as exc:
        fail(exc.message, _exit_code(exc))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
