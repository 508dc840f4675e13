"""Engines and the :class:`Database` handle: one engine and one session factory
(and, on a SQLite file, a synchronous engine for :meth:`Database.read`).

SQLite connections get WAL, ``foreign_keys=ON``, a busy timeout and a Unicode-aware
``lower()`` (SQLite's own folds ASCII only).  Transactions on SQLite start with
``BEGIN IMMEDIATE``: a transaction that reads and then writes cannot fail with
``SQLITE_BUSY`` halfway, it waits (up to the busy timeout) for the writer before it.
A connection opened with the execution option ``read_only=True`` uses a plain
deferred ``BEGIN`` instead, so long reads never hold the write lock; one opened with
``snapshot=False`` as well sends no ``BEGIN`` at all (the driver is in autocommit
mode), so each statement reads its own snapshot (see :meth:`Database.read`).  A
connection handed back to the pool is rolled back only when a transaction is open.
JSON columns are decoded with msgspec (:func:`_json_loads`), on both backends.
The async SQLite engine runs on :mod:`vk_collector.storage.sqlite_dialect` (aiosqlite
with a terminate that cannot leave the write lock held).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import msgspec
from sqlalchemy import create_engine as _create_sync_engine
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from vk_collector.storage.sqlite_dialect import DRIVER_NAME as SQLITE_DRIVER
from vk_collector.storage.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from vk_collector.settings import Settings

__all__ = ["READER_THREADS", "SQLITE_BUSY_TIMEOUT_MS", "Database", "create_engine"]

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 15_000
READER_THREADS = 4
"""Threads (and pooled ``sqlite3`` connections) of :meth:`Database.read` per handle."""
_WAL_ATTEMPTS = 20  # ~2 s in all


def _json_loads(text: str | bytes) -> Any:
    """A JSON column's value: msgspec's decoder (a small task column decodes about
    seven times faster than with ``json.loads``, and a page of tasks has sixty of
    them), falling back to ``json.loads`` for what msgspec refuses and ``json.dumps``
    may have written (``NaN``, ``Infinity``, a lone surrogate), so every stored value
    reads back as before."""
    try:
        return msgspec.json.decode(text)
    except msgspec.MsgspecError:
        return json.loads(text)


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
    options = connection.get_execution_options()
    if not options.get("read_only", False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif options.get("snapshot", True):
        connection.exec_driver_sql("BEGIN")


def _on_sqlite_reset(dbapi_connection: Any, _record: Any, _state: Any) -> None:
    """Roll back a connection handed back to the pool only when a transaction is
    open (the pool itself is told not to: ``pool_reset_on_return=None``).  A session
    ends its transaction before it hands the connection back, so the pool's own
    unconditional ROLLBACK was a second driver round trip on every unit of work.
    SQLite reports ``in_transaction`` without a round trip (the driver connection is
    in autocommit mode, so outside BEGIN there is nothing to undo)."""
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    try:
        open_transaction = bool(driver.in_transaction)
    except Exception:  # a closed or broken driver connection: reset as the pool would
        open_transaction = True
    if open_transaction:
        dbapi_connection.rollback()


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
        engine = _create_async_engine(
            parsed.set(drivername=SQLITE_DRIVER),
            echo=echo,
            pool_timeout=pool_timeout_s,
            pool_reset_on_return=None,
            json_deserializer=_json_loads,
        )
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        event.listen(engine.sync_engine.pool, "reset", _on_sqlite_reset)
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
            json_deserializer=_json_loads,
        )
    raise ValueError(f"unsupported database backend {backend!r}; use sqlite or postgresql")


def _sqlite_read_engine(url: str, pool_timeout_s: float) -> Engine | None:
    """A synchronous engine on the same SQLite file for :meth:`Database.read`, or
    ``None`` for another backend or a database that lives in memory (a second engine
    would open a different, empty one)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    engine = _create_sync_engine(
        parsed.set(drivername="sqlite"),
        pool_size=READER_THREADS,
        max_overflow=0,
        pool_timeout=pool_timeout_s,
        pool_reset_on_return=None,
        json_deserializer=_json_loads,
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    event.listen(engine.pool, "reset", _on_sqlite_reset)
    return engine


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
        self._read_engine = _sqlite_read_engine(url, pool_timeout_s)
        self._pool_timeout_s = pool_timeout_s
        # a read waits at most pool_timeout_s for a reader thread, as a unit of work
        # waits for a pooled connection (created lazily: it binds to the running loop)
        self._reader_slots: asyncio.Semaphore | None = None
        self._readers = (
            None
            if self._read_engine is None
            else ThreadPoolExecutor(READER_THREADS, thread_name_prefix="vkc-db-read")
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

    async def read(self, query: Callable[[Connection], T], *, snapshot: bool = False) -> T:
        """``query(connection)`` on a synchronous, read-only connection; its result.

        On a SQLite file it runs in one of this handle's reader threads, with the
        standard ``sqlite3`` driver: the whole query is one hand-off to a thread and
        back, where aiosqlite makes four per statement (cursor, execute, fetch, close)
        plus a ROLLBACK, and each hand-off costs the event loop a thread switch (the
        API's list pages were three times slower).  Elsewhere (PostgreSQL, an
        in-memory SQLite) it runs on the async engine through ``run_sync``.

        ``snapshot=False`` (the default) runs the statements without a transaction:
        each one sees a consistent state of its own, two may disagree, so pass a query
        of one statement (a page with its total) or ``snapshot=True`` (a deferred
        ``BEGIN`` on SQLite: no write lock either way).  Never write in ``query``.
        Errors are the driver's and SQLAlchemy's, as for a unit of work.  A read
        waits at most ``pool_timeout_s`` for a free reader thread, then raises
        ``sqlalchemy.exc.TimeoutError`` like a pool checkout (the API answers 503): a
        database stuck on its readers is refused within seconds, never queued for as
        long as it stays stuck.
        """
        if self._read_engine is None or self._readers is None:
            async with self.engine.connect() as connection:
                options = await connection.execution_options(read_only=True, snapshot=snapshot)
                return await options.run_sync(query)
        if self._reader_slots is None:
            self._reader_slots = asyncio.Semaphore(READER_THREADS)
        slots = self._reader_slots
        try:
            if slots.locked():  # wait_for costs a task: only when there is a wait
                await asyncio.wait_for(slots.acquire(), self._pool_timeout_s)
            else:
                await slots.acquire()
        except TimeoutError:
            raise sa_exc.TimeoutError(
                f"every database reader thread stayed busy for {self._pool_timeout_s:g} s"
            ) from None
        loop = asyncio.get_running_loop()
        try:
            running = self._readers.submit(self._read_sync, query, snapshot)
        except BaseException:
            slots.release()
            raise
        # the slot is the thread's, not this coroutine's: it is given back when the
        # query ends, even if the caller was cancelled while it ran
        running.add_done_callback(lambda _: loop.call_soon_threadsafe(slots.release))
        return await asyncio.wrap_future(running)

    def _read_sync(self, query: Callable[[Connection], T], snapshot: bool) -> T:
        assert self._read_engine is not None
        with self._read_engine.connect() as connection:
            return query(connection.execution_options(read_only=True, snapshot=snapshot))

    async def dispose(self) -> None:
        """Close both pools; a :meth:`read` still running finishes first."""
        await self.engine.dispose()
        if self._readers is not None:
            readers, self._readers = self._readers, None
            await asyncio.get_running_loop().run_in_executor(None, readers.shutdown)
        if self._read_engine is not None:
            self._read_engine.dispose()

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
