"""The emulator's ASGI app.

Routes: ``GET|POST /method/<name>`` (VK API), ``GET /stats``, ``POST /stats/reset``,
``POST /limits/reset`` (rate windows, quotas, fault sequence) and ``GET /health``.
Parameters come from the query string and from a form-urlencoded or multipart body (the
body wins on a repeated name); the token from ``access_token`` or an
``Authorization: Bearer`` header.  Any other body type is refused with error 8, as VK
does not read JSON bodies.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vk_emulator.config import EmulatorConfig
from vk_emulator.dataset import Dataset
from vk_emulator.engine import Engine
from vk_emulator.protocol import VkError

__all__ = ["app_for", "create_app"]

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _read_params(request: Request) -> tuple[list[tuple[str, str]], VkError | None]:
    params = list(request.query_params.multi_items())
    if request.method != "POST":
        return params, None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in _FORM_TYPES:
        try:
            form = await request.form()
        except (HTTPException, MultiPartException):
            return params, VkError(8, "unable to parse request body")
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                params.append((key, data.decode("utf-8", errors="replace")))
            else:
                params.append((key, value))
        await form.close()
        return params, None
    if await request.body():
        return params, VkError(8, "request body must be form-urlencoded or multipart")
    return params, None


def _token(request: Request, params: list[tuple[str, str]]) -> str | None:
    for key, value in reversed(params):
        if key == "access_token" and value:
            return value
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def create_app(config: EmulatorConfig, *, dataset: Dataset | None = None) -> Starlette:
    """An app serving ``config``; pass ``dataset`` to share one already built."""
    return app_for(Engine(config, dataset))


def app_for(engine: Engine) -> Starlette:
    """The app around an existing engine (``app.state.engine``)."""
    config = engine.config

    async def method(request: Request) -> Response:
        name = str(request.path_params["name"])
        params, problem = await _read_params(request)
        token = _token(request, params)
        if problem is not None:
            reply = engine.reject(name, params, token, problem)
        else:
            reply = engine.handle(name, params, token)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    async def stats(_: Request) -> Response:
        return JSONResponse(engine.stats_snapshot())

    async def reset_stats(_: Request) -> Response:
        engine.reset_stats()
        return JSONResponse({"ok": True})

    async def reset_limits(_: Request) -> Response:
        engine.reset_limits()
        return JSONResponse({"ok": True})

    async def health(_: Request) -> Response:
        body: dict[str, Any] = {"status": "ok", "groups": config.groups, "seed": config.seed}
        return JSONResponse(body)

    app = Starlette(
        routes=[
            Route("/method/{name}", method, methods=["GET", "POST"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/stats/reset", reset_stats, methods=["POST"]),
            Route("/limits/reset", reset_limits, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
    app.state.engine = engine
    return app
