"""Read-only friend queries for the dashboard: search with filters, and one friend's history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import SteplineError
from app.models.delivery import Delivery, Enrollment
from app.models.events import WebhookEvent
from app.models.friends import Friend, FriendTag
from app.models.scenarios import Scenario
from app.pagination import Page
from app.scenarios.render import render_messages
from app.scenarios.store import definition_for


@dataclass(frozen=True)
class FriendFilter:
    """What the search form asks for; empty fields filter nothing."""

    q: str = ""
    tag: str = ""
    attribute: str = ""  # "key=value"
    status: str = ""

    def attribute_pair(self) -> tuple[str, str] | None:
        key, sep, value = self.attribute.partition("=")
        return (key.strip(), value.strip()) if sep and key.strip() else None


def _attribute_candidates(value: str) -> list[str]:
    """JSON scalars read back as text differ by database (SQLite gives 1 for true)."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return [lowered, "1" if lowered == "true" else "0"]
    return [value]


def search_friends(session: Session, flt: FriendFilter, page: int = 1, per_page: int = 50) -> Page:
    """Friends matching the filter (name substring or exact/prefix user id, tag, attribute, status)."""
    conditions: list[Any] = []
    if flt.q:
        pattern = "%" + flt.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(sa.or_(Friend.display_name.ilike(pattern, escape="\\"),
                                 Friend.user_id.startswith(flt.q, autoescape=True)))
    if flt.tag:
        conditions.append(Friend.id.in_(sa.select(FriendTag.friend_id).where(FriendTag.tag == flt.tag)))
    pair = flt.attribute_pair()
    if pair:
        conditions.append(Friend.attributes[pair[0]].as_string().in_(_attribute_candidates(pair[1])))
    if flt.status:
        conditions.append(Friend.status == flt.status)
    total = session.scalar(sa.select(sa.func.count()).select_from(Friend).where(*conditions)) or 0
    friends = list(session.scalars(
        sa.select(Friend).where(*conditions).order_by(Friend.created_at.desc(), Friend.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ))
    tags = tags_by_friend(session, [f.id for f in friends])
    return Page([(friend, tags.get(friend.id, [])) for friend in friends], page, per_page, total)


def tags_by_friend(session: Session, friend_ids: list[int]) -> dict[int, list[str]]:
    """Tags of each friend, sorted."""
    result: dict[int, list[str]] = {}
    if not friend_ids:
        return result
    rows = session.execute(
        sa.select(FriendTag.friend_id, FriendTag.tag).where(FriendTag.friend_id.in_(friend_ids)).order_by(FriendTag.tag)
    )
    for friend_id, tag in rows:
        result.setdefault(friend_id, []).append(tag)
    return result


def all_tags(session: Session) -> list[str]:
    """Every tag in use (for the filter's select box)."""
    return list(session.scalars(sa.select(FriendTag.tag).distinct().order_by(FriendTag.tag).limit(500)))


@dataclass(frozen=True)
class TimelineItem:
    """One line of a friend's history: an event LINE sent us or a delivery we sent."""

    at: datetime
    kind: str  # "event" | "delivery"
    label: str
    detail: str
    status: str
    messages: list[dict[str, Any]] = field(default_factory=list)  # LINE message objects for the bubbles


def event_messages(event: WebhookEvent) -> list[dict[str, Any]]:
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


def delivery_messages(session: Session, delivery: Delivery, friend: Friend) -> list[dict[str, Any]]:
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


def friend_timeline(session: Session, friend: Friend, limit: int = 100) -> list[TimelineItem]:
    """The friend's latest webhook events and deliveries, newest first."""
    events = session.scalars(
        sa.select(WebhookEvent).where(WebhookEvent.channel == friend.channel, WebhookEvent.user_id == friend.user_id)
        .order_by(WebhookEvent.timestamp.desc()).limit(limit)
    )
    deliveries = session.scalars(
        sa.select(Delivery).where(Delivery.friend_id == friend.id).order_by(Delivery.due_at.desc()).limit(limit)
    )
    items = [TimelineItem(e.timestamp, "event", e.type, _event_detail(e), e.status, event_messages(e))
             for e in events]
    items += [
        TimelineItem(d.sent_at or d.due_at, "delivery", f"{d.scenario_id} / {d.step_id}",
                     d.error or (f"cycle {d.cycle}" + (" · test" if d.is_test else "")), d.status,
                     delivery_messages(session, d, friend))
        for d in deliveries
    ]
    return sorted(items, key=lambda item: item.at, reverse=True)[:limit]


def friend_enrollments(session: Session, friend_id: int) -> list[tuple[Enrollment, str]]:
    """The friend's enrollments (newest first) with the scenario's name."""
    rows = session.execute(
        sa.select(Enrollment, sa.func.coalesce(Scenario.name, Enrollment.scenario_id))
        .outerjoin(Scenario, Scenario.id == Enrollment.scenario_id)
        .where(Enrollment.friend_id == friend_id).order_by(Enrollment.created_at.desc(), Enrollment.id.desc())
    )
    return list(rows)
