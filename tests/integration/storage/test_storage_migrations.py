"""Migrations on real SQLite and PostgreSQL: upgrade, idempotence, concurrency, and
the migrated schema matching the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from vk_collector.storage import (
    CommentData,
    Database,
    current_revision,
    head_revision,
    migrate,
    schema_diff,
)
from vk_collector.storage.engine import SQLITE_BUSY_TIMEOUT_MS

TABLES = {"tasks", "groups", "task_groups", "posts", "task_posts", "comments"}


async def _tables(db: Database) -> set[str]:
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if db.dialect == "sqlite"
        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    async with db.engine.connect() as connection:
        return set((await connection.execute(text(query))).scalars())


async def test_migrate_creates_every_table_at_head(any_empty_database_url: str) -> None:
    assert await current_revision(any_empty_database_url) is None
    await migrate(any_empty_database_url)
    assert await current_revision(any_empty_database_url) == head_revision()
    async with Database(any_empty_database_url) as db:
        assert await _tables(db) >= TABLES


async def test_migrated_schema_matches_the_models(any_empty_database_url: str) -> None:
    await migrate(any_empty_database_url)
    assert await schema_diff(any_empty_database_url) == []


async def test_migrate_twice_is_a_no_op(any_empty_database_url: str) -> None:
    await migrate(any_empty_database_url)
    async with Database(any_empty_database_url) as db, db.unit_of_work() as uow:
        await uow.tasks.create("fetch_comments", {})
        await uow.commit()
    await migrate(any_empty_database_url)
    async with Database(any_empty_database_url) as db, db.unit_of_work() as uow:
        assert (await uow.tasks.list()).total == 1


async def test_concurrent_migrations_do_not_collide(any_empty_database_url: str) -> None:
    await asyncio.gather(*(migrate(any_empty_database_url) for _ in range(4)))
    assert await current_revision(any_empty_database_url) == head_revision()
    assert await schema_diff(any_empty_database_url) == []


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'vkc.db'}"
    await migrate(url)  # creates the directory
    async with Database(url) as db, db.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert (await pragma("PRAGMA journal_mode")).scalar() == "wal"
        assert (await pragma("PRAGMA foreign_keys")).scalar() == 1
        assert (await pragma("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS
        # SQLite's own lower() folds ASCII only; ours folds Cyrillic too.
        assert (await connection.execute(text("SELECT lower('ПРИВЕТ')"))).scalar() == "привет"


async def test_schema_diff_notices_drift(any_empty_database_url: str) -> None:
    await migrate(any_empty_database_url)
    async with Database(any_empty_database_url) as db, db.engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_groups_status"))
    diff = await schema_diff(any_empty_database_url)
    assert [entry[0] for entry in diff] == ["add_index"]


async def test_comments_stored_before_authors_keep_working(any_empty_database_url: str) -> None:
    await migrate(any_empty_database_url, "0001")
    async with Database(any_empty_database_url) as db, db.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO posts (owner_id, post_id, text, date, likes, reposts,"
                " comments_count, is_pinned, fetched_at, comments_done)"
                " VALUES (-1, 10, '', 1, 0, 0, 0, false, '2026-01-01 00:00:00', false)"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO comments (owner_id, comment_id, post_id, from_id, text, date,"
                " likes, deleted, fetched_at)"
                " VALUES (-1, 5, 10, 42, 'old', 1, 0, false, '2026-01-01 00:00:00')"
            )
        )
    await migrate(any_empty_database_url)
    assert await current_revision(any_empty_database_url) == head_revision()
    async with Database(any_empty_database_url) as db, db.unit_of_work() as uow:
        old = (await uow.comments.list_for_post(-1, 10)).items
        assert [(c.from_id, c.author_id, c.author_name) for c in old] == [(42, None, None)]
        await uow.comments.upsert_many(
            [
                CommentData(
                    owner_id=-1, comment_id=5, post_id=10, date=1, from_id=42,
                    author_id=42, author_name="Ivan Petrov",
                )
            ]
        )  # fmt: skip
        await uow.commit()
        again = (await uow.comments.list_for_post(-1, 10)).items
        assert [(c.author_id, c.author_name) for c in again] == [(42, "Ivan Petrov")]


async def test_the_cancelled_status_migration_keeps_every_row(any_empty_database_url: str) -> None:
    """0003 rebuilds the tasks table on SQLite: rows, and the rows that point at
    them (task_groups, with ON DELETE CASCADE), must all survive."""
    await migrate(any_empty_database_url, "0001")
    db = Database(any_empty_database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO tasks (id, type, status, progress, stats, errors, parameters,"
                    " created_at, updated_at) VALUES (7, 'fetch_comments', 'processing', 40,"
                    " '{}', '[]', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO task_groups (task_id, group_vk_id, state, posts_done,"
                    " comments_collected, updated_at) VALUES (7, 1, 'pending', 0, 0,"
                    " CURRENT_TIMESTAMP)"
                )
            )
        await migrate(any_empty_database_url)
        async with db.engine.begin() as connection:
            assert (await connection.scalar(text("SELECT progress FROM tasks WHERE id = 7"))) == 40
            assert (await connection.scalar(text("SELECT count(*) FROM task_groups"))) == 1
            await connection.execute(text("UPDATE tasks SET status = 'cancelled' WHERE id = 7"))
        assert await schema_diff(any_empty_database_url) == []
    finally:
        await db.dispose()
