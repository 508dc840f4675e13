"""Comment authors: ``author_id`` and ``author_name``, as the original system stored.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Both columns are nullable: comments stored before this revision keep NULL (their
author is still ``from_id``) until a collection fetches them again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("comments", sa.Column("author_id", sa.BigInteger(), nullable=True))
    op.add_column("comments", sa.Column("author_name", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("author_name")
        batch.drop_column("author_id")
