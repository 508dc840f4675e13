"""JSON Lines (one object per comment, keys
:data:`~vk_collector.export.rows.EXPORT_COLUMNS`) and one JSON document
``{taskId, exportedAt, posts: [{...post, comments: [...]}]}``, streamed post by post;
the document includes posts without comments and gives each comment
:data:`COMMENT_FIELDS` only (its post's fields are on the post).
"""

from __future__ import annotations

import contextlib
import json
import operator
from collections.abc import AsyncGenerator

from vk_collector.clock import utc_now_iso
from vk_collector.export.buffer import TextBuffer
from vk_collector.export.rows import EXPORT_COLUMNS, comment_rows, post_rows
from vk_collector.storage import Database

__all__ = ["COMMENT_FIELDS", "json_chunks", "jsonl_chunks"]

COMMENT_FIELDS: tuple[str, ...] = (
    "comment_id",
    "parent_comment_id",
    "reply_to_comment",
    "from_id",
    "author_id",
    "author_name",
    "date",
    "text",
    "likes",
    "deleted",
)
_COMMENT_VALUES = operator.itemgetter(*(EXPORT_COLUMNS.index(f) for f in COMMENT_FIELDS))


async def jsonl_chunks(db: Database, task_id: int, raw: bool) -> AsyncGenerator[bytes, None]:
    out = TextBuffer()
    async for row in comment_rows(db, task_id):
        out.buffer.write(json.dumps(row._asdict(), ensure_ascii=False))
        out.buffer.write("\n")
        if out.full():
            yield out.take()
    yield out.take()


async def json_chunks(db: Database, task_id: int, raw: bool) -> AsyncGenerator[bytes, None]:
    out = TextBuffer()
    exported_at = utc_now_iso("auto")
    out.buffer.write(f'{{"taskId": {task_id}, "exportedAt": "{exported_at}", "posts": [')
    async with (
        contextlib.aclosing(comment_rows(db, task_id)) as comments,
        contextlib.aclosing(post_rows(db, task_id)) as posts,
    ):
        pending = await anext(comments, None)
        first_post = True
        async for post in posts:
            key = post.key
            # Comments whose post appeared after the posts query ran are skipped.
            while pending is not None and (pending.owner_id, pending.post_id) < key:
                pending = await anext(comments, None)
            out.buffer.write("\n" if first_post else ",\n")
            first_post = False
            document = json.dumps(post._asdict(), ensure_ascii=False)
            out.buffer.write(document[:-1] + ', "comments": [')
            first_comment = True
            while pending is not None and (pending.owner_id, pending.post_id) == key:
                comment = dict(zip(COMMENT_FIELDS, _COMMENT_VALUES(pending), strict=True))
                out.buffer.write(
                    ("" if first_comment else ", ") + json.dumps(comment, ensure_ascii=False)
                )
                first_comment = False
                pending = await anext(comments, None)
                if out.full():
                    yield out.take()
            out.buffer.write("]}")
            if out.full():
                yield out.take()
    out.buffer.write("\n]}\n")
    yield out.take()
