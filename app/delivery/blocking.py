"""A block (unfollow) stops everything for the friend in one transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery import friend_reads
from app.dialect import rowcount
from app.models.delivery import (
    DELIVERY_CANCELLED,
    ENROLLMENT_ACTIVE,
    ENROLLMENT_STOPPED,
    OPEN_DELIVERY_STATUSES,
    Delivery,
    Enrollment,
)
from app.quota import tracker

STOP_BLOCKED = "blocked"


def stop_for_block(session: Session, friend_id: int, now: datetime) -> tuple[int, int]:
    """Stop every active enrollment and cancel every unsent delivery; returns (stopped, cancelled).

    A delivery a sender already holds (``sending``) is cancelled too: the sender re-checks the
    status under lock before calling LINE, so nothing is pushed after this commits.
    """
    friend_reads.forget(session, friend_id)
    stopped = rowcount(session.execute(
        sa.update(Enrollment)
        .where(Enrollment.friend_id == friend_id, Enrollment.status == ENROLLMENT_ACTIVE)
        .values(status=ENROLLMENT_STOPPED, stop_reason=STOP_BLOCKED, next_run_at=None, finished_at=now)
    ))
    open_rows = Delivery.friend_id == friend_id, Delivery.status.in_(OPEN_DELIVERY_STATUSES)
    reserved: dict[str, list[int]] = {}
    for delivery_id, channel in session.execute(
        sa.select(Delivery.id, Delivery.channel).where(*open_rows, Delivery.quota_reserved.is_(True))
    ):
        reserved.setdefault(channel, []).append(delivery_id)
    cancelled = rowcount(session.execute(
        sa.update(Delivery).where(*open_rows).values(status=DELIVERY_CANCELLED, error="friend blocked the account")
    ))
    for channel, ids in reserved.items():  # nothing will be pushed: give their quota back
        tracker.release(session, channel, len(ids), now, delivery_ids=ids)
    return stopped, cancelled
