"""The ledger insert on the driver's cursor (app/events/ledger_insert.py) stores what the ORM
would: the same values back through the ORM, and the same text for SQLite's comparisons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.events.ledger import friends_with_pending_events, record_event_bodies
from app.extensions import db
from app.models.events import EVENT_IGNORED, EVENT_PENDING, WebhookEvent
from tests.support import webhooks as wh

NOW = datetime(2026, 12, 2, 9, 30, 15, 123456, tzinfo=UTC)


def test_stored_rows_read_back_as_the_orm_writes_them(app) -> None:
    follow = wh.follow("Uledger1", ts=1_764_667_815_042, redelivery=True)
    group = wh.text("Uledger2", "こんにちは\u3000", source={"type": "group", "groupId": "Cgroup", "userId": "Uledger2"})
    with db.webhook_write() as connection:
        [batch] = record_event_bodies(connection, [("shop", [follow, group, follow])], NOW)
    assert (batch.stored, batch.duplicates, batch.friends) == (2, 0, frozenset({"Uledger1"}))
    with db.session() as session:
        rows = {row.webhook_event_id: row for row in session.scalars(sa.select(WebhookEvent))}
    stored = rows[follow["webhookEventId"]]
    assert (stored.channel, stored.type, stored.source_type, stored.user_id, stored.mode, stored.is_redelivery,
            stored.status, stored.processed_at) == ("shop", "follow", "user", "Uledger1", "active", True,
                                                    EVENT_PENDING, None)
    assert stored.timestamp == datetime(2025, 12, 2, 9, 30, 15, 42000, tzinfo=UTC)
    assert (stored.received_at, stored.payload) == (NOW, follow)
    ignored = rows[group["webhookEventId"]]
    assert (ignored.user_id, ignored.status, ignored.processed_at, ignored.payload["message"]["text"]) == (
        None, EVENT_IGNORED, NOW, "こんにちは\u3000")


def test_a_redelivered_event_is_stored_once_across_batches(app) -> None:
    event = wh.follow("Uledger3")
    with db.webhook_write() as connection:
        first, second = record_event_bodies(connection, [("default", [event]), ("default", [event])], NOW)
    with db.webhook_write() as connection:
        [third] = record_event_bodies(connection, [("default", [event])], NOW)
    assert [(b.stored, b.duplicates) for b in (first, second, third)] == [(1, 0), (0, 1), (0, 1)]


def test_stored_times_compare_as_the_orms_do(app) -> None:
    with db.webhook_write() as connection:
        record_event_bodies(connection, [("default", [wh.follow("Uledger4")])], NOW)
    with db.session() as session:
        assert friends_with_pending_events(session, NOW + timedelta(microseconds=1)) == [("default", "Uledger4")]
        assert friends_with_pending_events(session, NOW) == []


def test_a_batch_larger_than_one_statement_stores_every_event(app) -> None:
    events = [wh.follow(f"Ubulk{i}") for i in range(1_201)]  # three SQLite statements
    with db.webhook_write() as connection:
        [batch] = record_event_bodies(connection, [("default", events + events[:3])], NOW)
    assert (batch.stored, batch.duplicates, len(batch.friends)) == (1_201, 0, 1_201)
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) == 1_201
