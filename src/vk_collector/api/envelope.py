"""The response envelope every JSON answer uses, as in the original API.

Success: ``{success: true, data, message?, timestamp, requestId, executionTime}``; a
page of a list adds ``pagination: {page, limit, total, totalPages, hasNext, hasPrev}``.
Failure: ``{success: false, error: "<message>", message: "<message>", code, details?,
timestamp, requestId, executionTime}``: ``error`` is the human-readable text (the
original web client shows ``data.error || data.message`` in most places and
``data.message`` alone in its upload form and group actions, so ``message`` repeats it),
``code`` the machine-readable reason.
``executionTime`` is the milliseconds since the request entered the app (see
:func:`request_started`); it is absent outside a request.
Field names are camelCase on the wire; Python code uses snake_case.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.responses import Response

from vk_collector.clock import utc_now_iso
from vk_collector.storage import Page

__all__ = [
    "ApiModel",
    "Envelope",
    "ErrorEnvelope",
    "PageEnvelope",
    "Pagination",
    "envelope",
    "error_envelope",
    "json_response",
    "page_envelope",
    "request_started",
]

T = TypeVar("T")

_STARTED: ContextVar[float | None] = ContextVar("vk_collector_request_started", default=None)


def request_started() -> None:
    """Mark now as the start of the current request (the request middleware calls it)."""
    _STARTED.set(time.perf_counter())


def execution_time_ms() -> int | None:
    """Whole milliseconds since :func:`request_started` in this context, or None."""
    started = _STARTED.get()
    if started is None:
        return None
    return max(0, round((time.perf_counter() - started) * 1000))


class ApiModel(BaseModel):
    """Base of every wire model: camelCase aliases, snake_case attributes."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Envelope(ApiModel, Generic[T]):
    success: bool = True
    data: T
    message: str | None = None
    timestamp: str
    request_id: str
    execution_time: int | None = Field(default_factory=execution_time_ms)


class Pagination(ApiModel):
    page: int
    limit: int
    total: int
    total_pages: int
    has_next: bool
    has_prev: bool


class PageEnvelope(ApiModel, Generic[T]):
    success: bool = True
    data: list[T]
    pagination: Pagination
    message: str | None = None
    timestamp: str
    request_id: str
    execution_time: int | None = Field(default_factory=execution_time_ms)


class ErrorEnvelope(ApiModel):
    success: bool = False
    error: str = Field(description="What went wrong, for a person to read")
    message: str = Field(
        description="The same text as error: the original web client's upload form and "
        "group actions show data.message"
    )
    code: str = Field(description="Machine-readable reason, e.g. NOT_FOUND, INVALID_INPUT")
    details: dict[str, Any] | None = None
    timestamp: str
    request_id: str
    execution_time: int | None = Field(default_factory=execution_time_ms)


def envelope(data: T, request_id: str, message: str | None = None) -> Envelope[T]:
    return Envelope[T](data=data, message=message, timestamp=utc_now_iso(), request_id=request_id)


def page_envelope(page: Page[Any], items: Sequence[T], request_id: str) -> PageEnvelope[T]:
    return PageEnvelope[T](
        data=list(items),
        pagination=Pagination(
            page=page.page,
            limit=page.limit,
            total=page.total,
            total_pages=page.pages,
            has_next=page.has_next,
            has_prev=page.offset > 0,
        ),
        timestamp=utc_now_iso(),
        request_id=request_id,
    )


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    """``body`` serialised once, to the bytes FastAPI would send for it.

    A route that returns a model has it validated again against its
    ``response_model`` and then serialised: on a page of twenty tasks the second
    validation cost as much as building the page.  Keep ``response_model`` on the
    route for the OpenAPI schema and return this.
    """
    return Response(
        body.model_dump_json(by_alias=True), status_code=status_code, media_type="application/json"
    )


def error_envelope(
    code: str, message: str, request_id: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The error envelope as JSON-ready data (exception handlers answer with it)."""
    body = ErrorEnvelope(
        error=message,
        message=message,
        code=code,
        details=details or None,
        timestamp=utc_now_iso(),
        request_id=request_id,
    )
    return body.model_dump(mode="json", by_alias=True, exclude_none=True)
