"""Where domain errors become HTTP status codes (and nowhere else).

=======================================  ======
error                                    status
=======================================  ======
NotFoundError                            404
ConflictError                            409
ValidationError FILE_TOO_LARGE           413
ValidationError UNSUPPORTED_FILE         415
ValidationError INVALID_INPUT / other    400
QueueError JOB_NOT_FOUND, QUEUE_NOT_FOUND  404
QueueError RETRY/REMOVE_JOB_FAILED       409
QueueError (Redis trouble), Redis, DB    503
pool exhausted, DB unreachable           503 (``DATABASE_UNAVAILABLE``)
a Redis error no handler wrapped          503 (``REDIS_UNAVAILABLE``)
VkApiError                               502
request validation (FastAPI)             400, naming the field
=======================================  ======

Invalid input answers 400, not FastAPI's usual 422, because the original system (and
its web client) answered 400; the body names every offending field in
``details.fields``.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from vk_collector.api.envelope import error_envelope
from vk_collector.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    QueueError,
    RedisConnectionError,
    StorageError,
    ValidationError,
    VkApiError,
    VkCollectorError,
)
from vk_collector.redaction import redact, redact_value

__all__ = ["ApiError", "install_error_handlers", "request_id_of", "status_for"]

log = structlog.get_logger(__name__)

_VALIDATION_STATUS = {
    ErrorCode.FILE_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_FILE: 415,
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.INVALID_SETTINGS: 400,
}
_QUEUE_STATUS = {
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.QUEUE_NOT_FOUND: 404,
    ErrorCode.RETRY_JOB_FAILED: 409,
    ErrorCode.REMOVE_JOB_FAILED: 409,
}
_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "FILE_TOO_LARGE",
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: "INVALID_INPUT",
}


class ApiError(Exception):
    """An HTTP-level refusal raised by the API layer itself (auth, content type, size)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def status_for(exc: VkCollectorError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, ValidationError):
        return _VALIDATION_STATUS.get(exc.code, 400)
    if isinstance(exc, QueueError):
        return _QUEUE_STATUS.get(exc.code, 503)
    if isinstance(exc, RedisConnectionError | StorageError):
        return 503
    if isinstance(exc, VkApiError):
        return 502
    return 500


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "-")


def _respond(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_envelope(code, redact(message), request_id_of(request), redact_value(details))
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [
        str(p)
        for p in loc
        if p not in ("body", "query", "path", "header", "form", "none")
        and "[" not in str(p)  # pydantic's names of union members: list[...], literal[...]
    ]
    return ".".join(parts) or str(loc[0] if loc else "request")


def _describe(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    problems = [
        {
            "field": _field(error.get("loc", ())),
            "in": str(error.get("loc", ("body",))[0]),
            "message": str(error.get("msg", "invalid")),
        }
        for error in errors
    ]
    shown = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return f"invalid request: {shown}{more}", problems


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (HEAD wherever GET is)."""
    methods: set[str] = set()
    pending = list(request.app.router.routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None:
            pending.extend(included.routes)
            continue
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= set(route_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, VkCollectorError)
        status = status_for(exc)
        if status >= 500:
            log.warning("api.request_failed", status=status, code=str(exc.code), error=exc.message)
        return _respond(request, status, str(exc.code), exc.message, exc.details)

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return _respond(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    async def on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, problems = _describe(list(exc.errors()))
        return _respond(request, 400, "INVALID_INPUT", message, {"fields": problems})

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; the path may
            # have more (GET and DELETE /api/tasks/{id} are two routes)
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return _respond(request, exc.status_code, code, message, headers=headers)

    async def on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, sa_exc.TimeoutError):
            reason = "every database connection is busy; try again shortly"
        else:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
            reason = f"the database does not answer ({detail})"
        log.warning("api.database_unavailable", error=redact(reason))
        return _respond(request, 503, "DATABASE_UNAVAILABLE", reason, headers={"Retry-After": "5"})

    async def on_redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        reason = f"Redis does not answer ({detail}); try again shortly"
        log.warning("api.redis_unavailable", error=redact(reason))
        return _respond(request, 503, "REDIS_UNAVAILABLE", reason, headers={"Retry-After": "5"})

    app.add_exception_handler(VkCollectorError, on_domain_error)
    app.add_exception_handler(redis.exceptions.ConnectionError, on_redis_unavailable)
    app.add_exception_handler(redis.exceptions.TimeoutError, on_redis_unavailable)
    # pool checkout timeouts, unreachable servers, "database is locked"
    app.add_exception_handler(sa_exc.TimeoutError, on_database_unavailable)
    app.add_exception_handler(sa_exc.OperationalError, on_database_unavailable)
    app.add_exception_handler(sa_exc.InterfaceError, on_database_unavailable)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
