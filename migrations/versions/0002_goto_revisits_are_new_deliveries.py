"""goto revisits are new deliveries: enrollments.jumps, deliveries.visit in the unique key

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrollments") as batch_op:
        batch_op.add_column(sa.Column("jumps", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("visit", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint("uq_deliveries_enrollment_step_cycle", type_="unique")
        batch_op.create_unique_constraint("uq_deliveries_enrollment_step_cycle",
                                          ["enrollment_id", "step_id", "cycle", "visit"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_constraint("uq_deliveries_enrollment_step_cycle", type_="unique")
        batch_op.create_unique_constraint("uq_deliveries_enrollment_step_cycle", ["enrollment_id", "step_id", "cycle"])
        batch_op.drop_column("visit")
    with op.batch_alter_table("enrollments") as batch_op:
        batch_op.drop_column("jumps")
