"""The dashboard's page of one friend (SPEC §8): profile, tags, fields, enrollments and a merged
event/delivery timeline, read in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import SteplineError
from app.extensions import db
from app.friends.fields import defined_fields
from app.models.delivery import Delivery, Enrollment
from app.models.events import WebhookEvent
from app.models.friends import Friend, FriendTag
from app.models.scenarios import Scenario
from app.scenarios.render import render_messages
from app.scenarios.store import definition_for
from app.services.conversations import friend_conversation_state
from app.services.fields import field_json


@dataclass(frozen=True)
class TimelineItem:
    """One line of a friend's history: an event LINE sent us or a delivery we sent."""

    at: datetime
    kind: str  # "event" | "delivery"
    label: str
    detail: str
    status: str
    messages: list[dict[str, Any]] = field(default_factory=list)  # LINE message objects for the bubbles


@dataclass(frozen=True)
class FriendPage:
    """What the page shows; the rows are loaded (no lazy relationship is read after the commit)."""

    friend: Friend
    tags: list[str]
    enrollments: list[tuple[Enrollment, str]]  # newest first, with the scenario's name
    timeline: list[TimelineItem]
    fields: list[dict[str, Any]]  # field JSON, archived ones left out
    conversation: dict[str, Any]  # ``handoff`` and ``rich_menu``


def friend_page(friend_id: int) -> FriendPage | None:
    """Everything the friend page shows; None when there is no such friend."""
    with db.read() as session:
        row = session.get(Friend, friend_id)
        if row is None:
            return None
        tags = list(session.scalars(sa.select(FriendTag.tag).where(FriendTag.friend_id == friend_id)
                                    .order_by(FriendTag.tag)))
        return FriendPage(row, tags, _enrollments(session, friend_id), _timeline(session, row),
                          [field_json(f) for f in defined_fields(session)], friend_conversation_state(session, row))


def _event_messages(event: WebhookEvent) -> list[dict[str, Any]]:
    """What the friend sent, as LINE message objects (text, sticker, image...) for a bubble."""
    payload = event.payload or {}
    message = payload.get("message") if event.type == "message" else None
    if not isinstance(message, dict):
        return []
    kind = message.get("type")
    if kind == "text":
        return [{"type": "text", "text": str(message.get("text") or "")}]
    if kind == "sticker":
        return [{"type": "sticker", "packageId": message.get("packageId"), "stickerId": message.get("stickerId")}]
    if kind == "image":
        return [{"type": "image", "originalContentUrl": f"message {message.get('id', '')}"}]
    return [{"type": str(kind)}]


def _delivery_messages(session: Session, delivery: Delivery, friend: Friend) -> list[dict[str, Any]]:
    """The step's messages as this friend got them (their name and attributes filled in);
    empty when the version or step is gone."""
    try:
        scn = definition_for(session, delivery.scenario_id, delivery.scenario_version)
        step = scn.steps[scn.step_index(delivery.step_id)]
    except (KeyError, ValueError, LookupError, SteplineError):
        return []
    return render_messages(step.messages, display_name=friend.display_name, attributes=friend.attributes or {})


def _event_detail(event: WebhookEvent) -> str:
    payload = event.payload or {}
    if event.type == "message":
        message = payload.get("message") or {}
        return str(message.get("text") or message.get("type") or "")
    if event.type == "postback":
        return str((payload.get("postback") or {}).get("data") or "")
    return ""


def _timeline(session: Session, friend: Friend, limit: int = 100) -> list[TimelineItem]:
    """The friend's latest webhook events and deliveries, newest first."""
    events = session.scalars(
        sa.select(WebhookEvent).where(WebhookEvent.channel == friend.channel, WebhookEvent.user_id == friend.user_id)
        .order_by(WebhookEvent.timestamp.desc()).limit(limit)
    )
    deliveries = session.scalars(
        sa.select(Delivery).where(Delivery.friend_id == friend.id).order_by(Delivery.due_at.desc()).limit(limit)
    )
    items = [TimelineItem(e.timestamp, "event", e.type, _event_detail(e), e.status, _event_messages(e))
             for e in events]
    items += [
        TimelineItem(d.sent_at or d.due_at, "delivery", f"{d.scenario_id} / {d.step_id}",
                     d.error or (f"cycle {d.cycle}" + (" · test" if d.is_test else "")), d.status,
                     _delivery_messages(session, d, friend))
        for d in deliveries
    ]
    return sorted(items, key=lambda item: item.at, reverse=True)[:limit]


def _enrollments(session: Session, friend_id: int) -> list[tuple[Enrollment, str]]:
    """The friend's enrollments (newest first) with the scenario's name."""
    rows = session.execute(
        sa.select(Enrollment, sa.func.coalesce(Scenario.name, Enrollment.scenario_id))
        .outerjoin(Scenario, Scenario.id == Enrollment.scenario_id)
        .where(Enrollment.friend_id == friend_id).order_by(Enrollment.created_at.desc(), Enrollment.id.desc())
    )
    return [(enrollment, name) for enrollment, name in rows]
