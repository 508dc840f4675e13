"""What a user starts: uploading a groups file, starting a collection, deleting a task.

The CLI and the HTTP API both call these functions, so validation, task creation and
enqueueing behave the same everywhere.  Input is validated before anything is
stored; a task whose job cannot be enqueued is marked failed with the reason (the
original system only logged it and left the task pending forever).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import structlog

from vk_collector.errors import (
    ConflictError,
    NotFoundError,
    QueueError,
    ValidationError,
    VkCollectorError,
)
from vk_collector.queue.config import QueueName
from vk_collector.queue.jobs import (
    ProcessGroupsJobData,
    ProcessGroupsMetadata,
    VkCollectGroup,
    VkCollectJobData,
    VkCollectMetadata,
    VkCollectOptions,
)
from vk_collector.queue.keys import job_id
from vk_collector.queue.service import QueueService
from vk_collector.storage import Database, GroupRecord, TaskRecord, TaskType
from vk_collector.tasks import TaskService
from vk_collector.vk.groups_file import GroupsFile, parse_groups_file, parse_groups_stream

__all__ = ["CollectRequest", "Pipelines", "UploadResult", "queue_for"]

log = structlog.get_logger(__name__)

_MAX_REPORTED_LINE_ERRORS = 200
_MAX_FILTER_WORDS = 100


def queue_for(task_type: TaskType) -> QueueName:
    """The queue whose jobs do tasks of ``task_type``."""
    if task_type is TaskType.FETCH_COMMENTS:
        return QueueName.VK_COLLECT
    return QueueName.PROCESS_GROUPS


@dataclass(frozen=True)
class CollectRequest:
    """Which stored communities to collect and how.

    ``group_ids`` are internal ids (``GET /api/groups`` ``id``, the original API's
    meaning); ``vk_ids`` are VK community ids; ``all_groups`` takes every stored one.
    Exactly one selector must be given.
    """

    group_ids: Sequence[int] = ()
    vk_ids: Sequence[int] = ()
    all_groups: bool = False
    limit: int = 10
    include_replies: bool = True
    filter_words: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class UploadResult:
    task: TaskRecord
    parsed: GroupsFile


def _require_identifiers(parsed: GroupsFile) -> None:
    if parsed.identifiers:
        return
    shown = "; ".join(str(e) for e in parsed.errors[:5])
    more = f" (and {parsed.error_count - 5} more)" if parsed.error_count > 5 else ""
    raise ValidationError(
        f"no valid community identifier found: {shown}{more}",
        details={"errors": [str(e) for e in parsed.errors[:_MAX_REPORTED_LINE_ERRORS]]},
    )


class Pipelines:
    def __init__(self, db: Database, tasks: TaskService, queue: QueueService) -> None:
        self._db = db
        self._tasks = tasks
        self._queue = queue
        # someone waits on every add made here (an API request, the CLI): bounded
        self._deadline_s = queue.settings.queues.enqueue_request_deadline_s

    # --- upload -----------------------------------------------------------------

    @staticmethod
    def parse_upload(
        data: bytes | BinaryIO,
        *,
        encoding: str | None = None,
        max_bytes: int,
        max_identifiers: int | None = None,
    ) -> GroupsFile:
        """Parse a groups file, given as bytes or as a seekable binary file (parsed as
        a stream, never read whole); raises ``ValidationError`` for whole-file problems
        (empty, binary, too large, more than ``max_identifiers``, undecodable) and for
        a file with no valid line at all.  Blocking: call it in a thread."""
        if isinstance(data, bytes):
            parsed = parse_groups_file(
                data, encoding=encoding, max_bytes=max_bytes, max_identifiers=max_identifiers
            )
        else:
            parsed = parse_groups_stream(
                data, encoding=encoding, max_bytes=max_bytes, max_identifiers=max_identifiers
            )
        _require_identifiers(parsed)
        return parsed

    async def upload_groups(
        self,
        data: bytes | BinaryIO | GroupsFile,
        *,
        file_name: str | None = None,
        encoding: str | None = None,
        max_bytes: int,
        max_identifiers: int | None = None,
    ) -> UploadResult:
        """Parse a groups file (unless given parsed) and queue its identifiers.  Bad input
        raises ``ValidationError`` and stores nothing."""
        parsed = (
            data
            if isinstance(data, GroupsFile)
            else await asyncio.to_thread(
                self.parse_upload,
                data,
                encoding=encoding,
                max_bytes=max_bytes,
                max_identifiers=max_identifiers,
            )
        )
        return await self._queue_identifiers(parsed, "file", file_name)

    async def _queue_identifiers(
        self, parsed: GroupsFile, source: str, file_name: str | None
    ) -> UploadResult:
        _require_identifiers(parsed)
        line_errors = [
            {"identifier": f"line {e.line}", "error": e.reason}
            for e in parsed.errors[:_MAX_REPORTED_LINE_ERRORS]
        ]
        task = await self._tasks.create(
            TaskType.PROCESS_GROUPS,
            {
                "source": source,
                "fileName": file_name,
                "encoding": parsed.encoding or None,
                "totalLines": parsed.total_lines,
                "identifiers": len(parsed.identifiers),
                "invalidLines": parsed.error_count,
                "duplicateLines": parsed.duplicate_count,
            },
        )
        if line_errors:
            task = await self._tasks.add_errors(task.id, line_errors)
        job = ProcessGroupsJobData(
            task_id=task.id,
            metadata=ProcessGroupsMetadata(
                group_identifiers=list(parsed.identifiers.texts()),
                source="file" if source == "file" else "manual",
                original_file_name=file_name,
            ),
        )
        await self._enqueue(
            task, self._queue.add_process_groups_job(job, task.id, deadline_s=self._deadline_s)
        )
        log.info("pipeline.upload_queued", task_id=task.id, identifiers=len(parsed.identifiers))
        return UploadResult(task=task, parsed=parsed)

    # --- collect ----------------------------------------------------------------

    async def start_collection(self, request: CollectRequest) -> TaskRecord:
        groups = await self._select_groups(request)
        options = self._options(request)
        task = await self._tasks.create(
            TaskType.FETCH_COMMENTS,
            {
                "groups": [g.vk_id for g in groups],
                "options": options.to_wire(),
            },
        )
        async with self._db.unit_of_work() as uow:
            await uow.task_groups.init(task.id, {g.vk_id: g.name for g in groups})
            await uow.commit()
        job = VkCollectJobData(
            task_id=task.id,
            metadata=VkCollectMetadata(
                groups=[VkCollectGroup(vk_id=g.vk_id, name=g.name) for g in groups],
                options=options,
            ),
        )
        await self._enqueue(
            task, self._queue.add_vk_collect_job(job, task.id, deadline_s=self._deadline_s)
        )
        log.info("pipeline.collection_queued", task_id=task.id, groups=len(groups))
        return task

    @staticmethod
    def _options(request: CollectRequest) -> VkCollectOptions:
        words = [w.strip() for w in request.filter_words if w.strip()]
        if len(words) > _MAX_FILTER_WORDS:
            raise ValidationError(f"at most {_MAX_FILTER_WORDS} filter words, got {len(words)}")
        if not 1 <= request.limit <= 1000:
            raise ValidationError(f"limit must be between 1 and 1000, got {request.limit}")
        return VkCollectOptions(
            limit=request.limit,
            include_replies=request.include_replies,
            filter_words=words or None,
        )

    async def _select_groups(self, request: CollectRequest) -> list[GroupRecord]:
        selectors = sum([bool(request.group_ids), bool(request.vk_ids), request.all_groups])
        if selectors != 1:
            raise ValidationError("choose the communities: give group ids, VK ids or all")
        async with self._db.unit_of_work(read_only=True) as uow:
            if request.all_groups:
                groups: list[GroupRecord] = []
                number = 1
                while True:
                    page = await uow.groups.list(page=number, limit=1000)
                    groups.extend(page.items)
                    if not page.has_next:
                        break
                    number += 1
                if not groups:
                    raise NotFoundError(
                        "no communities are stored yet; upload a groups file first",
                    )
                return groups
            if request.group_ids:
                wanted = list(dict.fromkeys(request.group_ids))
                groups = await uow.groups.get_by_ids(wanted)
                found = {g.id for g in groups}
                label = "group id"
            else:
                wanted = list(dict.fromkeys(request.vk_ids))
                groups = await uow.groups.get_by_vk_ids(wanted)
                found = {g.vk_id for g in groups}
                label = "VK id"
        missing = [i for i in wanted if i not in found]
        if missing:
            shown = ", ".join(str(i) for i in missing[:20])
            raise NotFoundError(
                f"not stored: {label} {shown}; upload them first or check `groups list`",
                details={"missing": missing},
            )
        return groups

    # --- shared -----------------------------------------------------------------

    async def _enqueue(self, task: TaskRecord, adding: Awaitable[object]) -> None:
        try:
            await adding
        except VkCollectorError as exc:
            await self._tasks.fail(task.id, f"could not queue the job: {exc.message}")
            raise

    async def cancel_task(self, task_id: int) -> TaskRecord:
        """Cancel a pending or processing task: a job not yet running is removed from
        its queue; a running one is ended by its worker within about a second (the
        worker polls the task).  ``ValidationError`` (``CONFLICT``) if it had ended."""
        task = await self._tasks.cancel(task_id)
        job = await self._queue.get_job(job_id(queue_for(task.type), task_id))
        if job is not None and await self._queue.get_job_state(job) != "active":
            with contextlib.suppress(QueueError):  # taken meanwhile: its worker stops it
                await self._queue.remove_job(str(job.id))
        log.info("pipeline.task_cancelled", task_id=task_id)
        return task

    async def delete_groups(self, ids: Sequence[int]) -> tuple[list[int], int]:
        """Delete the communities with these internal ids (a repeated id counts once):
        the ids asked for, in order, and how many of them existed."""
        wanted = list(dict.fromkeys(ids))
        async with self._db.unit_of_work() as uow:
            deleted = await uow.groups.delete_many(wanted)
            await uow.commit()
        return wanted, deleted

    async def delete_task(self, task_id: int) -> None:
        """Cancel the task's job (when not running) and delete the task and its links."""
        task = await self._tasks.get(task_id)
        job = await self._queue.get_job(job_id(queue_for(task.type), task_id))
        if job is not None:
            state = await self._queue.get_job_state(job)
            if state == "active":
                raise ConflictError(
                    f"task {task_id} is being processed; cancel it first "
                    f"(POST /api/tasks/{task_id}/cancel) and delete it once it ended",
                    details={"taskId": task_id, "jobId": str(job.id)},
                )
            await self._queue.remove_job(str(job.id))
        await self._tasks.delete(task_id)
        log.info("pipeline.task_deleted", task_id=task_id)
