"""The unit of work: commits only when told, rolls back otherwise; on both backends."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3

import pytest
from sqlalchemy.engine import make_url

from vk_collector.cancellation import cancel_until_done
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


def _write_lock_is_free(sqlite_url: str) -> bool:
    """Whether another connection gets SQLite's write lock within a second (the
    busy timeout of a blocked writer is 15 s)."""
    probe = sqlite3.connect(str(make_url(sqlite_url).database), timeout=1.0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        probe.close()


async def test_a_statement_cut_short_by_a_cancel_leaves_no_write_lock(
    database: Database, sqlite_url: str
) -> None:
    """A job's task is cancelled in the middle of a statement, and again every 10 ms
    until it ends; SQLAlchemy then closes the connection.  Closed with a statement
    still open, SQLite keeps it as a zombie that holds the write lock until garbage
    collection; and when the statement was a ``BEGIN IMMEDIATE`` still waiting for the
    lock (every other step here: another writer holds it for 50 ms), a repeated cancel
    used to cut the close short, and the connection got the lock after all and kept
    it.  Either way every other writer waited out the busy timeout."""

    async def write_forever() -> None:
        for n in itertools.count(1):
            async with database.unit_of_work() as uow:
                await uow.groups.upsert_many([GroupData(vk_id=n, name="g")])
                await uow.groups.count()
                await uow.commit()

    other = sqlite3.connect(str(make_url(sqlite_url).database), isolation_level=None)
    loop = asyncio.get_running_loop()
    locked_after = []
    try:
        for step in range(60):  # cancel 0, 0.5, 1, ... 29.5 ms after the start
            contended = step % 2 == 1
            if contended:
                other.execute("BEGIN IMMEDIATE")
                loop.call_later(0.05, other.execute, "ROLLBACK")
            task = asyncio.create_task(write_forever())
            await asyncio.sleep(step * 0.0005)
            assert not await cancel_until_done({task}, lambda t=task: t, within_s=5)
            if not _write_lock_is_free(sqlite_url):
                locked_after.append(step)
    finally:
        other.close()
    assert locked_after == []
