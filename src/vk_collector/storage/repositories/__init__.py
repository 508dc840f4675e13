"""Repositories: one per aggregate, each bound to the unit of work's session."""

from vk_collector.storage.repositories.comments import CommentRepository
from vk_collector.storage.repositories.export_rows import DEFAULT_PAGE_ROWS, ExportRowRepository
from vk_collector.storage.repositories.groups import (
    GROUP_SORT_FIELDS,
    GroupRepository,
    group_page,
)
from vk_collector.storage.repositories.posts import PostRepository
from vk_collector.storage.repositories.tasks import (
    SECRET_KEYS,
    TaskGroupRepository,
    TaskRepository,
    scrub_secrets,
    task_page,
)

__all__ = [
    "DEFAULT_PAGE_ROWS",
    "GROUP_SORT_FIELDS",
    "SECRET_KEYS",
    "CommentRepository",
    "ExportRowRepository",
    "GroupRepository",
    "PostRepository",
    "TaskGroupRepository",
    "TaskRepository",
    "group_page",
    "scrub_secrets",
    "task_page",
]
