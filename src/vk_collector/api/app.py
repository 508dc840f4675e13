"""The FastAPI application factory.  Nothing is built at import time.

``create_app(settings, redis_url)`` returns an app whose lifespan builds a
:class:`~vk_collector.bootstrap.Runtime` (database, queue service and, with
``workers=True``, this process's workers), starts it, and closes it on shutdown
(uvicorn runs the shutdown on SIGTERM and SIGINT, so jobs in flight finish or are
handed back).  Tests pass a started ``runtime`` instead; the app then leaves its
lifecycle to them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from vk_collector import __version__
from vk_collector.api import metrics as metrics_routes
from vk_collector.api.admission import AdmissionMiddleware
from vk_collector.api.dashboard import mount_dashboard
from vk_collector.api.envelope import ErrorEnvelope
from vk_collector.api.errors import install_error_handlers
from vk_collector.api.limits import Slots
from vk_collector.api.middleware import RequestContextMiddleware
from vk_collector.api.routers import (
    compat_groups,
    compat_tasks,
    events,
    groups,
    health,
    queues,
    results,
    tasks,
)
from vk_collector.bootstrap import Runtime
from vk_collector.metrics import Metrics, install, uninstall
from vk_collector.settings import Settings

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in {
        400: "Invalid parameters or body (the message names the field)",
        401: "API key missing or wrong",
        404: "Unknown id or endpoint",
        405: "Method not allowed",
        409: "Conflicts with the current state",
        413: "Upload too large",
        415: "Wrong content type",
        500: "A bug (logged with the request id)",
        502: "VK API failure",
        503: "Redis or the database is unavailable",
    }.items()
}


def create_app(
    settings: Settings,
    redis_url: str,
    *,
    workers: bool = True,
    runtime: Runtime | None = None,
    sse_ping_s: float = 15.0,
) -> FastAPI:
    """The API app.  ``workers``: run this process's queue workers in the lifespan;
    ``runtime``: an already started runtime to use (and not close)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        current = runtime or Runtime.create(settings, redis_url, with_workers=workers)
        if owned:
            try:
                await current.start(start_workers=workers)
            except BaseException:
                await current.close()
                raise
        queue_metrics = metrics_routes.QueueEventMetrics(app.state.metrics, current.queue)
        queue_metrics.open()
        install(app.state.metrics)
        app.state.runtime = current
        log.info("api.started", workers=workers, owned_runtime=owned)
        try:
            yield
        finally:
            app.state.runtime = None
            uninstall(app.state.metrics)
            queue_metrics.close()
            if owned:
                await current.close()
            log.info("api.stopped")

    app = FastAPI(
        title="vk-collector",
        version=__version__,
        description=(
            "Collects VK communities, their recent posts and every comment through a job "
            "queue.  Every JSON answer is an envelope {success, data, message?, timestamp, "
            'requestId, executionTime}; errors are {success: false, error: "<message>", '
            'message: "<message>", code, details?}.'
        ),
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.runtime = None
    app.state.sse_ping_s = sse_ping_s
    app.state.export_slots = Slots("exports", settings.api.max_concurrent_exports)
    app.state.upload_slots = Slots("groups file parses", settings.api.max_concurrent_uploads)
    install_error_handlers(app)
    app.add_middleware(AdmissionMiddleware, settings=settings)  # and HEAD as GET
    origins = list(settings.api.cors_origins)
    if origins:  # a web client on another origin (the original's ran on :5173)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Content-Disposition", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware)  # outermost: ids every answer
    # Routers are matched in this order, route by route, on every request: the busiest
    # (liveness, the task and group lists) come first.  Only routers that share a
    # path and method need a given order among themselves.
    for router in (
        health.router,
        tasks.router,  # before events, results and compat_tasks (same /api/tasks prefix)
        compat_groups.router,  # /batch and /all before /api/groups/{group_id}
        groups.router,
        groups.stats_router,
        compat_groups.stats_router,
        events.router,
        results.router,
        queues.router,
        compat_tasks.tasks_router,
        compat_tasks.vk_router,
        compat_tasks.collect_router,
        compat_tasks.comments_router,
        metrics_routes.router,
    ):
        app.include_router(router)
    mount_dashboard(app)
    return app
