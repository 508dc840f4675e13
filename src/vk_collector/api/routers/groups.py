"""Communities: upload a groups file, watch its resolution, list, search, delete."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response
from pydantic import AliasChoices, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.types import Message

from vk_collector.api.deps import (
    JSON_NUMBER,
    MAX_ID,
    ApiKey,
    DbDep,
    GroupIdPath,
    PipelinesDep,
    RequestId,
    SettingsDep,
    TaskIdPath,
    TasksDep,
    require_json,
    runtime_of,
)
from vk_collector.api.envelope import (
    ApiModel,
    Envelope,
    ErrorEnvelope,
    PageEnvelope,
    envelope,
    json_response,
    page_envelope,
)
from vk_collector.api.errors import ApiError, request_id_of
from vk_collector.api.lean_route import LeanQueryRoute
from vk_collector.api.limits import Slots
from vk_collector.api.schemas import Progress, progress_of
from vk_collector.errors import (
    ErrorCode,
    NotFoundError,
    ValidationError,
)
from vk_collector.redaction import redact_value
from vk_collector.storage import GroupStatus, TaskStatus, TaskType, group_page

__all__ = ["router", "stats_router"]

router = APIRouter(prefix="/api/groups", tags=["groups"], route_class=LeanQueryRoute)
stats_router = APIRouter(prefix="/api/stats", tags=["groups"])

_MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the encoding field
_SHOWN_LINE_ERRORS = 20
_SORT_FIELDS = {
    "id": "id",
    "vkId": "vk_id",
    "name": "name",
    "screenName": "screen_name",
    "membersCount": "members_count",
    "status": "status",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    # the original system's spellings (its web client sends uploaded_at and uploadedAt)
    "uploadedAt": "created_at",
    "uploaded_at": "created_at",
    "members_count": "members_count",
    "vk_id": "vk_id",
    # the original client's filter panel (GroupsFiltersPanel.vue); its own backend refused
    # these.  A community carries no error count here (one VK refuses is reported in its
    # upload task's errors), so every community counts 0 and errorsCount orders by id.
    "groupId": "vk_id",
    "lastCheckedAt": "updated_at",
    "errorsCount": "id",
}
SortBy = Literal[
    "id",
    "vkId",
    "name",
    "screenName",
    "membersCount",
    "status",
    "createdAt",
    "updatedAt",
    "uploadedAt",
    "uploaded_at",
    "members_count",
    "vk_id",
    "groupId",
    "lastCheckedAt",
    "errorsCount",
]
StatusFilter = Literal["all", "valid", "invalid", "duplicate", "active", "inactive", "pending"]
_STATUS_ALIASES = {  # the original's filter names for the stored statuses
    "active": GroupStatus.VALID,
    "inactive": GroupStatus.INVALID,
    "pending": GroupStatus.DUPLICATE,
}
MAX_PAGE_SIZE = 10_000
"""The original web client loads every group for its selection dialog with limit=10000."""


class GroupOut(ApiModel):
    """A community, read from a ``GroupRecord`` (``GroupOut.model_validate(record)``);
    the original's names (``taskId``, ``uploadedAt``) read the same attributes."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    vk_id: int
    name: str
    screen_name: str | None
    photo50: str | None = Field(validation_alias=AliasChoices("photo_50", "photo50"))
    members_count: int | None
    is_closed: int
    deactivated: str | None
    description: str | None
    type: str | None
    status: GroupStatus
    upload_task_id: int | None
    task_id: int | None = Field(
        validation_alias=AliasChoices("upload_task_id", "taskId"),
        description="The original's name for uploadTaskId",
    )
    uploaded_at: datetime = Field(
        validation_alias=AliasChoices("created_at", "uploadedAt"),
        description="When the group was first stored",
    )
    created_at: datetime
    updated_at: datetime


class UploadOut(ApiModel):
    task_id: int
    status: TaskStatus
    file_name: str | None
    encoding: str | None
    total_lines: int
    identifiers: int
    invalid_lines: int
    duplicate_lines: int
    errors: list[str]


