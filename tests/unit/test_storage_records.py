"""Storage pieces that need no database: VK parsing, scrubbing, statement building."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.export import ExportFormat
from vk_collector.storage import (
    CommentData,
    GroupData,
    GroupStatus,
    Page,
    PostData,
    scrub_secrets,
)
from vk_collector.storage.flat_rows import iso_utc
from vk_collector.storage.models import Comment, UTCDateTime
from vk_collector.storage.repositories._base import (
    MAX_PARAMETERS,
    build_upsert,
    dedupe,
    rows_per_statement,
    table_of,
)


def test_group_from_vk() -> None:
    group = GroupData.from_vk(
        {
            "id": 42,
            "name": "Клуб",
            "screen_name": "club42",
            "is_closed": 2,
            "type": "group",
            "members_count": 10,
        }
    )
    assert (group.vk_id, group.name, group.is_closed, group.status) == (
        42,
        "Клуб",
        2,
        GroupStatus.VALID,
    )
    banned = GroupData.from_vk({"id": 7, "name": "x", "deactivated": "banned"})
    assert banned.status is GroupStatus.INVALID
    assert banned.deactivated == "banned"


def test_group_vk_id_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        GroupData(vk_id=0, name="x")


def test_post_from_vk_reads_counters() -> None:
    post = PostData.from_vk(
        {
            "id": 5,
            "owner_id": -42,
            "date": 1_700_000_000,
            "text": "hi",
            "likes": {"count": 3},
            "reposts": {"count": 1},
            "comments": {"count": 9},
            "is_pinned": 1,
        }
    )
    assert post.key == (-42, 5)
    assert (post.likes, post.reposts, post.comments_count, post.views) == (3, 1, 9, None)
    assert post.is_pinned is True


def test_comment_from_vk_takes_thread_from_parent_stack() -> None:
    reply = CommentData.from_vk(
        {
            "id": 11,
            "from_id": 1,
            "date": 1,
            "text": "re",
            "post_id": 5,
            "owner_id": -42,
            "parent_stack": [10],
            "reply_to_comment": 10,
        }
    )
    assert (reply.parent_comment_id, reply.reply_to_comment) == (10, 10)
    top = CommentData.from_vk({"id": 10, "date": 1, "deleted": True}, owner_id=-42, post_id=5)
    assert top.parent_comment_id is None
    assert top.deleted is True
    assert top.from_id == 0


def test_comment_from_vk_needs_a_wall() -> None:
    with pytest.raises(ValueError, match="owner_id"):
        CommentData.from_vk({"id": 1, "date": 1})


def test_scrub_secrets_drops_tokens_at_any_depth() -> None:
    scrubbed = scrub_secrets(
        {
            "token": "vk1.a.secret",
            "options": {"limit": 10, "Token": "x", "nested": [{"access_token": "y", "ok": 1}]},
            "note": "https://api.vk.ru/method/x?access_token=abc123&v=5",
        }
    )
    assert scrubbed == {
        "options": {"limit": 10, "nested": [{"ok": 1}]},
        "note": "https://api.vk.ru/method/x?access_token=***&v=5",
    }


def test_statements_stay_under_the_parameter_limit() -> None:
    columns = len(table_of(Comment).columns)
    assert rows_per_statement(columns) == 500
    assert rows_per_statement(columns) * columns <= MAX_PARAMETERS < 32766
    assert rows_per_statement(200) * 200 <= MAX_PARAMETERS


@pytest.mark.parametrize(("dialect", "module"), [("sqlite", sqlite), ("postgresql", postgresql)])
def test_build_upsert_uses_on_conflict(dialect: str, module: Any) -> None:
    table = table_of(Comment)
    statement = build_upsert(dialect, table, keys=["owner_id", "comment_id"], update=["text"])
    sql = str(statement.compile(dialect=module.dialect()))
    assert "ON CONFLICT (owner_id, comment_id) DO UPDATE SET text = excluded.text" in sql
    nothing = build_upsert(dialect, table, keys=["owner_id", "comment_id"])
    assert "DO NOTHING" in str(nothing.compile(dialect=module.dialect()))


def test_dedupe_keeps_the_last_version_in_first_seen_order() -> None:
    rows = [("a", 1), ("b", 1), ("a", 2)]
    assert dedupe(rows, lambda row: row[0]) == [("a", 2), ("b", 1)]


def test_page_arithmetic() -> None:
    page = Page(items=[1, 2], total=5, offset=2, limit=2)
    assert (page.page, page.pages, page.has_next) == (2, 3, True)
    assert not Page(items=[5], total=5, offset=4, limit=2).has_next


def test_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(None) is None


def test_utc_datetime_refuses_naive_values() -> None:
    column_type = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        column_type.process_bind_param(datetime(2024, 1, 1), sqlite.dialect())
    aware = datetime(2024, 1, 1, tzinfo=UTC)
    assert column_type.process_bind_param(aware, sqlite.dialect()) == datetime(2024, 1, 1)
    assert column_type.process_result_value(datetime(2024, 1, 1), sqlite.dialect()) == aware


def test_export_format_parse() -> None:
    assert ExportFormat.parse("CSV") is ExportFormat.CSV
    assert ExportFormat.XLSX.filename(3) == "task-3-comments.xlsx"
    with pytest.raises(ValidationError) as caught:
        ExportFormat.parse("pdf")
    assert caught.value.code is ErrorCode.INVALID_INPUT
