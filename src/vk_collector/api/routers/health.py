"""Liveness (cheap, no I/O) and the detailed check (Redis, backlog, workers, database)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from vk_collector import __version__
from vk_collector.api.deps import DbDep, QueueDep, RequestId, SettingsDep
from vk_collector.api.envelope import ApiModel, Envelope, envelope, utc_now
from vk_collector.storage import Database

__all__ = ["router"]

router = APIRouter(prefix="/api/health", tags=["health"])


class Liveness(ApiModel):
    status: Literal["healthy"]
    timestamp: str
    version: str


class DetailedHealth(ApiModel):
    status: Literal["healthy", "unhealthy"]
    version: str
    details: dict[str, Any]


@router.get("", response_model=Envelope[Liveness], summary="Liveness: the process answers")
async def liveness(request_id: RequestId) -> Envelope[Liveness]:
    return envelope(
        Liveness(status="healthy", timestamp=utc_now(), version=__version__), request_id
    )


async def _check_database(db: Database, timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            async with db.unit_of_work(read_only=True) as uow:
                await uow.tasks.exists(0)
    except Exception as exc:
        return {"connected": False, "latencyMs": None, "error": f"database: {exc}"}
    return {"connected": True, "latencyMs": round((time.perf_counter() - started) * 1000, 2)}


@router.get(
    "/detailed",
    response_model=Envelope[DetailedHealth],
    responses={503: {"model": Envelope[DetailedHealth], "description": "Unhealthy"}},
    summary="Redis, queue backlog, workers (in every process) and the database",
)
async def detailed(
    queue: QueueDep, db: DbDep, settings: SettingsDep, request_id: RequestId
) -> Envelope[DetailedHealth] | JSONResponse:
    result, database = await asyncio.gather(
        queue.health_check(), _check_database(db, settings.queues.health_timeout_s)
    )
    details = {**result.details, "database": database}
    problems = list(details.get("problems") or [])
    if not database["connected"]:
        problems.append(database["error"])
    details["problems"] = problems
    status: Literal["healthy", "unhealthy"] = "unhealthy" if problems else "healthy"
    body = envelope(
        DetailedHealth(status=status, version=__version__, details=details),
        request_id,
        "; ".join(problems) if problems else None,
    )
    if status == "healthy":
        return body
    body.success = False
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=503)
