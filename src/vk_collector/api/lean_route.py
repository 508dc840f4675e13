"""A route class that validates a busy read route's query parameters in one step.

FastAPI validates each declared query parameter on its own, through several layers
per parameter (finding its alias, asking whether its type is a sequence, a
``TypeAdapter`` call, collecting errors), on every request: about 8 µs per parameter
on this machine, 30 to 50 µs on the task and group lists, whose whole request costs
the event loop a few hundred.  :class:`LeanQueryRoute` builds, once, a pydantic
model of the same fields (their annotations, defaults, aliases and constraints, as
FastAPI reads them from the signature) and validates the query string with it in
one call.

What stays exactly as it was:

- the OpenAPI schema, and the parameters the endpoint receives: the endpoint is
  declared as before;
- every refusal: a query string the model refuses goes to FastAPI's own handler,
  which answers it as it always did (the same 400, the same ``details.fields``);
- every route that is not a plain read: a route with a dependency (the API key), a
  body, path, header or cookie parameters, a synchronous endpoint, or one not
  declared to return a :class:`~starlette.responses.Response` (whose value FastAPI
  must still check against ``response_model``) keeps FastAPI's handler.

A router that holds lean routes must be included without ``dependencies=`` of its
own: the route sees only its own declaration (``app.py`` adds none).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError, create_model
from starlette.responses import Response

__all__ = ["LeanQueryRoute", "query_model"]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    try:
        returned = typing.get_type_hints(endpoint).get("return")
    except Exception:  # an annotation that does not resolve: FastAPI's handler
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def query_model(route: APIRoute) -> type[BaseModel] | None:
    """The model of ``route``'s query parameters, or ``None`` when the route is not a
    plain read (see the module docstring) and keeps FastAPI's handler."""
    dependant = route.dependant
    endpoint = dependant.call
    if (
        endpoint is None
        or not (route.methods or {"?"}) <= {"GET", "HEAD"}
        or dependant.dependencies
        or dependant.body_params
        or dependant.path_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.request_param_name is None
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or not inspect.iscoroutinefunction(endpoint)
        or not _returns_response(endpoint)
    ):
        return None
    fields: dict[str, Any] = {
        field.name: (field.field_info.annotation, field.field_info)
        for field in dependant.query_params
    }
    name = f"{endpoint.__name__.title().replace('_', '')}Query"
    model: type[BaseModel] = create_model(name, **fields)
    return model


class LeanQueryRoute(APIRoute):
    """An :class:`~fastapi.routing.APIRoute` whose plain read endpoints get their
    query parameters from one model validation (see the module docstring)."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        model = query_model(self)
        endpoint = self.dependant.call
        request_name = self.dependant.request_param_name
        if model is None or endpoint is None or request_name is None:
            return full

        if not model.model_fields:  # nothing to read from the query string

            async def bare(request: Request) -> Response:
                response: Response = await endpoint(**{request_name: request})
                return response

            return bare

        async def lean(request: Request) -> Response:
            try:
                params = model.model_validate(request.query_params)
            except ValidationError:
                return await full(request)  # FastAPI's own refusal, unchanged
            response: Response = await endpoint(**{request_name: request}, **dict(params))
            return response

        return lean
