"""Measurement: clicks on tracked links, friend-add routes (流入経路) and who came through them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow


class LinkClick(Base):
    """One click on a tracked link; ``click_key`` makes recording idempotent (a re-drained
    Redis entry, or the database fallback, inserts once)."""

    __tablename__ = "link_clicks"
    __table_args__ = (
        sa.UniqueConstraint("click_key", name="uq_link_clicks_click_key"),
        sa.Index("ix_link_clicks_scenario_step", "scenario_id", "step_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    click_key: Mapped[str] = mapped_column(sa.String(64))
    delivery_id: Mapped[int] = mapped_column()
    enrollment_id: Mapped[int | None] = mapped_column()
    friend_id: Mapped[int] = mapped_column(index=True)
    scenario_id: Mapped[str] = mapped_column(sa.String(100))
    step_id: Mapped[str] = mapped_column(sa.String(100))
    link_index: Mapped[int] = mapped_column()
    url: Mapped[str] = mapped_column(sa.Text)
    is_test: Mapped[bool] = mapped_column(default=False)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Route(Base):
    """A friend-add route: a URL / QR code that tags the friend who comes through it."""

    __tablename__ = "routes"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    channel: Mapped[str] = mapped_column(sa.String(64), default="default")
    actions: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    visits: Mapped[int] = mapped_column(default=0, server_default="0")
    logins: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RouteLogin(Base):
    """A LINE user who logged in through a route: its actions run once, when they are a friend."""

    __tablename__ = "route_logins"
    __table_args__ = (
        sa.UniqueConstraint("channel", "user_id", "route_id", name="uq_route_logins_channel_user_route"),
        sa.Index("ix_route_logins_route", "route_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[str] = mapped_column(sa.ForeignKey("routes.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[str] = mapped_column(sa.String(64))
    logged_in_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # actions ran
    was_friend: Mapped[bool | None] = mapped_column()  # already a friend when the actions ran (not new)
