"""Request ids and the last line of defence against unhandled exceptions.

:class:`RequestContextMiddleware` (pure ASGI, so streaming responses pass through
untouched) gives every request an id: a sane incoming ``X-Request-ID`` is kept, any
other is replaced by a fresh one.  The id is in ``scope["state"]["request_id"]``,
in every log line of the request (structlog contextvars) and in the response's
``X-Request-ID`` header.  An exception that escapes the app before the response
started becomes a 500 envelope, logged with the id; after it started, the connection
is dropped (re-raised) because the status line is already gone.  A client that went
away mid-request is logged as ``api.client_gone`` (info), not as an error.

Every response also gets the security headers: ``X-Content-Type-Options: nosniff``,
``X-Frame-Options: DENY`` and, except on the Swagger UI pages (``/docs``, ``/redoc``,
which load their scripts from a CDN), a ``Content-Security-Policy`` that allows only
this origin's own scripts, styles and connections (the dashboard needs no more).
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from typing import Any

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vk_collector.api.envelope import error_envelope, request_started
from vk_collector.redaction import redact

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "REQUEST_ID_HEADER",
    "RequestContextMiddleware",
    "head_as_get",
]

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
_NO_CSP_PATHS = ("/docs", "/redoc")
# built once, not per request: the headers added, and the names they replace
_EXTRA = (*_SECURITY_HEADERS, _CSP)
_EXTRA_NO_CSP = tuple(_SECURITY_HEADERS)
_OURS = frozenset(name for name, _ in _EXTRA) | {b"x-request-id"}
_OURS_NO_CSP = frozenset(name for name, _ in _EXTRA_NO_CSP) | {b"x-request-id"}
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def _new_id() -> str:
    """A random version-4 UUID as 32 hex digits, from :mod:`random`, not ``os.urandom``.

    A request id identifies, it guards nothing, and ``uuid4()`` reads ``os.urandom``,
    a system call that lets go of the GIL: with the database reader threads busy,
    getting it back cost the event loop milliseconds per request.
    """
    return f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"  # as uuid4().hex


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE_ID.fullmatch(text) else None
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or _new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        request_started()
        started = False
        if str(scope.get("path", "")).startswith(_NO_CSP_PATHS):
            extra, ours = _EXTRA_NO_CSP, _OURS_NO_CSP
        else:
            extra, ours = _EXTRA, _OURS

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in ours]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                headers.extend(extra)
                message = {**message, "headers": headers}
            await send(message)

        # bind/reset with tokens: bound_contextvars() copies the whole context twice
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # the client went away (an aborted upload): nothing to answer, no bug
            log.info("api.client_gone", method=scope.get("method"), path=scope.get("path"))
        except Exception as exc:
            log.exception(
                "api.unhandled_error",
                method=scope.get("method"),
                path=scope.get("path"),
                error=redact(str(exc)),
            )
            if started:
                raise
            await _send_500(send_with_id, request_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


async def _send_500(send: Send, request_id: str) -> None:
    body: dict[str, Any] = error_envelope(
        "INTERNAL_ERROR",
        f"internal server error; quote request id {request_id} when reporting it",
        request_id,
    )
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class _HeadAnsweredError(Exception):
    """Raised from ``send`` once a HEAD answer's headers are out: stops the app."""


async def head_as_get(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a ``HEAD`` request like ``GET``, without the body (HTTP semantics;
    FastAPI routes list GET only).  The app is stopped once the headers are sent, so a
    HEAD on an export does not build the export.  Called by the admission middleware
    (one ASGI layer fewer on every other request than a middleware of its own)."""

    async def headers_only(message: Message) -> None:
        if message["type"] == "http.response.start":
            await send(message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            raise _HeadAnsweredError

    with contextlib.suppress(_HeadAnsweredError):
        await app({**scope, "method": "GET"}, receive, headers_only)
