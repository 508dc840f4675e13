"""Group routes of the original system that vk-collector serves for its web client.

* ``DELETE /api/groups/batch {groupIds}`` and ``DELETE /api/groups/all``: registered
  before ``/api/groups/{group_id}`` (the app includes this router first), so ``batch``
  and ``all`` are never read as a group id;
* ``GET /api/stats/groups/summary``, ``/activity`` and ``/{taskId}``: the original's
  reshaped group statistics.

Answers keep the original's field names; our own richer routes live in
:mod:`vk_collector.api.routers.groups`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import Field

from vk_collector.api.deps import (
    MAX_ID,
    ApiKey,
    DbDep,
    PipelinesDep,
    RequestId,
    TaskIdPath,
    require_json,
)
from vk_collector.api.envelope import ApiModel, Envelope, envelope
from vk_collector.clock import utc_now_iso
from vk_collector.errors import (
    NotFoundError,
)
from vk_collector.storage import TaskType

__all__ = ["router", "stats_router"]

router = APIRouter(prefix="/api/groups", tags=["original API"])
stats_router = APIRouter(prefix="/api/stats/groups", tags=["original API"])


class BatchDeleteIn(ApiModel):
    group_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=1000)


class BatchDeletedOut(ApiModel):
    deleted_group_ids: list[int]
    deleted_count: int
    requested_count: int
    deleted_at: str


class AllDeletedOut(ApiModel):
    deleted_count: int
    deleted_at: str


class TaskGroupStatsOut(ApiModel):
    task_id: int
    total: int
    valid: int
    invalid: int
    duplicate: int


class SummaryOut(ApiModel):
    total_groups: int
    active_groups: int
    inactive_groups: int
    groups_with_comments: int
    total_comments: int
    average_comments_per_group: float
    last_updated: str


class ActivityOut(ApiModel):
    most_active_groups: list[dict[str, Any]]
    least_active_groups: list[dict[str, Any]]
    recently_added_groups: list[dict[str, Any]]
    groups_activity_trend: dict[str, Any]
    activity_score: dict[str, int]
    generated_at: str


@router.delete(
    "/batch",
    response_model=Envelope[BatchDeletedOut],
    dependencies=[ApiKey, Depends(require_json)],
    summary="Delete communities by internal id (the original's batch delete)",
)
async def delete_batch(
    body: Annotated[BatchDeleteIn, Body()], pipelines: PipelinesDep, request_id: RequestId
) -> Envelope[BatchDeletedOut]:
    wanted, deleted = await pipelines.delete_groups(body.group_ids)
    out = BatchDeletedOut(
        deleted_group_ids=wanted,
        deleted_count=deleted,
        requested_count=len(wanted),
        deleted_at=utc_now_iso(),
    )
    return envelope(out, request_id, f"{deleted} of {len(wanted)} groups deleted")


@router.delete(
    "/all",
    response_model=Envelope[AllDeletedOut],
    dependencies=[ApiKey],
    summary="Delete every stored community (collected posts and comments are kept)",
)
async def delete_all(db: DbDep, request_id: RequestId) -> Envelope[AllDeletedOut]:
    async with db.unit_of_work() as uow:
        deleted = await uow.groups.delete_all()
        await uow.commit()
    out = AllDeletedOut(deleted_count=deleted, deleted_at=utc_now_iso())
    return envelope(out, request_id, f"{deleted} groups deleted")


@stats_router.get("/summary", response_model=Envelope[SummaryOut], summary="Group summary")
async def summary(db: DbDep, request_id: RequestId) -> Envelope[SummaryOut]:
    async with db.unit_of_work(read_only=True) as uow:
        stats = await uow.groups.stats()
        comments = await uow.comments.count()
        commented = await uow.groups.count_with_comments()
    out = SummaryOut(
        total_groups=stats.total,
        active_groups=stats.valid,
        inactive_groups=stats.invalid,
        groups_with_comments=commented,
        total_comments=comments,
        average_comments_per_group=round(comments / stats.total, 2) if stats.total else 0.0,
        last_updated=utc_now_iso(),
    )
    return envelope(out, request_id)


@stats_router.get("/activity", response_model=Envelope[ActivityOut], summary="Group activity")
async def activity(db: DbDep, request_id: RequestId) -> Envelope[ActivityOut]:
    """Communities ranked by stored comments (ten most, ten least, ten newest)."""
    async with db.unit_of_work(read_only=True) as uow:
        rows = await uow.groups.comment_counts()
        newest = await uow.groups.list(limit=10, sort_by="created_at", sort_order="desc")
        stats = await uow.groups.stats()
    ordered = sorted(rows, key=lambda r: (-r.comments, r.id))
    ranked = [
        {"id": r.id, "vkId": r.vk_id, "name": r.name, "comments": r.comments} for r in ordered
    ]
    counts = [r.comments for r in ordered]
    out = ActivityOut(
        most_active_groups=[g for g, c in zip(ranked, counts, strict=True) if c > 0][:10],
        least_active_groups=list(reversed(ranked))[:10],
        recently_added_groups=[
            {"id": g.id, "vkId": g.vk_id, "name": g.name, "uploadedAt": g.created_at.isoformat()}
            for g in newest.items
        ],
        groups_activity_trend={},
        activity_score={
            "high": sum(1 for c in counts if c >= 100),
            "medium": sum(1 for c in counts if 10 <= c < 100),
            "low": sum(1 for c in counts if 0 < c < 10),
            "none": stats.invalid + sum(1 for c in counts if c == 0),
        },
        generated_at=utc_now_iso(),
    )
    return envelope(out, request_id)


@stats_router.get(
    "/{task_id}",
    response_model=Envelope[TaskGroupStatsOut],
    summary="Counts of the communities an upload task stored",
)
async def stats_for_task(
    task_id: TaskIdPath, db: DbDep, request_id: RequestId
) -> Envelope[TaskGroupStatsOut]:
    async with db.unit_of_work(read_only=True) as uow:
        task = await uow.tasks.get(task_id)
        if task is None or task.type is not TaskType.PROCESS_GROUPS:
            raise NotFoundError(
                f"no upload task {task_id}; see GET /api/tasks for the ids",
                details={"taskId": task_id},
            )
        stats = await uow.groups.stats(upload_task_id=task_id)
    out = TaskGroupStatsOut(
        task_id=task_id,
        total=stats.total,
        valid=stats.valid,
        invalid=stats.invalid,
        duplicate=stats.duplicate,
    )
    return envelope(out, request_id)
