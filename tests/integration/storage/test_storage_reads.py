"""``Database.read``: read-only queries in one hop (a reader thread on a SQLite file,
``run_sync`` elsewhere), on both backends."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from vk_collector.errors import ValidationError
from vk_collector.storage import (
    Database,
    GroupData,
    GroupStatus,
    TaskStatus,
    TaskType,
    group_page,
    task_page,
)


async def _add_tasks(db: Database, count: int, task_type: TaskType) -> list[int]:
    async with db.unit_of_work() as uow:
        ids = [(await uow.tasks.create(task_type, {"n": n})).id for n in range(count)]
        await uow.commit()
    return ids


async def test_a_task_page_read_matches_the_repository(any_database: Database) -> None:
    await _add_tasks(any_database, 3, TaskType.FETCH_COMMENTS)
    uploads = await _add_tasks(any_database, 2, TaskType.PROCESS_GROUPS)

    page = await any_database.read(functools.partial(task_page, page=1, limit=2))
    async with any_database.unit_of_work(read_only=True) as uow:
        same = await uow.tasks.list(page=1, limit=2)

    assert [t.id for t in page.items] == [uploads[1], uploads[0]]  # newest first
    assert page.items == same.items
    assert (page.total, page.pages, page.has_next) == (5, 3, True)
    assert page.items[0].parameters == {"n": 1}
    assert page.items[0].status is TaskStatus.PENDING


async def test_task_filters_bind_their_values(any_database: Database) -> None:
    """The page statements are built once per filter combination: the values must
    still be the ones of each call."""
    collected = await _add_tasks(any_database, 2, TaskType.FETCH_COMMENTS)
    uploads = await _add_tasks(any_database, 3, TaskType.PROCESS_GROUPS)
    async with any_database.unit_of_work() as uow:
        await uow.tasks.update(uploads[0], status=TaskStatus.COMPLETED)
        await uow.commit()

    def ids(**filters: Any) -> Any:
        return functools.partial(task_page, page=1, limit=10, **filters)

    by_type = await any_database.read(ids(type=TaskType.FETCH_COMMENTS))
    by_other_type = await any_database.read(ids(type=TaskType.PROCESS_GROUPS))
    both = await any_database.read(ids(type=TaskType.PROCESS_GROUPS, status=TaskStatus.PENDING))
    none = await any_database.read(ids(type=TaskType.FETCH_COMMENTS, status=TaskStatus.FAILED))

    assert [t.id for t in by_type.items] == collected[::-1]
    assert [t.id for t in by_other_type.items] == uploads[::-1]
    assert [t.id for t in both.items] == [uploads[2], uploads[1]]
    assert (none.items, none.total) == ([], 0)
    past_the_end = await any_database.read(
        functools.partial(task_page, page=3, limit=2, type=TaskType.PROCESS_GROUPS)
    )
    assert (past_the_end.items, past_the_end.total) == ([], 3)  # counted on its own


async def test_every_read_sees_what_was_committed_before_it(any_database: Database) -> None:
    """A pooled reader connection is handed back without an open transaction, so the
    next read on it does not see an old snapshot."""
    for expected in range(1, 4):
        await _add_tasks(any_database, 1, TaskType.FETCH_COMMENTS)
        for _ in range(6):  # more reads than reader threads: every pooled connection
            page = await any_database.read(functools.partial(task_page, limit=1))
            assert page.total == expected
        snapshot = await any_database.read(functools.partial(task_page, limit=1), snapshot=True)
        assert snapshot.total == expected


async def test_a_group_page_read_filters_sorts_and_counts(any_database: Database) -> None:
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many(
            [
                GroupData(vk_id=10, name="Ёлки", members_count=5),
                GroupData(vk_id=20, name="ёлочка", members_count=50),
                GroupData(vk_id=30, name="Other", status=GroupStatus.INVALID),
            ]
        )
        await uow.commit()

    found = await any_database.read(
        functools.partial(
            group_page, search="ЁЛ", sort_by="members_count", sort_order="desc", limit=1
        )
    )
    empty = await any_database.read(functools.partial(group_page, search="nothing"))

    assert [g.vk_id for g in found.items] == [20]
    assert found.total == 2
    assert (empty.items, empty.total) == ([], 0)


async def test_group_filters_bind_their_values(any_database: Database) -> None:
    """Without a search the group page statements are built once per shape: each call
    still gets its own status, upload task and page, and its own total."""
    first, second = await _add_tasks(any_database, 2, TaskType.PROCESS_GROUPS)
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many(
            [GroupData(vk_id=n, name=f"g{n}") for n in (1, 2, 3)], upload_task_id=first
        )
        await uow.groups.upsert_many(
            [GroupData(vk_id=9, name="bad", status=GroupStatus.INVALID)], upload_task_id=second
        )
        await uow.commit()

    def page(**filters: Any) -> Any:
        return any_database.read(functools.partial(group_page, **filters))

    valid = await page(status=GroupStatus.VALID, sort_order="desc", limit=2)
    invalid = await page(status=GroupStatus.INVALID)
    of_second = await page(upload_task_id=second)
    second_page = await page(upload_task_id=first, page=2, limit=2)
    past_the_end = await page(upload_task_id=first, page=3, limit=2)

    assert ([g.vk_id for g in valid.items], valid.total) == ([3, 2], 3)
    assert ([g.vk_id for g in invalid.items], invalid.total) == ([9], 1)
    assert ([g.vk_id for g in of_second.items], of_second.total) == ([9], 1)
    assert ([g.vk_id for g in second_page.items], second_page.total) == ([3], 3)
    assert (past_the_end.items, past_the_end.total) == ([], 3)  # counted on its own


async def test_json_columns_read_back_what_json_dumps_wrote(database: Database) -> None:
    """JSON columns decode with msgspec, and with ``json.loads`` what msgspec refuses
    (``Infinity``, a lone surrogate: ``json.dumps`` writes both; SQLite only, as
    PostgreSQL's JSONB refuses them on the way in)."""
    (task_id,) = await _add_tasks(database, 1, TaskType.FETCH_COMMENTS)
    odd = {"ratio": float("inf"), "big": 2**70, "text": "\ud800", "plain": [1, "ё", None]}
    async with database.unit_of_work() as uow:
        await uow.tasks.update(task_id, stats=odd)
        await uow.commit()

    (read,) = (await database.read(functools.partial(task_page))).items
    async with database.unit_of_work(read_only=True) as uow:
        stored = await uow.tasks.get(task_id)

    assert read.stats == odd
    assert stored is not None
    assert stored.stats == odd


async def test_a_bad_sort_field_is_refused_before_any_query(database: Database) -> None:
    with pytest.raises(ValidationError, match="cannot sort groups by 'nope'"):
        await database.read(functools.partial(group_page, sort_by="nope"))
