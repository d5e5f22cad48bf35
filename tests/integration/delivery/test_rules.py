"""Keyword and postback rules act in the event's transaction; replies use the free reply API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.delivery.rules import on_incoming
from app.events.ledger import record_events
from app.extensions import db
from app.models.delivery import Delivery, Enrollment, GoalConversion, StepReply
from app.models.events import WebhookEvent
from app.models.friends import Friend, FriendTag
from app.services import events as event_service
from app.services.delivery import schedule_due
from app.services.sending import send_batch
from linesim.testing import SimulatorHandle
from tests.factories import T0, add_enrollment, add_friend, add_scenario, scenario_doc

pytestmark = pytest.mark.usefixtures("bound")
USER = "U" + "1" * 32


def _doc(**extra: Any) -> dict[str, Any]:
    return scenario_doc(
        rules=[
            {"when": {"keyword": ["配信停止", "stop"], "match": "exact"},
             "do": [{"reply": [{"text": "配信を停止しました"}]}, {"stop": True}]},
            {"when": {"keyword": ["詳しく"], "match": "contains"},
             "do": [{"reply": [{"text": "詳細"}]}, {"goto": "offer"}]},
            {"when": {"postback": "action=buy"}, "do": [{"tag": "buyer"}, {"untag": "prospect"}, {"enroll": "vip"},
                                                      {"goal": "purchase"}, {"set": {"plan": "gold"}}]},
            {"when": {"keyword": ["お知らせ不要"]}, "do": [{"opt_out": True}]},
            {"when": {"keyword": ["お知らせ再開"]}, "do": [{"opt_in": True}]},
        ],
        goals=[{"id": "purchase", "within": "30d"}], **extra)


def _setup() -> tuple[int, int]:
    with db.transaction() as session:
        add_scenario(session, _doc())
        add_scenario(session, scenario_doc("vip", start={"trigger": "manual"}))
        friend = add_friend(session, USER, display_name="Aki")
        session.add(FriendTag(friend_id=friend.id, tag="prospect"))
        enrollment = add_enrollment(session, friend, "welcome", step="tips", run_at=T0 + timedelta(hours=1))
        return friend.id, enrollment.id


def _incoming(*, text: str | None = None, postback: str | None = None, token: str | None = "tok",
              at: Any = T0 + timedelta(minutes=5)) -> list[dict[str, Any]] | None:
    with db.transaction() as session:
        friend = session.scalars(sa.select(Friend)).one()
        return on_incoming(session, friend, event_id=_event(session), reply_token=token, text=text,
                           postback=postback, at=at, now=at)


def _event(session: Any) -> int:
    event = WebhookEvent(webhook_event_id=f"E{session.scalar(sa.select(sa.func.count(WebhookEvent.id)))}",
                         channel="default", type="message", user_id=USER, timestamp=T0, payload={})
    session.add(event)
    session.flush()
    return event.id


def _enrollment(eid: int) -> Enrollment:
    with db.session() as session:
        row = session.get(Enrollment, eid)
        assert row is not None
        return row


def test_stop_keyword_replies_for_free_and_stops(sim: SimulatorHandle, clients: Any) -> None:
    _, eid = _setup()
    schedule_due(T0 + timedelta(hours=1), lambda ids: True)  # the "tips" step is queued, not sent yet
    with db.transaction() as session:
        record_events(session, "default", [{
            "type": "message", "mode": "active", "timestamp": int((T0 + timedelta(hours=1)).timestamp() * 1000),
            "webhookEventId": "01STOP", "replyToken": sim.reply_token(USER), "source": {"type": "user", "userId": USER},
            "message": {"type": "text", "id": "1", "text": "ＳＴＯＰ "}}], T0)
    with db.transaction() as session:
        result = event_service.process_friend_events(session, "default", USER, T0 + timedelta(hours=1))
    [reply] = result.replies
    assert reply.messages == [{"type": "text", "text": "配信を停止しました"}]
    assert clients("default").reply(reply.reply_token, reply.messages).sent
    stopped = _enrollment(eid)
    assert (stopped.status, stopped.stop_reason, stopped.next_run_at) == ("stopped", "keyword", None)
    with db.session() as session:
        assert session.scalar(sa.select(Delivery.status)) == "cancelled"
    pushes = sim.stats()["endpoints"].get("push", {})
    assert sim.deliveries(endpoint="reply") and not pushes.get("accepted")


def test_standby_or_no_token_means_no_reply() -> None:
    _, eid = _setup()
    assert _incoming(text="stop", token=None) is None
    assert _enrollment(eid).status == "stopped"


def test_goto_makes_the_target_step_due_now() -> None:
    _, eid = _setup()
    at = T0 + timedelta(minutes=5)
    assert _incoming(text="もっと詳しく教えて", at=at) == [{"type": "text", "text": "詳細"}]
    row = _enrollment(eid)
    assert (row.next_step_id, row.next_run_at) == ("offer", at)
    schedule_due(at, lambda ids: True)
    with db.session() as session:
        assert session.scalars(sa.select(Delivery.step_id)).all() == ["offer"]


def test_goto_a_step_already_sent_sends_it_again_once() -> None:
    """SPEC's example: 「詳しく」 jumps back to a step the friend already got; the revisit is a new delivery."""
    with db.transaction() as session:
        add_scenario(session, scenario_doc(rules=[
            {"when": {"keyword": ["詳しく"], "match": "contains"}, "do": [{"goto": "hello"}]}]))
        friend = add_friend(session, USER, display_name="Aki")
        eid = add_enrollment(session, friend, "welcome", step="hello").id
    schedule_due(T0, lambda ids: True)  # "hello" goes out
    with db.transaction() as session:
        session.execute(sa.update(Delivery).values(status="sent", sent_at=T0))
    at = T0 + timedelta(minutes=5)
    _incoming(text="詳しく", at=at)
    schedule_due(at, lambda ids: True)
    schedule_due(at, lambda ids: True)  # a second claim of the same visit writes nothing
    with db.session() as session:
        steps = session.execute(sa.select(Delivery.step_id, Delivery.visit).order_by(Delivery.id)).all()
    assert [tuple(row) for row in steps] == [("hello", 0), ("hello", 1)]
    assert (_enrollment(eid).jumps, _enrollment(eid).next_step_id) == (1, "tips")


