"""Task routes of the original system, and two its web client called but never had.

=======================================  ===============================================
route                                    what vk-collector does
=======================================  ===============================================
``POST /api/tasks {ownerId, postId,``    records a pending one-post task, as the original
``token}``                               did (no job; the token is never stored)
``POST /api/vk/collect {groups}``        starts a collection of stored communities by VK
                                         id (ints, digit strings or ``{id, name}``)
``POST /api/vk/collect/{taskId}/start``  queues the task's job again if it has none
``POST /api/collect/{taskId}``           the same (the original client's spelling)
``GET /api/comments?task_id&limit&``     the task's comments, ``{results, total}`` both
``offset&groupId&postId&sentiment``      in ``data`` and beside it (the client reads both)
=======================================  ===============================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr

from vk_collector.api.deps import (
    MAX_ID,
    MAX_VK_ID,
    ApiKey,
    DbDep,
    PipelinesDep,
    QueueDep,
    RequestId,
    TaskIdPath,
    TasksDep,
    require_json,
)
from vk_collector.api.envelope import ApiModel, Envelope, envelope
from vk_collector.errors import (
    ConflictError,
)
from vk_collector.pipelines import CollectRequest
from vk_collector.queue.config import QueueName
from vk_collector.queue.jobs import VkCollectJobData, VkCollectMetadata, VkCollectOptions
from vk_collector.queue.keys import job_id
from vk_collector.storage import TaskStatus, TaskType

__all__ = ["collect_router", "comments_router", "tasks_router", "vk_router"]

tasks_router = APIRouter(prefix="/api/tasks", tags=["original API"])
vk_router = APIRouter(prefix="/api/vk", tags=["original API"])
collect_router = APIRouter(prefix="/api/collect", tags=["original API"])
comments_router = APIRouter(prefix="/api/comments", tags=["original API"])

VkGroupId = Annotated[int, Field(ge=1, le=MAX_VK_ID)]


class PostTaskIn(ApiModel):
    owner_id: int = Field(le=-1, ge=-MAX_VK_ID, description="The wall: minus the community id")
    post_id: int = Field(ge=1, le=MAX_VK_ID)
    token: SecretStr | None = Field(default=None, description="Accepted and never stored")


class CreatedOut(ApiModel):
    task_id: int
    status: str
    type: TaskType
    created_at: datetime


class NamedGroup(ApiModel):
    id: VkGroupId
    name: str = ""


class VkCollectIn(ApiModel):
    groups: list[VkGroupId | NamedGroup] = Field(min_length=1, max_length=100_000)


class VkCollectOut(CreatedOut):
    groups_count: int
    groups: list[NamedGroup]


class StartedOut(ApiModel):
    task_id: int
    status: TaskStatus
    started_at: datetime | None
    queued: bool = Field(description="Whether this call queued (or retried) the job")


class CommentOut(ApiModel):
    id: int
    comment_id: int
    group_id: int
    owner_id: int
    post_id: int
    text: str
    content: str
    author_id: int
    author_name: str | None
    date: datetime
    likes: int
    sentiment: str | None = None


@tasks_router.post(
    "",
    status_code=201,
    response_model=Envelope[CreatedOut],
    dependencies=[ApiKey, Depends(require_json)],
    summary="Record a one-post comments task (the original's; nothing is queued)",
)
async def create_post_task(
    body: PostTaskIn, tasks: TasksDep, request_id: RequestId
) -> Envelope[CreatedOut]:
    post = f"{body.owner_id}_{body.post_id}"
    task = await tasks.create(
        TaskType.FETCH_COMMENTS,
        {"postUrls": [post], "ownerId": body.owner_id, "postId": body.post_id},
    )
    out = CreatedOut(task_id=task.id, status="created", type=task.type, created_at=task.created_at)
    return envelope(out, request_id, f"task {task.id} recorded for post {post}")


@vk_router.post(
    "/collect",
    status_code=201,
    response_model=Envelope[VkCollectOut],
    dependencies=[ApiKey, Depends(require_json)],
    summary="Start collecting stored communities given by VK id",
)
async def vk_collect(
    body: VkCollectIn, pipelines: PipelinesDep, db: DbDep, request_id: RequestId
) -> Envelope[VkCollectOut]:
    ids = list(dict.fromkeys(g.id if isinstance(g, NamedGroup) else g for g in body.groups))
    task = await pipelines.start_collection(CollectRequest(vk_ids=ids))
    async with db.unit_of_work(read_only=True) as uow:
        names = {g.vk_id: g.name for g in await uow.groups.get_by_vk_ids(ids)}
    groups = [NamedGroup(id=i, name=names.get(i) or f"Группа {i}") for i in ids]
    out = VkCollectOut(
        task_id=task.id,
        status="created",
        type=task.type,
        created_at=task.created_at,
        groups_count=len(groups),
        groups=groups,
    )
    return envelope(out, request_id, f"collection of {len(groups)} communities queued")


async def _start(task_id: int, tasks: TasksDep, queue: QueueDep) -> StartedOut:
    task = await tasks.get(task_id)
    groups = task.parameters.get("groups") or []
    if task.type is not TaskType.FETCH_COMMENTS or not groups:
        raise ConflictError(
            f"task {task_id} names no communities, so there is nothing to collect; "
            "start a collection with POST /api/tasks/collect",
            details={"taskId": task_id},
        )
    if task.status is TaskStatus.COMPLETED:
        raise ConflictError(
            f"task {task_id} is already completed; start a new collection instead",
            details={"taskId": task_id},
        )
    vk_job_id = job_id(QueueName.VK_COLLECT, task_id)
    job = await queue.get_job(vk_job_id)
    queued = False
    if job is None:
        options = VkCollectOptions.model_validate(task.parameters.get("options") or {})
        data = VkCollectJobData(task_id=task_id, metadata=VkCollectMetadata(options=options))
        await queue.add_vk_collect_job(
            data, task_id, deadline_s=queue.settings.queues.enqueue_request_deadline_s
        )
        queued = True
    elif await queue.get_job_state(job) == "failed":
        await queue.retry_job(vk_job_id)
        queued = True
    return StartedOut(
        task_id=task_id, status=task.status, started_at=task.started_at, queued=queued
    )


_START_ROUTE: dict[str, Any] = {
    "status_code": 202,
    "response_model": Envelope[StartedOut],
    "dependencies": [ApiKey],
    "summary": "Queue a collection task's job unless it is queued or running already",
}


@vk_router.post("/collect/{task_id}/start", **_START_ROUTE)
@collect_router.post("/{task_id}", **_START_ROUTE)  # the original client's shorter path
async def start_collect(
    task_id: TaskIdPath, tasks: TasksDep, queue: QueueDep, request_id: RequestId
) -> Envelope[StartedOut]:
    return envelope(await _start(task_id, tasks, queue), request_id, "collection started")


@comments_router.get("", summary="A task's comments, paged by offset (the original client's)")
async def list_comments(
    db: DbDep,
    tasks: TasksDep,
    request_id: RequestId,
    task_id: Annotated[int, Query(ge=1, le=MAX_ID)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    group_id: Annotated[int | None, Query(alias="groupId", ge=1, le=MAX_VK_ID)] = None,
    post_id: Annotated[int | None, Query(alias="postId", ge=1, le=MAX_VK_ID)] = None,
    sentiment: Annotated[str | None, Query(max_length=20, description="Ignored")] = None,
) -> JSONResponse:
    """``groupId`` is the VK community id, ``postId`` the VK post id.  Comments have no
    sentiment here; the filter is accepted and ignored."""
    await tasks.get(task_id)  # 404 for an unknown task
    async with db.unit_of_work(read_only=True) as uow:
        found = await uow.comments.list_for_task(
            task_id,
            owner_id=None if group_id is None else -group_id,
            post_id=post_id,
            limit=limit,
            offset=offset,
        )
    results = [
        CommentOut(
            id=c.id,
            comment_id=c.comment_id,
            group_id=abs(c.owner_id),
            owner_id=c.owner_id,
            post_id=c.post_id,
            text=c.text,
            content=c.text,
            author_id=c.from_id if c.author_id is None else c.author_id,
            author_name=c.author_name,
            date=c.date,
            likes=c.likes,
        ).model_dump(mode="json", by_alias=True)
        for c in found.items
    ]
    page: dict[str, Any] = {"results": results, "total": found.total}
    body = envelope(page, request_id).model_dump(mode="json", by_alias=True)
    return JSONResponse({**body, **page})
