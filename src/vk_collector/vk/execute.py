"""Building VKScript for ``execute`` and splitting its answer into one result per call.

The code is always ``return [API.a.b({...}), ...];`` with JSON-encoded arguments, at most
:data:`MAX_CALLS` calls.  VK answers a list with ``false`` for every failed call and one
``execute_errors`` entry per ``false``, in order (VK_API.md §2.5).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vk_collector.errors import ErrorSeverity, VkApiError
from vk_collector.vk.errors import api_error

__all__ = [
    "MAX_CALLS",
    "ApiCall",
    "CallResult",
    "bounded_gather",
    "build_code",
    "comments_call",
    "encode_param",
    "encode_params",
    "failed_result",
    "split_results",
    "wall_call",
]

MAX_CALLS = 25
T = TypeVar("T")
_METHOD_RE = re.compile(r"^[a-z]+(\.[a-zA-Z]+)+$")


@dataclass(frozen=True, slots=True)
class ApiCall:
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _METHOD_RE.match(self.method):
            raise ValueError(f"not a VK method name: {self.method!r}")


@dataclass(frozen=True, slots=True)
class CallResult:
    """One call's outcome inside ``execute``: ``value`` or ``error``, never both."""

    call: ApiCall
    value: Any = None
    error: VkApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def encode_param(value: Any) -> str:
    """VK's form encoding: lists comma-joined, booleans 1/0, mappings as JSON."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(encode_param(item) for item in value)
    return str(value)


def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    return {key: encode_param(value) for key, value in params.items() if value is not None}


def _script_value(value: Any) -> Any:
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int | float):
        return value
    return encode_param(value)


def build_code(calls: Sequence[ApiCall]) -> str:
    if not calls:
        raise ValueError("execute needs at least one call")
    if len(calls) > MAX_CALLS:
        raise ValueError(f"execute takes at most {MAX_CALLS} calls, got {len(calls)}")
    parts = []
    for call in calls:
        args = {k: _script_value(v) for k, v in call.params.items() if v is not None}
        parts.append(f"API.{call.method}({json.dumps(args, separators=(',', ':'))})")
    return "return [" + ",".join(parts) + "];"


def split_results(
    calls: Sequence[ApiCall], response: Any, execute_errors: Sequence[Mapping[str, Any]] | None
) -> list[CallResult]:
    """Pair each call with its value, or with the next ``execute_errors`` entry for ``false``."""
    if not isinstance(response, list) or len(response) != len(calls):
        raise VkApiError(
            f"VK execute returned {type(response).__name__} for {len(calls)} calls",
            method="execute",
            severity=ErrorSeverity.TRANSIENT,
        )
    errors = iter(execute_errors or ())
    results: list[CallResult] = []
    for call, value in zip(calls, response, strict=True):
        if value is False:
            results.append(failed_result(call, next(errors, None)))
        else:
            results.append(CallResult(call, value=value))
    return results


def failed_result(call: ApiCall, entry: Mapping[str, Any] | None) -> CallResult:
    """A call VK answered ``false`` for inside ``execute``, with its ``execute_errors``
    entry (None when VK gave none: an error of unknown severity)."""
    if entry is None:
        error = VkApiError(
            f"VK {call.method} failed inside execute without an execute_errors entry",
            method=call.method,
            severity=ErrorSeverity.UNKNOWN,
        )
    else:
        error = api_error({**entry, "method": entry.get("method") or call.method}, "")
    return CallResult(call, error=error)


def comments_call(
    owner_id: int,
    post_id: int,
    *,
    offset: int = 0,
    count: int = 100,
    sort: str | None = "asc",
    need_likes: bool = True,
    preview_length: int = 0,
    comment_id: int | None = None,
    start_comment_id: int | None = None,
    thread_items_count: int = 0,
    extended: bool = False,
    fields: Sequence[str] | None = None,
) -> ApiCall:
    """A ``wall.getComments`` call; ``count`` is clamped to VK's 1..100."""
    params: dict[str, Any] = {
        "owner_id": owner_id,
        "post_id": post_id,
        "offset": offset,
        "count": max(1, min(100, count)),
        "sort": sort,
        "need_likes": need_likes,
        "preview_length": preview_length,
        "comment_id": comment_id,
        "start_comment_id": start_comment_id,
        "thread_items_count": thread_items_count,
        "extended": 1 if extended else None,
        "fields": list(fields) if fields else None,
    }
    return ApiCall("wall.getComments", {k: v for k, v in params.items() if v is not None})


def wall_call(
    owner_id: int | None,
    offset: int = 0,
    count: int = 100,
    *,
    domain: str | None = None,
    filter: str = "all",
    extended: bool = False,
    fields: Sequence[str] | None = None,
) -> ApiCall:
    """A ``wall.get`` call; ``count`` is clamped to VK's 1..100."""
    params: dict[str, Any] = {
        "owner_id": owner_id,
        "domain": domain,
        "offset": offset,
        "count": max(1, min(100, count)),
        "filter": filter,
        "extended": 1 if extended else None,
        "fields": list(fields) if fields else None,
    }
    return ApiCall("wall.get", {k: v for k, v in params.items() if v is not None})


async def bounded_gather(jobs: Sequence[Awaitable[T]], semaphore: asyncio.Semaphore) -> list[T]:
    """Await ``jobs`` concurrently under ``semaphore``, results in order.

    The first failure cancels the rest and is raised as itself (not an exception group).
    """

    async def bounded(job: Awaitable[T]) -> T:
        async with semaphore:
            return await job

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(bounded(job)) for job in jobs]
    except BaseExceptionGroup as grouped:
        first = grouped.exceptions[0]
        if isinstance(first, Exception) and not isinstance(first, BaseExceptionGroup):
            raise first from first.__cause__
        raise
    finally:
        # jobs that never started (a failure or a cancellation came first) are closed,
        # or Python warns that they were never awaited
        for job in jobs:
            if inspect.iscoroutine(job) and inspect.getcoroutinestate(job) == "CORO_CREATED":
                job.close()
    return [task.result() for task in tasks]
