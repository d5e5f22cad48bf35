"""Test send, statistics, failed deliveries and retry through the admin API and the CLI."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.delivery.blocking import stop_for_block
from app.extensions import db
from app.models.delivery import Delivery, StepReply
from app.models.events import WebhookEvent
from app.models.friends import Friend
from app.services.delivery import schedule_due
from app.services.sending import send_batch
from linesim.testing import SimulatorHandle
from tests.factories import T0, add_scenario, deliveries, population, scenario_doc

TESTER = "U" + "a" * 32


def _send_due(clients: Any, now: Any) -> None:
    jobs: list[list[int]] = []
    schedule_due(now, lambda ids: jobs.append(ids) or True)
    for ids in jobs:
        send_batch(clients, ids, lambda: now)


def test_test_send_of_one_step(client: FlaskClient, admin_headers: dict[str, str], sim: SimulatorHandle) -> None:
    with db.transaction() as session:
        add_scenario(session, scenario_doc(status="draft"))
    answer = client.post("/admin/api/scenarios/welcome/test-send", json={"user_ids": [TESTER], "step": "tips"},
                         headers=admin_headers)
    assert answer.status_code == 200, answer.json
    assert answer.json["sent"] == 1 and answer.json["steps"] == ["tips"]
    [recorded] = sim.deliveries(to=TESTER)
    assert recorded["messages"] == [{"type": "text", "text": "tips"}]
    [row] = deliveries()
    assert row.is_test and row.enrollment_id is None and recorded["retry_key"] == row.retry_key


def test_test_send_of_all_steps_in_order(client: FlaskClient, admin_headers: dict[str, str],
                                         sim: SimulatorHandle) -> None:
    with db.transaction() as session:
        add_scenario(session)
    answer = client.post("/admin/api/scenarios/welcome/test-send", json={"user_ids": [TESTER]}, headers=admin_headers)
    assert answer.json["sent"] == 3
    assert [d["messages"][0]["text"] for d in sim.deliveries(to=TESTER)] == ["hello User aaaa", "tips", "offer"]


def test_test_send_renders_display_name_from_the_test_users_line_profile(
        client: FlaskClient, admin_headers: dict[str, str], sim: SimulatorHandle) -> None:
    sim.users(display_names={TESTER: "テスト太郎"})
    with db.transaction() as session:
        add_scenario(session)
    client.post("/admin/api/scenarios/welcome/test-send", json={"user_ids": [TESTER], "step": "hello"},
                headers=admin_headers)
    [recorded] = sim.deliveries(to=TESTER)
    assert recorded["messages"][0]["text"] == "hello テスト太郎"
    with db.session() as session:
        assert session.scalars(sa.select(Friend.display_name).where(Friend.user_id == TESTER)).one() == "テスト太郎"


def test_test_send_to_an_unknown_user_adds_no_friend_an_audience_enrolls(
        client: FlaskClient, admin_headers: dict[str, str], sim: SimulatorHandle) -> None:
    from app.delivery.audience import audience_size

    with db.transaction() as session:
        add_scenario(session, scenario_doc(status="draft"))
    client.post("/admin/api/scenarios/welcome/test-send", json={"user_ids": [TESTER], "step": "tips"},
                headers=admin_headers)
    with db.session() as session:
        assert session.scalars(sa.select(Friend.status).where(Friend.user_id == TESTER)).one() == "test"
        assert audience_size(session, "welcome") == 0


def test_test_send_errors_are_4xx(client: FlaskClient, admin_headers: dict[str, str], sim: SimulatorHandle) -> None:
    with db.transaction() as session:
        add_scenario(session)
    url = "/admin/api/scenarios/welcome/test-send"
    assert client.post(url, json={"user_ids": ["nobody"]}, headers=admin_headers).status_code == 400
    assert client.post(url, json={"user_ids": [TESTER], "step": "nope"}, headers=admin_headers).status_code == 400
    assert client.post("/admin/api/scenarios/none/test-send", json={"user_ids": [TESTER]},
                       headers=admin_headers).status_code == 404
    assert client.post(url, json={"user_ids": [TESTER]}).status_code == 401


def test_stats_count_sends_replies_goals_and_block_rate(client: FlaskClient, admin_headers: dict[str, str],
                                                        sim: SimulatorHandle, clients: Any) -> None:
    population(4)
    _send_due(clients, T0)  # 4 × hello
    _send_due(clients, T0 + timedelta(hours=1))  # 4 × tips
    with db.transaction() as session:
        friends = session.scalars(sa.select(Friend).order_by(Friend.id)).all()
        stop_for_block(session, friends[0].id, T0 + timedelta(hours=2))  # last received: tips
        event = WebhookEvent(webhook_event_id="E1", channel="default", type="message", user_id=friends[1].user_id,
                             timestamp=T0, payload={})
        session.add(event)
        session.flush()
        tips = session.scalars(sa.select(Delivery).where(Delivery.friend_id == friends[1].id,
                                                         Delivery.step_id == "tips")).one()
        session.add(StepReply(delivery_id=tips.id, event_id=event.id, scenario_id="welcome", step_id="tips",
                              replied_at=T0 + timedelta(hours=2)))
    answer = client.get("/admin/api/scenarios/welcome/stats", headers=admin_headers)
    assert answer.status_code == 200
    totals, steps = answer.json["totals"], {s["step_id"]: s for s in answer.json["steps"]}
    counts = (totals["enrolled"], totals["active"], totals["blocked"], totals["sent"], totals["replies"])
    assert counts == (4, 3, 1, 8, 1)
    assert (steps["hello"]["sent"], steps["hello"]["blocked"], steps["hello"]["block_rate"]) == (4, 0, 0)
    assert (steps["tips"]["sent"], steps["tips"]["blocked"], steps["tips"]["block_rate"]) == (4, 1, 0.25)
    assert steps["tips"]["replies"] == 1 and steps["offer"]["block_rate"] is None


def test_failed_delivery_is_listed_and_retried_with_a_new_key(client: FlaskClient, admin_headers: dict[str, str],
                                                              sim: SimulatorHandle, clients: Any) -> None:
    population(1, scenario=scenario_doc(channel="shop"))
    _send_due(clients, T0)
    listed = client.get("/admin/api/deliveries?status=failed", headers=admin_headers).json["deliveries"]
    assert len(listed) == 1 and "Authentication failed" in listed[0]["error"]
    [before] = deliveries()
    answer = client.post(f"/admin/api/deliveries/{before.id}/retry", headers=admin_headers)
    assert answer.status_code == 200 and answer.json["status"] == "queued"
    [after] = deliveries()
    assert after.retry_key != before.retry_key and after.request_key is None and after.attempts == 0
    assert client.post(f"/admin/api/deliveries/{before.id}/retry", headers=admin_headers).status_code == 409
    assert client.post("/admin/api/deliveries/999999/retry", headers=admin_headers).status_code == 404


def test_cli_stats_and_test_send(app: Flask, sim: SimulatorHandle) -> None:
    with db.transaction() as session:
        add_scenario(session)
    runner = app.test_cli_runner()
    sent = runner.invoke(args=["scenarios", "test-send", "welcome", "--to", TESTER, "--step", "hello"])
    assert sent.exit_code == 0, sent.output
    assert "sent 1" in sent.output
    shown = runner.invoke(args=["scenarios", "stats", "welcome"])
    assert shown.exit_code == 0 and "hello" in shown.output and "enrolled 0" in shown.output
    bad = runner.invoke(args=["scenarios", "test-send", "welcome", "--to", "x"])
    assert bad.exit_code == 1


def test_cli_test_send_prints_why_it_failed(app: Flask, sim: SimulatorHandle) -> None:
    with db.transaction() as session:
        add_scenario(session, scenario_doc(channel="nowhere"))
    result = app.test_cli_runner().invoke(args=["scenarios", "test-send", "welcome", "--to", TESTER, "--step", "hello"])
    assert result.exit_code == 1
    assert "failed 1" in result.output
    assert "LINE_CHANNEL_NOWHERE_ACCESS_TOKEN" in result.output
