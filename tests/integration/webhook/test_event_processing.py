"""Friend state from events: follow/unfollow/follow, out-of-order arrival, duplicates, Redis outages."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db, redis_handle
from app.models.events import EVENT_PENDING, EVENT_PROCESSED, WebhookEvent
from app.models.friends import FRIEND_ACTIVE, FRIEND_BLOCKED, Friend
from tests.conftest import CHANNEL_SECRET
from tests.support import webhooks as wh
from tests.support.rq import drain_queues
from workers import event_jobs
from workers.periodic import sweep_events

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def _post(client: FlaskClient, *events: dict) -> None:
    raw = wh.body(*events)
    assert client.post("/callback", data=raw, headers=wh.signed_headers(raw, CHANNEL_SECRET)).status_code == 200


def _friend(user_id: str) -> Friend:
    with db.session() as session:
        return session.scalars(sa.select(Friend).where(Friend.user_id == user_id)).one()


def _statuses() -> list[str]:
    with db.session() as session:
        return list(session.scalars(sa.select(WebhookEvent.status).order_by(WebhookEvent.id)))


def test_follow_unfollow_follow_transitions(client: FlaskClient) -> None:
    _post(client, wh.follow("U1", ts=T0))
    drain_queues()
    friend = _friend("U1")
    assert friend.status == FRIEND_ACTIVE and friend.followed_at is not None and friend.blocked_at is None

    _post(client, wh.unfollow("U1", ts=T0 + 1000))
    drain_queues()
    friend = _friend("U1")
    assert friend.status == FRIEND_BLOCKED and friend.blocked_at is not None

    _post(client, wh.follow("U1", ts=T0 + 2000, unblocked=True))
    drain_queues()
    friend = _friend("U1")
    assert friend.status == FRIEND_ACTIVE
    assert int(friend.followed_at.timestamp() * 1000) == T0 + 2000
    assert set(_statuses()) == {EVENT_PROCESSED}


def test_events_out_of_order_in_one_body_are_applied_by_timestamp(client: FlaskClient) -> None:
    _post(client, wh.unfollow("U1", ts=T0 + 1000), wh.follow("U1", ts=T0))
    drain_queues()
    assert _friend("U1").status == FRIEND_BLOCKED


def test_older_follow_arriving_after_a_newer_block_does_not_unblock(client: FlaskClient) -> None:
    _post(client, wh.unfollow("U1", ts=T0 + 5000))
    drain_queues()
    _post(client, wh.follow("U1", ts=T0))
    drain_queues()
    friend = _friend("U1")
    assert friend.status == FRIEND_BLOCKED
    assert friend.followed_at is not None


def test_message_updates_last_message_at_monotonically(client: FlaskClient) -> None:
    _post(client, wh.text("U1", "later", ts=T0 + 9000), wh.text("U1", "earlier", ts=T0))
    drain_queues()
    assert int(_friend("U1").last_message_at.timestamp() * 1000) == T0 + 9000


def test_processing_twice_and_in_parallel_handles_each_event_once(client: FlaskClient) -> None:
    _post(client, *[wh.text("U1", f"m{i}", ts=T0 + i) for i in range(20)])
    threads = [threading.Thread(target=event_jobs.process_friend_events, args=("default", "U1")) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _statuses() == [EVENT_PROCESSED] * 20
    assert event_jobs.process_friend_events("default", "U1") == 0


def test_redis_down_during_webhooks_then_sweep_processes_everything(client: FlaskClient, redis_url: str) -> None:
    redis_handle.bind("redis://127.0.0.1:1/0")
    _post(client, wh.follow("U1", ts=T0), wh.follow("U2", ts=T0))
    _post(client, wh.text("U1", "hi", ts=T0 + 1))
    assert set(_statuses()) == {EVENT_PENDING}
    redis_handle.bind(redis_url)
    assert sweep_events(grace_seconds=0) == 2
    drain_queues()
    assert set(_statuses()) == {EVENT_PROCESSED}
    assert _friend("U2").status == FRIEND_ACTIVE
