"""SPEC §1: the webhook endpoint — signatures, limits, ledger, dedup, the sample event zoo."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db, redis_handle
from app.models.events import EVENT_IGNORED, EVENT_PENDING, WebhookEvent
from tests.conftest import CHANNEL_SECRET
from tests.support import webhooks as wh
from workers.queues import EVENTS, get_queue


def _post(client: FlaskClient, raw: bytes, secret: str = CHANNEL_SECRET, path: str = "/callback"):
    return client.post(path, data=raw, headers=wh.signed_headers(raw, secret))


def _ledger() -> list[WebhookEvent]:
    with db.session() as session:
        return list(session.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.id)))


def test_valid_signature_stores_event_and_enqueues_processing(client: FlaskClient) -> None:
    raw = wh.body(wh.follow("U1"))
    response = _post(client, raw)
    assert response.status_code == 200
    rows = _ledger()
    assert [(row.type, row.user_id, row.status) for row in rows] == [("follow", "U1", EVENT_PENDING)]
    assert get_queue(EVENTS).count == 1


def test_invalid_signature_is_rejected_and_nothing_stored(client: FlaskClient) -> None:
    raw = wh.body(wh.follow("U1"))
    response = client.post("/callback", data=raw, headers=wh.signed_headers(raw, "wrong-secret"))
    assert response.status_code == 400
    assert _ledger() == []


def test_missing_signature_is_rejected(client: FlaskClient) -> None:
    response = client.post("/callback", data=wh.body(wh.follow("U1")), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert _ledger() == []


def test_signature_header_name_is_case_insensitive(client: FlaskClient) -> None:
    raw = wh.body(wh.follow("U1"))
    headers = {"x-line-signature": wh.signed_headers(raw, CHANNEL_SECRET)["X-Line-Signature"]}
    assert client.post("/callback", data=raw, headers=headers).status_code == 200


def test_body_over_one_mebibyte_is_413(client: FlaskClient) -> None:
    raw = wh.body(wh.text("U1", "x" * (1024 * 1024)))
    assert _post(client, raw).status_code == 413
    assert _ledger() == []


def test_oversized_body_is_drained_so_the_sender_sees_the_413(client: FlaskClient) -> None:
    raw = wh.body(wh.text("U1", "x" * (1024 * 1024)))
    stream = io.BytesIO(raw)
    response = client.post("/callback", input_stream=stream, content_length=len(raw),
                           headers=wh.signed_headers(raw, CHANNEL_SECRET))
    assert response.status_code == 413
    assert stream.tell() == len(raw)  # nothing left unread on the connection


def test_oversized_chunked_body_is_drained_too(client: FlaskClient) -> None:
    raw = wh.body(wh.text("U1", "x" * (1024 * 1024)))
    stream = io.BytesIO(raw)
    response = client.post("/callback", input_stream=stream, headers=wh.signed_headers(raw, CHANNEL_SECRET),
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert stream.tell() == len(raw)
    assert _ledger() == []


def test_malformed_json_with_valid_signature_is_400(client: FlaskClient) -> None:
    raw = b'{"destination": "U1", "events": [ {'
    response = _post(client, raw)
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed webhook body"


def test_events_not_a_list_is_400(client: FlaskClient) -> None:
    assert _post(client, b'{"destination": "U1", "events": {}}').status_code == 400


def test_empty_events_is_the_connectivity_check(client: FlaskClient) -> None:
    assert _post(client, wh.body()).status_code == 200
    assert _ledger() == []


def test_same_event_delivered_twice_is_stored_once(client: FlaskClient) -> None:
    event = wh.follow("U1")
    assert _post(client, wh.body(event)).status_code == 200
    redelivered = dict(event, deliveryContext={"isRedelivery": True})
    response = _post(client, wh.body(redelivered))
    assert response.status_code == 200
    assert response.get_json()["duplicates"] == 1
    assert len(_ledger()) == 1


def test_mixed_sample_body_is_accepted_and_sorted_into_handled_and_ignored(client: FlaskClient) -> None:
    shared_id = wh.event_id()
    events = [
        wh.follow("U1", unblocked=True),
        wh.unfollow("U2"),
        wh.text("U3", "こんにちは"),
        wh.postback("U4", "action=buy&itemid=111"),
        wh.text("U5", "group hello", source={"type": "group", "groupId": "Cgroup", "userId": "U5"}),
        wh.text("U6", "room hello", source={"type": "room", "roomId": "Rroom", "userId": "U6"}),
        wh.text("U7", "standby", mode="standby"),
        {**wh.base_event("membered", "U8"), "joined": {"members": [{"type": "user", "userId": "U8"}]}},
        wh.text("U9", "first copy", webhook_event_id=shared_id),
        wh.text("U9", "second copy", webhook_event_id=shared_id),
    ]
    response = _post(client, wh.body(*events))
    assert response.status_code == 200
    rows = {row.webhook_event_id: row for row in _ledger()}
    assert len(rows) == 9
    statuses = sorted((row.type, row.source_type, row.status) for row in rows.values())
    assert ("message", "group", EVENT_IGNORED) in statuses
    assert ("message", "room", EVENT_IGNORED) in statuses
    assert ("membered", "user", EVENT_IGNORED) in statuses
    standby = [row for row in rows.values() if row.mode == "standby"]
    assert standby[0].status == EVENT_IGNORED
    assert rows[shared_id].payload["message"]["text"] == "first copy"
    pending_users = sorted(row.user_id for row in rows.values() if row.status == EVENT_PENDING)
    assert pending_users == ["U1", "U2", "U3", "U4", "U9"]


def test_named_channel_uses_its_own_secret(client: FlaskClient) -> None:
    raw = wh.body(wh.follow("U1"))
    assert _post(client, raw, secret="shop-secret", path="/callback/shop").status_code == 200
    assert _post(client, raw, secret=CHANNEL_SECRET, path="/callback/shop").status_code == 400
    assert _ledger()[0].channel == "shop"


def test_unknown_channel_is_404(client: FlaskClient) -> None:
    assert _post(client, wh.body(wh.follow("U1")), path="/callback/nope").status_code == 404


def test_redis_down_still_stores_and_answers_200(client: FlaskClient) -> None:
    redis_handle.bind("redis://127.0.0.1:1/0")  # nothing listens there
    response = _post(client, wh.body(wh.follow("U1")))
    assert response.status_code == 200
    assert [row.status for row in _ledger()] == [EVENT_PENDING]


def test_database_down_answers_500_so_line_redelivers(client: FlaskClient, settings) -> None:
    db.bind("postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = _post(client, wh.body(wh.follow("U1")))
    assert response.status_code == 500
    db.bind(settings.database_url)
