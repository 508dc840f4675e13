"""Tasks can be cancelled: ``cancelled`` joins the allowed task statuses.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

SQLite cannot alter a CHECK constraint, so the tasks table is rebuilt from the
definition below (foreign keys are off meanwhile, see ``migrate``); PostgreSQL drops
and re-creates the constraint.  Self-contained: no application types are imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('pending', 'processing', 'completed', 'failed')"
_NEW = "status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _tasks(status_check: str) -> sa.Table:
    timestamp = sa.DateTime(timezone=True)
    return sa.Table(
        "tasks",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=True),
        sa.Column("stats", _json(), nullable=False),
        sa.Column("errors", _json(), nullable=False),
        sa.Column("parameters", _json(), nullable=False),
        sa.Column("result", _json(), nullable=True),
        sa.Column("current_group", _json(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("updated_at", timestamp, nullable=False),
        sa.Column("started_at", timestamp, nullable=True),
        sa.Column("finished_at", timestamp, nullable=True),
        sa.CheckConstraint("type IN ('fetch_comments', 'process_groups')", name="ck_tasks_type"),
        sa.CheckConstraint(status_check, name="ck_tasks_status"),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="ck_tasks_progress"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.Index("ix_tasks_created_at", "created_at"),
        sa.Index("ix_tasks_status_id", "status", "id"),
        sa.Index("ix_tasks_type_status", "type", "status"),
    )


def _change(old: str, new: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_tasks_status"), "tasks", type_="check")
        op.create_check_constraint(op.f("ck_tasks_status"), "tasks", new)
        return
    with op.batch_alter_table("tasks", copy_from=_tasks(old), recreate="always") as batch:
        batch.drop_constraint(op.f("ck_tasks_status"), type_="check")
        batch.create_check_constraint(op.f("ck_tasks_status"), new)


def upgrade() -> None:
    _change(_OLD, _NEW)


def downgrade() -> None:
    op.execute("UPDATE tasks SET status = 'failed' WHERE status = 'cancelled'")
    _change(_NEW, _OLD)
