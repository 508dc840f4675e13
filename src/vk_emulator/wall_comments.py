"""wall.getComments (VK_API.md §2.4): one level of a post's comment tree per call.

Without ``comment_id`` the level is the post's top-level comments; with it, the replies
of that comment's thread (a reply's id selects the thread it belongs to).  ``count`` in
the answer counts every comment of the post, replies included, for the top level and the
thread's replies for a thread; ``current_level_count`` is the length of the level.
``start_comment_id`` starts the level at the first comment at or past that id in the
sort order, and ``offset`` counts from there (the answer then carries ``real_offset``).
"""

from __future__ import annotations

from typing import Any

from vk_emulator.methods import MethodContext, readable_wall
from vk_emulator.models import Comment, CommentTree
from vk_emulator.objects import comment_object, extended
from vk_emulator.protocol import Params, VkError, invalid_param

__all__ = ["wall_get_comments"]

DEFAULT_COUNT = 10
MAX_COUNT = 100
DEFAULT_PREVIEW_LENGTH = 90
MAX_THREAD_ITEMS = 10


def wall_get_comments(ctx: MethodContext, params: Params) -> Any:
    owner_id = params.required_int("owner_id")
    post_id = params.required_int("post_id")
    group = readable_wall(ctx, owner_id)
    post = ctx.dataset.post(group.owner_id, post_id)
    if post is None:
        raise VkError(15, "post was not found check post_id param")
    if post.comments_disabled:
        raise VkError(212)
    need_likes = params.flag("need_likes")
    offset = params.integer("offset", 0, minimum=0)
    count = params.integer("count", DEFAULT_COUNT, minimum=0, maximum=MAX_COUNT, clamp=True)
    preview = params.integer("preview_length", DEFAULT_PREVIEW_LENGTH, minimum=0)
    items_per_thread = params.integer(
        "thread_items_count", 0, minimum=0, maximum=MAX_THREAD_ITEMS, clamp=True
    )
    sort = params.get("sort", "asc")
    if sort not in ("asc", "desc", "smart"):
        raise invalid_param("sort is invalid")

    tree = ctx.dataset.comment_tree(group.owner_id, post_id)
    comment_id = params.optional_int("comment_id")
    level: list[Comment]
    if comment_id is None:
        level = list(tree.top)
        total = tree.total
    else:
        level = _thread(tree, comment_id)
        total = len(level)
    if sort == "desc":
        level.reverse()
    start = 0
    start_comment_id = params.optional_int("start_comment_id")
    if start_comment_id is not None:
        start = _position(level, start_comment_id, descending=sort == "desc")
    page = level[start + offset : start + offset + count]

    def render(comment: Comment) -> dict[str, Any]:
        return comment_object(comment, need_likes=need_likes, preview_length=preview)

    items = []
    shown: list[Comment] = list(page)
    for comment in page:
        data = render(comment)
        if comment_id is None:
            replies = tree.replies.get(comment.id, ())
            embedded = replies[:items_per_thread]
            shown.extend(embedded)
            data["thread"] = {
                "count": len(replies),
                "items": [render(reply) for reply in embedded],
                "can_post": True,
                "show_reply_button": True,
                "groups_can_post": True,
            }
        items.append(data)
    response: dict[str, Any] = {
        "count": total,
        "items": items,
        "current_level_count": len(level),
        "can_post": True,
        "show_reply_button": True,
        "groups_can_post": True,
    }
    if start_comment_id is not None:
        response["real_offset"] = start + offset
    if params.flag("extended"):
        authors = [comment.from_id for comment in shown if not comment.deleted]
        profiles, groups = extended(ctx.dataset, [*authors, group.owner_id], params.csv("fields"))
        response.update(profiles=profiles, groups=groups, post_author_id=post.from_id)
    return response


def _thread(tree: CommentTree, comment_id: int) -> list[Comment]:
    comment = tree.by_id.get(comment_id)
    if comment is None:
        raise invalid_param("comment_id is invalid")
    root = comment.thread_root if comment.thread_root is not None else comment.id
    return list(tree.replies.get(root, ()))


def _position(level: list[Comment], start_comment_id: int, *, descending: bool) -> int:
    for index, comment in enumerate(level):
        if (comment.id <= start_comment_id) if descending else (comment.id >= start_comment_id):
            return index
    return len(level)
