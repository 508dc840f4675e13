"""Shared plumbing: dialect-specific upserts, statement chunking and paging."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Executable, RowMapping, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql import ColumnCollection

from vk_collector.errors import ErrorCode, ValidationError

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_PARAMETERS",
    "MAX_ROWS_PER_STATEMENT",
    "Repository",
    "build_upsert",
    "chunked",
    "dedupe",
    "page_offset",
    "page_rows",
    "record_of",
    "rows_per_statement",
    "table_of",
    "validate_page",
]

T = TypeVar("T")
R = TypeVar("R")

# Rows go to the driver in batches: SQLite executes the cached statement once per row
# (executemany) and PostgreSQL pipelines it, so a statement binds one row's parameters.
# The batch size still honours the parameter limit (SQLite 32766, asyncpg 32767) for
# any driver that folds a batch into one multi-row VALUES statement.
MAX_PARAMETERS = 30_000
MAX_ROWS_PER_STATEMENT = 500
MAX_PAGE_SIZE = 10_000

Insert = postgresql.Insert | sqlite.Insert
Overrides = Callable[[Table, ColumnCollection[str, Any]], Mapping[str, ColumnElement[Any]]]


def table_of(model: type[DeclarativeBase]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):  # pragma: no cover - every model maps one table
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(record_type: type[Any]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(record_type)
    if names is None:
        names = _FIELD_NAMES[record_type] = tuple(f.name for f in dataclasses.fields(record_type))
    return names


def record_of(record_type: type[R], row: Any, **converted: Any) -> R:
    """A frozen record (a dataclass of :mod:`..records`) whose every field is read
    from ``row`` (an ORM object or a result row) by the same name, except those given
    in ``converted``.  A field ``row`` lacks raises ``AttributeError``."""
    values = {
        name: getattr(row, name) for name in _field_names(record_type) if name not in converted
    }
    return record_type(**values, **converted)


def rows_per_statement(columns: int) -> int:
    return max(1, min(MAX_ROWS_PER_STATEMENT, MAX_PARAMETERS // max(1, columns)))


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dedupe(rows: Iterable[T], key: Callable[[T], Hashable]) -> list[T]:
    """Keep the last row per key, in first-seen order.  PostgreSQL refuses an
    ``ON CONFLICT DO UPDATE`` that touches the same row twice in one statement."""
    latest: dict[Hashable, T] = {}
    for row in rows:
        latest[key(row)] = row
    return list(latest.values())


def build_upsert(
    dialect: str,
    table: Table,
    *,
    keys: Sequence[str],
    update: Sequence[str] = (),
    overrides: Overrides | None = None,
) -> Insert:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` (``DO NOTHING`` when nothing is to
    be updated), to execute with a list of rows.  ``update`` columns take the incoming
    value; ``overrides`` computes the others from the table and ``excluded``."""
    statement: Insert
    if dialect == "postgresql":
        statement = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:
        raise ValueError(f"no upsert for dialect {dialect!r}")
    excluded = statement.excluded
    values: dict[str, Any] = {name: excluded[name] for name in update}
    if overrides is not None:
        values.update(overrides(table, excluded))
    if not values:
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    return statement.on_conflict_do_update(index_elements=list(keys), set_=values)


def validate_page(offset: int, limit: int) -> None:
    if offset < 0:
        raise ValidationError(f"offset must be >= 0, got {offset}", ErrorCode.INVALID_INPUT)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}", ErrorCode.INVALID_INPUT
        )


def page_offset(page: int, limit: int) -> int:
    if page < 1:
        raise ValidationError(f"page must be >= 1, got {page}", ErrorCode.INVALID_INPUT)
    validate_page(0, limit)
    return (page - 1) * limit


def page_rows(
    connection: Connection,
    query: Executable,
    counted: Executable,
    values: Mapping[str, Any],
    offset: int,
) -> tuple[Sequence[RowMapping], int]:
    """One page's rows and the total that matches, read on ``connection`` (a reader
    thread's).  ``query`` carries the total in a ``total`` column (one consistent read);
    only a page past the end runs ``counted``, and an empty first page needs no count."""
    rows = connection.execute(query, values).mappings().all()
    if rows:
        return rows, int(rows[0]["total"])
    if offset == 0:
        return rows, 0
    return rows, int(connection.scalar(counted, values) or 0)


class Repository:
    """Base of every repository: a session owned by the unit of work, and its dialect."""

    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self.dialect = dialect

    async def _upsert(
        self,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        keys: Sequence[str],
        update: Sequence[str] = (),
        overrides: Overrides | None = None,
    ) -> None:
        """Run one cached upsert statement over ``rows`` (all with the same columns and
        distinct keys), in batches of :func:`rows_per_statement` rows."""
        if not rows:
            return
        statement = build_upsert(self.dialect, table, keys=keys, update=update, overrides=overrides)
        for chunk in chunked(rows, rows_per_statement(len(table.columns))):
            await self.session.execute(statement, list(chunk))
