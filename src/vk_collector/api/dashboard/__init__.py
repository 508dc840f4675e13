"""The web dashboard: one HTML page plus plain ES modules and a stylesheet.

No build step and nothing fetched from the network: the page, its scripts and its
stylesheet are files in ``static/`` next to this module, served by the API process.
``/`` answers the page; ``/static/*`` answers the assets.  The page talks to the
JSON API under ``/api`` with ``fetch`` (and ``EventSource`` for live task progress).

A client that asks ``/`` for JSON (``Accept: application/json`` without
``text/html``) gets the original system's info answer instead of the page:
``{success, data: {version, environment, uptime}, message, timestamp, ...}`` in our
envelope (``uptime``: seconds since the app was built; ``environment`` is always
``"production"``: vk-collector has one configuration, not Node's environments).
Both answers say ``Vary: Accept`` so caches keep them apart.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from vk_collector import __version__
from vk_collector.api.envelope import ApiModel, envelope, json_response
from vk_collector.api.errors import request_id_of

__all__ = ["STATIC_DIR", "ServiceInfo", "mount_dashboard", "wants_json"]

STATIC_DIR = Path(__file__).parent / "static"
_INDEX = STATIC_DIR / "index.html"
# Assets are not fingerprinted, so a browser must revalidate them after an upgrade.
_NO_CACHE = {"Cache-Control": "no-cache"}
_VARY = {"Vary": "Accept"}


class ServiceInfo(ApiModel):
    """The original system's answer to ``GET /``."""

    version: str
    environment: str
    uptime: float


def wants_json(accept: str) -> bool:
    """True when an ``Accept`` header names ``application/json`` and not
    ``text/html`` (media ranges and ``q`` values are not weighed: a browser always
    names ``text/html``, an API client such as axios names JSON)."""
    media = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return "application/json" in media and "text/html" not in media


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard page at ``/`` (or the info answer to a JSON client, see
    the module docstring) and its assets at ``/static``."""
    built = time.monotonic()

    async def dashboard_page(request: Request) -> Response:
        if wants_json(request.headers.get("accept", "")):
            info = ServiceInfo(
                version=__version__,
                environment="production",
                uptime=round(time.monotonic() - built, 3),
            )
            body = envelope(info, request_id_of(request), "vk-collector is running")
            response = json_response(body)
            response.headers.update(_VARY)
            return response
        headers = {**_NO_CACHE, **_VARY}
        return FileResponse(_INDEX, media_type="text/html; charset=utf-8", headers=headers)

    app.add_api_route(
        "/", dashboard_page, methods=["GET"], include_in_schema=False, name="dashboard"
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
