"""``LeanQueryRoute`` answers every query string exactly as FastAPI's own handler does:
the same values reach the endpoint, and whatever FastAPI refuses is refused the same
way.  Two copies of the task and group lists' parameter declarations, one on each
route class, are called in-process with the same query strings."""

from __future__ import annotations

from typing import Annotated, Literal

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from vk_collector.api.lean_route import LeanQueryRoute, query_model
from vk_collector.storage import TaskStatus, TaskType

SortBy = Literal["id", "vkId", "name"]


def _echo(**values: object) -> JSONResponse:
    return JSONResponse({key: str(value) for key, value in values.items()})


def _routes(router: APIRouter) -> None:
    @router.get("/tasks")
    async def tasks(
        request: Request,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 20,
        status: TaskStatus | None = None,
        type: TaskType | None = None,
    ) -> Response:
        return _echo(page=page, limit=limit, status=status, type=type)

    @router.get("/bare")
    async def bare(request: Request) -> Response:
        return _echo(query=request.url.query)

    @router.get("/groups")
    async def groups(
        request: Request,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        search: Annotated[str | None, Query(max_length=5)] = None,
        sort_by: Annotated[SortBy, Query(alias="sortBy")] = "id",
        sort_order: Annotated[Literal["asc", "desc", "ASC"], Query(alias="sortOrder")] = "asc",
    ) -> Response:
        return _echo(page=page, search=search, sort_by=sort_by, sort_order=sort_order)


def _app() -> tuple[FastAPI, APIRouter]:
    app = FastAPI()
    standard = APIRouter(prefix="/standard")
    lean = APIRouter(prefix="/lean", route_class=LeanQueryRoute)
    _routes(standard)
    _routes(lean)
    app.include_router(standard)
    app.include_router(lean)
    return app, lean


QUERIES = [
    "",
    "page=2&limit=5",
    "page=0",
    "page=abc",
    "page=%205",
    "page=5.0",
    "page=5.5",
    "page=1e3",
    "page=%2B5",
    "page=%D9%A3",  # an Arabic-Indic digit three
    "page=2&page=3",
    "limit=10001",
    "limit=",
    "status=",
    "status=pending",
    "status=PENDING",
    "type=fetch_comments&status=failed",
    "type=nope",
    "unknown=1&page=4",
    "search=abcdef",
    "search=%D1%91%D0%BB",
    "sortBy=vkId&sortOrder=ASC",
    "sort_by=name",
    "sortBy=password",
    "sortOrder=DESC",
]


@pytest.mark.parametrize("path", ["/tasks", "/groups", "/bare"])
async def test_the_lean_route_answers_as_fastapi_does(path: str) -> None:
    app, lean = _app()
    lean_route = next(r for r in lean.routes if getattr(r, "path", "") == f"/lean{path}")
    assert query_model(lean_route) is not None  # type: ignore[arg-type]  # the lean path is taken
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for query in QUERIES:
            standard = await client.get(f"/standard{path}?{query}")
            lean = await client.get(f"/lean{path}?{query}")
            assert (lean.status_code, lean.json()) == (standard.status_code, standard.json()), query


def test_routes_that_are_not_plain_reads_keep_fastapi_s_handler() -> None:
    router = APIRouter(route_class=LeanQueryRoute)

    async def dependency() -> None:
        return None

    @router.get("/dep", dependencies=[Depends(dependency)])
    async def with_dependency(request: Request) -> Response:
        return Response()

    @router.get("/model")
    async def returns_a_model(request: Request) -> dict[str, int]:
        return {}

    @router.get("/items/{item_id}")
    async def with_path(request: Request, item_id: int) -> Response:
        return Response()

    @router.post("/write")
    async def writes(request: Request) -> Response:
        return Response()

    @router.get("/plain")
    async def plain(request: Request, page: int = 1) -> Response:
        return Response()

    models = {route.path: query_model(route) for route in router.routes}  # type: ignore[attr-defined]
    assert {path for path, model in models.items() if model is not None} == {"/plain"}
