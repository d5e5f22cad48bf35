"""What staff watch, read in the caller's session: pipeline counts, webhook traffic per minute,
deliveries by status, the month's daily usage and the next send of each scenario."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

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
from app.pagination import Page

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


@dataclass(frozen=True)
class FailedDelivery:
    delivery: Delivery
    friend: Friend


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
