"""``GroupsParseWorker``: resolves uploaded identifiers into stored communities.

Stages (progress): ``init`` 0 %, ``fetching`` up to 70 % (``groups.getById`` in
batches of 500, ids and screen names together), ``saving`` up to 95 %, ``done``.
Each identifier ends up in exactly one bucket: ``valid`` (a live community, newly
stored), ``duplicate`` (already stored, or named twice in this upload) or ``invalid``
(not returned by VK, deleted, banned, or not a community identifier), with one error
per invalid identifier.  Uploading the same file twice completes with everything
counted as duplicate; an upload with nothing valid or duplicate fails the task with
the reason.  Storing is idempotent, so a retried job repeats safely.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import structlog
from bullmq import Job

from vk_collector.errors import ValidationError
from vk_collector.queue.config import QueueName
from vk_collector.queue.jobs import (
    IdentifierError,
    ProcessGroupsJobData,
    ProcessGroupsProgress,
    ProcessGroupsResult,
    ProcessGroupsResultStats,
    ProcessGroupsStats,
)
from vk_collector.storage import GroupData
from vk_collector.vk.identifiers import GroupRef, parse_group_identifier
from vk_collector.vk.models import Group
from vk_collector.workers.progress import ProgressReporter
from vk_collector.workers.task_worker import TaskWorker

__all__ = ["GroupsParseWorker"]

log = structlog.get_logger(__name__)

BATCH = 500


class GroupsParseWorker(TaskWorker[ProcessGroupsJobData]):
    queue: ClassVar[QueueName] = QueueName.PROCESS_GROUPS
    data_model = ProcessGroupsJobData

    async def handle(self, job: Job, data: ProcessGroupsJobData) -> dict[str, Any]:
        return await self._resolve(job, data)

    async def _resolve(self, job: Job, data: ProcessGroupsJobData) -> dict[str, Any]:
        started = time.monotonic()
        task_id = data.task_id
        await self._tasks.start(task_id)
        progress = ProgressReporter(job, self._tasks, task_id, min_interval_s=0.5)
        raw = data.metadata.group_identifiers
        stats = ProcessGroupsStats(total=len(raw))
        await progress.report(
            ProcessGroupsProgress(percentage=0, stage="init", stats=stats), force=True
        )

        errors: list[IdentifierError] = []
        refs: dict[str, GroupRef] = {}
        keys: set[str] = set()
        duplicate = 0
        for text in raw:
            try:
                ref = parse_group_identifier(text)
            except ValidationError as exc:
                errors.append(IdentifierError(identifier=text, error=exc.message))
                continue
            if ref.key in keys:
                duplicate += 1
                continue
            keys.add(ref.key)
            refs[text] = ref

        found: dict[int, Group] = {}
        texts = list(refs)
        batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)] or [[]]
        for number, batch in enumerate(batches, start=1):
            if not batch:
                break
            asked: list[int | str] = [refs[t].group_id or refs[t].screen_name or t for t in batch]
            lookup = await self._vk.groups_get_by_id(asked)
            for text, ask in zip(batch, asked, strict=True):
                group = lookup.found.get(ask)
                if group is None:
                    errors.append(IdentifierError(identifier=text, error="not found on VK"))
                elif group.deactivated:
                    errors.append(
                        IdentifierError(
                            identifier=text, error=f"the community is {group.deactivated}"
                        )
                    )
                elif group.id in found:
                    duplicate += 1
                else:
                    found[group.id] = group
            processed = min(len(raw), sum(len(b) for b in batches[:number]))
            stats = ProcessGroupsStats(
                total=len(raw),
                processed=processed,
                valid=len(found),
                invalid=len(errors),
                duplicate=duplicate,
            )
            await progress.report(
                ProcessGroupsProgress(
                    percentage=round(70 * number / len(batches)),
                    stage="fetching",
                    current_batch=number,
                    total_batches=len(batches),
                    stats=stats,
                )
            )

        await progress.report(
            ProcessGroupsProgress(percentage=75, stage="saving", stats=stats), force=True
        )
        async with self._db.unit_of_work() as uow:
            existing = await uow.groups.existing_vk_ids(found)
            new = [
                GroupData.from_vk(g.model_dump()) for gid, g in found.items() if gid not in existing
            ]
            saved = await uow.groups.upsert_many(new, upload_task_id=data.task_id)
            await uow.commit()
        duplicate += len(existing)
        result_stats = ProcessGroupsResultStats(
            total=len(raw),
            valid=len(new),
            invalid=len(errors),
            duplicate=duplicate,
            saved=saved.inserted,
        )
        final = ProcessGroupsStats(
            total=len(raw),
            processed=len(raw),
            valid=len(new),
            invalid=len(errors),
            duplicate=duplicate,
        )
        await progress.report(
            ProcessGroupsProgress(percentage=100, stage="done", stats=final), force=True
        )
        success = len(new) + duplicate > 0
        result = ProcessGroupsResult(
            success=success,
            task_id=data.task_id,
            stats=result_stats,
            errors=errors,
            processing_time_ms=round((time.monotonic() - started) * 1000),
        )
        wire = result.to_wire()
        error_rows = [e.to_wire() for e in errors]
        if error_rows:
            await self._tasks.add_errors(data.task_id, error_rows)
        if success:
            await self._tasks.complete(data.task_id, wire)
        else:
            shown = "; ".join(f"{e.identifier}: {e.error}" for e in errors[:5])
            await self._tasks.fail(
                data.task_id,
                f"none of the {len(raw)} identifiers is a live VK community ({shown})",
            )
        log.info("groups.resolved", task_id=data.task_id, **result_stats.model_dump())
        return wire