class UploadStatusOut(ApiModel):
    task_id: int
    status: TaskStatus
    progress: Progress
    stage: str | None
    stats: dict[str, Any]
    errors: list[str] = Field(description='One line per error: "<identifier>: <reason>"')
    error_details: list[dict[str, Any]] = Field(description="The same errors as objects")
    error_message: str | None
    result: dict[str, Any] | None


class DeleteGroupsIn(ApiModel):
    group_ids: list[Annotated[int, Field(ge=1, le=MAX_ID), JSON_NUMBER]] = Field(
        min_length=1, max_length=1000
    )


class DeletedOut(ApiModel):
    deleted: int
    requested: int


class GroupStatsOut(ApiModel):
    total: int
    valid: int
    invalid: int
    duplicate: int
    closed: int


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "encoding": {"type": "string", "maxLength": 40},
                    },
                }
            }
        },
    }
}


def _limited(
    receive: Callable[[], Awaitable[Message]], limit: int
) -> Callable[[], Awaitable[Message]]:
    """``receive`` that gives up (413) once the body passes ``limit`` bytes."""
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _too_large(limit - _MULTIPART_SLACK)
        return message

    return wrapped


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413,
        str(ErrorCode.FILE_TOO_LARGE),
        f"the file is larger than the {max_bytes} byte limit; split it into smaller files",
        {"maxBytes": max_bytes},
    )


@router.post(
    "/upload",
    status_code=202,
    response_model=Envelope[UploadOut],
    dependencies=[ApiKey],
    openapi_extra=_UPLOAD_BODY,
    responses={429: {"model": ErrorEnvelope, "description": "Too many uploads being parsed"}},
    summary="Upload a groups file (multipart field 'file'); resolution runs as a job",
)
async def upload_groups(
    request: Request,
    pipelines: PipelinesDep,
    settings: SettingsDep,
    request_id: RequestId,
    encoding: Annotated[str | None, Query(max_length=40)] = None,
) -> Envelope[UploadOut]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "multipart/form-data":
        raise ApiError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "send the groups file as multipart/form-data in a part named 'file'"
            f" (got {media or 'no content type'!r})",
        )
    max_bytes = settings.max_upload_bytes
    limit = max_bytes + _MULTIPART_SLACK
    slots: Slots = request.app.state.upload_slots
    with slots.hold():
        return await _upload(request, pipelines, settings, request_id, encoding, limit)


async def _upload(
    request: Request,
    pipelines: PipelinesDep,
    settings: SettingsDep,
    request_id: str,
    encoding: str | None,
    limit: int,
) -> Envelope[UploadOut]:
    max_bytes = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(max_bytes)
    limited = Request(request.scope, _limited(request.receive, limit))
    async with limited.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationError(
                "file: send the groups file as a file part named 'file'",
                details={"fields": [{"field": "file", "in": "body", "message": "missing"}]},
            )
        if upload.size is not None and upload.size > max_bytes:
            raise _too_large(max_bytes)
        field = form.get("encoding")
        chosen = field if isinstance(field, str) and field.strip() else encoding
        # the part is spooled (to disk past 1 MiB); it is parsed from there as a stream
        result = await pipelines.upload_groups(
            upload.file,
            file_name=upload.filename,
            encoding=chosen or None,
            max_bytes=max_bytes,
            max_identifiers=settings.max_upload_identifiers,
        )
    parsed = result.parsed
    out = UploadOut(
        task_id=result.task.id,
        status=result.task.status,
        file_name=upload.filename,
        encoding=parsed.encoding or None,
        total_lines=parsed.total_lines,
        identifiers=len(parsed.identifiers),
        invalid_lines=parsed.error_count,
        duplicate_lines=parsed.duplicate_count,
        errors=[str(error) for error in parsed.errors[:_SHOWN_LINE_ERRORS]],
    )
    return envelope(out, request_id, f"{len(parsed.identifiers)} communities queued for resolution")


