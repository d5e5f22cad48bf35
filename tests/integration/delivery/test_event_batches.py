"""A worker's write transaction holds several friends' events: without a savepoint per event,
one that fails rolls the batch back and it runs again one friend at a time, isolated; a handoff a
rule opens holds the same friend's later events of the batch back from the bot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa

from app.conversations import log as conversation_log
from app.delivery import rules
from app.events.ledger import record_events
from app.extensions import db
from app.line.client import LineClient
from app.models.conversations import ConversationMessage
from app.models.delivery import Delivery, Enrollment, StepReply
from app.models.events import WebhookEvent
from app.models.friends import Friend
from app.services import events as event_service
from linesim.testing import SimulatorHandle
from tests.factories import T0, add_enrollment, add_friend, add_scenario, scenario_doc

pytestmark = pytest.mark.usefixtures("bound")
USERS = [f"U{i:032d}" for i in range(3)]
RULES = [{"when": {"keyword": ["hi"], "match": "exact"}, "do": [{"reply": [{"text": "hello"}]}]},
         {"when": {"keyword": ["human"], "match": "exact"},
          "do": [{"handoff": {"note": "wants a person"}}, {"reply": [{"text": "staff will answer"}]}]}]


def _setup(*extra_rules: dict[str, Any]) -> None:
    with db.transaction() as session:
        add_scenario(session, scenario_doc(rules=[*RULES, *extra_rules]))
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


def test_a_failing_rule_takes_only_its_own_events_chat_rows_with_it(
        sim: SimulatorHandle, clients: Callable[[str], LineClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat log of a batch is written in one statement at the commit; an event that fails in
    its savepoint (after its message was kept) leaves no row, every other row is there once, in order."""
    _setup()
    with db.transaction() as session:
        record_events(session, "default", [_message(sim, user, "hi", n) for n, user in enumerate(USERS * 2)], T0)
    real = rules.apply_actions

    def broken_for_one(session: Any, friend: Any, *args: Any, **kwargs: Any) -> Any:
        if friend.user_id == USERS[1] and kwargs["at"] == T0 + timedelta(seconds=1):
            raise RuntimeError("disk on fire")
        return real(session, friend, *args, **kwargs)

    monkeypatch.setattr(rules, "apply_actions", broken_for_one)
    assert _drain(clients) == 5
    with db.session() as session:
        rows = session.execute(sa.select(Friend.user_id, ConversationMessage.direction, ConversationMessage.text,
                                         ConversationMessage.at, ConversationMessage.token_used)
                               .join(Friend, Friend.id == ConversationMessage.friend_id)
                               .order_by(ConversationMessage.id)).all()
    for user in USERS:
        mine = [(row.direction, row.text, row.token_used) for row in rows if row.user_id == user]
        expected = [("in", "hi", True), ("out", "hello", True)] * (1 if user == USERS[1] else 2)
        assert mine == expected, (user, mine)
    assert not any(row.user_id == USERS[1] and row.at == T0 + timedelta(seconds=1) for row in rows)


def test_a_handoff_opened_in_a_batch_holds_the_friends_next_message_back(
        sim: SimulatorHandle, clients: Callable[[str], LineClient]) -> None:
    _setup()
    with db.transaction() as session:
        record_events(session, "default", [_message(sim, USERS[0], "human", 0), _message(sim, USERS[0], "hi", 1),
                                           _message(sim, USERS[2], "hi", 2)], T0)
    assert _drain(clients) == 3
    texts = sorted(m["text"] for r in sim.deliveries(endpoint="reply") for m in r["messages"])
    assert texts == ["hello", "staff will answer"]  # the friend waiting for staff got no "hello"


