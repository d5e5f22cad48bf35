"""A named event for a friend (``POST /admin/api/events``): enroll into ``trigger: event:<name>``
scenarios and complete ``on: {event: <name>}`` goals, in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from app.delivery import goals
from app.delivery.enrollment import on_named_event
from app.errors import NotFound
from app.extensions import db
from app.models.friends import Friend
from app.scenarios.event_names import check_event


def record_named_event(channel: str, user_id: str, name: str, now: datetime, *,
                       at: datetime | None = None) -> dict[str, Any]:
    """What the event did: ``enrolled`` scenario ids, and ``goals`` reached when any (an ``at``
    without an offset is UTC). Unknown events are refused before anything changes."""
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    with db.transaction() as session:
        friend = session.scalars(sa.select(Friend).where(Friend.channel == channel, Friend.user_id == user_id)
                                 .with_for_update()).first()
        check_event(session, name, channel)
        if friend is None:
            raise NotFound(f"no friend {user_id!r} on channel {channel!r}")
        # goals first: the cycle this very event starts does not convert on it
        reached = goals.for_friend(session, friend.id, goals.EVENT, name, at or now)
        started = on_named_event(session, friend, name, now, at=at)
        body: dict[str, Any] = {"enrolled": [e.scenario_id for e in started]}
        if reached:  # only then: the answer stays what it was for events that reach no goal
            body["goals"] = [{"scenario": scenario, "goal": goal} for scenario, goal in reached]
    return body
