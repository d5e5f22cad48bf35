"""measurement: link clicks, friend-add routes and their logins, the friend's first route

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "link_clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("click_key", sa.String(64), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.String(100), nullable=False),
        sa.Column("step_id", sa.String(100), nullable=False),
        sa.Column("link_index", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_link_clicks"),
        sa.UniqueConstraint("click_key", name="uq_link_clicks_click_key"),
    )
    op.create_index("ix_link_clicks_scenario_step", "link_clicks", ["scenario_id", "step_id"])
    op.create_index("ix_link_clicks_friend_id", "link_clicks", ["friend_id"])
    op.create_table(
        "routes",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("visits", sa.Integer(), server_default="0", nullable=False),
        sa.Column("logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_routes"),
    )
    op.create_table(
        "route_logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route_id", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("logged_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("was_friend", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["route_id"], ["routes.id"], name="fk_route_logins_route_id_routes",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_route_logins"),
        sa.UniqueConstraint("channel", "user_id", "route_id", name="uq_route_logins_channel_user_route"),
    )
    op.create_index("ix_route_logins_route", "route_logins", ["route_id"])
    with op.batch_alter_table("friends") as batch_op:
        batch_op.add_column(sa.Column("route", sa.String(100), nullable=True))
        batch_op.create_index("ix_friends_route", ["route"])


def downgrade() -> None:
    with op.batch_alter_table("friends") as batch_op:
        batch_op.drop_index("ix_friends_route")
        batch_op.drop_column("route")
    op.drop_index("ix_route_logins_route", table_name="route_logins")
    op.drop_table("route_logins")
    op.drop_table("routes")
    op.drop_index("ix_link_clicks_friend_id", table_name="link_clicks")
    op.drop_index("ix_link_clicks_scenario_step", table_name="link_clicks")
    op.drop_table("link_clicks")
