"""Scenarios as uploaded: the current state and every version's definition."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow

SCENARIO_DRAFT = "draft"
SCENARIO_LIVE = "live"
SCENARIO_PAUSED = "paused"
SCENARIO_ERROR = "error"
SCENARIO_STATUSES = (SCENARIO_DRAFT, SCENARIO_LIVE, SCENARIO_PAUSED, SCENARIO_ERROR)


class Scenario(Base):
    """A scenario's identity and lifecycle; its content lives in :class:`ScenarioVersion`."""

    __tablename__ = "scenarios"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    channel: Mapped[str] = mapped_column(sa.String(64), default="default")
    status: Mapped[str] = mapped_column(sa.String(16), default=SCENARIO_DRAFT)
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    priority: Mapped[int] = mapped_column(default=0)
    trigger: Mapped[str] = mapped_column(sa.String(100), default="follow")
    version: Mapped[int] = mapped_column(default=1)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ScenarioVersion(Base):
    """An immutable uploaded definition (normalised JSON) plus the source text it came from."""

    __tablename__ = "scenario_versions"
    __table_args__ = (sa.UniqueConstraint("scenario_id", "version", name="uq_scenario_versions_scenario_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario_id: Mapped[str] = mapped_column(sa.ForeignKey("scenarios.id", ondelete="CASCADE"))
    version: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source: Mapped[str] = mapped_column(sa.Text)
    source_name: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
