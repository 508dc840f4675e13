"""Results: posts with nested comments, summary, streamed exports."""

from __future__ import annotations

import csv
import io
import json

import openpyxl

from conftest import Api
from vk_collector.export import EXPORT_COLUMNS, export_rows, neutralise_formula
from vk_collector.storage import CommentData, GroupData, PostData, TaskType


async def _task_with_results(api: Api) -> int:
    task = await api.runtime.tasks.create(TaskType.FETCH_COMMENTS, {"groups": [1, 2]})
    posts = [
        PostData(owner_id=-1, post_id=10, date=1_700_000_300, text="Hello world"),
        PostData(owner_id=-1, post_id=11, date=1_700_000_200, text="second post"),
        PostData(owner_id=-2, post_id=10, date=1_700_000_100, text="other wall, same id"),
    ]
    comments = [
        CommentData(owner_id=-1, comment_id=100, post_id=10, date=1_700_000_400, text="c1"),
        CommentData(
            owner_id=-1, comment_id=101, post_id=10, date=1_700_000_500, text="=1+1",
            parent_comment_id=100, reply_to_comment=100,
        ),
        CommentData(owner_id=-1, comment_id=102, post_id=11, date=1_700_000_600, text="Привет"),
        CommentData(owner_id=-2, comment_id=100, post_id=10, date=1_700_000_700, text="c, \"q\""),
    ]  # fmt: skip
    async with api.runtime.db.unit_of_work() as uow:
        await uow.groups.upsert_many(
            [GroupData(vk_id=1, name="One"), GroupData(vk_id=2, name="Two")]
        )
        await uow.posts.upsert_many(posts, task_id=task.id)
        await uow.comments.upsert_many(comments)
        await uow.commit()
    return task.id


async def test_results_nest_comments_and_paginate_posts(api: Api) -> None:
    task_id = await _task_with_results(api)
    data = await api.ok("GET", f"/api/results/{task_id}")
    assert [(p["ownerId"], p["postId"]) for p in data["posts"]] == [(-1, 10), (-1, 11), (-2, 10)]
    assert data["totalComments"] == 4
    assert data["postsCount"] == 3
    first = data["posts"][0]
    assert [c["commentId"] for c in first["comments"]] == [100, 101]
    assert first["comments"][1]["parentCommentId"] == 100
    assert first["groupId"] == 1
    assert first["groupName"] == "One"
    assert first["url"] == "https://vk.com/wall-1_10"
    page = await api.ok("GET", f"/api/results/{task_id}", params={"limit": 1, "offset": 1})
    assert [(p["ownerId"], p["postId"]) for p in page["posts"]] == [(-1, 11)]
    assert page["pagination"] == {"limit": 1, "offset": 1, "total": 3, "hasMore": True}
    by_group = await api.ok("GET", f"/api/results/{task_id}", params={"groupId": 2})
    assert [(p["ownerId"], p["postId"]) for p in by_group["posts"]] == [(-2, 10)]
    assert by_group["totalComments"] == 1
    same = await api.ok("GET", f"/api/results/{task_id}", params={"groupId": -2})
    assert same["posts"] == by_group["posts"]
    by_post = await api.ok("GET", f"/api/results/{task_id}", params={"postId": 10})
    assert len(by_post["posts"]) == 2
    found = await api.ok("GET", f"/api/results/{task_id}", params={"search": "WORLD"})
    assert [p["text"] for p in found["posts"]] == ["Hello world"]
    no_comments = await api.ok("GET", f"/api/results/{task_id}", params={"commentsLimit": 0})
    assert no_comments["posts"][0]["comments"] == []
    assert no_comments["posts"][0]["commentsTotal"] == 2


async def test_results_bad_input(api: Api) -> None:
    task_id = await _task_with_results(api)
    await api.error("GET", "/api/results/999", 404)
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"groupId": "x"}):
        error = await api.error("GET", f"/api/results/{task_id}", 400, params=params)
        assert next(iter(params)) in error["message"]


async def test_summary(api: Api) -> None:
    task_id = await _task_with_results(api)
    summary = await api.ok("GET", f"/api/results/{task_id}/summary")
    assert summary["totalComments"] == 4
    assert summary["totalPosts"] == 3
    assert summary["totalGroups"] == 2
    assert summary["averageCommentsPerPost"] == 1.33
    assert summary["generatedAt"].endswith("Z")
    await api.error("GET", "/api/results/999/summary", 404)
    empty = await api.runtime.tasks.create(TaskType.FETCH_COMMENTS, {})
    zero = await api.ok("GET", f"/api/results/{empty.id}/summary")
    assert zero["totalPosts"] == 0
    assert zero["averageCommentsPerPost"] == 0


async def test_exports_stream_every_format_as_a_download(api: Api) -> None:
    task_id = await _task_with_results(api)
    expected = [row async for row in export_rows(api.runtime.db, task_id)]
    assert len(expected) == 4
    for fmt in ("json", "jsonl", "csv", "xlsx"):
        response = await api.client.get(f"/api/results/{task_id}/export", params={"format": fmt})
        assert response.status_code == 200, response.text
        disposition = response.headers["content-disposition"]
        assert disposition == f'attachment; filename="task-{task_id}-comments.{fmt}"'
        assert response.headers["x-request-id"]
        if fmt == "json":
            doc = json.loads(response.content)
            assert doc["taskId"] == task_id
            assert sum(len(p["comments"]) for p in doc["posts"]) == 4
        elif fmt == "jsonl":
            rows = [json.loads(line) for line in response.text.splitlines()]
            assert rows == expected
        elif fmt == "csv":
            assert response.content.startswith("\ufeff".encode())
            reader = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
            assert reader.fieldnames == list(EXPORT_COLUMNS)
            # "=1+1" is neutralised for spreadsheets (raw=true keeps it)
            assert [r["text"] for r in reader] == [neutralise_formula(r["text"]) for r in expected]
        else:
            book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
            rows = list(book.worksheets[0].iter_rows(values_only=True))
            assert list(rows[0]) == list(EXPORT_COLUMNS)
            assert [r[EXPORT_COLUMNS.index("text")] for r in rows[1:]] == [
                r["text"] for r in expected
            ]
            book.close()


async def test_export_validates_task_and_format_before_streaming(api: Api) -> None:
    task_id = await _task_with_results(api)
    error = await api.error("GET", "/api/results/999/export", 404, params={"format": "csv"})
    assert "999" in error["message"]
    error = await api.error("GET", f"/api/results/{task_id}/export", 400, params={"format": "pdf"})
    assert error["message"].startswith("invalid request: format")


async def test_csv_export_neutralises_formulas_unless_raw(api: Api) -> None:
    async with api.runtime.db.unit_of_work() as uow:
        task = await uow.tasks.create(TaskType.FETCH_COMMENTS, {})
        await uow.posts.upsert_many([PostData(owner_id=-1, post_id=1, date=1)], task_id=task.id)
        await uow.comments.upsert_many(
            [CommentData(owner_id=-1, comment_id=1, post_id=1, date=1, text="=1+1")]
        )
        await uow.commit()
    safe = await api.client.get(f"/api/results/{task.id}/export?format=csv")
    assert ",'=1+1," in safe.text
    raw = await api.client.get(f"/api/results/{task.id}/export?format=csv&raw=true")
    assert ",=1+1," in raw.text
