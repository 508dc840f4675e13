"""Results of a collection: posts with their comments, a summary, and exports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ConfigDict, ValidationInfo, field_validator

from vk_collector.api.deps import MAX_VK_ID, DbDep, RequestId, TaskIdPath, TasksDep
from vk_collector.api.envelope import ApiModel, Envelope, ErrorEnvelope, envelope
from vk_collector.api.limits import Slots, SlotStreamingResponse
from vk_collector.clock import utc_now_iso
from vk_collector.export import ExportFormat, export_chunks
from vk_collector.storage import PostRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/results", tags=["results"])


class CommentOut(ApiModel):
    """A comment, read from a ``CommentRecord`` (``CommentOut.model_validate(record)``)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    comment_id: int
    owner_id: int
    post_id: int
    parent_comment_id: int | None
    reply_to_comment: int | None
    from_id: int
    author_id: int
    author_name: str | None
    text: str
    date: datetime
    likes: int
    deleted: bool

    @field_validator("author_id", mode="before")
    @classmethod
    def _author_or_sender(cls, value: object, info: ValidationInfo) -> object:
        """Comments stored before authors were have none: their sender is the author."""
        return info.data.get("from_id") if value is None else value


class PostOut(ApiModel):
    id: int
    owner_id: int
    group_id: int
    group_name: str | None
    post_id: int
    date: datetime
    text: str
    likes: int
    reposts: int
    views: int | None
    comments_count: int
    is_pinned: bool
    url: str
    comments_total: int
    comments: list[CommentOut]


class ResultsPagination(ApiModel):
    limit: int
    offset: int
    total: int
    has_more: bool


class ResultsOut(ApiModel):
    task_id: int
    posts: list[PostOut]
    posts_count: int
    total_comments: int
    pagination: ResultsPagination
    filters: dict[str, Any]


class SummaryOut(ApiModel):
    task_id: int
    total_comments: int
    total_posts: int
    total_groups: int
    average_comments_per_post: float
    generated_at: str


def _post_out(
    post: PostRecord, group_name: str | None, comments: list[CommentOut], total: int
) -> PostOut:
    return PostOut(
        id=post.id,
        owner_id=post.owner_id,
        group_id=abs(post.owner_id),
        group_name=group_name,
        post_id=post.post_id,
        date=post.date,
        text=post.text,
        likes=post.likes,
        reposts=post.reposts,
        views=post.views,
        comments_count=post.comments_count,
        is_pinned=post.is_pinned,
        url=f"https://vk.com/wall{post.owner_id}_{post.post_id}",
        comments_total=total,
        comments=comments,
    )


@router.get("/{task_id}", response_model=Envelope[ResultsOut], summary="Posts with comments")
async def results(
    task_id: TaskIdPath,
    tasks: TasksDep,
    db: DbDep,
    request_id: RequestId,
    limit: Annotated[int, Query(ge=1, le=1000, description="Posts per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    group_id: Annotated[
        int | None,
        Query(alias="groupId", ge=-MAX_VK_ID, le=MAX_VK_ID, description="VK group id or owner id"),
    ] = None,
    post_id: Annotated[int | None, Query(alias="postId", ge=1, le=MAX_VK_ID)] = None,
    search: Annotated[str | None, Query(max_length=200, description="Text in the post")] = None,
    comments_limit: Annotated[
        int, Query(alias="commentsLimit", ge=0, le=1000, description="Comments per post")
    ] = 100,
) -> Envelope[ResultsOut]:
    await tasks.get(task_id)
    owner_id = None if group_id in (None, 0) else -abs(group_id)
    async with db.unit_of_work(read_only=True) as uow:
        page = await uow.posts.list_for_task(
            task_id, limit=limit, offset=offset, owner_id=owner_id, post_id=post_id, search=search
        )
        total_comments = await uow.comments.count_for_task(task_id, owner_id=owner_id)
        groups = await uow.groups.get_by_vk_ids({abs(p.owner_id) for p in page.items})
        names = {g.vk_id: g.name for g in groups}
        posts: list[PostOut] = []
        for post in page.items:
            if comments_limit:
                found = await uow.comments.list_for_post(
                    post.owner_id, post.post_id, limit=comments_limit
                )
                shown, total = [CommentOut.model_validate(c) for c in found.items], found.total
            else:
                shown, total = (
                    [],
                    await uow.comments.count(owner_id=post.owner_id, post_id=post.post_id),
                )
            posts.append(_post_out(post, names.get(abs(post.owner_id)), shown, total))
    out = ResultsOut(
        task_id=task_id,
        posts=posts,
        posts_count=len(posts),
        total_comments=total_comments,
        pagination=ResultsPagination(
            limit=limit, offset=offset, total=page.total, has_more=page.has_next
        ),
        filters={"groupId": group_id, "postId": post_id, "search": search},
    )
    return envelope(out, request_id)


@router.get("/{task_id}/summary", response_model=Envelope[SummaryOut], summary="Totals")
async def summary(
    task_id: TaskIdPath, tasks: TasksDep, db: DbDep, request_id: RequestId
) -> Envelope[SummaryOut]:
    await tasks.get(task_id)
    async with db.unit_of_work(read_only=True) as uow:
        posts = await uow.posts.count_for_task(task_id)
        comments = await uow.comments.count_for_task(task_id)
        groups = await uow.posts.count_walls_for_task(task_id)
    out = SummaryOut(
        task_id=task_id,
        total_comments=comments,
        total_posts=posts,
        total_groups=groups,
        average_comments_per_post=round(comments / posts, 2) if posts else 0.0,
        generated_at=utc_now_iso(),
    )
    return envelope(out, request_id)


@router.get(
    "/{task_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The export as a download",
            "content": {fmt.media_type.split(";")[0]: {} for fmt in ExportFormat},
        },
        429: {"model": ErrorEnvelope, "description": "Too many exports running; see Retry-After"},
    },
    summary="Download the task's comments as json, jsonl, csv or xlsx",
)
async def export(
    request: Request,
    task_id: TaskIdPath,
    tasks: TasksDep,
    db: DbDep,
    format: Annotated[ExportFormat, Query()] = ExportFormat.JSON,
    raw: Annotated[
        bool,
        Query(
            description="CSV only: write cells verbatim.  By default a text cell starting "
            "with =, +, -, @, tab or CR gets a leading ' so spreadsheets do not run it"
        ),
    ] = False,
) -> StreamingResponse:
    """At most ``VKC_API_MAX_CONCURRENT_EXPORTS`` stream at once (429 past it)."""
    await tasks.get(task_id)  # 404 before the first byte
    slots: Slots = request.app.state.export_slots
    slots.acquire()
    return SlotStreamingResponse(
        export_chunks(db, task_id, format, raw=raw),
        slots=slots,
        media_type=format.media_type,
        headers={"Content-Disposition": f'attachment; filename="{format.filename(task_id)}"'},
    )
