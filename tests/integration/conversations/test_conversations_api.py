"""SPEC §9 over HTTP: rule sets, the chat log, operator messages and handoffs."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from app.extensions import db
from app.models.base import utcnow
from app.models.delivery import Delivery
from linesim.testing import SimulatorHandle
from tests.factories import add_enrollment, add_friend, add_scenario, scenario_doc
from tests.integration.conversations.conftest import USER, incoming

RULESET = """id: base
name: 基本
status: live
priority: 1
rules:
  - when: {keyword: [こんにちは]}
    do: [{reply: [{text: "こんにちは!"}]}]
"""


def test_put_ruleset_creates_then_versions(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    created = client.put("/admin/api/rulesets/base", data=RULESET, headers=admin_headers)
    assert created.status_code == 201 and created.json["version"] == 1
    same = client.put("/admin/api/rulesets/base", data=RULESET, headers=admin_headers)
    assert (same.status_code, same.json["action"]) == (200, "unchanged")
    changed = client.put("/admin/api/rulesets/base", data=RULESET.replace("こんにちは!", "やあ"), headers=admin_headers)
    assert (changed.json["action"], changed.json["version"]) == ("updated", 2)
    one = client.get("/admin/api/rulesets/base", headers=admin_headers).json
    assert [v["version"] for v in one["versions"]] == [1, 2]
    assert one["definition"]["rules"][0]["do"][0]["reply"][0]["text"] == "やあ"
    assert [r["id"] for r in client.get("/admin/api/rulesets", headers=admin_headers).json["rulesets"]] == ["base"]


def test_invalid_ruleset_is_refused_with_positions(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    bad = RULESET.replace('do: [{reply: [{text: "こんにちは!"}]}]', "do: [{goto: tips}]")
    answer = client.put("/admin/api/rulesets/base", data=bad, headers=admin_headers)
    assert answer.status_code == 422
    [issue] = answer.json["details"]
    assert (issue["line"], issue["path"]) == (7, "rules[0].do[0].goto")
    assert client.get("/admin/api/rulesets", headers=admin_headers).json["rulesets"] == []


def test_ruleset_pause_publish_delete(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    client.put("/admin/api/rulesets/base", data=RULESET, headers=admin_headers)
    assert client.post("/admin/api/rulesets/base/pause", headers=admin_headers).json["ruleset"]["status"] == "paused"
    assert client.post("/admin/api/rulesets/base/publish", headers=admin_headers).json["ruleset"]["status"] == "live"
    assert client.delete("/admin/api/rulesets/base", headers=admin_headers).status_code == 200
    assert client.get("/admin/api/rulesets/base", headers=admin_headers).status_code == 404


def test_ruleset_api_needs_a_token(client: FlaskClient) -> None:
    assert client.put("/admin/api/rulesets/base", data=RULESET).status_code == 401


def test_chat_log_merges_messages_replies_and_steps(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    client.put("/admin/api/rulesets/base", data=RULESET, headers=admin_headers)
    now = utcnow()
    with db.transaction() as session:
        add_scenario(session, scenario_doc())
        friend = add_friend(session, USER, display_name="Aki")
        enrollment = add_enrollment(session, friend, "welcome", step="tips")
        session.add(Delivery(enrollment_id=enrollment.id, friend_id=friend.id, scenario_id="welcome", step_id="hello",
                             retry_key="k", status="sent", due_at=now - timedelta(minutes=2),
                             sent_at=now - timedelta(minutes=2)))
    incoming(USER, text="こんにちは", at=now - timedelta(minutes=1))
    incoming(USER, message={"type": "sticker", "id": "9", "packageId": "446", "stickerId": "1988"}, at=now)
    log = client.get(f"/admin/api/friends/{USER}/messages?limit=10", headers=admin_headers).json
    assert [(e["direction"], e["kind"], e["text"], e["scenario"], e["step"]) for e in log] == [
        ("out", "step", "hello Aki", "welcome", "hello"), ("in", "message", "こんにちは", None, None),
        ("out", "reply", "こんにちは!", "base", None), ("in", "message", None, None, None)]
    assert log[-1]["meta"] == {"type": "sticker", "id": "9", "packageId": "446", "stickerId": "1988"}
    newest = client.get(f"/admin/api/friends/{USER}/messages?limit=2", headers=admin_headers).json
    assert [e["kind"] for e in newest] == ["reply", "message"]


def test_chat_log_limit_is_checked(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    assert client.get(f"/admin/api/friends/{USER}/messages?limit=x", headers=admin_headers).status_code == 400
    assert client.get("/admin/api/friends/Unobody/messages", headers=admin_headers).status_code == 404


def _send(client: FlaskClient, headers: dict[str, str], key: str, text: str = "担当の佐藤です") -> tuple[int, dict]:
    answer = client.post(f"/admin/api/friends/{USER}/messages", json={"messages": [{"text": text}]},
                         headers={**headers, "Idempotency-Key": key})
    return answer.status_code, answer.json


def test_operator_message_uses_a_young_reply_token_for_free(client: FlaskClient, admin_headers: dict[str, str],
                                                            sim: SimulatorHandle) -> None:
    with db.transaction() as session:
        add_friend(session, USER)
    incoming(USER, text="質問です", at=utcnow(), token=sim.reply_token(USER))
    assert _send(client, admin_headers, "k1") == (200, {"via": "reply", "sent": 1, "status": "sent"})
    assert _send(client, admin_headers, "k2", "もう一通")[1]["via"] == "push"  # the token is spent
    assert [d["endpoint"] for d in sim.deliveries(to=USER)] == ["reply", "push"]
    log = client.get(f"/admin/api/friends/{USER}/messages", headers=admin_headers).json
    assert [(e["kind"], e["staff"]) for e in log if e["direction"] == "out"] == [("operator", "admin")] * 2


def test_operator_message_pushes_when_the_token_is_old(client: FlaskClient, admin_headers: dict[str, str],
                                                       sim: SimulatorHandle) -> None:
    with db.transaction() as session:
        add_friend(session, USER)
    incoming(USER, text="質問です", at=utcnow() - timedelta(seconds=55), token=sim.reply_token(USER))
    assert _send(client, admin_headers, "k1")[1] == {"via": "push", "sent": 1, "status": "sent"}
    [push] = sim.deliveries(to=USER)
    assert push["endpoint"] == "push" and push["retry_key"]


def test_double_submit_sends_once(client: FlaskClient, admin_headers: dict[str, str], sim: SimulatorHandle) -> None:
    with db.transaction() as session:
        add_friend(session, USER)
    first, second = _send(client, admin_headers, "same"), _send(client, admin_headers, "same")
    assert first == second == (200, {"via": "push", "sent": 1, "status": "sent"})
    assert len(sim.deliveries(to=USER)) == 1


def test_lost_answer_is_retried_with_the_same_retry_key(client: FlaskClient, admin_headers: dict[str, str],
                                                        sim: SimulatorHandle) -> None:
    from app.current import current_settings
    from app.services import conversations

    with db.transaction() as session:
        add_friend(session, USER)
    sim.config(faults={"lost_answer": {"next": 1, "endpoints": ["push"]}})
    status, body = _send(client, admin_headers, "k")
    assert (status, body["status"]) == (202, "queued")  # LINE took it, but the answer was lost
    with client.application.app_context():
        handed: list[int] = []  # the scheduler's sweep hands the queued message on again
        assert conversations.sweep(utcnow() + timedelta(minutes=1), send=handed.append, notify=handed.append) == 1
        [stale] = handed
        again = conversations.deliver(stale, settings=current_settings(), now=utcnow(), enqueue=lambda _i: None)
    assert (again.status, again.sent) == ("sent", 1)
    assert len(sim.deliveries(to=USER)) == 1
    assert sim.stats()["endpoints"]["push"].get("duplicate") == 1


def test_operator_messages_are_validated_like_steps(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    with db.transaction() as session:
        add_friend(session, USER)
    answer = client.post(f"/admin/api/friends/{USER}/messages", json={"messages": [{"txt": "typo"}]},
                         headers={**admin_headers, "Idempotency-Key": "k"})
    assert answer.status_code == 422 and answer.json["details"]
    six = client.post(f"/admin/api/friends/{USER}/messages", json={"messages": [{"text": "x"}] * 6},
                      headers={**admin_headers, "Idempotency-Key": "k2"})
    assert six.status_code == 422


def test_without_a_key_each_call_is_its_own_message(client: FlaskClient, admin_headers: dict[str, str],
                                                    sim: SimulatorHandle) -> None:
    with db.transaction() as session:
        add_friend(session, USER)
    for _ in range(2):
        answer = client.post(f"/admin/api/friends/{USER}/messages", json={"messages": [{"text": "x"}]},
                             headers=admin_headers)
        assert answer.status_code == 200 and answer.json["via"] == "push"
    assert len(sim.deliveries(to=USER)) == 2
    too_long = client.post(f"/admin/api/friends/{USER}/messages", json={"messages": [{"text": "x"}]},
                           headers={**admin_headers, "Idempotency-Key": "k" * 201})
    assert too_long.status_code == 400


def test_handoffs_list_oldest_first_and_close(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    from tests.integration.conversations.conftest import OTHER

    with db.transaction() as session:
        add_scenario(session, scenario_doc(rules=[{"when": {"keyword": ["help"]}, "do": [{"handoff": True}]}]))
        for user in (OTHER, USER):
            add_enrollment(session, add_friend(session, user), "welcome", step="tips")
    now = utcnow()
    incoming(OTHER, text="help", at=now - timedelta(minutes=3), now=now - timedelta(minutes=3))
    incoming(USER, text="help", at=now, now=now)
    listed = client.get("/admin/api/handoffs", headers=admin_headers).json
    assert [h["user_id"] for h in listed] == [OTHER, USER]
    state = client.get(f"/admin/api/friends/{USER}/conversation", headers=admin_headers).json
    assert state["handoff"]["open"] is True and state["rich_menu"] is None
    assert client.post(f"/admin/api/friends/{USER}/handoff/close", headers=admin_headers).status_code == 200
    assert client.post(f"/admin/api/friends/{USER}/handoff/close", headers=admin_headers).status_code == 404
    assert [h["user_id"] for h in client.get("/admin/api/handoffs", headers=admin_headers).json] == [OTHER]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "stepline_handoffs_open 1.0" in metrics


def test_oversized_ruleset_document_is_413(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    big = RULESET + "#" + "x" * (256 * 1024) + "\n"
    assert client.put("/admin/api/rulesets/base", data=big, headers=admin_headers).status_code == 413


def test_dry_run_changes_nothing(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    answer = client.put("/admin/api/rulesets/base?dry_run=1", data=RULESET, headers=admin_headers)
    assert answer.status_code == 200 and answer.json["would_enroll"] == 0 and answer.json["messages_due_now"] == 0
    assert client.get("/admin/api/rulesets", headers=admin_headers).json["rulesets"] == []


def test_publish_dry_run_leaves_a_paused_ruleset_paused(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    paused = RULESET.replace("status: live", "status: paused")
    assert client.put("/admin/api/rulesets/base", data=paused, headers=admin_headers).status_code == 201
    answer = client.post("/admin/api/rulesets/base/publish?dry_run=1", headers=admin_headers)
    assert answer.status_code == 200 and answer.json["would_enroll"] == 0
    assert client.get("/admin/api/rulesets/base", headers=admin_headers).json["ruleset"]["status"] == "paused"
    assert client.post("/admin/api/rulesets/nothing/publish?dry_run=1", headers=admin_headers).status_code == 404
