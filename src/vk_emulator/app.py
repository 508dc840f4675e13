"""The emulator's ASGI app.

Routes: ``GET|POST /method/<name>`` (VK API), ``GET /stats``, ``POST /stats/reset``,
``POST /limits/reset`` (rate windows, quotas, fault sequence) and ``GET /health``.
Parameters come from the query string and from a form-urlencoded or multipart body (the
body wins on a repeated name); the token from ``access_token`` or an
``Authorization: Bearer`` header.  Any other body type is refused with error 8, as VK
does not read JSON bodies.

VK counts a request when it arrives, so the app stamps each one as soon as its body is
read, while the event loop is free, and builds the answer (up to ~1 MB of JSON for an
``execute`` of 25 comment pages) on one builder thread, in arrival order.  Built on the
event loop, a slow answer delayed the next request's stamp: two requests sent 0.38 s
apart could be counted 0.2 s apart, and a client pacing correctly got error 6.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
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
    """The app around an existing engine (``app.state.engine``); ``app.state.builder``
    is the thread that builds the answers (shut it down when the server stops)."""
    config = engine.config
    builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vk-emulator-build")

    async def method(request: Request) -> Response:
        name = str(request.path_params["name"])
        params, problem = await _read_params(request)
        token = _token(request, params)
        if problem is not None:
            reply = engine.reject(name, params, token, problem)
        else:
            # stamp and submit with no await in between: the one builder thread takes
            # requests in the order of their stamps, as the rate windows need
            arrived = engine.stamp()
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(builder, engine.handle, name, params, token, arrived)
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
    app.state.builder = builder
    return app
