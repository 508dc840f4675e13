"""Schema migrations, run from code (no ``alembic.ini``): the migrations ship in the
package, so :func:`migrate` works from an installed wheel.

:func:`migrate` is safe at every start-up and from many processes at once: the whole
upgrade runs in one transaction behind a lock (``BEGIN IMMEDIATE`` on SQLite, a
transaction-scoped advisory lock on PostgreSQL), so a second caller waits and then
finds the schema current.  On SQLite foreign keys are off while tables are rebuilt
and checked (``PRAGMA foreign_key_check``) before the commit.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from vk_collector.errors import ErrorCode, StorageError
from vk_collector.storage.engine import create_engine
from vk_collector.storage.models import Base

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "head_revision",
    "migrate",
    "schema_diff",
]

log = structlog.get_logger(__name__)
T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_ADVISORY_LOCK_KEY = 0x766B635F6D6967  # "vkc_mig"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise StorageError("no migrations found", ErrorCode.STORAGE_FAILED)
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _set_foreign_keys(connection: Connection, enabled: bool) -> None:
    # Outside any transaction (the driver is in autocommit mode), or SQLite ignores it.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}")
    finally:
        cursor.close()


def _upgrade(connection: Connection, revision: str) -> tuple[str | None, str | None]:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _set_foreign_keys(connection, False)
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
                )
            before = _current(connection)
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            after = _current(connection)
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise StorageError(
                        f"migration left {len(broken)} broken foreign key(s)",
                        ErrorCode.STORAGE_FAILED,
                        details={"first": [str(value) for value in broken[0]]},
                    )
    finally:
        if sqlite:
            _set_foreign_keys(connection, True)
    return before, after


_loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _process_lock() -> asyncio.Lock:
    """Alembic keeps global state while it runs: one upgrade at a time per event loop."""
    loop = asyncio.get_running_loop()
    lock = _loop_locks.get(loop)
    if lock is None:
        lock = _loop_locks[loop] = asyncio.Lock()
    return lock


async def _on_connection(url: str, work: Callable[[Connection], T]) -> T:
    """``work`` on one connection of an engine of its own, disposed afterwards (so no
    pool outlives a migration or an inspection)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (creating the SQLite file)."""
    async with _process_lock():
        before, after = await _on_connection(url, lambda c: _upgrade(c, revision))
    if before != after:
        where = make_url(url).render_as_string(hide_password=True)
        log.info("storage.migrated", database=where, before=before, after=after)


async def current_revision(url: str) -> str | None:
    """The revision the database is at; ``None`` for an empty database."""
    return await _on_connection(url, _current)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": Base.metadata}
    )
    return list(compare_metadata(context, Base.metadata))


async def schema_diff(url: str) -> list[Any]:
    """Alembic's autogenerate diff between the database and the models; ``[]`` when
    the migrated schema matches them."""
    return await _on_connection(url, _diff)
