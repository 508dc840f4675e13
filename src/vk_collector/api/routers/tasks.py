"""Tasks: start a collection, list, read and delete tasks."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field, StrictBool, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from vk_collector.api.deps import (
    JSON_NUMBER,
    MAX_ID,
    MAX_VK_ID,
    ApiKey,
    PipelinesDep,
    QueueDep,
    RequestId,
    TaskIdPath,
    TasksDep,
    require_json,
    runtime_of,
)
from vk_collector.api.envelope import (
    ApiModel,
    Envelope,
    PageEnvelope,
    envelope,
    json_response,
    page_envelope,
)
from vk_collector.api.errors import request_id_of
from vk_collector.api.lean_route import LeanQueryRoute
from vk_collector.api.schemas import TaskOut, task_out, task_outs
from vk_collector.pipelines import CollectRequest
from vk_collector.storage import TaskStatus, TaskType

__all__ = ["router"]

router = APIRouter(prefix="/api/tasks", tags=["tasks"], route_class=LeanQueryRoute)

InternalId = Annotated[int, Field(ge=1, le=MAX_ID), JSON_NUMBER]
VkId = Annotated[int, Field(ge=1, le=MAX_VK_ID), JSON_NUMBER]
T = TypeVar("T")
IdList = Annotated[list[T], Field(min_length=1, max_length=100_000)]


class CollectIn(ApiModel):
    """Exactly one of ``groups`` (internal ids, or "all") and ``vkIds``; the schema
    says so too (``oneOf``), so what it allows is what the server takes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["groups"]}, {"required": ["vkIds"]}]},
    )

    groups: IdList[InternalId] | Literal["all"] | SkipJsonSchema[None] = Field(
        default=None, description='Internal group ids (GET /api/groups "id"), or "all"'
    )
    vk_ids: IdList[VkId] | SkipJsonSchema[None] = None
    limit: Annotated[
        int, Field(ge=1, le=1000, description="Recent posts per community"), JSON_NUMBER
    ] = 10
    include_replies: StrictBool = True
    filter_words: list[Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]] = Field(
        default_factory=list, max_length=100
    )

    @field_validator("groups", "vk_ids", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("leave the field out instead of sending null")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> CollectIn:
        if (self.groups is None) == (self.vk_ids is None):
            raise ValueError('choose the communities: give groups (ids or "all") or vkIds')
        return self

    def to_request(self) -> CollectRequest:
        return CollectRequest(
            group_ids=self.groups if isinstance(self.groups, list) else (),
            vk_ids=self.vk_ids or (),
            all_groups=self.groups == "all",
            limit=self.limit,
            include_replies=self.include_replies,
            filter_words=tuple(self.filter_words),
        )


class DeletedTaskOut(ApiModel):
    task_id: int
    deleted: bool


@router.post(
    "/collect",
    status_code=201,
    response_model=Envelope[TaskOut],
    dependencies=[ApiKey, Depends(require_json)],
    summary="Start collecting posts and comments of stored communities",
)
async def start_collection(
    body: CollectIn, pipelines: PipelinesDep, request_id: RequestId
) -> Envelope[TaskOut]:
    task = await pipelines.start_collection(body.to_request())
    groups = len(task.parameters.get("groups") or [])
    return envelope(task_out(task), request_id, f"collection of {groups} communities queued")


@router.get("", response_model=PageEnvelope[TaskOut], summary="Tasks, newest first")
async def list_tasks(
    request: Request,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 20,  # the original allowed 10000
    status: TaskStatus | None = None,
    type: TaskType | None = None,
) -> Response:
    # the runtime and request id without dependencies: see deps.runtime_of
    found = await runtime_of(request).tasks.list(page=page, limit=limit, status=status, type=type)
    items = task_outs(found.items)
    return json_response(page_envelope(found, items, request_id_of(request)))


@router.get(
    "/{task_id}",
    response_model=Envelope[TaskOut],
    summary="One task (its fields also sit beside the envelope's, see the docstring)",
)
async def get_task(task_id: TaskIdPath, tasks: TasksDep, request_id: RequestId) -> JSONResponse:
    """The original web client's task page keeps the whole answer as the task, so the
    task's fields are repeated at the top level; the envelope's own keys win a clash
    (``executionTime`` there is the request's; the task's is in ``data``)."""
    body = envelope(task_out(await tasks.get(task_id)), request_id)
    wire = body.model_dump(mode="json", by_alias=True)
    return JSONResponse({**wire["data"], **wire})


@router.post(
    "/{task_id}/cancel",
    response_model=Envelope[TaskOut],
    dependencies=[ApiKey],
    summary="Cancel a pending or running task (409 once it ended)",
)
async def cancel_task(
    task_id: TaskIdPath, pipelines: PipelinesDep, request_id: RequestId
) -> Envelope[TaskOut]:
    """A job still waiting is removed; a running one stops within about a second,
    failing without retry.  The task's status becomes ``cancelled``."""
    task = await pipelines.cancel_task(task_id)
    return envelope(task_out(task), request_id, f"task {task_id} cancelled")


@router.delete(
    "/{task_id}",
    response_model=Envelope[DeletedTaskOut],
    dependencies=[ApiKey],
    summary="Delete the task and its waiting job (409 while its job runs: cancel first)",
)
async def delete_task(
    task_id: TaskIdPath,
    tasks: TasksDep,
    queue: QueueDep,
    pipelines: PipelinesDep,
    request_id: RequestId,
) -> Envelope[DeletedTaskOut]:
    await pipelines.delete_task(task_id)  # ConflictError -> 409 while active
    return envelope(
        DeletedTaskOut(task_id=task_id, deleted=True), request_id, f"task {task_id} deleted"
    )
