"""Liveness (cheap, no I/O) and the detailed check (Redis, queues, workers, database).

``GET /api/health/detailed`` answers 200 for ``healthy`` and ``degraded``, 503 for
``unhealthy``; ``reasons`` says which check failed.  When ``API_KEY`` is set, a caller
without it gets the status and reasons only: ``details`` (hosts, PIDs, worker ids,
error texts) needs the key.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from vk_collector import __version__
from vk_collector.api.deps import DbDep, QueueDep, RequestId, SettingsDep
from vk_collector.api.envelope import ApiModel, Envelope, envelope, json_response
from vk_collector.api.errors import request_id_of
from vk_collector.api.lean_route import LeanQueryRoute
from vk_collector.api.security import api_key_accepted
from vk_collector.clock import utc_now_iso
from vk_collector.queue.health import STATUS_ORDER, HealthStatus
from vk_collector.storage import Database

__all__ = ["router"]

router = APIRouter(prefix="/api/health", tags=["health"], route_class=LeanQueryRoute)


class Liveness(ApiModel):
    status: Literal["healthy"]
    timestamp: str
    version: str


class HealthReason(ApiModel):
    check: str
    status: Literal["degraded", "unhealthy"]
    message: str


class DetailedHealth(ApiModel):
    status: HealthStatus
    version: str
    reasons: list[HealthReason]
    details: dict[str, Any] | None = None


_LivenessEnvelope = Envelope[Liveness]  # parametrised once, not on every probe


@router.get("", response_model=_LivenessEnvelope, summary="Liveness: the process answers")
async def liveness(request: Request) -> Response:
    """No dependencies and one serialisation: the cheapest answer the app can give."""
    now = utc_now_iso()
    return json_response(
        _LivenessEnvelope(
            data=Liveness(status="healthy", timestamp=now, version=__version__),
            timestamp=now,
            request_id=request_id_of(request),
        )
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
    summary="Redis, queues, workers (in every process), recent activity and the database",
)
async def detailed(
    queue: QueueDep,
    db: DbDep,
    settings: SettingsDep,
    request_id: RequestId,
    with_details: Annotated[bool, Depends(api_key_accepted)],
) -> Envelope[DetailedHealth] | JSONResponse:
    result, database = await asyncio.gather(
        queue.health_check(), _check_database(db, settings.queues.health_timeout_s)
    )
    reasons = [
        HealthReason(check=r.check, status=r.status, message=r.message) for r in result.reasons
    ]
    if not database["connected"]:
        reasons.append(
            HealthReason(check="database", status="unhealthy", message="database: no answer")
        )
    status: HealthStatus = result.status
    for reason in reasons:
        if STATUS_ORDER[reason.status] > STATUS_ORDER[status]:
            status = reason.status
    details = None
    if with_details:
        details = {**result.details, "database": database}
        details["problems"] = [r.message for r in reasons]
    body = envelope(
        DetailedHealth(status=status, version=__version__, reasons=reasons, details=details),
        request_id,
        "; ".join(r.message for r in reasons) if reasons else None,
    )
    if status != "unhealthy":
        return body
    body.success = False
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=503)
