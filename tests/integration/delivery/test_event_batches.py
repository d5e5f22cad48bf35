"""A worker's write transaction holds several friends' events: without a savepoint per event,
one that fails rolls the batch back and it runs again one friend at a time, isolated; a handoff a
rule opens holds the same friend's later events of the batch back from the bot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.conversations import log as conversation_log
from app.events.ledger import record_events
from app.extensions import db
from app.line.client import LineClient
from app.models.events import WebhookEvent
from app.services import events as event_service
from linesim.testing import SimulatorHandle
from tests.factories import T0, add_enrollment, add_friend, add_scenario, scenario_doc

pytestmark = pytest.mark.usefixtures("bound")
USERS = [f"U{i:032d}" for i in range(3)]
RULES = [{"when": {"keyword": ["hi"], "match": "exact"}, "do": [{"reply": [{"text": "hello"}]}]},
         {"when": {"keyword": ["human"], "match": "exact"},
          "do": [{"handoff": {"note": "wants a person"}}, {"reply": [{"text": "staff will answer"}]}]}]


def _setup() -> None:
    with db.transaction() as session:
        add_scenario(session, scenario_doc(rules=RULES))
        for user in USERS:
            add_enrollment(session, add_friend(session, user), "welcome", step="tips",
                           run_at=T0 + timedelta(days=30))


def _message(sim: SimulatorHandle, user: str, text: str, n: int) -> dict[str, Any]:
    return {"type": "message", "mode": "active", "timestamp": int((T0 + timedelta(seconds=n)).timestamp() * 1000),
            "webhookEventId": f"01BATCH{user[-2:]}{n:04d}", "replyToken": sim.reply_token(user),
            "source": {"type": "user", "userId": user}, "message": {"type": "text", "id": str(n), "text": text}}


def _drain(clients: Callable[[str], LineClient]) -> int:
    return event_service.handle_pending_friends([("default", user) for user in USERS],
                                                lambda: T0 + timedelta(minutes=1), line=clients,
                                                notify_staff=lambda _id: None, link_rich_menus=lambda *_: None)


def _statuses() -> dict[str, str]:
    with db.session() as session:
        return dict(session.execute(sa.select(WebhookEvent.webhook_event_id, WebhookEvent.status)).all())


def test_a_failing_event_fails_alone_and_every_other_reply_goes_out_once(
        sim: SimulatorHandle, clients: Callable[[str], LineClient], monkeypatch: pytest.MonkeyPatch) -> None:
    _setup()
    with db.transaction() as session:
        record_events(session, "default", [_message(sim, user, "hi", n) for n, user in enumerate(USERS * 2)], T0)
    real = conversation_log.log_incoming

    def broken_for_one(session: Any, friend: Any, **kwargs: Any) -> Any:
        if friend.user_id == USERS[1] and kwargs["at"] == T0 + timedelta(seconds=1):
            raise RuntimeError("disk on fire")
        return real(session, friend, **kwargs)

    monkeypatch.setattr(conversation_log, "log_incoming", broken_for_one)
    assert _drain(clients) == 5
    statuses = _statuses()
    failed = [event_id for event_id, status in statuses.items() if status == "failed"]
    assert failed == [f"01BATCH{USERS[1][-2:]}0001"] and sum(s == "processed" for s in statuses.values()) == 5
    replies = sim.deliveries(endpoint="reply")
    assert len(replies) == 5 and len({r["reply_token"] for r in replies}) == 5
    assert _drain(clients) == 0 and len(sim.deliveries(endpoint="reply")) == 5  # nothing twice


def test_a_handoff_opened_in_a_batch_holds_the_friends_next_message_back(
        sim: SimulatorHandle, clients: Callable[[str], LineClient]) -> None:
    _setup()
    with db.transaction() as session:
        record_events(session, "default", [_message(sim, USERS[0], "human", 0), _message(sim, USERS[0], "hi", 1),
                                           _message(sim, USERS[2], "hi", 2)], T0)
    assert _drain(clients) == 3
    texts = sorted(m["text"] for r in sim.deliveries(endpoint="reply") for m in r["messages"])
    assert texts == ["hello", "staff will answer"]  # the friend waiting for staff got no "hello"
