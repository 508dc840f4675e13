"""Request admission: what is refused before the app reads a single body byte.

:class:`AdmissionMiddleware` (pure ASGI: nothing is buffered, streaming responses pass
through) checks, in this order, and answers with the error envelope:

1. ``Host`` is one of the served names (loopback names, the listen address and
   ``VKC_API_ALLOWED_HOSTS``; ``*`` there allows any): else 400 ``INVALID_HOST``.
   A page on another site that rebinds its DNS name to 127.0.0.1 sends its own name.
2. A state change (POST, PUT, PATCH, DELETE) from a browser comes from this origin, one
   in ``VKC_API_TRUSTED_ORIGINS``, or one named in ``VKC_API_CORS_ORIGINS``: an
   ``Origin`` header must match the ``Host`` (or be trusted), else ``Sec-Fetch-Site``
   must be ``same-origin`` or ``none``; else 403 ``CROSS_ORIGIN``.  Requests with
   neither header (curl, the CLI, scripts) pass.  A CORS wildcard (``*``) lets any
   origin read, never change state: only origins an operator names are trusted.
3. With ``API_KEY`` set, a state change carries the key: else 401, before the body.
4. A body has the content type its route reads (``multipart/form-data`` on the upload
   route, JSON elsewhere): else 415.
5. A body stays within its limit (``VKC_API_MAX_JSON_BYTES``, or the upload limit
   plus multipart overhead): a larger ``Content-Length`` is 413 at once, and a body
   that streams past it is cut off with 413 as its bytes arrive.

A ``HEAD`` request it admits is answered like ``GET`` without the body
(:func:`~vk_collector.api.middleware.head_as_get`): one ASGI layer, not two.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vk_collector.api.envelope import error_envelope
from vk_collector.api.errors import ApiError
from vk_collector.api.middleware import head_as_get
from vk_collector.api.security import key_matches, unauthorized
from vk_collector.settings import Settings

__all__ = ["MULTIPART_SLACK", "UPLOAD_PATH", "AdmissionMiddleware", "body_too_large"]

UPLOAD_PATH = "/api/groups/upload"
MULTIPART_SLACK = 64 * 1024
"""Bytes a multipart body may carry beyond the file: boundaries, part headers, fields."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})
_ADMITTED_HOSTS_KEPT = 64
"""Raw ``Host`` values remembered as admitted.  Bounded: values that differ only in the
port all pass the check, so an unbounded set would grow with every port a client sends."""


def body_too_large(limit: int, what: str) -> ApiError:
    return ApiError(
        413,
        "FILE_TOO_LARGE",
        f"the {what} is larger than the {limit} byte limit",
        {"maxBytes": limit},
    )


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", ())}


