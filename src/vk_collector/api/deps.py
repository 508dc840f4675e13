"""``Annotated`` dependencies shared by the routers.

Every dependency is ``async def`` although none awaits: FastAPI runs a plain ``def``
dependency in the thread pool, and those hand-offs (one per dependency per request)
were most of the API's per-request overhead.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import BeforeValidator

from vk_collector.api.errors import ApiError, request_id_of
from vk_collector.api.security import require_api_key
from vk_collector.bootstrap import Runtime
from vk_collector.errors import ErrorCode
from vk_collector.metrics import Metrics
from vk_collector.pipelines import Pipelines
from vk_collector.queue.service import QueueService
from vk_collector.settings import Settings
from vk_collector.storage import Database
from vk_collector.tasks import TaskService

__all__ = [
    "JSON_NUMBER",
    "MAX_ID",
    "MAX_VK_ID",
    "ApiKey",
    "DbDep",
    "GroupIdPath",
    "MetricsDep",
    "PipelinesDep",
    "QueueDep",
    "RequestId",
    "RuntimeDep",
    "SettingsDep",
    "TaskIdPath",
    "TasksDep",
    "require_json",
    "runtime_of",
]


MAX_ID = 2**31 - 1
"""Internal ids (tasks, groups) are 32-bit on PostgreSQL: larger ones cannot exist."""
MAX_VK_ID = 2**53
"""VK ids (owners, posts) stay within what JSON numbers carry exactly."""


def _canonical_id(value: object) -> object:
    """Ids in paths are written one way only: ``+1``, ``01`` and ``1.0`` are not ``1``."""
    if isinstance(value, str) and not re.fullmatch(r"[1-9][0-9]{0,18}", value):
        raise ValueError("must be a positive whole number written without sign, zeros or dot")
    return value


def _json_number(value: object) -> object:
    """JSON numbers only: ``true`` is not 1 and ``"5"`` is not 5 (``5.0`` is, as in JSON
    Schema's ``integer``)."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a JSON number, not a string or a boolean")
    return value


JSON_NUMBER = BeforeValidator(_json_number)
"""Metadata for an ``int`` in a JSON body, after its ``Field`` (so the schema keeps
its bounds): strict about type, like the schema, not about ``5.0``."""

TaskIdPath = Annotated[
    int, Path(ge=1, le=MAX_ID, description="Task id"), BeforeValidator(_canonical_id)
]
GroupIdPath = Annotated[
    int, Path(ge=1, le=MAX_ID, description="Internal group id"), BeforeValidator(_canonical_id)
]


def runtime_of(request: Request) -> Runtime:
    """The started runtime, or 503 ``NOT_READY``.  A plain function as well as a
    dependency: the busiest read routes take ``request`` and call it, since each
    dependency level costs FastAPI a resolution per request (tens of microseconds,
    a tenth of a liveness probe)."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise ApiError(
            503, ErrorCode.NOT_READY, "the server is starting or stopping; try again shortly"
        )
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def require_json(request: Request) -> None:
    """415 for a body that is not JSON (FastAPI would report it as a 422 on the body)."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"send a JSON body with Content-Type: application/json (got {media or 'none'!r})",
        )


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def _request_id(request: Request) -> str:
    return request_id_of(request)


RequestId = Annotated[str, Depends(_request_id)]


async def _pipelines(runtime: RuntimeDep) -> Pipelines:
    return runtime.pipelines


async def _tasks(runtime: RuntimeDep) -> TaskService:
    return runtime.tasks


async def _queue(runtime: RuntimeDep) -> QueueService:
    return runtime.queue


async def _db(runtime: RuntimeDep) -> Database:
    return runtime.db


PipelinesDep = Annotated[Pipelines, Depends(_pipelines)]
TasksDep = Annotated[TaskService, Depends(_tasks)]
QueueDep = Annotated[QueueService, Depends(_queue)]
DbDep = Annotated[Database, Depends(_db)]
ApiKey = Depends(require_api_key)
"""Use as ``dependencies=[ApiKey]`` on a route or router."""
