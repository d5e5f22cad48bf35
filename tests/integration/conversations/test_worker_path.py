"""The whole path with real RQ jobs: a signed webhook → worker → reply at LINE, handoff notice to staff."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models.events import WebhookEvent
from linesim.testing import SimulatorHandle
from tests.conftest import CHANNEL_SECRET
from tests.integration.conversations.test_handoff import _Receiver, receiver  # noqa: F401 - fixture
from tests.support import webhooks as wh
from tests.support.rq import drain_queues

USER = "U" + "d" * 32
RULESET = """id: base
name: base
rules:
  - when: {keyword: [担当者]}
    do: [{reply: [{text: "おつなぎします"}]}, {handoff: {note: "相談"}}]
"""


@pytest.fixture()
def env(env: dict[str, str], sim: SimulatorHandle, receiver: str) -> Iterator[dict[str, str]]:  # noqa: F811
    yield {**env, "LINE_API_BASE_URL": sim.base_url, "STAFF_WEBHOOK_URL": receiver,
           "STAFF_WEBHOOK_SECRET": "hook-secret"}


def test_webhook_to_reply_and_signed_staff_notice(client: FlaskClient, admin_headers: dict[str, str],
                                                  sim: SimulatorHandle) -> None:
    assert client.put("/admin/api/rulesets/base", data=RULESET, headers=admin_headers).status_code == 201
    event = wh.text(USER, "担当者")
    event["replyToken"] = sim.reply_token(USER)
    raw = wh.body(event)
    assert client.post("/callback", data=raw, headers=wh.signed_headers(raw, CHANNEL_SECRET)).status_code == 200
    drain_queues()
    [reply] = sim.deliveries(to=USER, endpoint="reply")
    assert reply["messages"] == [{"type": "text", "text": "おつなぎします"}]
    [(headers, body)] = _Receiver.received
    assert headers["x-stepline-signature"] == "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    assert json.loads(body)["user_id"] == USER
    assert [h["user_id"] for h in client.get("/admin/api/handoffs", headers=admin_headers).json] == [USER]


ECHO = """id: echo
name: echo
rules:
  - when: {keyword: [hello]}
    do: [{reply: [{text: "hi"}]}]
"""


def test_a_drain_answers_every_friend_of_its_batch_once_and_one_failing_friend_holds_back_no_other(
        client: FlaskClient, admin_headers: dict[str, str], sim: SimulatorHandle,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from app.services import events as event_service

    assert client.put("/admin/api/rulesets/echo", data=ECHO, headers=admin_headers).status_code == 201
    users = [f"U{i:032x}" for i in range(12)]
    bad = users[5]
    real_process = event_service._process

    def failing_for_one(session, friend, events, now, **kwargs):  # type: ignore[no-untyped-def]
        if friend.user_id == bad:
            raise RuntimeError("this friend's row cannot be handled")
        return real_process(session, friend, events, now, **kwargs)

    monkeypatch.setattr(event_service, "_process", failing_for_one)
    events = []
    for user in users:
        event = wh.text(user, "hello")
        event["replyToken"] = sim.reply_token(user)
        events.append(event)
    raw = wh.body(*events)  # one webhook: every friend lands in the drains' batches together
    assert client.post("/callback", data=raw, headers=wh.signed_headers(raw, CHANNEL_SECRET)).status_code == 200
    drain_queues()
    answered = sorted(to for d in sim.deliveries(endpoint="reply") for to in d["to"])
    assert answered == sorted(u for u in users if u != bad)  # each once, the failing friend not at all
    with db.session() as session:
        waiting = session.scalars(sa.select(WebhookEvent.user_id).where(WebhookEvent.processed_at.is_(None))).all()
    assert waiting == [bad]  # still in the ledger: the sweep retries it
