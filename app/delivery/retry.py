"""Failed deliveries for admins: the list, and a retry: queued again under a NEW retry key.

LINE refused (or we gave up on) the old request, so its key must not be reused: a new key is a
new request. The sweep hands the row to a sender within seconds.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound
from app.models.delivery import DELIVERY_FAILED, DELIVERY_QUEUED, Delivery
from app.models.friends import Friend

log = logging.getLogger(__name__)


def requeue_failed(session: Session, delivery_id: int, now: datetime) -> Delivery:
    """Put a ``failed`` delivery back in the outbox; NotFound / Conflict for other rows."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    if delivery.status != DELIVERY_FAILED:
        raise Conflict(f"delivery {delivery_id} is {delivery.status}; only failed deliveries can be retried")
    delivery.status = DELIVERY_QUEUED
    delivery.retry_key = str(uuid.uuid4())
    delivery.request_key = None
    delivery.attempts = 0
    delivery.next_attempt_at = None
    delivery.enqueued_at = None  # the next sweep picks it up
    delivery.error = None
    log.info("delivery %s retried by an admin with a new retry key", delivery_id)
    return delivery


def list_deliveries(session: Session, *, status: str | None = None, scenario_id: str | None = None,
                    limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first, with the friend's user id and LINE's error (the failed-deliveries list)."""
    statement = (sa.select(Delivery, Friend.user_id).join(Friend, Friend.id == Delivery.friend_id)
                 .order_by(Delivery.id.desc()).limit(max(1, min(limit, 1000))))
    if status:
        statement = statement.where(Delivery.status == status)
    if scenario_id:
        statement = statement.where(Delivery.scenario_id == scenario_id)
    if before_id:
        statement = statement.where(Delivery.id < before_id)
    return [delivery_dict(row.Delivery, row.user_id) for row in session.execute(statement)]


def delivery_dict(delivery: Delivery, user_id: str | None = None) -> dict[str, Any]:
    """The JSON shape of a delivery (no message bodies: they are rendered at send time)."""
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": delivery.id, "scenario_id": delivery.scenario_id, "step_id": delivery.step_id,
        "cycle": delivery.cycle, "channel": delivery.channel, "user_id": user_id, "status": delivery.status,
        "attempts": delivery.attempts, "error": delivery.error, "is_test": delivery.is_test,
        "due_at": iso(delivery.due_at), "sent_at": iso(delivery.sent_at),
        "next_attempt_at": iso(delivery.next_attempt_at),
        "line_request_id": delivery.line_request_id,
    }
