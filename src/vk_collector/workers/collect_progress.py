"""Progress of a collection task spread over many jobs, in the original's shape.

A task's communities are collected by child jobs on any worker process, so no one
process holds the task's counters: progress is computed from the database (the
task's ``task_groups`` rows, :class:`~vk_collector.storage.repositories.tasks.TaskGroupTotals`)
plus what the reporting child has stored of the community it is working on, and is
sent to the task's own job (``vk-collect-<taskId>``), so QueueEvents listeners and
the original system see one job's progress as before.

Scale (the original's): 0-90 % over the communities, 95 saving, 100 completing.
"""

from __future__ import annotations

from vk_collector.queue.jobs import CurrentGroup, VkCollectGroup, VkCollectProgress, VkCollectStats
from vk_collector.storage import Database
from vk_collector.storage.repositories.tasks import TaskGroupTotals

__all__ = ["task_progress", "task_totals"]

_FINAL_STAGES = {"saving_data": 95, "completing": 100}


async def task_totals(db: Database, task_id: int) -> TaskGroupTotals:
    async with db.unit_of_work(read_only=True) as uow:
        return await uow.task_groups.totals(task_id)


def task_progress(
    totals: TaskGroupTotals,
    stage: str,
    group: VkCollectGroup | None = None,
    group_progress: float = 0.0,
    *,
    posts: int = 0,
    comments: int = 0,
) -> VkCollectProgress:
    """``posts`` and ``comments``: stored for a community not yet finished (added to the
    finished ones' totals); ``group_progress`` (0..1): how far that community is."""
    share = (totals.finished + group_progress) / max(1, totals.total)
    percentage = _FINAL_STAGES.get(stage, min(90, round(90 * share)))
    current = (
        CurrentGroup(vk_id=group.vk_id, name=group.name, progress=round(group_progress * 100))
        if group is not None
        else None
    )
    return VkCollectProgress(
        percentage=percentage,
        stage=stage,
        current_group=current,
        stats=VkCollectStats(
            groups_completed=totals.finished,
            total_groups=totals.total,
            posts_processed=totals.posts + posts,
            comments_collected=totals.comments + comments,
        ),
    )
