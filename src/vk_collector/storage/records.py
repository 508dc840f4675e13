"""Plain data that crosses the storage boundary: enums, inputs and read-only records.

Nothing here imports SQLAlchemy, so API and CLI code can use these types without
touching a session.  VK dates go *in* as unix seconds (``int``, what VK sends) and come
*out* as timezone-aware UTC ``datetime``; every other timestamp is an aware UTC
``datetime`` too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "CommentData",
    "CommentFields",
    "CommentRecord",
    "GroupCommentCount",
    "GroupData",
    "GroupRecord",
    "GroupStats",
    "GroupStatus",
    "Page",
    "PostData",
    "PostKey",
    "PostRecord",
    "TaskGroupRecord",
    "TaskGroupState",
    "TaskRecord",
    "TaskStatus",
    "TaskType",
    "UpsertResult",
    "from_unix",
]

T = TypeVar("T")
K = TypeVar("K")

PostKey = tuple[int, int]
"""``(owner_id, post_id)``: a post is unique per wall, never globally."""


class TaskType(StrEnum):
    FETCH_COMMENTS = "fetch_comments"
    PROCESS_GROUPS = "process_groups"


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class GroupStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    DUPLICATE = "duplicate"


class TaskGroupState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


def from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _count(value: Any) -> int:
    """VK sends counters as ``{"count": n}``; tolerate a bare number or nothing."""
    if isinstance(value, Mapping):
        value = value.get("count", 0)
    return int(value or 0)


# --- inputs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupData:
    """One community as ``groups.getById`` describes it; ``vk_id`` is positive."""

    vk_id: int
    name: str
    screen_name: str | None = None
    photo_50: str | None = None
    members_count: int | None = None
    is_closed: int = 0
    deactivated: str | None = None
    description: str | None = None
    type: str | None = None
    status: GroupStatus = GroupStatus.VALID

    def __post_init__(self) -> None:
        if self.vk_id <= 0:
            raise ValueError(f"group vk_id must be positive, got {self.vk_id}")

    @classmethod
    def from_vk(cls, item: Mapping[str, Any]) -> GroupData:
        return cls(
            vk_id=abs(int(item["id"])),
            name=str(item.get("name") or ""),
            screen_name=item.get("screen_name") or None,
            photo_50=item.get("photo_50") or None,
            members_count=item.get("members_count"),
            is_closed=int(item.get("is_closed") or 0),
            deactivated=item.get("deactivated") or None,
            description=item.get("description") or None,
            type=item.get("type") or None,
            status=GroupStatus.INVALID if item.get("deactivated") else GroupStatus.VALID,
        )


@dataclass(frozen=True, slots=True)
class PostData:
    """One wall post; ``owner_id`` is negative for a community wall, ``date`` unix seconds."""

    owner_id: int
    post_id: int
    date: int
    text: str = ""
    likes: int = 0
    reposts: int = 0
    views: int | None = None
    comments_count: int = 0
    is_pinned: bool = False

    @property
    def key(self) -> PostKey:
        return (self.owner_id, self.post_id)

    @classmethod
    def from_vk(cls, item: Mapping[str, Any]) -> PostData:
        views = item.get("views")
        return cls(
            owner_id=int(item["owner_id"]),
            post_id=int(item["id"]),
            date=int(item.get("date") or 0),
            text=str(item.get("text") or ""),
            likes=_count(item.get("likes")),
            reposts=_count(item.get("reposts")),
            views=None if views is None else _count(views),
            comments_count=_count(item.get("comments")),
            is_pinned=bool(item.get("is_pinned")),
        )


class CommentFields(Protocol):
    """What storing a comment reads: :class:`CommentData`, or any object with the same
    attributes (the collector's ``FetchedComment``, built straight from VK's answer)."""

    @property
    def owner_id(self) -> int: ...
    @property
    def comment_id(self) -> int: ...
    @property
    def post_id(self) -> int: ...
    @property
    def date(self) -> int: ...
    @property
    def from_id(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def likes(self) -> int: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def parent_comment_id(self) -> int | None: ...
    @property
    def reply_to_comment(self) -> int | None: ...
    @property
    def author_id(self) -> int | None: ...
    @property
    def author_name(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class CommentData:
    """One comment.  ``parent_comment_id`` is the VK id of the thread's top comment
    (``None`` for a top-level comment); ``reply_to_comment`` the comment answered."""

    owner_id: int
    comment_id: int
    post_id: int
    date: int
    from_id: int = 0
    text: str = ""
    likes: int = 0
    deleted: bool = False
    parent_comment_id: int | None = None
    reply_to_comment: int | None = None
    author_id: int | None = None
    """The author's VK id (users positive, communities negative); the original's column."""
    author_name: str | None = None
    """"First Last" or the community's name; None when VK did not name the author."""

    @classmethod
    def from_vk(
        cls,
        item: Mapping[str, Any],
        *,
        owner_id: int | None = None,
        post_id: int | None = None,
        parent_comment_id: int | None = None,
    ) -> CommentData:
        """``owner_id``/``post_id`` fill in what a reply item may leave out;
        ``parent_comment_id`` defaults to the first entry of VK's ``parent_stack``."""
        stack = item.get("parent_stack") or []
        parent = parent_comment_id
        if parent is None and stack:
            parent = int(stack[0])
        reply_to = item.get("reply_to_comment")
        owner = item.get("owner_id", owner_id)
        post = item.get("post_id", post_id)
        if owner is None or post is None:
            raise ValueError(f"comment {item.get('id')} has no owner_id/post_id")
        return cls(
            owner_id=int(owner),
            comment_id=int(item["id"]),
            post_id=int(post),
            date=int(item.get("date") or 0),
            from_id=int(item.get("from_id") or 0),
            text=str(item.get("text") or ""),
            likes=_count(item.get("likes")),
            deleted=bool(item.get("deleted")),
            parent_comment_id=parent,
            reply_to_comment=None if reply_to is None else int(reply_to),
            author_id=int(item.get("from_id") or 0),
            author_name=item.get("author_name") or None,
        )