def _error_line(error: Any) -> str:
    """An upload error as the original's one line of text (its client shows strings)."""
    if not isinstance(error, dict):
        return str(error)
    subject = error.get("identifier") or error.get("groupId") or error.get("line")
    reason = error.get("error") or error.get("message") or "failed"
    return f"{subject}: {reason}" if subject not in (None, "") else str(reason)


@router.get(
    "/upload/{task_id}/status",
    response_model=Envelope[UploadStatusOut],
    summary="Progress of an upload's resolution job",
)
async def upload_status(
    task_id: TaskIdPath, tasks: TasksDep, request_id: RequestId
) -> Envelope[UploadStatusOut]:
    task = await tasks.get(task_id)
    if task.type is not TaskType.PROCESS_GROUPS:
        raise NotFoundError(
            f"task {task_id} is a {task.type.value} task, not an upload; see /api/tasks/{task_id}",
        )
    details = redact_value(list(task.errors or []))
    out = UploadStatusOut(
        task_id=task.id,
        status=task.status,
        progress=progress_of(task),
        stage=task.stage,
        stats=redact_value(task.stats or {}),
        errors=[_error_line(error) for error in details],
        error_details=details,
        error_message=task.error_message,
        result=redact_value(task.result),
    )
    return envelope(out, request_id)


@router.get("", response_model=PageEnvelope[GroupOut], summary="Stored communities, paginated")
async def list_groups(
    request: Request,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    search: Annotated[
        str | None,
        Query(max_length=200, description="Part of the name or screen name, or an exact id"),
    ] = None,
    status: Annotated[
        StatusFilter, Query(description="active/inactive/pending = valid/invalid/duplicate")
    ] = "all",
    sort_by: Annotated[SortBy, Query(alias="sortBy")] = "id",
    sort_order: Annotated[Literal["asc", "desc", "ASC", "DESC"], Query(alias="sortOrder")] = "asc",
) -> Response:
    wanted = None if status == "all" else _STATUS_ALIASES.get(status) or GroupStatus(status)
    db = runtime_of(request).db  # no dependencies on this busy route: see deps.runtime_of
    found = await db.read(  # a page with its total is one statement: no snapshot needed
        functools.partial(
            group_page,
            page=page,
            limit=limit,
            search=search,
            status=wanted,
            sort_by=_SORT_FIELDS[sort_by],
            sort_order="desc" if sort_order.lower() == "desc" else "asc",
        )
    )
    groups = [GroupOut.model_validate(group) for group in found.items]
    return json_response(page_envelope(found, groups, request_id_of(request)))


@router.delete(
    "/{group_id}",
    response_model=Envelope[DeletedOut],
    dependencies=[ApiKey],
    summary="Delete one community",
)
async def delete_group(
    group_id: GroupIdPath, db: DbDep, request_id: RequestId
) -> Envelope[DeletedOut]:
    async with db.unit_of_work() as uow:
        if not await uow.groups.delete(group_id):
            raise NotFoundError(f"group {group_id} not found")
        await uow.commit()
    return envelope(DeletedOut(deleted=1, requested=1), request_id, f"group {group_id} deleted")


@router.delete(
    "",
    response_model=Envelope[DeletedOut],
    dependencies=[ApiKey, Depends(require_json)],
    summary="Delete communities by id (JSON body {groupIds: [...]}, 1 to 1000 ids)",
)
async def delete_groups(
    body: Annotated[DeleteGroupsIn, Body()], pipelines: PipelinesDep, request_id: RequestId
) -> Envelope[DeletedOut]:
    wanted, deleted = await pipelines.delete_groups(body.group_ids)
    return envelope(DeletedOut(deleted=deleted, requested=len(wanted)), request_id)


@stats_router.get("/groups", response_model=Envelope[GroupStatsOut], summary="Community counts")
async def group_stats(db: DbDep, request_id: RequestId) -> Envelope[GroupStatsOut]:
    async with db.unit_of_work(read_only=True) as uow:
        stats = await uow.groups.stats()
    return envelope(
        GroupStatsOut(
            total=stats.total,
            valid=stats.valid,
            invalid=stats.invalid,
            duplicate=stats.duplicate,
            closed=stats.closed,
        ),
        request_id,
    )
