"""due index orders by (next_run_at, id): a burst of due rows is claimed in index order, no sort

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 22:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DUE = sa.text("status = 'active' AND next_run_at IS NOT NULL")


def _recreate(columns: list[str]) -> None:
    with op.batch_alter_table("enrollments") as batch_op:
        batch_op.drop_index("ix_enrollments_due", postgresql_where=DUE, sqlite_where=DUE)
        batch_op.create_index("ix_enrollments_due", columns, unique=False, postgresql_where=DUE, sqlite_where=DUE)


def upgrade() -> None:
    _recreate(["next_run_at", "id"])


def downgrade() -> None:
    _recreate(["next_run_at"])
