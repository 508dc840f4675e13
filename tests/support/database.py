"""Fixtures for SQLite and PostgreSQL databases.

``postgres_url`` starts a private PostgreSQL 15 for the session from Debian's binaries
(``/usr/lib/postgresql/15/bin``; set ``VKC_TEST_PG_BINDIR`` for another place).  As
root, the cluster runs as the ``postgres`` user through ``runuser``, because PostgreSQL
refuses to run as root.  ``VKC_TEST_POSTGRES_URL`` points the suite at an existing
server instead (a CI service container); every test still gets its own database.

Fixtures:

* ``postgres_url`` (session): ``postgresql+asyncpg://postgres@127.0.0.1:<port>/postgres``;
* ``postgres_databases`` (session): creates a database per test (``create(migrated=)``);
* ``sqlite_url``: a SQLite URL in ``tmp_path``, no file yet;
* ``fresh_postgres_url``: an empty PostgreSQL database of the test's own;
* ``database``: a migrated SQLite :class:`Database`, disposed after the test;
* ``database_backend``: ``"sqlite"`` then ``"postgres"`` (parametrised);
* ``any_empty_database_url`` / ``any_database_url`` / ``any_database``: an empty URL,
  a migrated URL, a migrated :class:`Database`, once per backend.  PostgreSQL copies a
  template migrated once per session; the cluster lives on tmpfs when it can, where
  ``CREATE DATABASE`` takes ~15 ms instead of ~250 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from vk_collector.embedded import free_port
from vk_collector.storage import Database, migrate

_PG_BINDIR = Path(os.environ.get("VKC_TEST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
_PG_USER = "postgres"


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temp directory, on a free port."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # On tmpfs CREATE DATABASE takes ~15 ms instead of ~250 ms on a virtual disk.
        shm = Path("/dev/shm")
        in_memory = shm.is_dir() and os.access(shm, os.W_OK)
        self.base = Path(tempfile.mkdtemp(prefix="vkc-pg-", dir=shm if in_memory else None))
        self.data = self.base / "data"
        self.port = 0
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", _PG_USER, "--", *command]
        done = subprocess.run(command, cwd=self.base, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )

    def start(self) -> str:
        if self._as_root:
            shutil.chown(self.base, _PG_USER, _PG_USER)
        self.base.chmod(0o700)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            _PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        )
        for attempt in range(3):
            self.port = free_port()
            try:
                self.start_server()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        return f"postgresql+asyncpg://{_PG_USER}@127.0.0.1:{self.port}/postgres"

    def start_server(self) -> None:
        """Start the initialised cluster on ``self.port`` (again, after ``stop_server``)."""
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"),
            "-o", options, "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop_server(self) -> None:
        """Stop the server as an outage would (clients are disconnected); files stay."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


class PostgresDatabases:
    """Creates and drops one database per test on the session's server."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.template: str | None = None

    def url_for(self, name: str) -> str:
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def _admin_dsn(self) -> str:
        url = make_url(self.server_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    async def create(self, *, migrated: bool) -> str:
        """The URL of a new database, migrated to head (a copy of a template migrated
        once per session) or empty."""
        name = f"vkc_test_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(self._admin_dsn())
        try:
            if migrated and self.template is None:
                template = f"vkc_template_{uuid.uuid4().hex[:12]}"
                await admin.execute(f'CREATE DATABASE "{template}"')
                await migrate(self.url_for(template))
                self.template = template
            source = self.template if migrated else "template0"
            # FILE_COPY (PostgreSQL 15+) clones a small template faster than WAL_LOG.
            strategy = " STRATEGY FILE_COPY" if admin.get_server_version().major >= 15 else ""
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"{strategy}')
        finally:
            await admin.close()
        return self.url_for(name)

    async def drop(self, url: str) -> None:
        await self._drop(make_url(url).database or "")

    async def _drop(self, name: str) -> None:
        admin = await asyncpg.connect(self._admin_dsn())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    def close(self) -> None:
        if self.template is not None:
            asyncio.run(self._drop(self.template))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the session's PostgreSQL server (database ``postgres``)."""
    external = os.environ.get("VKC_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    if not (_PG_BINDIR / "initdb").exists() or not (_PG_BINDIR / "pg_ctl").exists():
        pytest.fail(
            f"PostgreSQL binaries not found in {_PG_BINDIR}: install Debian's `postgresql` "
            "package (apt-get install postgresql), set VKC_TEST_PG_BINDIR, or point "
            "VKC_TEST_POSTGRES_URL at a server"
        )
    cluster = PostgresCluster(_PG_BINDIR)
    try:
        url = cluster.start()
    except Exception:
        cluster.stop()
        raise
    yield url
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_databases(postgres_url: str) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_url)
    yield databases
    databases.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL for a SQLite file that does not exist yet (unmigrated)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'vkc.db'}"


@pytest.fixture
async def fresh_postgres_url(postgres_databases: PostgresDatabases) -> AsyncIterator[str]:
    """A new, empty (unmigrated) PostgreSQL database, dropped after the test."""
    url = await postgres_databases.create(migrated=False)
    yield url
    await postgres_databases.drop(url)


@pytest.fixture
async def database(sqlite_url: str) -> AsyncIterator[Database]:
    """A migrated SQLite :class:`Database` in ``tmp_path``, disposed after the test."""
    await migrate(sqlite_url)
    db = Database(sqlite_url)
    yield db
    await db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _fresh_url(
    database_backend: str, request: pytest.FixtureRequest, sqlite_url: str, *, migrated: bool
) -> AsyncIterator[str]:
    """A fresh database URL on ``database_backend``, migrated or without tables; a
    PostgreSQL database is dropped after its test."""
    if database_backend == "sqlite":
        if migrated:
            await migrate(sqlite_url)
        yield sqlite_url
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = await databases.create(migrated=migrated)
    yield url
    await databases.drop(url)


def _fresh_url_fixture(name: str, *, migrated: bool, doc: str) -> Any:
    @pytest.fixture(name=name)
    async def fixture(
        database_backend: str, request: pytest.FixtureRequest, sqlite_url: str
    ) -> AsyncIterator[str]:
        async for url in _fresh_url(database_backend, request, sqlite_url, migrated=migrated):
            yield url

    fixture.__doc__ = doc
    return fixture


any_empty_database_url = _fresh_url_fixture(
    "any_empty_database_url",
    migrated=False,
    doc="A fresh database URL with no tables, once per backend.",
)
any_database_url = _fresh_url_fixture(
    "any_database_url", migrated=True, doc="A fresh migrated database URL, once per backend."
)


@pytest.fixture
async def any_database(any_database_url: str) -> AsyncIterator[Database]:
    """A fresh migrated :class:`Database`, on SQLite and then on PostgreSQL."""
    db = Database(any_database_url)
    yield db
    await db.dispose()
