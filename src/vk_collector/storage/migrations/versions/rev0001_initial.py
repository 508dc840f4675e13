"""Initial schema: tasks, groups, task_groups, posts, task_posts, comments.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Self-contained on purpose: a revision never imports application types, which change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _bigint_pk() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tasks",
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
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.Column("started_at", _timestamp(), nullable=True),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.CheckConstraint(
            "type IN ('fetch_comments', 'process_groups')", name=op.f("ck_tasks_type")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed')",
            name=op.f("ck_tasks_status"),
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_tasks_progress")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_created_at"), "tasks", ["created_at"])
    op.create_index(op.f("ix_tasks_status_id"), "tasks", ["status", "id"])
    op.create_index(op.f("ix_tasks_type_status"), "tasks", ["type", "status"])

    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("vk_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("screen_name", sa.String(length=255), nullable=True),
        sa.Column("photo_50", sa.Text(), nullable=True),
        sa.Column("members_count", sa.Integer(), nullable=True),
        sa.Column("is_closed", sa.Integer(), nullable=False),
        sa.Column("deactivated", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=True),
        sa.Column("upload_task_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.CheckConstraint("vk_id > 0", name=op.f("ck_groups_vk_id_positive")),
        sa.CheckConstraint(
            "status IN ('valid', 'invalid', 'duplicate')", name=op.f("ck_groups_status")
        ),
        sa.ForeignKeyConstraint(
            ["upload_task_id"],
            ["tasks.id"],
            name=op.f("fk_groups_upload_task_id_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("vk_id", name=op.f("uq_groups_vk_id")),
    )
    op.create_index(op.f("ix_groups_status"), "groups", ["status"])
    op.create_index(op.f("ix_groups_upload_task_id"), "groups", ["upload_task_id"])
    op.create_index(op.f("ix_groups_created_at"), "groups", ["created_at"])

    op.create_table(
        "task_groups",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("group_vk_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("posts_done", sa.Integer(), nullable=False),
        sa.Column("comments_collected", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'processing', 'done', 'failed', 'skipped')",
            name=op.f("ck_task_groups_state"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_groups_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "group_vk_id", name=op.f("pk_task_groups")),
    )

    op.create_table(
        "posts",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("date", sa.BigInteger(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("reposts", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=True),
        sa.Column("comments_count", sa.Integer(), nullable=False),
        sa.Column("is_pinned", sa.Boolean(), nullable=False),
        sa.Column("first_task_id", sa.Integer(), nullable=True),
        sa.Column("fetched_at", _timestamp(), nullable=False),
        sa.Column("comments_done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_task_id"],
            ["tasks.id"],
            name=op.f("fk_posts_first_task_id_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
        sa.UniqueConstraint("owner_id", "post_id", name=op.f("uq_posts_owner_id_post_id")),
    )
    op.create_index(op.f("ix_posts_first_task_id"), "posts", ["first_task_id"])

    op.create_table(
        "task_posts",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("comments_done", sa.Boolean(), nullable=False),
        sa.Column("linked_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id", "post_id"],
            ["posts.owner_id", "posts.post_id"],
            name=op.f("fk_task_posts_owner_id_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_posts_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "owner_id", "post_id", name=op.f("pk_task_posts")),
    )
    op.create_index(op.f("ix_task_posts_owner_id_post_id"), "task_posts", ["owner_id", "post_id"])

    op.create_table(
        "comments",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("comment_id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_comment_id", sa.BigInteger(), nullable=True),
        sa.Column("reply_to_comment", sa.BigInteger(), nullable=True),
        sa.Column("from_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("date", sa.BigInteger(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id", "post_id"],
            ["posts.owner_id", "posts.post_id"],
            name=op.f("fk_comments_owner_id_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
        sa.UniqueConstraint("owner_id", "comment_id", name=op.f("uq_comments_owner_id_comment_id")),
    )
    op.create_index(
        op.f("ix_comments_owner_id_post_id_comment_id"),
        "comments",
        ["owner_id", "post_id", "comment_id"],
    )


def downgrade() -> None:
    for table in ("comments", "task_posts", "posts", "task_groups", "groups", "tasks"):
        op.drop_table(table)
