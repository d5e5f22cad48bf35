"""A small but realistic data set so the dashboard (and its screenshots) look like production."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.extensions import db, redis_handle
from app.heartbeat import SCHEDULER_HEARTBEAT_KEY
from app.models.base import utcnow
from app.models.delivery import Delivery, Enrollment, StepReply
from app.models.events import WebhookEvent
from app.models.friends import Friend, FriendTag
from app.models.quota import QuotaDay, QuotaMonth
from app.quota.months import local, month_key

LIMIT, RESERVED, EXTERNAL = 5000, 3900, 120
LINE_ERRORS = [
    "The property, 'to', in the request body is invalid (line 1, column 7)",
    "Failed to send messages: Invalid reply token",
    "The user hasn't added the LINE Official Account as a friend.",
]
NAMES = ["山田太郎", "佐藤花子", "鈴木一郎", "高橋美咲", "田中健", "伊藤さくら", "渡辺翔", "Emily Clark"]


@dataclass(frozen=True)
class Seeded:
    failed_delivery_id: int
    friend_id: int


def seed(timezone: str = "Asia/Tokyo") -> Seeded:
    now = utcnow()
    today = local(now, timezone)
    month = month_key(now, timezone)
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month=month, limit=LIMIT, reserved=RESERVED, external=EXTERNAL))
        days = today.day
        for day in range(1, days + 1):
            sent = RESERVED * (8 + (day * 7) % 5) // (10 * days) if days else RESERVED
            session.add(QuotaDay(channel="default", day=f"{month}-{day:02d}", sent=sent))
        friends = []
        for i, name in enumerate(NAMES):
            friend = Friend(channel="default", user_id=f"U{uuid.uuid4().hex}", display_name=name,
                            status="blocked" if i == 6 else "active", followed_at=now - timedelta(days=9 - i),
                            last_message_at=now - timedelta(hours=i * 5), opted_out=(i == 5),
                            attributes={"member": i % 2 == 0, "plan": ["gold", "silver"][i % 2]})
            session.add(friend)
            friends.append(friend)
        session.flush()
        for i, friend in enumerate(friends):
            if i % 3 == 0:
                session.add(FriendTag(friend_id=friend.id, tag="vip"))
            session.add(FriendTag(friend_id=friend.id, tag="campaign-2026"))
        for minute in range(60):
            for k in range((minute * 13) % 7):
                friend = friends[(minute + k) % len(friends)]
                at = now - timedelta(minutes=minute, seconds=k)
                session.add(WebhookEvent(webhook_event_id=f"seed-{minute}-{k}", channel="default",
                                         type="message" if k % 3 else "follow", source_type="user",
                                         user_id=friend.user_id, timestamp=at, received_at=at, status="processed",
                                         payload={"message": {"type": "text", "text": "詳しく"}}))
        failed_ids = []
        for i, friend in enumerate(friends[:3]):
            delivery = Delivery(friend_id=friend.id, scenario_id="welcome", step_id="thanks",
                                retry_key=str(uuid.uuid4()), status="failed", attempts=i + 1,
                                due_at=now - timedelta(hours=i + 1), error=LINE_ERRORS[i])
            session.add(delivery)
            session.flush()
            failed_ids.append(delivery.id)
    mark_scheduler_alive()
    return Seeded(failed_delivery_id=failed_ids[0], friend_id=friends[0].id)


def mark_scheduler_alive() -> None:
    """A scheduler heartbeat one second old."""
    redis_handle.client.set(SCHEDULER_HEARTBEAT_KEY, f"{time.time() - 1:.3f}")


def seed_activity(scenario_id: str = "welcome") -> None:
    """Enrollments and sent deliveries for an uploaded scenario (its step table has numbers then)."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        friends = list(session.scalars(sa.select(Friend).order_by(Friend.id)))
        events = list(session.scalars(sa.select(WebhookEvent.id).limit(3)))
        for i, friend in enumerate(friends):
            blocked = friend.status == "blocked"
            enrollment = Enrollment(
                friend_id=friend.id, scenario_id=scenario_id, start_at=now - timedelta(days=2),
                status="stopped" if blocked else ("active" if i % 4 else "completed"),
                stop_reason="blocked" if blocked else None, next_step_id=None if blocked else "tips",
                next_run_at=None if blocked else now + timedelta(hours=i))
            session.add(enrollment)
            session.flush()
            delivery = Delivery(enrollment_id=enrollment.id, friend_id=friend.id, scenario_id=scenario_id,
                                step_id="thanks", status="sent", retry_key=str(uuid.uuid4()),
                                due_at=now - timedelta(days=2), sent_at=now - timedelta(days=2))
            session.add(delivery)
            session.flush()
            if i < len(events):
                session.add(StepReply(delivery_id=delivery.id, event_id=events[i], scenario_id=scenario_id,
                                      step_id="thanks"))