# --- outputs ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: int
    type: TaskType
    status: TaskStatus
    progress: int
    stage: str | None
    stats: dict[str, Any]
    errors: list[dict[str, Any]]
    parameters: dict[str, Any]
    result: dict[str, Any] | None
    error_message: str | None
    current_group: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def is_finished(self) -> bool:
        return self.status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: int
    vk_id: int
    name: str
    screen_name: str | None
    photo_50: str | None
    members_count: int | None
    is_closed: int
    deactivated: str | None
    description: str | None
    status: GroupStatus
    type: str | None
    upload_task_id: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class GroupCommentCount:
    """A stored community and how many stored comments its wall has."""

    id: int
    vk_id: int
    name: str | None
    comments: int


@dataclass(frozen=True, slots=True)
class GroupStats:
    total: int
    valid: int
    invalid: int
    duplicate: int
    closed: int


@dataclass(frozen=True, slots=True)
class TaskGroupRecord:
    task_id: int
    group_vk_id: int
    name: str | None
    state: TaskGroupState
    posts_done: int
    comments_collected: int
    error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PostRecord:
    id: int
    owner_id: int
    post_id: int
    date: datetime
    text: str
    likes: int
    reposts: int
    views: int | None
    comments_count: int
    is_pinned: bool
    first_task_id: int | None
    fetched_at: datetime
    comments_done: bool

    @property
    def key(self) -> PostKey:
        return (self.owner_id, self.post_id)


@dataclass(frozen=True, slots=True)
class CommentRecord:
    id: int
    owner_id: int
    comment_id: int
    post_id: int
    parent_comment_id: int | None
    reply_to_comment: int | None
    from_id: int
    text: str
    date: datetime
    likes: int
    deleted: bool
    fetched_at: datetime
    author_id: int | None = None
    """None for comments stored before authors were (read ``from_id`` instead)."""
    author_name: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; ``total`` counts every row matching the filters."""

    items: Sequence[T]
    total: int
    offset: int
    limit: int

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1 if self.limit else 1

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.limit) if self.limit else 1

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total


@dataclass(frozen=True, slots=True)
class UpsertResult(Generic[K]):
    """Which keys a batch upsert created and which were already stored (and refreshed)."""

    inserted_keys: frozenset[K] = field(default_factory=frozenset)
    existing_keys: frozenset[K] = field(default_factory=frozenset)

    @property
    def inserted(self) -> int:
        return len(self.inserted_keys)

    @property
    def existing(self) -> int:
        return len(self.existing_keys)
