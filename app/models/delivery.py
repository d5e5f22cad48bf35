"""Enrollments (a friend's walk through a scenario) and deliveries (the outbox of pushes)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow

ENROLLMENT_ACTIVE = "active"
ENROLLMENT_COMPLETED = "completed"
ENROLLMENT_STOPPED = "stopped"

DELIVERY_QUEUED = "queued"  # written by the scheduler, waiting for a sender job
DELIVERY_SENDING = "sending"  # a sender job holds it (or died holding it: the sweep resends with the same key)
DELIVERY_SENT = "sent"
DELIVERY_FAILED = "failed"
DELIVERY_HELD = "held"  # quota exhausted, sent when quota returns
DELIVERY_SKIPPED = "skipped"  # blocked / opted out / quota skip
DELIVERY_CANCELLED = "cancelled"  # the friend blocked before it went out
OPEN_DELIVERY_STATUSES = (DELIVERY_QUEUED, DELIVERY_SENDING, DELIVERY_HELD)

# Each outbox row is written three times (queued, sending, sent), never as a HOT update, so every
# version enters each index whose predicate it meets: the indexes leave out what no query looks for.
_NOT_SENT = sa.text("status IN ('queued', 'sending', 'held', 'failed', 'skipped', 'cancelled')")  # sent: by sent_at
_COUNTED = sa.text("status IN ('sent', 'failed', 'held')")  # what the statistics count per step
_SENT_AT_SET = sa.text("sent_at IS NOT NULL")
_REQUEST_KEY_SET = sa.text("request_key IS NOT NULL")


class Enrollment(Base):
    """One pass (``cycle``) of a friend through a scenario; at most one active per pair."""

    __tablename__ = "enrollments"
    __table_args__ = (
        sa.Index(
            "uq_enrollments_one_active",
            "friend_id",
            "scenario_id",
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        ),
        sa.Index(  # in the claim's ORDER BY: a burst of due rows is read in index order, never sorted
            "ix_enrollments_due",
            "next_run_at",
            "id",
            postgresql_where=sa.text("status = 'active' AND next_run_at IS NOT NULL"),
            sqlite_where=sa.text("status = 'active' AND next_run_at IS NOT NULL"),
        ),
        sa.Index("ix_enrollments_scenario_status", "scenario_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    friend_id: Mapped[int] = mapped_column(sa.ForeignKey("friends.id", ondelete="CASCADE"), index=True)
    scenario_id: Mapped[str] = mapped_column(sa.ForeignKey("scenarios.id", ondelete="CASCADE"))
    scenario_version: Mapped[int] = mapped_column(default=1)
    cycle: Mapped[int] = mapped_column(default=1)
    # times a rule's ``goto`` moved this cycle: a step revisited by a goto is a new delivery, while
    # a step claimed twice within one visit (two schedulers, a re-run) still inserts nothing
    jumps: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[str] = mapped_column(sa.String(16), default=ENROLLMENT_ACTIVE)
    stop_reason: Mapped[str | None] = mapped_column(sa.String(32))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_step_id: Mapped[str | None] = mapped_column(sa.String(100))
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_step_id: Mapped[str | None] = mapped_column(sa.String(100))
    last_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Delivery(Base):
    """One step for one friend in one cycle: the outbox row, with the retry key it is sent with."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("enrollment_id", "step_id", "cycle", "visit", name="uq_deliveries_enrollment_step_cycle"),
        sa.Index("ix_deliveries_status_due", "status", "due_at", postgresql_where=_NOT_SENT, sqlite_where=_NOT_SENT),
        sa.Index("ix_deliveries_sent_at", "sent_at", postgresql_where=_SENT_AT_SET, sqlite_where=_SENT_AT_SET),
        sa.Index("ix_deliveries_request_key", "request_key", postgresql_where=_REQUEST_KEY_SET,
                 sqlite_where=_REQUEST_KEY_SET),
        sa.Index("ix_deliveries_scenario_step", "scenario_id", "step_id", "status", postgresql_where=_COUNTED,
                 sqlite_where=_COUNTED),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enrollments.id", ondelete="CASCADE"))
    # the enrollment's friend (a test send's: the friend it was sent to); no foreign key: checking
    # one locked the friend's row for every outbox row written, and the enrollment's key cascades
    friend_id: Mapped[int] = mapped_column(index=True)
    scenario_id: Mapped[str] = mapped_column(sa.String(100))
    scenario_version: Mapped[int] = mapped_column(default=1)
    step_id: Mapped[str] = mapped_column(sa.String(100))
    cycle: Mapped[int] = mapped_column(default=1)
    visit: Mapped[int] = mapped_column(default=0, server_default="0")  # the enrollment's ``jumps`` when written
    channel: Mapped[str] = mapped_column(sa.String(64), default="default")
    priority: Mapped[int] = mapped_column(default=0)
    retry_key: Mapped[str] = mapped_column(sa.String(36))  # random, never looked up: no index to maintain
    # the X-Line-Retry-Key of the request that carries this delivery: its own key for a push, the
    # group's key for a multicast; fixed before the first attempt so every retry repeats it exactly
    request_key: Mapped[str | None] = mapped_column(sa.String(36))
    quota_reserved: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(16), default=DELIVERY_QUEUED)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    line_request_id: Mapped[str | None] = mapped_column(sa.String(64))
    error: Mapped[str | None] = mapped_column(sa.Text)
    is_test: Mapped[bool] = mapped_column(default=False)


class GoalConversion(Base):
    """A friend reached a scenario goal (counted once per enrollment cycle and goal)."""

    __tablename__ = "goal_conversions"
    __table_args__ = (sa.UniqueConstraint("enrollment_id", "goal_id", name="uq_goal_conversions_enrollment_goal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(sa.ForeignKey("enrollments.id", ondelete="CASCADE"))
    scenario_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    goal_id: Mapped[str] = mapped_column(sa.String(100))
    converted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StepReply(Base):
    """A friend's message that arrived within 24 h after a step was sent (reply statistics)."""

    __tablename__ = "step_replies"
    __table_args__ = (sa.UniqueConstraint("delivery_id", "event_id", name="uq_step_replies_delivery_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_events.id", ondelete="CASCADE"))
    scenario_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    step_id: Mapped[str] = mapped_column(sa.String(100))
    replied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
