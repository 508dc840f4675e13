"""``vk-collector emulator``: serve the local VK API emulator until Ctrl-C."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated, Any

import typer

from vk_collector.gc_tuning import tune_for_service
from vk_emulator.config import EmulatorConfig, FaultConfig
from vk_emulator.server import EmulatorServer

__all__ = ["emulator"]

_FAULTS = "Fault injection"
_DATA = "Dataset"
_LIMITS = "Limits"


def _share(help_text: str) -> Any:
    """An option for the share (0..1) of answers that get one kind of fault."""
    return typer.Option(min=0.0, max=1.0, help=help_text, rich_help_panel=_FAULTS)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port; 0 picks a free one.")
    ] = 8090,
    seed: Annotated[
        int, typer.Option(help="Seed of the dataset: the same seed serves the same data.")
    ] = 42,
    groups: Annotated[
        int,
        typer.Option(
            min=0,
            help="Number of communities: ids 1..N, screen names vkc_group_<id>.",
            rich_help_panel=_DATA,
        ),
    ] = 200,
    max_comments: Annotated[
        int,
        typer.Option(min=0, help="Cap on top-level comments per post.", rich_help_panel=_DATA),
    ] = 3000,
    max_replies: Annotated[
        int,
        typer.Option(min=0, help="Cap on replies per comment thread.", rich_help_panel=_DATA),
    ] = 60,
    user_tokens: Annotated[
        str, typer.Option(help="Comma-separated user tokens the emulator accepts.")
    ] = "demo-user-token",
    community_tokens: Annotated[
        str,
        typer.Option(help="Comma-separated community tokens (wall methods answer error 27)."),
    ] = "demo-community-token",
    service_tokens: Annotated[
        str, typer.Option(help="Comma-separated service tokens.")
    ] = "demo-service-token",
    rps: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Requests per second per user or service token before error 6; 0 = unlimited.",
            rich_help_panel=_LIMITS,
        ),
    ] = 3.0,
    rps_community: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Requests per second per community token; 0 = unlimited.",
            rich_help_panel=_LIMITS,
        ),
    ] = 20.0,
    daily_quota: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Calls per token and method per 24 h before error 29; unset = no quota.",
            rich_help_panel=_LIMITS,
        ),
    ] = None,
    groups_object_from: Annotated[
        str,
        typer.Option(
            help="First API version whose groups.getById answers {groups, profiles}.",
        ),
    ] = "5.194",
    fault_error_1: Annotated[
        float, _share("Share of requests answered with error 1 (unknown).")
    ] = 0.0,
    fault_error_6: Annotated[
        float, _share("Share answered with error 6 (too many requests).")
    ] = 0.0,
    fault_error_9: Annotated[float, _share("Share answered with error 9 (flood control).")] = 0.0,
    fault_error_10: Annotated[
        float, _share("Share answered with error 10 (internal error).")
    ] = 0.0,
    fault_error_14: Annotated[
        float, _share("Share answered with error 14 (captcha needed).")
    ] = 0.0,
    fault_http_5xx: Annotated[
        float, _share("Share answered with HTTP 500/502/503/504 and HTML.")
    ] = 0.0,
    fault_non_json: Annotated[
        float, _share("Share answered with HTTP 200 and an HTML body.")
    ] = 0.0,
    fault_slow: Annotated[float, _share("Share of answers delayed by --slow-ms.")] = 0.0,
    slow_ms: Annotated[
        int,
        typer.Option(
            min=0, help="Delay of a slow answer, in milliseconds.", rich_help_panel=_FAULTS
        ),
    ] = 1500,
    fault_seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the fault sequence; defaults to --seed.", rich_help_panel=_FAULTS
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="uvicorn log level (access logs stay off: URLs hold tokens).")
    ] = "warning",
) -> None:
    """Serve a deterministic local VK API (groups.getById, utils.resolveScreenName,
    wall.get, wall.getComments, execute) until Ctrl-C."""
    try:
        faults = FaultConfig(
            error_1=fault_error_1,
            error_6=fault_error_6,
            error_9=fault_error_9,
            error_10=fault_error_10,
            error_14=fault_error_14,
            http_5xx=fault_http_5xx,
            non_json=fault_non_json,
            slow=fault_slow,
            slow_ms=slow_ms,
            seed=fault_seed,
        )
        config = EmulatorConfig(
            seed=seed,
            groups=groups,
            user_tokens=tuple(user_tokens.split(",")),
            community_tokens=tuple(community_tokens.split(",")),
            service_tokens=tuple(service_tokens.split(",")),
            rps=rps,
            rps_community=rps_community,
            daily_quota=daily_quota,
            faults=faults,
            groups_getbyid_object_from_version=groups_object_from,
            max_comments_per_post=max_comments,
            max_replies_per_comment=max_replies,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    server = EmulatorServer(config, host, port, log_level=log_level.lower())
    try:
        server.start()
    except OSError as exc:
        typer.echo(f"cannot listen on {host}:{port}: {exc}", err=True)
        raise typer.Exit(1) from exc
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        first_token = config.user_tokens[0] if config.user_tokens else ""
        typer.echo(f"VK API emulator on {server.url} (seed {seed}, {groups} communities)")
        typer.echo("Point vk-collector at it with:")
        typer.echo(f"  VK_API_URL={server.url} VK_TOKENS={first_token}")
        typer.echo("Press Ctrl-C to stop.", err=True)
        tune_for_service()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        typer.echo("emulator stopped", err=True)
