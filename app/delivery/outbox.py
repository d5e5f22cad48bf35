"""The outbox sweep: nothing written is ever lost, whatever happened to Redis, a job or a worker.

Deliveries are found again from the database alone: ``queued`` rows whose job never ran,
``sending`` rows whose retry is due or whose worker died (its lease, ``next_attempt_at``, ran
out) and ``held`` rows once quota is back. Resent rows keep their ``request_key``: a request
that did reach LINE answers 409 and is recorded as sent, never pushed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import among
from app.models.delivery import DELIVERY_QUEUED, DELIVERY_SENDING, Delivery

REENQUEUE_AFTER = timedelta(seconds=30)  # a job normally runs well within this
SWEEP_LIMIT = 5000


def stale_deliveries(session: Session, now: datetime, *, limit: int = SWEEP_LIMIT,
                     lost_before: datetime | None = None) -> list[int]:
    """Ids of deliveries a sender should pick up but no job is known to carry, groups kept together.

    ``lost_before``: jobs handed to Redis before then are known lost (Redis restarted), so rows
    enqueued before it are taken at once instead of ``REENQUEUE_AFTER`` after their enqueue.
    """
    before = now - REENQUEUE_AFTER if lost_before is None else max(lost_before, now - REENQUEUE_AFTER)
    not_recent = sa.or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < before)
    due = sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
    lost_job = sa.and_(Delivery.status == DELIVERY_QUEUED, due, not_recent)
    retry_due = sa.and_(
        Delivery.status == DELIVERY_SENDING, Delivery.next_attempt_at <= now,
        sa.or_(not_recent, Delivery.enqueued_at < Delivery.next_attempt_at),
    )
    rows = list(session.execute(
        sa.select(Delivery.id, Delivery.request_key)
        .where(Delivery.status.in_((DELIVERY_QUEUED, DELIVERY_SENDING)), sa.or_(lost_job, retry_due))
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
    ))
    # oldest due first, each multicast group contiguous (it must land in one job)
    first_seen: dict[str, int] = {}
    for position, row in enumerate(rows):
        if row.request_key:
            first_seen.setdefault(row.request_key, position)
    order = sorted(range(len(rows)), key=lambda i: (first_seen.get(rows[i].request_key or "", i), i))
    return [rows[i].id for i in order]


def mark_enqueued(session: Session, delivery_ids: Sequence[int], now: datetime) -> None:
    """Remember when the ids were handed to a job, so the next sweep leaves them alone for a while."""
    for start in range(0, len(delivery_ids), 900):
        chunk = delivery_ids[start:start + 900]
        session.execute(sa.update(Delivery).where(among(session, Delivery.id, chunk))
                        .values(enqueued_at=now).execution_options(synchronize_session=False))
