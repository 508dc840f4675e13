"""Communities: idempotent batch upserts keyed by ``vk_id``, search and paging."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    bindparam,
    delete,
    func,
    or_,
    select,
)

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.storage.models import Comment, Group, utcnow
from vk_collector.storage.records import (
    GroupCommentCount,
    GroupData,
    GroupRecord,
    GroupStats,
    GroupStatus,
    Page,
    UpsertResult,
)
from vk_collector.storage.repositories._base import (
    Repository,
    chunked,
    dedupe,
    page_offset,
    page_rows,
    record_of,
    rows_per_statement,
    table_of,
)

__all__ = ["GROUP_SORT_FIELDS", "GroupRepository", "group_page"]

GROUP_SORT_FIELDS = {
    "id": Group.id,
    "vk_id": Group.vk_id,
    "name": Group.name,
    "screen_name": Group.screen_name,
    "members_count": Group.members_count,
    "status": Group.status,
    "created_at": Group.created_at,
    "updated_at": Group.updated_at,
}
_UPDATED_ON_CONFLICT = (
    "name",
    "screen_name",
    "photo_50",
    "members_count",
    "is_closed",
    "deactivated",
    "description",
    "type",
    "status",
    "updated_at",
)


_COLUMNS = tuple(table_of(Group).c)


def _row_record(row: RowMapping) -> GroupRecord:
    """A record from a Core row of every group column (no ORM object is built)."""
    return GroupRecord(**{column.key: row[column.key] for column in _COLUMNS})


def _record(group: Group) -> GroupRecord:
    return record_of(GroupRecord, group)


def _filters(
    search: str | None, status: GroupStatus | None, upload_task_id: int | None
) -> builtins.list[ColumnElement[bool]]:
    conditions: builtins.list[ColumnElement[bool]] = []
    if search and search.strip():
        term = search.strip().lower()
        matches = [
            func.lower(Group.name).contains(term, autoescape=True),
            func.lower(Group.screen_name).contains(term, autoescape=True),
        ]
        if term.isascii() and term.isdigit() and int(term) < 2**31:
            matches += [Group.id == int(term), Group.vk_id == int(term)]
        conditions.append(or_(*matches))
    if status is not None:
        conditions.append(Group.status == GroupStatus(status))
    if upload_task_id is not None:
        conditions.append(Group.upload_task_id == upload_task_id)
    return conditions


def _bound_filters(by_status: bool, by_upload: bool) -> builtins.list[ColumnElement[bool]]:
    """:func:`_filters` without a search, as bound ``status`` and ``upload_task_id``."""
    conditions: builtins.list[ColumnElement[bool]] = []
    if by_status:
        conditions.append(Group.status == bindparam("status"))
    if by_upload:
        conditions.append(Group.upload_task_id == bindparam("upload_task_id"))
    return conditions


def _statements(
    conditions: builtins.list[ColumnElement[bool]], sort_by: str, sort_order: str
) -> tuple[Select[Any], Select[Any]]:
    """The page query (its total as an uncorrelated scalar subquery, evaluated once;
    ``count(*) OVER ()`` made SQLite read every matching row before the ``LIMIT``)
    and the count alone, with bound ``limit`` and ``offset``."""
    column = GROUP_SORT_FIELDS[sort_by]
    ordering = (column.asc() if sort_order == "asc" else column.desc()).nulls_last()
    tiebreak = Group.id.asc() if sort_order == "asc" else Group.id.desc()
    counted = select(func.count()).select_from(Group).where(*conditions)
    query = (
        select(*_COLUMNS, counted.scalar_subquery().label("total"))
        .where(*conditions)
        .order_by(ordering, tiebreak)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return query, counted


@functools.cache
def _cached_statements(
    sort_by: str, sort_order: str, by_status: bool, by_upload: bool
) -> tuple[Select[Any], Select[Any]]:
    """:func:`_statements` without a search, built once per shape (bound ``status``
    and ``upload_task_id``): building a statement and its cache key on every call
    cost the reader thread more than running it."""
    return _statements(_bound_filters(by_status, by_upload), sort_by, sort_order)


def group_page(
    connection: Connection,
    *,
    page: int = 1,
    limit: int = 20,
    search: str | None = None,
    status: GroupStatus | None = None,
    upload_task_id: int | None = None,
    sort_by: str = "id",
    sort_order: Literal["asc", "desc"] = "asc",
) -> Page[GroupRecord]:
    """A page of groups on a synchronous connection (run it with
    :meth:`Database.read`, or :meth:`GroupRepository.list` in a unit of work).

    ``search`` matches a substring of the name or screen name, ignoring case
    (Unicode-aware on both backends), and, when it is a number, the internal id or the
    VK id exactly (as the original system searched).  Missing values sort last either
    way.  One statement: the total comes with the rows, an empty first page means a
    total of 0, and only an empty later page asks for the total separately.  Reads
    columns (Core), not ORM objects.  Raises :class:`ValidationError` for an unknown
    sort field or order, or a page or limit out of range.
    """
    offset = page_offset(page, limit)
    if sort_by not in GROUP_SORT_FIELDS:
        allowed = ", ".join(sorted(GROUP_SORT_FIELDS))
        raise ValidationError(
            f"cannot sort groups by {sort_by!r}; use one of {allowed}",
            ErrorCode.INVALID_INPUT,
        )
    if sort_order not in ("asc", "desc"):
        raise ValidationError(
            f"sort order must be asc or desc, got {sort_order!r}", ErrorCode.INVALID_INPUT
        )
    values: dict[str, Any] = {"limit": limit, "offset": offset}
    if search and search.strip():
        query, counted = _statements(_filters(search, status, upload_task_id), sort_by, sort_order)
    else:
        query, counted = _cached_statements(
            sort_by, sort_order, status is not None, upload_task_id is not None
        )
        if status is not None:
            values["status"] = GroupStatus(status)
        if upload_task_id is not None:
            values["upload_task_id"] = upload_task_id
    rows, total = page_rows(connection, query, counted, values, offset)
    return Page([_row_record(row) for row in rows], total, offset, limit)


class GroupRepository(Repository):
    async def upsert_many(
        self, groups: Iterable[GroupData], *, upload_task_id: int | None = None
    ) -> UpsertResult[int]:
        """Insert new communities and refresh stored ones (status included); the
        ``upload_task_id`` and ``created_at`` of a stored community never change."""
        unique = dedupe(groups, lambda group: group.vk_id)
        now = utcnow()
        table = table_of(Group)
        inserted: set[int] = set()
        existing: set[int] = set()
        for chunk in chunked(unique, rows_per_statement(len(table.columns))):
            vk_ids = [group.vk_id for group in chunk]
            found = await self.existing_vk_ids(vk_ids)
            existing |= found
            inserted |= set(vk_ids) - found
            rows = [
                {
                    "vk_id": group.vk_id,
                    "name": group.name,
                    "screen_name": group.screen_name,
                    "photo_50": group.photo_50,
                    "members_count": group.members_count,
                    "is_closed": group.is_closed,
                    "deactivated": group.deactivated,
                    "description": group.description,
                    "type": group.type,
                    "status": group.status,
                    "upload_task_id": upload_task_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for group in chunk
            ]
            await self._upsert(table, rows, keys=["vk_id"], update=_UPDATED_ON_CONFLICT)
        return UpsertResult(frozenset(inserted), frozenset(existing))

    async def existing_vk_ids(self, vk_ids: Iterable[int]) -> set[int]:
        wanted = list(dict.fromkeys(vk_ids))
        found: set[int] = set()
        for chunk in chunked(wanted, 1000):
            result = await self.session.scalars(select(Group.vk_id).where(Group.vk_id.in_(chunk)))
            found.update(result)
        return found

    async def get(self, group_id: int) -> GroupRecord | None:
        group = await self.session.get(Group, group_id)
        return None if group is None else _record(group)

    async def get_by_ids(self, ids: Iterable[int]) -> builtins.list[GroupRecord]:
        """Stored communities among ``ids``, ordered by id; unknown ids are left out."""
        return await self._fetch_in(Group.id, ids)

    async def get_by_vk_ids(self, vk_ids: Iterable[int]) -> builtins.list[GroupRecord]:
        return await self._fetch_in(Group.vk_id, vk_ids)

    async def _fetch_in(self, column: Any, values: Iterable[int]) -> builtins.list[GroupRecord]:
        wanted = list(dict.fromkeys(values))
        records: builtins.list[GroupRecord] = []
        for chunk in chunked(wanted, 1000):
            result = await self.session.scalars(select(Group).where(column.in_(chunk)))
            records.extend(_record(group) for group in result)
        records.sort(key=lambda record: record.id)
        return records

    async def list(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        search: str | None = None,
        status: GroupStatus | None = None,
        upload_task_id: int | None = None,
        sort_by: str = "id",
        sort_order: Literal["asc", "desc"] = "asc",
    ) -> Page[GroupRecord]:
        """A page of groups (see :func:`group_page`), inside this unit of work."""
        return await self.session.run_sync(
            lambda session: group_page(
                session.connection(),
                page=page,
                limit=limit,
                search=search,
                status=status,
                upload_task_id=upload_task_id,
                sort_by=sort_by,
                sort_order=sort_order,
            )
        )

    async def _count(self, conditions: Sequence[ColumnElement[bool]]) -> int:
        total = await self.session.scalar(
            select(func.count()).select_from(Group).where(*conditions)
        )
        return int(total or 0)

    async def count(self, *, status: GroupStatus | None = None, search: str | None = None) -> int:
        return await self._count(_filters(search, status, None))

    async def stats(self, *, upload_task_id: int | None = None) -> GroupStats:
        """Counts by status; ``upload_task_id`` limits them to one upload's groups."""
        where = [] if upload_task_id is None else [Group.upload_task_id == upload_task_id]
        rows = await self.session.execute(
            select(Group.status, func.count()).where(*where).group_by(Group.status)
        )
        by_status = {GroupStatus(status): int(count) for status, count in rows}
        closed = await self.session.scalar(
            select(func.count()).select_from(Group).where(Group.is_closed != 0, *where)
        )
        return GroupStats(
            total=sum(by_status.values()),
            valid=by_status.get(GroupStatus.VALID, 0),
            invalid=by_status.get(GroupStatus.INVALID, 0),
            duplicate=by_status.get(GroupStatus.DUPLICATE, 0),
            closed=int(closed or 0),
        )

    async def count_with_comments(self) -> int:
        """How many stored communities have at least one stored comment on their wall."""
        commented = await self.session.scalar(
            select(func.count(func.distinct(Comment.owner_id))).where(
                Comment.owner_id.in_(select(-Group.vk_id))
            )
        )
        return int(commented or 0)

    async def comment_counts(self) -> builtins.list[GroupCommentCount]:
        """Every stored community with its number of stored comments (0 included)."""
        rows = await self.session.execute(
            select(Group.id, Group.vk_id, Group.name, func.count(Comment.id))
            .outerjoin(Comment, Comment.owner_id == -Group.vk_id)
            .group_by(Group.id, Group.vk_id, Group.name)
        )
        return [GroupCommentCount(pk, vk_id, name, int(n)) for pk, vk_id, name, n in rows]

    async def delete(self, group_id: int) -> bool:
        return await self.delete_many([group_id]) == 1

    async def delete_all(self) -> int:
        """Delete every community; returns how many there were (posts and comments,
        keyed by VK ids, stay)."""
        result = await self.session.execute(delete(Group).returning(Group.id))
        return len(result.all())

    async def delete_many(self, ids: Iterable[int]) -> int:
        """Delete by id; returns how many existed."""
        deleted = 0
        for chunk in chunked(list(dict.fromkeys(ids)), 1000):
            result = await self.session.execute(
                delete(Group).where(Group.id.in_(chunk)).returning(Group.id)
            )
            deleted += len(result.all())
        return deleted