def test_postback_tags_enrolls_sets_and_converts() -> None:
    friend_id, eid = _setup()
    with db.transaction() as session:
        session.execute(sa.update(Friend).values(attributes={"member": True}))
    assert _incoming(postback="action=buy") is None
    with db.session() as session:
        assert session.scalars(sa.select(FriendTag.tag)).all() == ["buyer"]
        friend = session.get(Friend, friend_id)
        assert friend is not None and friend.attributes == {"member": True, "plan": "gold"}
        assert session.scalars(sa.select(Enrollment.scenario_id).where(Enrollment.status == "active")
                               .order_by(Enrollment.scenario_id)).all() == ["vip", "welcome"]
        assert session.scalars(sa.select(GoalConversion.goal_id)).all() == ["purchase"]
    _incoming(postback="action=buy")  # once per cycle
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count(GoalConversion.id))) == 1


def test_goal_outside_its_window_is_not_counted() -> None:
    _setup()
    _incoming(postback="action=buy", at=T0 + timedelta(days=31))
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count(GoalConversion.id))) == 0


def test_opt_out_then_in(sim: SimulatorHandle, clients: Any) -> None:
    friend_id, _ = _setup()
    _incoming(text="お知らせ不要")
    with db.session() as session:
        assert session.get(Friend, friend_id).opted_out is True  # type: ignore[union-attr]
    summary = send_batch(clients, _all_due(T0 + timedelta(hours=1)), lambda: T0 + timedelta(hours=1))
    assert summary.skipped == 1 and sim.deliveries() == []
    _incoming(text="お知らせ再開")
    with db.session() as session:
        assert session.get(Friend, friend_id).opted_out is False  # type: ignore[union-attr]


def _all_due(now: Any) -> list[int]:
    jobs: list[list[int]] = []
    schedule_due(now, lambda ids: jobs.append(ids) or True)
    return [i for job in jobs for i in job]


def test_replies_within_a_day_of_a_step_are_counted(sim: SimulatorHandle, clients: Any) -> None:
    _setup()
    send_batch(clients, _all_due(T0 + timedelta(hours=1)), lambda: T0 + timedelta(hours=1))
    _incoming(text="thanks!", at=T0 + timedelta(hours=3))
    _incoming(text="late", at=T0 + timedelta(hours=26))
    with db.session() as session:
        assert session.execute(sa.select(StepReply.scenario_id, StepReply.step_id)).all() == [("welcome", "tips")]


def _delivery_ids() -> list[int]:
    with db.session() as session:
        return list(session.scalars(sa.select(Delivery.id).order_by(Delivery.id)))


def test_goto_while_the_current_step_is_on_its_way_follows_it(sim: SimulatorHandle, clients: Any) -> None:
    """A goto never overtakes the step still in the outbox: its target goes out right after it."""
    _, eid = _setup()
    due = T0 + timedelta(hours=1)
    schedule_due(due, lambda ids: True)  # "tips" is queued (its job not run yet)
    at = due + timedelta(minutes=1)
    _incoming(text="もっと詳しく", at=at)
    row = _enrollment(eid)
    assert (row.next_step_id, row.next_run_at, row.jumps) == ("offer", None, 1)
    schedule_due(at, lambda ids: True)
    with db.session() as session:
        assert session.scalars(sa.select(Delivery.step_id)).all() == ["tips"]  # nothing overtook it
    sent_at = at + timedelta(minutes=1)
    send_batch(clients, _delivery_ids(), lambda: sent_at)
    # due as soon as "tips" went out (a jump), not at "offer"'s own place a day after the start
    assert _enrollment(eid).next_run_at == sent_at
    schedule_due(sent_at, lambda ids: True)
    send_batch(clients, _delivery_ids(), lambda: sent_at)
    assert [d["messages"][0]["text"] for d in sim.deliveries()] == ["tips", "offer"]
    with db.session() as session:
        visits = session.execute(sa.select(Delivery.step_id, Delivery.visit, Delivery.status).order_by(Delivery.id))
        assert [tuple(v) for v in visits] == [("tips", 0, "sent"), ("offer", 1, "sent")]


def test_goto_after_the_current_step_went_out_is_due_at_once() -> None:
    _, eid = _setup()
    due = T0 + timedelta(hours=1)
    schedule_due(due, lambda ids: True)
    with db.transaction() as session:
        session.execute(sa.update(Delivery).values(status="failed"))  # settled (as sent, failed or skipped)
    at = due + timedelta(minutes=1)
    _incoming(text="もっと詳しく", at=at)
    assert _enrollment(eid).next_run_at == at
