"""The unit of work: commits only when told, rolls back otherwise; on both backends."""

from __future__ import annotations

import asyncio

import pytest

from vk_collector.errors import StorageError
from vk_collector.storage import Database, GroupData, TaskType


class BoomError(Exception):
    pass


async def _group_count(db: Database) -> int:
    async with db.unit_of_work() as uow:
        return await uow.groups.count()


async def test_commit_persists(any_database: Database) -> None:
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many([GroupData(vk_id=1, name="one")])
        await uow.commit()
    assert await _group_count(any_database) == 1


async def test_leaving_without_commit_rolls_back(any_database: Database) -> None:
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many([GroupData(vk_id=1, name="one")])
        assert await uow.groups.count() == 1  # visible inside the unit of work
    assert await _group_count(any_database) == 0


async def test_an_exception_rolls_back(any_database: Database) -> None:
    async def fail_halfway() -> None:
        async with any_database.unit_of_work() as uow:
            await uow.tasks.create(TaskType.PROCESS_GROUPS, {})
            await uow.groups.upsert_many([GroupData(vk_id=1, name="one")])
            raise BoomError

    with pytest.raises(BoomError):
        await fail_halfway()
    async with any_database.unit_of_work() as uow:
        assert (await uow.tasks.list()).total == 0
    assert await _group_count(any_database) == 0


async def test_work_after_a_commit_needs_its_own_commit(any_database: Database) -> None:
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many([GroupData(vk_id=1, name="one")])
        await uow.commit()
        await uow.groups.upsert_many([GroupData(vk_id=2, name="two")])
    assert await _group_count(any_database) == 1


async def test_explicit_rollback(any_database: Database) -> None:
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many([GroupData(vk_id=1, name="one")])
        await uow.rollback()
        await uow.groups.upsert_many([GroupData(vk_id=2, name="two")])
        await uow.commit()
        assert await uow.groups.existing_vk_ids([1, 2]) == {2}


async def test_a_unit_of_work_is_used_inside_its_block_once(any_database: Database) -> None:
    uow = any_database.unit_of_work()
    with pytest.raises(StorageError, match="outside"):
        await uow.commit()
    async with uow:
        with pytest.raises(StorageError, match="already open"):
            await uow.__aenter__()


async def test_concurrent_writers_do_not_fail(any_database: Database) -> None:
    """On SQLite, BEGIN IMMEDIATE makes read-then-write transactions wait, not fail."""

    async def writer(start: int) -> None:
        for batch in range(5):
            async with any_database.unit_of_work() as uow:
                first = start + batch * 10
                await uow.groups.upsert_many(
                    [GroupData(vk_id=first + i, name=f"g{first + i}") for i in range(1, 11)]
                )
                await asyncio.sleep(0)  # let the other writers interleave
                await uow.commit()

    await asyncio.gather(*(writer(start) for start in (0, 1000, 2000, 3000)))
    assert await _group_count(any_database) == 200


async def test_a_read_only_unit_of_work_does_not_wait_for_a_writer(any_database: Database) -> None:
    async with any_database.unit_of_work() as writer:
        await writer.groups.upsert_many([GroupData(vk_id=1, name="one")])  # holds the lock
        async with any_database.unit_of_work(read_only=True) as reader:
            assert await asyncio.wait_for(reader.groups.count(), timeout=2) == 0
        await writer.commit()
    assert await _group_count(any_database) == 1


async def test_a_cancel_during_the_rollback_still_releases_the_connection(
    any_database: Database,
) -> None:
    """A cancelled job's task is cancelled again while it ends (``cancel_until_done``):
    the rollback must still finish, or on SQLite the write lock stays held."""
    holding = asyncio.Event()

    async def hold() -> None:
        async with any_database.unit_of_work() as uow:
            await uow.groups.upsert_many([GroupData(vk_id=1, name="one")])
            holding.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hold())
    await holding.wait()
    # as cancel_until_done does, only harder: again at every turn of the loop, so every
    # await of the rollback and of the close is hit
    turns = 0
    while not task.done():
        task.cancel()
        await asyncio.sleep(0)
        turns += 1
    assert turns > 2  # the end of the unit of work was cancelled more than once
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(3):  # the busy timeout is longer: a held lock fails here
        async with any_database.unit_of_work() as uow:
            await uow.groups.upsert_many([GroupData(vk_id=2, name="two")])
            await uow.commit()
    assert await _group_count(any_database) == 1
