"""The web dashboard: one HTML page plus plain ES modules and a stylesheet.

No build step and nothing fetched from the network: the page, its scripts and its
stylesheet are files in ``static/`` next to this module, served by the API process.
``/`` answers the page; ``/static/*`` answers the assets.  The page talks to the
JSON API under ``/api`` with ``fetch`` (and ``EventSource`` for live task progress).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount_dashboard"]

STATIC_DIR = Path(__file__).parent / "static"
_INDEX = STATIC_DIR / "index.html"
# Assets are not fingerprinted, so a browser must revalidate them after an upgrade.
_NO_CACHE = {"Cache-Control": "no-cache"}


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard page at ``/`` and its assets at ``/static``."""

    async def dashboard_page() -> FileResponse:
        return FileResponse(_INDEX, media_type="text/html; charset=utf-8", headers=_NO_CACHE)

    app.add_api_route(
        "/", dashboard_page, methods=["GET"], include_in_schema=False, name="dashboard"
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
