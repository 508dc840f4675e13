"""Exports in all four formats, parsed back and compared with what was stored; on
SQLite and PostgreSQL.  The memory test streams 50,000 comments."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.export import (
    EXPORT_COLUMNS,
    ExportFormat,
    export_chunks,
    export_rows,
    write_export,
)
from vk_collector.storage import CommentData, Database, GroupData, PostData, TaskType

T0 = 1_700_000_000
TRICKY = 'quote " comma, newline\nformula =1+1 and Кириллица'


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


POSTS = {
    (-1, 1): PostData(owner_id=-1, post_id=1, date=T0, text="first post", likes=3),
    (-1, 2): PostData(owner_id=-1, post_id=2, date=T0 + 1, text="no comments"),
    (-2, 1): PostData(owner_id=-2, post_id=1, date=T0 + 2, text="Пост", views=9),
    (-3, 1): PostData(owner_id=-3, post_id=1, date=T0 + 3, text="unknown wall"),
}
COMMENTS = [
    CommentData(
        owner_id=-1,
        comment_id=100,
        post_id=1,
        date=T0 + 10,
        from_id=7,
        text="top",
        author_id=7,
        author_name="Иван Петров",
    ),
    CommentData(
        owner_id=-1,
        comment_id=101,
        post_id=1,
        date=T0 + 11,
        from_id=8,
        text="reply",
        parent_comment_id=100,
        reply_to_comment=100,
        likes=2,
    ),
    CommentData(owner_id=-1, comment_id=102, post_id=1, date=T0 + 12, from_id=9, text=TRICKY),
    CommentData(owner_id=-2, comment_id=100, post_id=1, date=T0 + 13, from_id=7, text="same id"),
    CommentData(owner_id=-2, comment_id=105, post_id=1, date=T0 + 14, deleted=True),
    CommentData(
        owner_id=-3,
        comment_id=1,
        post_id=1,
        date=T0 + 15,
        from_id=-5,
        text="x",
        author_id=-5,
        author_name="A community",
    ),
]  # the others have no author columns, as comments stored before they existed
GROUP_NAMES = {-1: "Новости", -2: "Second"}


async def _seed(db: Database) -> tuple[int, int]:
    """Task A collects walls -1 and -2; task B later collects -2 (stored by A) and -3."""
    async with db.unit_of_work() as uow:
        first = await uow.tasks.create(TaskType.FETCH_COMMENTS, {})
        second = await uow.tasks.create(TaskType.FETCH_COMMENTS, {})
        await uow.groups.upsert_many(
            [GroupData(vk_id=-owner, name=name) for owner, name in GROUP_NAMES.items()]
        )
        await uow.posts.upsert_many([POSTS[-1, 1], POSTS[-1, 2], POSTS[-2, 1]], task_id=first.id)
        await uow.posts.upsert_many([POSTS[-2, 1], POSTS[-3, 1]], task_id=second.id)
        await uow.comments.upsert_many(COMMENTS)
        await uow.commit()
    return first.id, second.id


def _expected(owners: set[int]) -> list[dict[str, Any]]:
    rows = []
    for c in sorted(COMMENTS, key=lambda c: (c.owner_id, c.post_id, c.comment_id)):
        if c.owner_id not in owners:
            continue
        post = POSTS[c.owner_id, c.post_id]
        rows.append(
            {
                "owner_id": c.owner_id,
                "group_name": GROUP_NAMES.get(c.owner_id),
                "post_id": c.post_id,
                "post_date": _iso(post.date),
                "post_text": post.text,
                "comment_id": c.comment_id,
                "parent_comment_id": c.parent_comment_id,
                "from_id": c.from_id,
                "author_id": c.from_id if c.author_id is None else c.author_id,
                "author_name": c.author_name,
                "date": _iso(c.date),
                "text": c.text,
                "likes": c.likes,
                "deleted": c.deleted,
                "reply_to_comment": c.reply_to_comment,
                "post_url": f"https://vk.com/wall{c.owner_id}_{c.post_id}",
            }
        )
    return rows


async def _bytes(db: Database, task_id: int, fmt: str) -> bytes:
    return b"".join([chunk async for chunk in export_chunks(db, task_id, fmt)])


async def test_export_rows_are_the_tasks_comments(any_database: Database) -> None:
    first, second = await _seed(any_database)
    assert [row async for row in export_rows(any_database, first)] == _expected({-1, -2})
    # task B's results include the post task A stored first, and nothing of task A's own
    assert [row async for row in export_rows(any_database, second)] == _expected({-2, -3})
    # keyset pages (SQLite) and cursor batches (PostgreSQL) that end inside a post
    tiny = [row async for row in export_rows(any_database, first, chunk_rows=2)]
    assert tiny == _expected({-1, -2})


async def test_csv(any_database: Database) -> None:
    first, _ = await _seed(any_database)
    data = await _bytes(any_database, first, "csv")
    assert data.startswith(b"\xef\xbb\xbf")  # BOM, for Excel
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header, *rows = list(reader)
    assert tuple(header[:12]) == EXPORT_COLUMNS[:12]
    assert tuple(header) == EXPORT_COLUMNS

    def as_csv(value: Any) -> str:
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    expected = [[as_csv(row[c]) for c in EXPORT_COLUMNS] for row in _expected({-1, -2})]
    assert rows == expected
    assert rows[0][EXPORT_COLUMNS.index("parent_comment_id")] == ""  # top-level


async def test_jsonl(any_database: Database) -> None:
    first, _ = await _seed(any_database)
    lines = (await _bytes(any_database, first, ExportFormat.JSONL)).decode().splitlines()
    assert [json.loads(line) for line in lines] == _expected({-1, -2})


async def test_json_document_streams_every_post(any_database: Database) -> None:
    first, _ = await _seed(any_database)
    document = json.loads(await _bytes(any_database, first, "json"))
    assert document["taskId"] == first
    assert datetime.fromisoformat(document["exportedAt"]).tzinfo is not None
    posts = document["posts"]
    assert [(p["owner_id"], p["post_id"]) for p in posts] == [(-2, 1), (-1, 1), (-1, 2)]
    assert posts[0]["group_name"] == "Second"
    assert posts[0]["views"] == 9
    assert posts[0]["date"] == _iso(T0 + 2)
    assert posts[2]["comments"] == []
    comments = [c for p in posts for c in p["comments"]]
    expected = _expected({-1, -2})
    assert [c["comment_id"] for c in comments] == [r["comment_id"] for r in expected]
    assert comments[4] == {
        "comment_id": 102,
        "parent_comment_id": None,
        "reply_to_comment": None,
        "from_id": 9,
        "author_id": 9,
        "author_name": None,
        "date": _iso(T0 + 12),
        "text": TRICKY,
        "likes": 0,
        "deleted": False,
    }
    named = next(c for c in comments if c["text"] == "top")
    assert named["author_name"] == "Иван Петров"


async def test_xlsx(any_database: Database, tmp_path: Path) -> None:
    first, _ = await _seed(any_database)
    path = tmp_path / "out.xlsx"
    path.write_bytes(await _bytes(any_database, first, "xlsx"))
    sheet = openpyxl.load_workbook(path, read_only=True).active
    assert sheet is not None
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert tuple(header) == EXPORT_COLUMNS
    expected = [[row[c] for c in EXPORT_COLUMNS] for row in _expected({-1, -2})]
    assert rows == expected  # "=1+1" stays text: cells never become formulas


async def test_write_export_to_a_path_and_a_file(database: Database, tmp_path: Path) -> None:
    first, _ = await _seed(database)
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    for fmt in ExportFormat:
        target = tmp_path / fmt.filename(first)
        written = await write_export(database, first, fmt, target)
        assert written == target.stat().st_size > 0
        buffer = io.BytesIO()
        await write_export(database, first, fmt, buffer)
        if fmt is not ExportFormat.JSON:  # the JSON document carries its export time
            assert buffer.getvalue()[:100] == target.read_bytes()[:100]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        fmt.filename(first) for fmt in ExportFormat
    )


async def test_an_unknown_task_or_format_is_refused(database: Database, tmp_path: Path) -> None:
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    with pytest.raises(ValidationError) as caught:
        await write_export(database, 404, "csv", tmp_path / "x.csv")
    assert caught.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(ValidationError):
        await write_export(database, 404, "xlsx", tmp_path / "x.xlsx")
    with pytest.raises(ValidationError) as caught:
        _ = [row async for row in export_rows(database, 404)]
    assert caught.value.message == "task 404 not found"
    with pytest.raises(ValidationError) as caught:
        _ = [chunk async for chunk in export_chunks(database, 1, "pdf")]
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_a_large_export_streams_in_flat_memory(database: Database, fmt: str) -> None:
    comments_per_post, posts = 500, 100
    async with database.unit_of_work() as uow:
        task = await uow.tasks.create(TaskType.FETCH_COMMENTS, {})
        await uow.posts.upsert_many(
            [PostData(owner_id=-1, post_id=p, date=T0, text="p" * 200) for p in range(posts)],
            task_id=task.id,
        )
        await uow.comments.upsert_many(
            CommentData(
                owner_id=-1,
                comment_id=i,
                post_id=i // comments_per_post,
                date=T0 + i,
                from_id=i,
                text=f"comment {i} " + "x" * 300,
            )
            for i in range(posts * comments_per_post)
        )
        await uow.commit()

    tracemalloc.start()
    try:
        total = chunks = 0
        async for chunk in export_chunks(database, task.id, fmt):
            total += len(chunk)
            chunks += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 15_000_000
    assert chunks > 100  # delivered incrementally, not as one blob
    assert peak < total / 6, f"peak {peak:,} bytes for a {total:,}-byte export"


async def _seed_comments(db: Database, count: int, text: str = "x" * 300) -> int:
    async with db.unit_of_work() as uow:
        task = await uow.tasks.create(TaskType.FETCH_COMMENTS, {})
        await uow.posts.upsert_many([PostData(owner_id=-1, post_id=1, date=T0)], task_id=task.id)
        await uow.comments.upsert_many(
            CommentData(owner_id=-1, comment_id=i, post_id=1, date=T0, from_id=1, text=text)
            for i in range(count)
        )
        await uow.commit()
    return task.id


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
async def test_a_stalled_export_holds_no_database_connection(
    any_database: Database, fmt: str
) -> None:
    """A download whose client stopped reading sits suspended between chunks: it must
    not keep a pooled connection (16 stalled clients once held all 15)."""
    task_id = await _seed_comments(any_database, 3000)
    pool = any_database.engine.pool
    async with contextlib.aclosing(export_chunks(any_database, task_id, fmt)) as stream:
        first = await anext(stream)
        assert first
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        second = await anext(stream)  # the next page is read on a fresh connection
        assert second
        assert pool.checkedout() == 0  # type: ignore[attr-defined]


FORMULAS = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1",
    "\r=1",
    "plain = text",
]


async def _seed_formulas(db: Database) -> int:
    async with db.unit_of_work() as uow:
        task = await uow.tasks.create(TaskType.FETCH_COMMENTS, {})
        await uow.groups.upsert_many([GroupData(vk_id=7, name="=cmd|' /C calc'!A0")])
        await uow.posts.upsert_many(
            [PostData(owner_id=-7, post_id=1, date=T0, text="@post")], task_id=task.id
        )
        await uow.comments.upsert_many(
            CommentData(owner_id=-7, comment_id=i, post_id=1, date=T0, from_id=-i, text=text)
            for i, text in enumerate(FORMULAS, start=1)
        )
        await uow.commit()
    return task.id


async def test_csv_cells_never_start_a_formula_unless_raw(database: Database) -> None:
    task_id = await _seed_formulas(database)
    data = (await _bytes(database, task_id, "csv")).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(data, newline="")))
    text = header.index("text")
    assert [row[text] for row in rows] == [
        "'" + value if value[0] in "=+-@\t\r" else value for value in FORMULAS
    ]
    assert {row[header.index("group_name")] for row in rows} == {"'=cmd|' /C calc'!A0"}
    assert {row[header.index("post_text")] for row in rows} == {"'@post"}
    # numbers are numbers: negative ids keep their sign, unprefixed
    assert [row[header.index("from_id")] for row in rows] == [str(-i) for i in range(1, 8)]
    assert {row[header.index("owner_id")] for row in rows} == {"-7"}
    for row in rows:
        assert not row[text].startswith(("=", "+", "-", "@", "\t", "\r"))

    raw = b"".join([c async for c in export_chunks(database, task_id, "csv", raw=True)])
    header, *rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [row[header.index("text")] for row in rows] == FORMULAS


async def test_xlsx_writes_formula_text_as_text(database: Database, tmp_path: Path) -> None:
    task_id = await _seed_formulas(database)
    path = tmp_path / "f.xlsx"
    path.write_bytes(await _bytes(database, task_id, "xlsx"))
    sheet = openpyxl.load_workbook(path).active  # not read_only: cell data types
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    column = header.index("text") + 1
    cells = [sheet.cell(row=r, column=column) for r in range(2, 2 + len(FORMULAS))]
    # openpyxl leaves a stored carriage return in its escaped form
    assert [cell.value for cell in cells] == [f.replace("\r", "_x000D_") for f in FORMULAS]
    assert {cell.data_type for cell in cells} == {"s"}  # strings, never "f" (formula)
    name = sheet.cell(row=2, column=header.index("group_name") + 1)
    assert (name.value, name.data_type) == ("=cmd|' /C calc'!A0", "s")
