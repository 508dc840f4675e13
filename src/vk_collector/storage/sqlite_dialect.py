"""SQLAlchemy's aiosqlite dialect, with a terminate that never leaks SQLite's write lock.

SQLAlchemy invalidates a connection whose statement is interrupted by a cancellation
(a cancelled job's task is cancelled again every 10 ms until it ends, see
:mod:`vk_collector.cancellation`) and *terminates* it: it awaits a graceful close
under ``asyncio.shield`` and, when cancelled again meanwhile, falls back to
aiosqlite's ``stop()``.  The two race: the graceful close gives up without closing
(the worker thread is stopping), clears the connection, and ``stop()`` then finds
nothing to close.  The ``sqlite3`` connection is left open until garbage collection,
and when the interrupted statement was a ``BEGIN IMMEDIATE`` still waiting for the
lock, it gets the lock after all and keeps it: every other writer waited out the busy
timeout (15 s), which was the slow end of a cancelled collection on SQLite.

Apart from that race, a ``sqlite3`` connection closed while a statement of it is
still open (the one the cancel cut short) is not closed at all: SQLite keeps it as a
zombie, with its transaction and the write lock, until the statement is finalized by
garbage collection.

Here terminating a connection inside the event loop is a rollback and then a close,
both queued by aiosqlite behind the statement in flight, and run to their end whatever
cancellations arrive (:func:`finish_despite_cancellation`).  Outside the event loop (a
connection collected as garbage) SQLAlchemy's own terminate runs unchanged.

Engines select it with the ``sqlite+vkc_aiosqlite`` driver name
(:data:`DRIVER_NAME`); importing this module registers it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.util.concurrency import await_, in_greenlet

from vk_collector.cancellation import finish_despite_cancellation

__all__ = ["DRIVER_NAME", "SQLiteDialect"]

DRIVER_NAME = "sqlite+vkc_aiosqlite"


async def _close(driver_connection: Any) -> None:
    # ValueError: already closed ("no active connection")
    with contextlib.suppress(ValueError, sqlite3.Error):
        await driver_connection.rollback()
    with contextlib.suppress(ValueError):
        await driver_connection.close()


class SQLiteDialect(SQLiteDialect_aiosqlite):
    """aiosqlite with a terminate that closes the connection behind its statement."""

    supports_statement_cache = True

    def do_terminate(self, dbapi_connection: Any) -> None:
        if not in_greenlet():  # garbage collection: no event loop to close it on
            super().do_terminate(dbapi_connection)
            return
        await_(finish_despite_cancellation(_close(dbapi_connection.driver_connection)))


registry.register(DRIVER_NAME.replace("+", "."), __name__, "SQLiteDialect")
