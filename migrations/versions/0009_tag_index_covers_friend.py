"""tag index covers the friend: ``friend_tags (tag, friend_id)`` replaces ``(tag)``

"Which friends have tag T" (a filter's tag condition hashed for a count, a bulk action) is then
an index-only scan instead of a heap visit per tag row; the old index was its prefix.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02 00:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("friend_tags", schema=None) as batch_op:
        batch_op.create_index("ix_friend_tags_tag_friend_id", ["tag", "friend_id"], unique=False)
        batch_op.drop_index("ix_friend_tags_tag")


def downgrade() -> None:
    with op.batch_alter_table("friend_tags", schema=None) as batch_op:
        batch_op.create_index("ix_friend_tags_tag", ["tag"], unique=False)
        batch_op.drop_index("ix_friend_tags_tag_friend_id")
