"""``vk-collector serve``: the HTTP API (and, by default, this process's workers).

uvicorn handles SIGTERM and SIGINT: it stops accepting connections, lets requests in
flight finish, then runs the app's shutdown, which closes the Runtime (workers finish
or hand back their jobs, then queues, Redis and the database close).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
from typing import Annotated

import typer
import uvicorn

from vk_collector.api import create_app
from vk_collector.cli.common import EXIT_FAILED, EXIT_USAGE, err_console, fail, load, using_redis
from vk_collector.gc_tuning import tune_for_service
from vk_collector.serving import RateLimitedLog, hardened_options

__all__ = ["is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: VKC_API_HOST or 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port [default: VKC_API_PORT or 8000]"),
    ] = None,
    workers: Annotated[
        bool,
        typer.Option(
            "--workers/--no-workers",
            help="Run the queue workers in this process; --no-workers when separate "
            "`vk-collector worker` processes do the work",
        ),
    ] = True,
) -> None:
    """Serve the HTTP API and the dashboard."""
    settings = load()
    bind = host or settings.api.host
    listen_port = port or settings.api.port
    if not is_loopback(bind) and settings.api.key is None:
        fail(
            f"refusing to listen on {bind} without an API key: anyone who can reach it "
            "could start, delete and retry jobs. Set API_KEY (8+ random characters) or "
            "listen on 127.0.0.1",
            EXIT_USAGE,
        )
    # the address listened on is a served host name even when given as --host
    settings = settings.model_copy(
        update={"api": settings.api.model_copy(update={"host": bind, "port": listen_port})}
    )
    with using_redis(settings) as redis_url:
        app = create_app(settings, redis_url, workers=workers)
        config = uvicorn.Config(
            app,
            host=bind,
            port=listen_port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=max(5, int(settings.queues.shutdown_timeout_s) + 5),
            proxy_headers=False,
            **hardened_options(
                keep_alive_s=settings.api.timeout_keep_alive_s,
                request_timeout_s=settings.api.timeout_request_s,
                body_idle_s=settings.api.timeout_body_idle_s,
                limit_concurrency=settings.api.limit_concurrency,
            ),
        )
        emfile_filter = RateLimitedLog()
        logging.getLogger("asyncio").addFilter(emfile_filter)
        server = uvicorn.Server(config)
        err_console.print(
            f"vk-collector API on http://{bind}:{listen_port} "
            f"({'with' if workers else 'without'} workers); Ctrl+C or SIGTERM stops it",
            highlight=False,
        )
        # uvicorn re-raises a caught SIGTERM once it has shut down, which would kill the
        # process by signal; a handler of ours turns that into a normal exit (code 0).
        previous = signal.signal(signal.SIGTERM, lambda *_: None)
        tune_for_service()
        try:
            server.run()
        finally:
            signal.signal(signal.SIGTERM, previous)
            logging.getLogger("asyncio").removeFilter(emfile_filter)
        if not server.started:
            fail("the server did not start; see the log above", EXIT_FAILED)
