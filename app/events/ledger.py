"""Recording webhook events in the ledger: once per webhookEventId, whatever LINE redelivers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.events import ledger_insert
from app.line.webhook_body import MalformedWebhook, parse_body, parse_events
from app.models.events import EVENT_IGNORED, EVENT_PENDING, WebhookEvent

__all__ = ["MalformedWebhook", "RecordedBatch", "parse_body", "parse_events", "record_event_bodies", "record_events"]

HANDLED_TYPES = frozenset({"follow", "unfollow", "message", "postback"})


@dataclass(frozen=True)
class RecordedBatch:
    """What a webhook body added: friends whose new events need processing."""

    stored: int
    duplicates: int
    friends: frozenset[str]


def _row(channel: str, event: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    source: dict[str, Any] = event["source"] if isinstance(event.get("source"), dict) else {}
    source_type = source.get("type")
    user_id = source.get("userId") if source_type == "user" else None
    mode = event.get("mode")
    actionable = event["type"] in HANDLED_TYPES and source_type == "user" and user_id and mode != "standby"
    context: dict[str, Any] = event["deliveryContext"] if isinstance(event.get("deliveryContext"), dict) else {}
    return {
        "webhook_event_id": event["webhookEventId"],
        "channel": channel,
        "type": event["type"][:32],
        "source_type": source_type,
        "user_id": user_id,
        "mode": mode,
        "is_redelivery": bool(context.get("isRedelivery")),
        "timestamp": datetime.fromtimestamp(event["timestamp"] / 1000, UTC),
        "payload": dict(event),
        "received_at": now,
        "status": EVENT_PENDING if actionable else EVENT_IGNORED,
        "processed_at": None if actionable else now,
    }


def record_events(connection: Session | sa.Connection, channel: str, events: Iterable[Mapping[str, Any]],
                  now: datetime) -> RecordedBatch:
    """Insert events, skipping webhookEventIds already in the ledger (also within the body).

    Takes a Core connection (the webhook's hot path skips the ORM session) or a session.
    """
    return record_event_bodies(connection, [(channel, events)], now)[0]


def record_event_bodies(connection: Session | sa.Connection,
                        bodies: list[tuple[str, Iterable[Mapping[str, Any]]]], now: datetime) -> list[RecordedBatch]:
    """:func:`record_events` for several webhook bodies in one statement (the webhook's group
    commit); each body's answer counts only the events it was first to bring."""
    rows: dict[str, dict[str, Any]] = {}
    owners: list[list[str]] = []
    for channel, events in bodies:
        mine = []
        for event in events:
            key = event["webhookEventId"]
            if key not in rows:
                rows[key] = _row(channel, event, now)
                mine.append(key)
        owners.append(mine)
    if not rows:
        return [RecordedBatch(0, 0, frozenset()) for _ in bodies]
    if isinstance(connection, Session):
        connection = connection.connection()
    inserted = ledger_insert.insert_new(connection, list(rows.values()), now)
    answers = []
    for (_, events), mine in zip(bodies, owners, strict=True):
        total = len({event["webhookEventId"] for event in events})
        stored = [key for key in mine if key in inserted]
        friends = frozenset(rows[key]["user_id"] for key in stored if rows[key]["status"] == EVENT_PENDING)
        answers.append(RecordedBatch(len(stored), total - len(stored), friends))
    return answers


def friends_with_pending_events(session: Session, older_than: datetime, limit: int = 1000) -> list[tuple[str, str]]:
    """(channel, user_id) pairs whose events wait unprocessed since before ``older_than`` (for the sweep)."""
    statement = (
        sa.select(WebhookEvent.channel, WebhookEvent.user_id)
        .where(WebhookEvent.processed_at.is_(None), WebhookEvent.received_at < older_than)
        .group_by(WebhookEvent.channel, WebhookEvent.user_id)
        .limit(limit)
    )
    return [(channel, user_id) for channel, user_id in session.execute(statement) if user_id]
