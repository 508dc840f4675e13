"""The emulator's data: communities, posts, comments and profiles as frozen dataclasses.

Ids follow VK: a community has a positive ``id`` and owns the wall ``owner_id = -id``;
post and comment ids come from one sequence per wall, so they are unique on a wall but
repeat across walls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Comment", "CommentTree", "Group", "GroupKind", "Post", "Profile"]

GroupKind = Literal["open", "closed", "private", "deleted", "banned", "wall_disabled"]

_WALL_ERRORS: dict[str, str] = {
    "closed": "Access denied: this wall available only for community members",
    "private": "Access denied: this wall available only for community members",
    "deleted": "Access denied: group is blocked",
    "banned": "Access denied: group is blocked",
    "wall_disabled": "Access denied: wall is disabled",
}


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    screen_name: str
    name: str
    type: Literal["group", "page", "event"]
    is_closed: int  # 0 open, 1 closed, 2 private
    deactivated: Literal["deleted", "banned"] | None
    wall_disabled: bool
    members_count: int
    description: str
    activity: str
    status: str
    site: str
    verified: int

    @property
    def owner_id(self) -> int:
        return -self.id

    @property
    def kind(self) -> GroupKind:
        if self.deactivated is not None:
            return self.deactivated
        if self.is_closed == 2:
            return "private"
        if self.is_closed == 1:
            return "closed"
        return "wall_disabled" if self.wall_disabled else "open"

    @property
    def wall_error(self) -> str | None:
        """The error-15 message wall.get answers for this community; ``None`` if readable."""
        return _WALL_ERRORS.get(self.kind)


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    owner_id: int
    from_id: int
    date: int  # unix seconds
    text: str
    is_pinned: bool
    comments_disabled: bool
    comments_count: int  # top-level comments plus replies, deleted ones included
    likes: int
    reposts: int
    views: int
    attachment: Literal["photo", "link"] | None
    copy_of: tuple[int, int] | None  # (owner_id, post_id) of the reposted post
    first_comment_id: int
    thread_sizes: tuple[int, ...]  # replies of each top-level comment, oldest first
    index: int  # position on the wall, 0 = oldest
    featured: bool  # carries the guaranteed test features (long thread, deleted comment)

    @property
    def top_level_count(self) -> int:
        return len(self.thread_sizes)


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    owner_id: int
    post_id: int
    from_id: int
    date: int
    text: str  # empty when deleted
    deleted: bool
    likes: int
    thread_root: int | None  # the top-level comment a reply belongs to; None for top level
    reply_to_comment: int | None
    reply_to_user: int | None

    @property
    def parents_stack(self) -> list[int]:
        return [] if self.thread_root is None else [self.thread_root]


@dataclass(frozen=True, slots=True)
class CommentTree:
    top: tuple[Comment, ...]  # ascending id (= date) order
    replies: Mapping[int, tuple[Comment, ...]]  # top-level id -> replies, ascending
    by_id: Mapping[int, Comment]

    @property
    def total(self) -> int:
        return len(self.by_id)

    def all(self) -> list[Comment]:
        """Every comment, replies included, by ascending id."""
        return sorted(self.by_id.values(), key=lambda comment: comment.id)


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    first_name: str
    last_name: str
    sex: int  # 1 female, 2 male
    deactivated: Literal["deleted", "banned"] | None
    is_closed: bool

    @property
    def screen_name(self) -> str:
        return f"id{self.id}"
