"""outbox rows cost less to write: no retry-key index, no friend key lock, each status indexed only where searched

Every outbox row is written three times (queued, sending, sent) and none of those updates can be
HOT, so each version enters every index whose predicate it meets. The retry key is drawn at
random and never looked up; sent rows (nearly all of them) are not searched by status (the
dashboard lists them by send time), rows
on their way never by scenario and step (statistics count what settled), NULL send times and
request keys never by value. Partial indexes leave those entries out: 15 index entries per
delivered recipient instead of 24.

The foreign key from deliveries to friends goes: checking it took a KEY SHARE lock on the
friend's row for every outbox row inserted (a quarter of the insert). ``friend_id`` copies the
enrollment's friend, and the enrollment's own foreign keys still cascade a friend's removal.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NOT_SENT = sa.text("status IN ('queued', 'sending', 'held', 'failed', 'skipped', 'cancelled')")
COUNTED = sa.text("status IN ('sent', 'failed', 'held')")
SENT_AT_SET = sa.text("sent_at IS NOT NULL")
REQUEST_KEY_SET = sa.text("request_key IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_constraint("fk_deliveries_friend_id_friends", type_="foreignkey")
        batch_op.drop_constraint("uq_deliveries_retry_key", type_="unique")
        batch_op.drop_index("ix_deliveries_status_due")
        batch_op.drop_index("ix_deliveries_sent_at")
        batch_op.drop_index("ix_deliveries_request_key")
        batch_op.drop_index("ix_deliveries_scenario_step")
        batch_op.create_index("ix_deliveries_scenario_step", ["scenario_id", "step_id", "status"], unique=False,
                              postgresql_where=COUNTED, sqlite_where=COUNTED)
        batch_op.create_index("ix_deliveries_status_due", ["status", "due_at"], unique=False,
                              postgresql_where=NOT_SENT, sqlite_where=NOT_SENT)
        batch_op.create_index("ix_deliveries_sent_at", ["sent_at"], unique=False,
                              postgresql_where=SENT_AT_SET, sqlite_where=SENT_AT_SET)
        batch_op.create_index("ix_deliveries_request_key", ["request_key"], unique=False,
                              postgresql_where=REQUEST_KEY_SET, sqlite_where=REQUEST_KEY_SET)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_index("ix_deliveries_request_key", postgresql_where=REQUEST_KEY_SET, sqlite_where=REQUEST_KEY_SET)
        batch_op.drop_index("ix_deliveries_sent_at", postgresql_where=SENT_AT_SET, sqlite_where=SENT_AT_SET)
        batch_op.drop_index("ix_deliveries_status_due", postgresql_where=NOT_SENT, sqlite_where=NOT_SENT)
        batch_op.drop_index("ix_deliveries_scenario_step", postgresql_where=COUNTED, sqlite_where=COUNTED)
        batch_op.create_index("ix_deliveries_scenario_step", ["scenario_id", "step_id", "status"], unique=False)
        batch_op.create_index("ix_deliveries_request_key", ["request_key"], unique=False)
        batch_op.create_index("ix_deliveries_sent_at", ["sent_at"], unique=False)
        batch_op.create_index("ix_deliveries_status_due", ["status", "due_at"], unique=False)
        batch_op.create_unique_constraint("uq_deliveries_retry_key", ["retry_key"])
        batch_op.create_foreign_key("fk_deliveries_friend_id_friends", "friends", ["friend_id"], ["id"],
                                    ondelete="CASCADE")
