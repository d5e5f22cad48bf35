"""conversations: message log, rule sets, handoffs, operator messages, rich menus

Incoming messages, rule replies and operator messages are logged per friend (steps are read
from the deliveries table, no second write on the sender's hot path); account-wide rule sets
with versions; handoffs to staff; an outbox for operator messages; rich menus and their links.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-01 19:56:05.042148
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rich_menus',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('line_id', sa.String(length=100), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rich_menus'))
    )
    op.create_table('rulesets',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rulesets'))
    )
    op.create_table('conversation_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('friend_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('meta', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('scenario_id', sa.String(length=100), nullable=True),
    sa.Column('ruleset_id', sa.String(length=100), nullable=True),
    sa.Column('staff', sa.String(length=200), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('reply_token', sa.String(length=200), nullable=True),
    sa.Column('token_used', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['friend_id'], ['friends.id'], name=op.f('fk_conversation_messages_friend_id_friends'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_messages'))
    )
    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_messages_friend_at', ['friend_id', 'at'], unique=False)

    op.create_table('friend_rich_menus',
    sa.Column('friend_id', sa.Integer(), nullable=False),
    sa.Column('rich_menu_id', sa.String(length=32), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['friend_id'], ['friends.id'], name=op.f('fk_friend_rich_menus_friend_id_friends'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rich_menu_id'], ['rich_menus.id'], name=op.f('fk_friend_rich_menus_rich_menu_id_rich_menus'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('friend_id', name=op.f('pk_friend_rich_menus'))
    )
    with op.batch_alter_table('friend_rich_menus', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_friend_rich_menus_rich_menu_id'), ['rich_menu_id'], unique=False)

    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('friend_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('pause_steps', sa.Boolean(), nullable=False),
    sa.Column('paused', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=200), nullable=True),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notify_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['friend_id'], ['friends.id'], name=op.f('fk_handoffs_friend_id_friends'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs'))
    )
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index('ix_handoffs_open', ['opened_at'], unique=False, postgresql_where=sa.text('closed_at IS NULL'), sqlite_where=sa.text('closed_at IS NULL'))
        batch_op.create_index('uq_handoffs_one_open', ['friend_id'], unique=True, postgresql_where=sa.text('closed_at IS NULL'), sqlite_where=sa.text('closed_at IS NULL'))

    op.create_table('operator_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('friend_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('messages', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('staff', sa.String(length=200), nullable=True),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('reply_token', sa.String(length=200), nullable=True),
    sa.Column('retry_key', sa.String(length=36), nullable=True),
    sa.Column('quota_reserved', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['friend_id'], ['friends.id'], name=op.f('fk_operator_messages_friend_id_friends'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_messages')),
    sa.UniqueConstraint('friend_id', 'idempotency_key', name='uq_operator_messages_friend_idempotency_key')
    )
    with op.batch_alter_table('operator_messages', schema=None) as batch_op:
        batch_op.create_index('ix_operator_messages_status', ['status'], unique=False, postgresql_where=sa.text("status = 'queued'"), sqlite_where=sa.text("status = 'queued'"))

    op.create_table('ruleset_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruleset_id', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('source_name', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ruleset_id'], ['rulesets.id'], name=op.f('fk_ruleset_versions_ruleset_id_rulesets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ruleset_versions')),
    sa.UniqueConstraint('ruleset_id', 'version', name='uq_ruleset_versions_ruleset_version')
    )


def downgrade() -> None:
    op.drop_table('ruleset_versions')
    with op.batch_alter_table('operator_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_operator_messages_status', postgresql_where=sa.text("status = 'queued'"), sqlite_where=sa.text("status = 'queued'"))

    op.drop_table('operator_messages')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('uq_handoffs_one_open', postgresql_where=sa.text('closed_at IS NULL'), sqlite_where=sa.text('closed_at IS NULL'))
        batch_op.drop_index('ix_handoffs_open', postgresql_where=sa.text('closed_at IS NULL'), sqlite_where=sa.text('closed_at IS NULL'))

    op.drop_table('handoffs')
    with op.batch_alter_table('friend_rich_menus', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_friend_rich_menus_rich_menu_id'))

    op.drop_table('friend_rich_menus')
    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_messages_friend_at')

    op.drop_table('conversation_messages')
    op.drop_table('rulesets')
    op.drop_table('rich_menus')
