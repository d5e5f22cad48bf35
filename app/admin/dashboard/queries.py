"""Read-only dashboard queries the services do not cover: pipeline counts, ledger rates,
RQ state, failed deliveries and the month's daily usage. No writes, no Flask."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from app import heartbeat
from app.models.delivery import (
    DELIVERY_FAILED,
    DELIVERY_HELD,
    DELIVERY_QUEUED,
    DELIVERY_SENDING,
    DELIVERY_SENT,
    ENROLLMENT_ACTIVE,
    Delivery,
    Enrollment,
)
from app.models.events import WebhookEvent
from app.models.friends import Friend
from app.models.quota import QuotaDay
from app.work import QueueState, Work, WorkerState

FAILED_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Pipeline:
    """Where the work is right now (SPEC §5 pipeline panel)."""

    due: int
    queued: int
    sending: int
    held: int
    failed_24h: int


def pipeline(session: Session, now: datetime) -> Pipeline:
    """Due enrollments and open deliveries by status; failures whose due time is within 24 h."""
    due = session.scalar(
        sa.select(sa.func.count()).select_from(Enrollment)
        .where(Enrollment.status == ENROLLMENT_ACTIVE, Enrollment.next_run_at <= now)
    ) or 0
    by_status = dict(
        session.execute(
            sa.select(Delivery.status, sa.func.count())
            .where(Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_SENDING, DELIVERY_HELD)))
            .group_by(Delivery.status)
        ).all()
    )
    failed = session.scalar(
        sa.select(sa.func.count()).select_from(Delivery)
        .where(Delivery.status == DELIVERY_FAILED, Delivery.due_at >= now - FAILED_WINDOW)
    ) or 0
    return Pipeline(due, by_status.get(DELIVERY_QUEUED, 0), by_status.get(DELIVERY_SENDING, 0),
                    by_status.get(DELIVERY_HELD, 0), failed)


def _minute_bucket(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(sa.func.date_trunc("minute", column), "YYYY-MM-DD HH24:MI")
    return sa.func.strftime("%Y-%m-%d %H:%M", column)


def events_per_minute(session: Session, now: datetime, minutes: int = 60) -> list[int]:
    """Webhook events received in each of the last ``minutes`` minutes (oldest first, UTC buckets)."""
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    bucket = _minute_bucket(session, WebhookEvent.received_at)
    rows: dict[str, int] = dict(
        session.execute(
            sa.select(bucket, sa.func.count())
            .where(WebhookEvent.received_at >= start, WebhookEvent.received_at < end)
            .group_by(bucket)
        ).all()
    )
    return [rows.get((start + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M"), 0) for i in range(minutes)]


def daily_sent(session: Session, channel: str, month: str) -> dict[int, int]:
    """``{day of month: messages sent}`` from ``quota_days`` for ``month`` (``YYYY-MM``)."""
    rows = session.execute(
        sa.select(QuotaDay.day, QuotaDay.sent).where(QuotaDay.channel == channel, QuotaDay.day.like(f"{month}-%"))
    )
    return {int(day[8:10]): sent for day, sent in rows}


@dataclass
class RqState:
    """RQ queues, workers and the scheduler heartbeat; ``error`` set when Redis is unreachable."""

    queues: list[QueueState] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    heartbeat_age: float | None = None
    error: str | None = None


def rq_state(work: Work) -> RqState:
    """Queue depths, live workers and seconds since the scheduler's last tick (``app.heartbeat``)."""
    state = RqState()
    try:
        state.queues = work.queues()
        state.workers = work.workers()
        state.heartbeat_age = heartbeat.age_seconds()
    except (RedisError, OSError) as exc:
        state.error = f"Redis unavailable ({type(exc).__name__})"
    return state


@dataclass(frozen=True)
class FailedDelivery:
    delivery: Delivery
    friend: Friend


@dataclass(frozen=True)
class Page:
    """One page of a list plus what the pager needs."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def deliveries_by_status(session: Session, status: str, page: int = 1, per_page: int = 50) -> Page:
    """Deliveries in ``status`` with their friend, most recent first: by due time, sent ones by
    send time (the status index leaves sent rows out; the send-time index holds only them)."""
    where: tuple[Any, ...] = (Delivery.status == status,)
    order: tuple[Any, ...] = (Delivery.due_at.desc(), Delivery.id.desc())
    if status == DELIVERY_SENT:
        where, order = (*where, Delivery.sent_at.is_not(None)), (Delivery.sent_at.desc(), Delivery.id.desc())
    total = session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(*where)) or 0
    rows = session.execute(
        sa.select(Delivery, Friend).join(Friend, Friend.id == Delivery.friend_id).where(*where)
        .order_by(*order).limit(per_page).offset((page - 1) * per_page)
    )
    return Page([FailedDelivery(delivery, friend) for delivery, friend in rows], page, per_page, total)


def channels_with_quota(session: Session) -> list[str]:
    """Channels that have ever had a quota month (shown even if not configured any more)."""
    from app.models.quota import QuotaMonth

    return list(session.scalars(sa.select(QuotaMonth.channel).distinct().order_by(QuotaMonth.channel)))


def scenario_names(session: Session, scenario_ids: list[str]) -> dict[str, str]:
    """``{id: name}`` for the given scenarios (missing ones are left out)."""
    from app.models.scenarios import Scenario

    if not scenario_ids:
        return {}
    return dict(session.execute(sa.select(Scenario.id, Scenario.name).where(Scenario.id.in_(scenario_ids))).all())
