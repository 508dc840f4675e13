"""The response envelope every JSON answer uses, as in the original API.

Success: ``{success: true, data, message?, timestamp, requestId}``; a page of a list
adds ``pagination: {page, limit, total, totalPages, hasNext, hasPrev}``.  Failure:
``{success: false, error: {code, message, details?}, timestamp, requestId}``.
Field names are camelCase on the wire; Python code uses snake_case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from vk_collector.storage import Page

__all__ = [
    "ApiModel",
    "Envelope",
    "ErrorBody",
    "ErrorEnvelope",
    "PageEnvelope",
    "Pagination",
    "envelope",
    "error_envelope",
    "page_envelope",
    "utc_now",
]

T = TypeVar("T")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiModel(BaseModel):
    """Base of every wire model: camelCase aliases, snake_case attributes."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Envelope(ApiModel, Generic[T]):
    success: bool = True
    data: T
    message: str | None = None
    timestamp: str
    request_id: str


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


class ErrorBody(ApiModel):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorEnvelope(ApiModel):
    success: bool = False
    error: ErrorBody
    timestamp: str
    request_id: str


def envelope(data: T, request_id: str, message: str | None = None) -> Envelope[T]:
    return Envelope[T](data=data, message=message, timestamp=utc_now(), request_id=request_id)


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
        timestamp=utc_now(),
        request_id=request_id,
    )


def error_envelope(
    code: str, message: str, request_id: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The error envelope as JSON-ready data (exception handlers answer with it)."""
    body = ErrorEnvelope(
        error=ErrorBody(code=code, message=message, details=details or None),
        timestamp=utc_now(),
        request_id=request_id,
    )
    return body.model_dump(mode="json", by_alias=True, exclude_none=True)
