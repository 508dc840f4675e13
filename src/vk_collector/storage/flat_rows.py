"""Flat rows of a task's results: one per comment (joined with its post and
community) and one per post, as exports write them.

They are ``NamedTuple`` s so that one definition is both the column list (``_fields``,
the one home of the export's column names and order) and a plain tuple that CSV and
XLSX writers take as it is.  Dates are ISO-8601 UTC strings (``2024-05-01T12:00:00Z``);
``author_id`` falls back to ``from_id`` for comments stored before authors were.
Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import time
from typing import NamedTuple

__all__ = ["CommentKey", "CommentRow", "PostRow", "iso_utc", "post_url"]

CommentKey = tuple[int, int, int]
"""``(owner_id, post_id, comment_id)``: the order of :class:`CommentRow` pages."""


class CommentRow(NamedTuple):
    """One comment of a task; ``parent_comment_id`` is None for a top-level one."""

    owner_id: int
    group_name: str | None
    post_id: int
    post_date: str
    post_text: str
    comment_id: int
    parent_comment_id: int | None
    from_id: int
    author_id: int
    author_name: str | None
    date: str
    text: str
    likes: int
    deleted: bool
    reply_to_comment: int | None
    post_url: str

    @property
    def key(self) -> CommentKey:
        return (self.owner_id, self.post_id, self.comment_id)


class PostRow(NamedTuple):
    """One post a task collected, with or without comments."""

    owner_id: int
    group_name: str | None
    post_id: int
    date: str
    text: str
    likes: int
    reposts: int
    views: int | None
    comments_count: int
    is_pinned: bool
    url: str

    @property
    def key(self) -> tuple[int, int]:
        return (self.owner_id, self.post_id)


def iso_utc(seconds: int | None) -> str | None:
    """Unix seconds as ISO-8601 UTC (``2024-05-01T12:00:00Z``); None stays None."""
    return None if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def post_url(owner_id: int, post_id: int) -> str:
    return f"https://vk.com/wall{owner_id}_{post_id}"