def test_a_rule_that_enrolls_is_seen_by_the_friends_next_message_in_the_batch(
        sim: SimulatorHandle, clients: Callable[[str], LineClient]) -> None:
    """The batch reads each friend's enrollments once; a rule that starts a new cycle makes the
    next message of the same batch look again, so the new scenario's rules answer it."""
    _setup({"when": {"keyword": ["join"], "match": "exact"},
            "do": [{"enroll": "vip"}, {"reply": [{"text": "joined"}]}]})
    with db.transaction() as session:
        add_scenario(session, scenario_doc("vip", start={"trigger": "manual"}, priority=5, rules=[
            {"when": {"keyword": ["perks"], "match": "exact"}, "do": [{"reply": [{"text": "vip perks"}]}]}]))
        record_events(session, "default", [_message(sim, USERS[0], "join", 0), _message(sim, USERS[0], "perks", 1),
                                           _message(sim, USERS[1], "perks", 2)], T0)
    assert _drain(clients) == 3
    assert sorted(m["text"] for r in sim.deliveries(endpoint="reply") for m in r["messages"]) == ["joined",
                                                                                                 "vip perks"]


def test_a_rule_that_stops_silences_the_scenario_for_the_friends_next_message_in_the_batch(
        sim: SimulatorHandle, clients: Callable[[str], LineClient]) -> None:
    _setup({"when": {"keyword": ["leave"], "match": "exact"}, "do": [{"stop": True}, {"reply": [{"text": "bye"}]}]})
    with db.transaction() as session:
        record_events(session, "default", [_message(sim, USERS[0], "leave", 0), _message(sim, USERS[0], "hi", 1),
                                           _message(sim, USERS[1], "hi", 2)], T0)
    assert _drain(clients) == 3
    assert sorted(m["text"] for r in sim.deliveries(endpoint="reply") for m in r["messages"]) == ["bye", "hello"]


def test_a_batch_credits_each_message_to_the_step_sent_in_the_day_before_it(
        sim: SimulatorHandle, clients: Callable[[str], LineClient]) -> None:
    """Sent steps are read once for the batch from the oldest message's window; each message
    still counts only for the steps of its own 24 hours."""
    _setup()
    with db.transaction() as session:
        friend_ids = dict(session.execute(sa.select(Friend.user_id, Friend.id)).all())
        sent = [(USERS[0], "hello", T0 - timedelta(hours=30)), (USERS[0], "tips", T0 - timedelta(hours=2)),
                (USERS[1], "hello", T0 - timedelta(hours=23)), (USERS[2], "tips", T0 + timedelta(hours=5))]
        enrollments = dict(session.execute(sa.select(Enrollment.friend_id, Enrollment.id)).all())
        for n, (user, step, at) in enumerate(sent):
            session.add(Delivery(enrollment_id=enrollments[friend_ids[user]], friend_id=friend_ids[user],
                                 channel="default", scenario_id="welcome", scenario_version=1, step_id=step,
                                 cycle=1, visit=n, status="sent", due_at=at, sent_at=at, retry_key=str(uuid4())))
        record_events(session, "default", [_message(sim, user, "thanks", n) for n, user in enumerate(USERS)], T0)
    assert _drain(clients) == 3
    with db.session() as session:
        credited = session.execute(sa.select(Friend.user_id, StepReply.step_id)
                                   .join(Delivery, Delivery.id == StepReply.delivery_id)
                                   .join(Friend, Friend.id == Delivery.friend_id)).all()
    assert sorted(credited) == [(USERS[0], "tips"), (USERS[1], "hello")]  # not 30 h old, not sent after


def test_a_batchs_statements_do_not_grow_with_its_messages(
        sim: SimulatorHandle, clients: Callable[[str], LineClient]) -> None:
    """Each friend's enrollments and sent steps are read once per batch, the keyword-started
    scenarios an unanswered message looks at once per transaction, and the writes wait for one
    flush at the end: ten messages a friend cost the reads and updates of one."""
    _setup()

    def statements_for(messages_each: int, offset: int) -> int:
        with db.transaction() as session:
            record_events(session, "default", [_message(sim, user, "hi" if n % 2 else "no rule for this",
                                                        offset + n * len(USERS) + i)
                                               for n in range(messages_each) for i, user in enumerate(USERS)], T0)
        seen: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append(statement)  # the chat log too: one statement for the batch's rows

        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            assert _drain(clients) == messages_each * len(USERS)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    one, ten = statements_for(1, 0), statements_for(10, 100)
    assert ten <= one, (one, ten)
