"""The API key: ``X-API-Key`` on every mutating and operator endpoint when ``API_KEY`` is set.

Compared in constant time; never logged, never echoed.  Without a configured key the
API is open, which is why ``vk-collector serve`` refuses a non-loopback address then.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from vk_collector.api.errors import ApiError

__all__ = ["API_KEY_HEADER", "require_api_key"]

API_KEY_HEADER = "X-API-Key"
_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Required on POST/DELETE and operator endpoints when the server has API_KEY set",
)


async def require_api_key(
    request: Request, supplied: Annotated[str | None, Security(_scheme)] = None
) -> None:
    configured = request.app.state.settings.api.key
    if configured is None:
        return
    expected = configured.get_secret_value().encode()
    if supplied is None or not hmac.compare_digest(supplied.encode(), expected):
        reason = "missing" if supplied is None else "wrong"
        raise ApiError(
            401,
            "UNAUTHORIZED",
            f"API key {reason}: send the server's API_KEY in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
