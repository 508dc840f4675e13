"""Typed VK objects (VK_API.md §2).  Unknown fields are ignored, missing optional ones are None."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Comment",
    "CommentThread",
    "CommentsPage",
    "Counter",
    "Group",
    "GroupsLookup",
    "Likes",
    "Post",
    "WallPage",
    "match_group",
]


class _VkModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Group(_VkModel):
    id: int
    name: str = ""
    screen_name: str | None = None
    is_closed: int = 0
    """0 open, 1 closed, 2 private."""
    deactivated: str | None = None
    """``"deleted"`` or ``"banned"``; None for a live community."""
    type: str | None = None
    photo_50: str | None = None
    photo_100: str | None = None
    photo_200: str | None = None
    members_count: int | None = None
    description: str | None = None


class GroupsLookup(_VkModel):
    """Result of ``groups.getById``: each requested identifier found or missing."""

    found: dict[int | str, Group] = Field(default_factory=dict)
    """Requested identifier (as given) -> group."""
    missing: list[int | str] = Field(default_factory=list)

    @property
    def groups(self) -> list[Group]:
        """Distinct groups found, in request order."""
        seen: dict[int, Group] = {}
        for group in self.found.values():
            seen.setdefault(group.id, group)
        return list(seen.values())


class Counter(_VkModel):
    count: int = 0


class Likes(_VkModel):
    count: int = 0
    user_likes: int | None = None
    can_like: int | None = None


class Post(_VkModel):
    id: int
    owner_id: int
    from_id: int | None = None
    date: int
    """Unix time, seconds."""
    text: str = ""
    is_pinned: bool = False
    marked_as_ads: bool = False
    post_type: str | None = None
    edited: int | None = None
    signer_id: int | None = None
    comments: Counter | None = None
    likes: Likes | None = None
    reposts: Counter | None = None
    views: Counter | None = None
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    copy_history: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def comments_count(self) -> int:
        return self.comments.count if self.comments else 0


class CommentThread(_VkModel):
    count: int = 0
    items: list[Comment] = Field(default_factory=list)


class Comment(_VkModel):
    id: int
    from_id: int = 0
    date: int = 0
    text: str = ""
    post_id: int | None = None
    owner_id: int | None = None
    parents_stack: list[int] = Field(default_factory=list)
    reply_to_user: int | None = None
    reply_to_comment: int | None = None
    likes: Likes | None = None
    deleted: bool = False
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    thread: CommentThread | None = None

    @property
    def thread_count(self) -> int:
        return self.thread.count if self.thread else 0


class WallPage(_VkModel):
    count: int
    items: list[Post]


class Profile(_VkModel):
    id: int
    first_name: str = ""
    last_name: str = ""


class CommentsPage(_VkModel):
    count: int
    items: list[Comment]
    current_level_count: int | None = None
    can_post: bool | None = None
    profiles: list[Profile] = Field(default_factory=list)
    """Authors of the page's comments (``extended=1``)."""
    groups: list[Group] = Field(default_factory=list)
    """Community authors of the page's comments (``extended=1``)."""

    @property
    def level_count(self) -> int:
        """Comments at the requested level (top level or one thread); falls back to ``count``."""
        return self.current_level_count if self.current_level_count is not None else self.count


CommentThread.model_rebuild()

_NUMERIC_ALIAS = re.compile(r"^(?:club|public|event)?-?(\d+)$", re.IGNORECASE)


def match_group(
    ident: int | str, by_id: Mapping[int, Group], by_name: Mapping[str, Group]
) -> Group | None:
    """The group an identifier (id, ``-id``, ``club<id>``, screen name) names, if returned."""
    if isinstance(ident, int):
        return by_id.get(abs(ident))
    text = ident.strip()
    group = by_name.get(text.lower())
    if group is not None:
        return group
    numeric = _NUMERIC_ALIAS.match(text)
    return by_id.get(int(numeric.group(1))) if numeric else None
