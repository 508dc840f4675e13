"""The SQLAlchemy 2 models.  The migrations in ``migrations/versions`` must match them
(a test compares the two with Alembic's autogenerate on SQLite and PostgreSQL).

VK identifiers are ``BigInteger`` (user ids already pass 2**30); VK dates are unix
seconds in ``BigInteger`` columns; our own timestamps are aware UTC datetimes.
Posts are keyed by ``(owner_id, post_id)`` and comments by ``(owner_id, comment_id)``:
VK ids are unique per wall only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vk_collector.storage.records import GroupStatus, TaskGroupState, TaskStatus, TaskType

__all__ = [
    "Base",
    "Comment",
    "Group",
    "Post",
    "Task",
    "TaskGroup",
    "TaskPost",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit surrogate key on PostgreSQL; INTEGER on SQLite, where only that is a rowid alias.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; always returns aware UTC (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E], Generic[E]):
    """A ``StrEnum`` stored as its value in a VARCHAR (no native enum: migrations stay
    simple on both backends); a CHECK constraint on the table lists the values."""

    impl = String(32)
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


def _one_of(column: str, enum: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({values})", name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        _one_of("type", TaskType),
        _one_of("status", TaskStatus),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        Index(None, "status", "id"),
        Index(None, "type", "status"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[TaskType] = mapped_column(EnumText(TaskType))
    status: Mapped[TaskStatus] = mapped_column(EnumText(TaskStatus), default=TaskStatus.PENDING)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str | None] = mapped_column(String(64))
    stats: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    current_group: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (
        CheckConstraint("vk_id > 0", name="vk_id_positive"),
        _one_of("status", GroupStatus),
        Index(None, "status"),
        Index(None, "upload_task_id"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vk_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    screen_name: Mapped[str | None] = mapped_column(String(255))
    photo_50: Mapped[str | None] = mapped_column(Text)
    members_count: Mapped[int | None] = mapped_column(Integer)
    is_closed: Mapped[int] = mapped_column(Integer, default=0)
    deactivated: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[GroupStatus] = mapped_column(EnumText(GroupStatus), default=GroupStatus.VALID)
    type: Mapped[str | None] = mapped_column(String(16))
    upload_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TaskGroup(Base):
    """Per-task, per-community state: what a resumed job may skip."""

    __tablename__ = "task_groups"
    __table_args__ = (_one_of("state", TaskGroupState),)

    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    group_vk_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[TaskGroupState] = mapped_column(
        EnumText(TaskGroupState), default=TaskGroupState.PENDING
    )
    posts_done: Mapped[int] = mapped_column(Integer, default=0)
    comments_collected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Post(Base):
    """``comments_done``: the comments of this post were stored completely at least once
    (by any task).  The per-task resume marker is ``TaskPost.comments_done``."""

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("owner_id", "post_id"),
        Index(None, "first_task_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    post_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[int] = mapped_column(BigInteger)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    reposts: Mapped[int] = mapped_column(Integer, default=0)
    views: Mapped[int | None] = mapped_column(Integer)
    comments_count: Mapped[int] = mapped_column(Integer, default=0)
    is_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    first_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    comments_done: Mapped[bool] = mapped_column(Boolean, default=False)


class TaskPost(Base):
    """The posts one task collected, whichever task stored them first."""

    __tablename__ = "task_posts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["owner_id", "post_id"],
            ["posts.owner_id", "posts.post_id"],
            ondelete="CASCADE",
        ),
        Index(None, "owner_id", "post_id"),
    )

    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    post_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    comments_done: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (
        UniqueConstraint("owner_id", "comment_id"),
        ForeignKeyConstraint(
            ["owner_id", "post_id"],
            ["posts.owner_id", "posts.post_id"],
            ondelete="CASCADE",
        ),
        Index(None, "owner_id", "post_id", "comment_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    comment_id: Mapped[int] = mapped_column(BigInteger)
    post_id: Mapped[int] = mapped_column(BigInteger)
    parent_comment_id: Mapped[int | None] = mapped_column(BigInteger)
    reply_to_comment: Mapped[int | None] = mapped_column(BigInteger)
    from_id: Mapped[int] = mapped_column(BigInteger, default=0)
    text: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[int] = mapped_column(BigInteger)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    author_id: Mapped[int | None] = mapped_column(BigInteger)
    author_name: Mapped[str | None] = mapped_column(String(255))
