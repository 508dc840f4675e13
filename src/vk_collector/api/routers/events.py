"""Live progress of a task as server-sent events.

The stream sends ``snapshot`` (the task as stored), then ``progress`` events as the
job reports them (``{jobId, taskId, progress}``), then one ``completed``
(``{jobId, taskId, result}``) or ``failed`` (``{jobId, taskId, failedReason}``) and
closes.  A task that has already finished gets its snapshot and its final event at
once.  Comments (``: ping``) keep idle connections open through proxies.

Listeners are registered on the queue's ``QueueEvents`` per connection, for this
job only (``progress:<jobId>`` ...), before the snapshot is read so no event falls in
between, and removed when the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from vk_collector.api.deps import QueueDep, TaskIdPath, TasksDep
from vk_collector.api.schemas import job_id_for, task_out
from vk_collector.errors import ValidationError
from vk_collector.pipelines import queue_for
from vk_collector.queue.service import QueueService
from vk_collector.redaction import redact, redact_value
from vk_collector.storage import TaskRecord, TaskStatus
from vk_collector.tasks import TaskService

__all__ = ["router"]

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

_EVENTS = ("progress", "completed", "failed")
_FINAL = ("completed", "failed")
_QUIET_S = 2.0  # seconds without an event before the task row is read


def _event(name: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, default=str, ensure_ascii=False), event=name)


class _Listener:
    """Routes this job's QueueEvents into an asyncio queue, on the event loop."""

    def __init__(self, events: Any, job_id: str) -> None:
        self._events = events
        self._job_id = job_id
        self.inbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._handlers: list[tuple[str, Callable[..., None]]] = []

    def __enter__(self) -> _Listener:
        for name in _EVENTS:
            handler = self._handler(name)
            channel = f"{name}:{self._job_id}"
            self._events.on(channel, handler)
            self._handlers.append((channel, handler))
        return self

    def _handler(self, name: str) -> Callable[..., None]:
        def handle(args: dict[str, Any], *_: Any) -> None:
            self.inbox.put_nowait((name, dict(args)))

        return handle

    def __exit__(self, *exc: object) -> None:
        for channel, handler in self._handlers:
            # ValueError: QueueEvents was rebuilt or already dropped the listener
            with contextlib.suppress(ValueError):
                self._events.off(channel, handler)
        self._handlers.clear()


def _progress_from_task(task: TaskRecord) -> dict[str, Any]:
    progress: dict[str, Any] = {
        "percentage": task.progress,
        "stage": task.stage,
        "stats": task.stats,
    }
    if task.current_group:
        progress["currentGroup"] = task.current_group
    return progress


def _final_from_task(task: TaskRecord, job_id: str) -> ServerSentEvent | None:
    if task.status is TaskStatus.COMPLETED:
        return _event("completed", {"jobId": job_id, "taskId": task.id, "result": task.result})
    if task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        return _event(
            "failed", {"jobId": job_id, "taskId": task.id, "failedReason": task.error_message}
        )
    return None


async def _final_from_job(queue: QueueService, job_id: str, task_id: int) -> ServerSentEvent | None:
    job = await queue.get_job(job_id)
    if job is None:
        return None
    state = await queue.get_job_state(job)
    if state == "completed":
        result = redact_value(job.returnvalue)
        return _event("completed", {"jobId": job_id, "taskId": task_id, "result": result})
    if state == "failed":
        reason = redact(job.failedReason or "")
        return _event("failed", {"jobId": job_id, "taskId": task_id, "failedReason": reason})
    return None


async def _stream(
    task: TaskRecord, events: Any, tasks: TaskService, queue: QueueService
) -> AsyncIterator[ServerSentEvent]:
    job_id = job_id_for(task)
    with _Listener(events, job_id) as listener:
        task = await tasks.get(task.id)
        # Both read before the first yield: once the client has the snapshot, the job
        # may finish at any moment, and its events must come from the listener.
        final = _final_from_task(task, job_id) or await _final_from_job(queue, job_id, task.id)
        snapshot = task_out(task).model_dump(mode="json", by_alias=True)
        yield _event("snapshot", {"jobId": job_id, "taskId": task.id, "task": snapshot})
        if final is not None:
            yield final
            return
        last_progress = task.progress
        while True:  # sse-starlette cancels this generator when the client goes away
            try:
                name, args = await asyncio.wait_for(listener.inbox.get(), _QUIET_S)
            except TimeoutError:
                # QueueEvents can miss events (a Redis hiccup, a late XREAD); the task
                # row mirrors the job's progress, so a quiet stream reads it instead
                try:
                    task = await tasks.get(task.id)
                except ValidationError:  # deleted while watched: end the stream cleanly
                    yield _event(
                        "failed",
                        {"jobId": job_id, "taskId": task.id, "failedReason": "task deleted"},
                    )
                    return
                final = _final_from_task(task, job_id)
                if final is not None:
                    yield final
                    return
                if task.progress != last_progress:
                    last_progress = task.progress
                    yield _event(
                        "progress",
                        {"jobId": job_id, "taskId": task.id, "progress": _progress_from_task(task)},
                    )
                continue
            payload: dict[str, Any] = {"jobId": job_id, "taskId": task.id}
            if name == "progress":
                payload["progress"] = redact_value(args.get("data"))
                if isinstance(args.get("data"), dict):
                    last_progress = int(args["data"].get("percentage", last_progress))
            elif name == "completed":
                payload["result"] = redact_value(args.get("returnvalue"))
            else:
                payload["failedReason"] = redact(str(args.get("failedReason") or ""))
            yield _event(name, payload)
            if name in _FINAL:
                return


@router.get(
    "/{task_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}},
    summary="Live progress (server-sent events): snapshot, progress..., completed|failed",
)
async def task_events(
    task_id: TaskIdPath, request: Request, tasks: TasksDep, queue: QueueDep
) -> EventSourceResponse:
    task = await tasks.get(task_id)  # 404 (and 503 without QueueEvents) before the stream
    events = queue.get_queue_events(queue_for(task.type).value)
    ping = float(getattr(request.app.state, "sse_ping_s", 15.0))
    return EventSourceResponse(_stream(task, events, tasks, queue), ping=ping)
