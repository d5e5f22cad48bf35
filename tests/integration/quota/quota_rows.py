"""Row factories for the quota tests (friends, scenarios, deliveries) and a fixed mid-month instant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.extensions import db
from app.models.delivery import DELIVERY_HELD, Delivery, Enrollment
from app.models.friends import Friend
from app.models.scenarios import Scenario

# 2026-03-15 12:00 JST: mid-month in the quota time zone
MID_MARCH = datetime(2026, 3, 15, 3, 0, tzinfo=UTC)


class Rows:
    """Factories for the rows quota code reads."""

    def __init__(self) -> None:
        self.counter = 0

    def friend(self, channel: str = "default") -> int:
        self.counter += 1
        with db.transaction() as session:
            friend = Friend(channel=channel, user_id=f"U{uuid.uuid4().hex}", display_name=f"f{self.counter}")
            session.add(friend)
            session.flush()
            return friend.id

    def scenario(self, scenario_id: str, priority: int = 0, channel: str = "default") -> str:
        with db.transaction() as session:
            session.add(Scenario(id=scenario_id, name=scenario_id, channel=channel, priority=priority,
                                 status="live"))
        return scenario_id

    def delivery(self, *, due_at: datetime, status: str = DELIVERY_HELD, priority: int = 0,
                 scenario_id: str = "s", channel: str = "default", step_id: str = "one", **extra: Any) -> int:
        friend_id = self.friend(channel)
        with db.transaction() as session:
            if session.get(Scenario, scenario_id) is None:
                session.add(Scenario(id=scenario_id, name=scenario_id, channel=channel, priority=priority,
                                     status="live"))
                session.flush()
            enrollment = Enrollment(friend_id=friend_id, scenario_id=scenario_id, start_at=due_at,
                                    status="completed")
            session.add(enrollment)
            session.flush()
            delivery = Delivery(enrollment_id=enrollment.id, friend_id=friend_id, scenario_id=scenario_id,
                                step_id=step_id, channel=channel, priority=priority,
                                retry_key=str(uuid.uuid4()), status=status, due_at=due_at, **extra)
            session.add(delivery)
            session.flush()
            return delivery.id
