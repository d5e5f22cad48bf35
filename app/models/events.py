"""The webhook event ledger: every event LINE sent, once, keyed by webhookEventId."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow

EVENT_PENDING = "pending"
EVENT_PROCESSED = "processed"
EVENT_IGNORED = "ignored"
EVENT_FAILED = "failed"


class WebhookEvent(Base):
    """One LINE webhook event as received; ``processed_at`` is NULL until a job handled it."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        sa.Index(
            "ix_webhook_events_pending",
            "channel",
            "user_id",
            "timestamp",
            postgresql_where=sa.text("processed_at IS NULL"),
            sqlite_where=sa.text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_event_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(64))
    type: Mapped[str] = mapped_column(sa.String(32))
    source_type: Mapped[str | None] = mapped_column(sa.String(16))
    user_id: Mapped[str | None] = mapped_column(sa.String(64))
    mode: Mapped[str | None] = mapped_column(sa.String(16))
    is_redelivery: Mapped[bool] = mapped_column(default=False)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(sa.String(16), default=EVENT_PENDING)
    error: Mapped[str | None] = mapped_column(sa.Text)
