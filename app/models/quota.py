"""Monthly message quota per channel: LINE's limit, our reservations, external usage."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow


class QuotaMonth(Base):
    """One channel's allowance for one calendar month (``month`` = ``YYYY-MM`` in the quota zone)."""

    __tablename__ = "quota_months"

    channel: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    limit: Mapped[int | None] = mapped_column()  # None = unlimited (LINE type "none")
    reserved: Mapped[int] = mapped_column(default=0)  # our pushes: reserved before sending
    external: Mapped[int] = mapped_column(default=0)  # LINE's count beyond ours (OA Manager etc.)
    exhausted: Mapped[bool] = mapped_column(default=False)  # LINE said "monthly limit"
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    alert_80_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    alert_100_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class QuotaDay(Base):
    """Messages we sent per channel and local day, for the month-to-date chart."""

    __tablename__ = "quota_days"

    channel: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    sent: Mapped[int] = mapped_column(default=0)
