"""Engines and the :class:`Database` handle: one engine and one session factory.

SQLite connections get WAL, ``foreign_keys=ON``, a busy timeout and a Unicode-aware
``lower()`` (SQLite's own folds ASCII only).  Transactions on SQLite start with
``BEGIN IMMEDIATE``: a transaction that reads and then writes cannot fail with
``SQLITE_BUSY`` halfway, it waits (up to the busy timeout) for the writer before it.
A connection opened with the execution option ``read_only=True`` uses a plain
deferred ``BEGIN`` instead, so long reads never hold the write lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from vk_collector.storage.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from vk_collector.settings import Settings

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "Database", "create_engine"]

SQLITE_BUSY_TIMEOUT_MS = 15_000
_WAL_ATTEMPTS = 20  # ~2 s in all


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _use_wal(cursor: Any) -> None:
    """Switch the database to WAL (a no-op once it is).  Converting a new database
    needs an exclusive lock and SQLite answers "database is locked" at once, without
    its busy handler, while another connection converts it: so wait and look again.
    The waits block the event loop, but only while a new database is being created."""
    for attempt in range(_WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when a transaction begins.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _on_sqlite_begin(connection: Connection) -> None:
    read_only = connection.get_execution_options().get("read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _ensure_sqlite_file(database: str | None) -> None:
    """Create the directory and an empty database file readable by its owner only
    (0600): it holds every collected comment.  An existing file keeps its mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_engine(
    url: str,
    *,
    echo: bool = False,
    pool_timeout_s: float = 5.0,
    connect_timeout_s: float = 5.0,
) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``.

    ``pool_timeout_s``: how long a checkout waits when every pooled connection is in
    use before ``sqlalchemy.exc.TimeoutError`` (the API answers 503);
    ``connect_timeout_s``: how long opening a PostgreSQL connection may take.
    Creates the SQLite file's directory (the file itself is created 0600); opens no
    connection.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _ensure_sqlite_file(parsed.database)
        engine = _create_async_engine(url, echo=echo, pool_timeout=pool_timeout_s)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        return engine
    if backend == "postgresql":
        return _create_async_engine(
            url,
            echo=echo,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            pool_timeout=pool_timeout_s,
            connect_args={"timeout": connect_timeout_s},
        )
    raise ValueError(f"unsupported database backend {backend!r}; use sqlite or postgresql")


class Database:
    """Owns one engine and its session factory.  No I/O until first used;
    call :meth:`dispose` (or use ``async with``) to close the pool."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.engine = create_engine(
            url, echo=echo, pool_timeout_s=pool_timeout_s, connect_timeout_s=connect_timeout_s
        )
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False, autoflush=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.database_url,
            echo=settings.database.echo,
            pool_timeout_s=settings.database.pool_timeout_s,
            connect_timeout_s=settings.database.connect_timeout_s,
        )

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def unit_of_work(self, *, read_only: bool = False) -> UnitOfWork:
        """``read_only`` only changes locking on SQLite (see :mod:`.unit_of_work`)."""
        return UnitOfWork(self.sessionmaker, self.dialect, read_only=read_only)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"
