"""Generation of one post's comment tree from the post's plan (``Post.thread_sizes``).

Ids are ``post.first_comment_id + n`` in date order, replies included, so a reply always
has a larger id than the comment it answers.  Dates fall between the post's date and the
dataset's anchor time.  About 3% of comments are deleted (``deleted=True``, empty text),
about 15% are longer than 90 characters, and replies answer either the thread's
top-level comment or an earlier reply in the same thread.
"""

from __future__ import annotations

import random

from vk_emulator import words
from vk_emulator.models import Comment, CommentTree, Post

__all__ = ["build_tree"]

_MAX_USER_ID = 500_000


def build_tree(seed: int, post: Post, anchor_time: int) -> CommentTree:
    sizes = post.thread_sizes
    if not sizes:
        return CommentTree((), {}, {})
    rng = random.Random(f"{seed}:{post.owner_id}:{post.index}:comments")
    start = post.date + 1
    end = max(anchor_time, start + 60)
    events: list[tuple[int, int, int]] = []  # (date, top-level index, reply number; 0 = top)
    top_dates = sorted(rng.randint(start, end) for _ in sizes)
    for top_index, (date, size) in enumerate(zip(top_dates, sizes, strict=True)):
        events.append((date, top_index, 0))
        reply_dates = sorted(rng.randint(date, end) for _ in range(size))
        events.extend((when, top_index, number) for number, when in enumerate(reply_dates, 1))
    events.sort()

    authors = [rng.randint(1, _MAX_USER_ID) for _ in range(max(5, len(events) // 3))]
    top: list[Comment] = []
    replies: dict[int, list[Comment]] = {}
    by_id: dict[int, Comment] = {}
    roots: dict[int, Comment] = {}  # top-level index -> its comment
    for rank, (date, top_index, number) in enumerate(events):
        roll = rng.random()
        if roll < 0.04:
            author = post.owner_id
        elif roll < 0.07 and post.from_id > 0:
            author = post.from_id
        else:
            author = rng.choice(authors)
        deleted = rng.random() < 0.03 or (post.featured and top_index == 2 and number == 0)
        long_text = rng.random() < 0.15
        likes = int(rng.paretovariate(1.5)) - 1
        root = roots.get(top_index)
        target: Comment | None = None
        if number and root is not None:
            thread = replies[root.id]
            target = root if not thread or rng.random() < 0.6 else rng.choice(thread)
        comment = Comment(
            id=post.first_comment_id + rank,
            owner_id=post.owner_id,
            post_id=post.id,
            from_id=author,
            date=date,
            text="" if deleted else words.text(rng, long=long_text),
            deleted=deleted,
            likes=0 if deleted else likes,
            thread_root=None if root is None or not number else root.id,
            reply_to_comment=None if target is None else target.id,
            reply_to_user=None if target is None else target.from_id,
        )
        by_id[comment.id] = comment
        if number:
            replies[comment.thread_root or 0].append(comment)
        else:
            roots[top_index] = comment
            replies[comment.id] = []
            top.append(comment)
    return CommentTree(
        tuple(top),
        {root_id: tuple(items) for root_id, items in replies.items()},
        by_id,
    )
