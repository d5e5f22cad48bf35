"""Which event names scenarios listen to, so a named event nobody listens to is refused (SPEC §9)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import BadRequest
from app.models.scenarios import Scenario
from app.scenarios.checks import did_you_mean
from app.scenarios.schema import EventOn
from app.scenarios.store import definition_for


class UnknownEvent(BadRequest):
    """A named event no scenario listens to (a typo would otherwise enroll nobody, silently)."""


def known_events(session: Session, channel: str | None = None) -> list[str]:
    """Event names some scenario (of ``channel``) starts on (``trigger: event:purchase``) or whose
    live goals an event completes (``on: {event: purchase}``)."""
    query = sa.select(Scenario.trigger).where(Scenario.trigger.startswith("event:")).distinct()
    if channel is not None:
        query = query.where(Scenario.channel == channel)
    names = {trigger[6:] for trigger in session.scalars(query)}
    live = sa.select(Scenario).where(Scenario.status == "live")
    if channel is not None:
        live = live.where(Scenario.channel == channel)
    for scenario in session.scalars(live):  # goals ``on: {event: NAME}`` listen to events too
        definition = definition_for(session, scenario.id, scenario.version)
        names.update(goal.on.event for goal in definition.goals if isinstance(goal.on, EventOn))
    return sorted(names)


def check_event(session: Session, name: str, channel: str) -> None:
    """:class:`UnknownEvent` (422 on the API) naming the known events when no scenario of the
    channel listens to ``name``."""
    known = known_events(session, channel)
    if name not in known:
        hint = did_you_mean(name, known)
        raise UnknownEvent(f"unknown event {name!r}{hint}", [{
            "path": "name", "message": f"no scenario on channel {channel!r} starts on event {name!r}{hint}; "
            + (f"known events: {', '.join(known)}" if known else "no scenario starts on an event"),
            "known_events": known}])