def _host_name(host: str) -> str:
    """``example.org:8000`` → ``example.org``; ``[::1]:8000`` → ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _media_type(headers: dict[bytes, bytes]) -> str:
    raw = headers.get(b"content-type", b"").decode("latin-1")
    return raw.split(";", 1)[0].strip().lower()


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        hosts = settings.api.served_hosts()
        self.any_host = "*" in hosts
        self.hosts = hosts
        named_cors = (o.lower() for o in settings.api.cors_origins if o != "*")
        self.trusted_origins = frozenset([*settings.api.trusted_origins, *named_cors])
        self._admitted_hosts: set[bytes] = set()  # raw Host values that passed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            limit = self._admit(scope)
        except ApiError as refusal:
            await _send_error(scope, send, refusal)
            return
        if limit is None:
            if scope["method"] == "HEAD":
                await head_as_get(self.app, scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        guard = _BodyGuard(receive, limit, scope["path"] == UPLOAD_PATH)

        async def guarded_send(message: Message) -> None:
            # FastAPI turns any failure while it reads a body into its own 400: once
            # the body passed its limit, the 413 replaces whatever the app answers.
            if guard.refusal is None:
                await send(message)
            elif message["type"] == "http.response.start":
                await _send_error(scope, send, guard.refusal)

        try:
            await self.app(scope, guard.receive, guarded_send)
        except ApiError as refusal:  # the body passed its limit outside a route
            if refusal is not guard.refusal:
                raise
            await guarded_send({"type": "http.response.start"})

    def _admit(self, scope: Scope) -> int | None:
        """Raise the refusal, or return the body limit (``None``: no body expected)."""
        if not self.any_host:
            raw_host = b""
            for name, value in scope.get("headers", ()):
                if name.lower() == b"host":
                    raw_host = value  # the last one, as the dict of _headers() keeps
            if raw_host not in self._admitted_hosts:
                host = _host_name(raw_host.decode("latin-1"))
                if host not in self.hosts:
                    raise ApiError(
                        400,
                        "INVALID_HOST",
                        f"this server does not answer for host {host[:100]!r}; "
                        "add it to VKC_API_ALLOWED_HOSTS",
                    )
                if len(self._admitted_hosts) < _ADMITTED_HOSTS_KEPT:
                    self._admitted_hosts.add(raw_host)
        if scope["method"] in _SAFE_METHODS:
            return None  # no dict of every header for the common case
        headers = _headers(scope)
        self._check_origin(headers)
        if self.settings.api.key is not None:
            supplied = headers.get(b"x-api-key")
            if not key_matches(self.settings, supplied):
                raise unauthorized(supplied is None)
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared in ("", "0") and b"transfer-encoding" not in headers:
            return 0
        media = _media_type(headers)
        upload = scope["path"] == UPLOAD_PATH
        if upload:
            limit, what = self.settings.max_upload_bytes + MULTIPART_SLACK, "upload"
            if media != "multipart/form-data":
                raise ApiError(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "send the groups file as multipart/form-data in a part named 'file'"
                    f" (got {media or 'no content type'!r})",
                )
        else:
            limit, what = self.settings.api.max_json_bytes, "JSON body"
            if media != "application/json" and not media.endswith("+json"):
                raise ApiError(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "send a JSON body with Content-Type: application/json"
                    f" (got {media or 'none'!r})",
                )
        if declared.isdigit() and int(declared) > limit:
            raise body_too_large(limit - MULTIPART_SLACK if upload else limit, what)
        return limit

    def _check_origin(self, headers: dict[bytes, bytes]) -> None:
        origin = headers.get(b"origin", b"").decode("latin-1").strip().lower()
        if origin:
            if origin in self.trusted_origins:
                return
            host = headers.get(b"host", b"").decode("latin-1").strip().lower()
            if origin != "null" and origin.split("://", 1)[-1] == host:
                return
            raise _cross_origin(f"Origin {origin[:100]!r}")
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
        if site and site not in _TRUSTED_FETCH_SITES:
            raise _cross_origin(f"Sec-Fetch-Site {site[:40]!r}")


def _cross_origin(seen: str) -> ApiError:
    return ApiError(
        403,
        "CROSS_ORIGIN",
        f"state changes from another site are refused ({seen}); "
        "list the site in VKC_API_TRUSTED_ORIGINS to allow it",
    )


class _BodyGuard:
    """Wraps ``receive``: counts body bytes as they arrive and raises 413 (kept in
    :attr:`refusal`) once they pass ``limit``."""

    def __init__(self, receive: Receive, limit: int, upload: bool) -> None:
        self._receive = receive
        self.limit = limit
        self.upload = upload
        self.received = 0
        self.refusal: ApiError | None = None

    async def receive(self) -> Message:
        message = await self._receive()
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            if self.upload:
                self.refusal = body_too_large(self.limit - MULTIPART_SLACK, "upload")
            else:
                self.refusal = body_too_large(self.limit, "JSON body")
            raise self.refusal
        return message


async def _send_error(scope: Scope, send: Send, refusal: ApiError) -> None:
    request_id = str(scope.get("state", {}).get("request_id", "-"))
    body: dict[str, Any] = error_envelope(
        refusal.code, refusal.message, request_id, refusal.details
    )
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in (refusal.headers or {}).items()]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
