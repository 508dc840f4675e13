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
from vk_collector.settings import Settings

__all__ = ["API_KEY_HEADER", "api_key_accepted", "key_matches", "require_api_key", "unauthorized"]

API_KEY_HEADER = "X-API-Key"
_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Required on POST/DELETE and operator endpoints when the server has API_KEY set",
)


def key_matches(settings: Settings, supplied: str | bytes | None) -> bool:
    """True when no key is configured or ``supplied`` equals it (constant time)."""
    configured = settings.api.key
    if configured is None:
        return True
    if supplied is None:
        return False
    given = supplied.encode() if isinstance(supplied, str) else supplied
    return hmac.compare_digest(given, configured.get_secret_value().encode())


def unauthorized(missing: bool) -> ApiError:
    reason = "missing" if missing else "wrong"
    return ApiError(
        401,
        "UNAUTHORIZED",
        f"API key {reason}: send the server's API_KEY in the {API_KEY_HEADER} header",
        headers={"WWW-Authenticate": API_KEY_HEADER},
    )


async def api_key_accepted(request: Request) -> bool:
    """True when no key is configured or the right one came; never refuses.  For
    endpoints that answer everyone but show more to a caller with the key.  The header
    is read directly, not through the security scheme, so the OpenAPI schema does not
    call such an endpoint protected."""
    return key_matches(request.app.state.settings, request.headers.get(API_KEY_HEADER))


async def require_api_key(
    request: Request, supplied: Annotated[str | None, Security(_scheme)] = None
) -> None:
    if not key_matches(request.app.state.settings, supplied):
        raise unauthorized(supplied is None)
