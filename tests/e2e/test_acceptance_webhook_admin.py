"""Acceptance through HTTP only: SPEC §1 (webhook against gunicorn) and SPEC §2 (admin API).

One stack (gunicorn web, an RQ worker, a scheduler, the LINE simulator) serves the whole
module. Every scenario here marks its messages with its own prefix so friends enrolled into
several follow-triggered scenarios can be told apart; every test uses its own user ids.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.processes import RedisServer, Stack
from linesim.testing import SimulatorHandle, start_subprocess
from linesim.webhooks import sign, ulid
from tests.conftest import new_database
from tests.e2e.conftest import ADMIN_TOKEN, SECRET, TOKEN, admin, wait_until

pytestmark = pytest.mark.e2e

BOT = "Ubot0000000000000000000000000000"


# --------------------------------------------------------------------------------------------
# one stack for the module


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    handle = start_subprocess(access_token=TOKEN, seed=11)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorHandle) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("acceptance-webhook-admin")
    with new_database(workdir, "acceptance.db") as database_url:
        redis_server = RedisServer(workdir).start()
        stack = Stack.configure(workdir / "stack", database_url=database_url, redis_url=redis_server.url,
                                line_api_base_url=sim.base_url, channel_secret=SECRET, access_token=TOKEN,
                                admin_token=ADMIN_TOKEN)
        stack.release()
        stack.start_web()
        stack.start_worker()
        stack.start_scheduler()
        try:
            yield stack
        finally:
            stack.stop()
            print(stack.logs())
            redis_server.stop()


# --------------------------------------------------------------------------------------------
# helpers: raw HTTP as LINE and as an operator would send it


def post_webhook(stack: Stack, body: bytes, signature: str | None, path: str = "/callback") -> tuple[int, Any]:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0"}
    if signature is not None:
        headers["x-line-signature"] = signature  # lower case: the header name is case-insensitive
    request = urllib.request.Request(stack.base_url + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _json_or_text(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json_or_text(exc.read())


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def signed(stack: Stack, events: list[dict[str, Any]]) -> tuple[int, Any]:
    body = json.dumps({"destination": BOT, "events": events}, ensure_ascii=False).encode()
    return post_webhook(stack, body, sign(body, SECRET))


def line_event(kind: str, user_id: str, *, reply_token: str | None = None, source: dict[str, Any] | None = None,
               mode: str = "active", **extra: Any) -> dict[str, Any]:
    """An event in the shape of LINE's documentation samples."""
    stamp = int(time.time() * 1000)
    event: dict[str, Any] = {
        "type": kind, "mode": mode, "timestamp": stamp,
        "source": source or {"type": "user", "userId": user_id},
        "webhookEventId": ulid(stamp), "deliveryContext": {"isRedelivery": False}, **extra,
    }
    if reply_token:
        event["replyToken"] = reply_token
    return event


def text_message(sim: SimulatorHandle, user_id: str, text: str) -> dict[str, Any]:
    return line_event("message", user_id, reply_token=sim.reply_token(user_id), message={
        "id": str(time.time_ns())[:18], "type": "text", "quoteToken": "q3Plxr4AgKd" + user_id[-6:], "text": text})


def postback(sim: SimulatorHandle, user_id: str, data: str) -> dict[str, Any]:
    return line_event("postback", user_id, reply_token=sim.reply_token(user_id), postback={"data": data})


def follow(sim: SimulatorHandle, user_id: str) -> dict[str, Any]:
    return line_event("follow", user_id, reply_token=sim.reply_token(user_id), follow={"isUnblocked": False})


def raw_admin(stack: Stack, method: str, path: str, body: bytes | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(stack.base_url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _json_or_text(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json_or_text(exc.read())


def texts(sim: SimulatorHandle, user_id: str, endpoint: str = "push", prefix: str = "") -> list[str]:
    """Every text the simulator accepted for ``user_id`` on ``endpoint`` (multicast counts as push)."""
    endpoints = ("push", "multicast") if endpoint == "push" else (endpoint,)
    found = []
    for delivery in sim.deliveries(to=user_id):
        if delivery["endpoint"] in endpoints:
            found += [m.get("text", "") for m in delivery["messages"] if m.get("text", "").startswith(prefix)]
    return found


def replies_to(sim: SimulatorHandle, user_id: str) -> list[str]:
    return [m.get("text", "") for d in sim.deliveries(endpoint="reply") if user_id in d["to"] for m in d["messages"]]


def scenarios_by_id(stack: Stack) -> dict[str, dict[str, Any]]:
    status, body = admin(stack, "GET", "/admin/api/scenarios")
    assert status == 200, body
    return {row["id"]: row for row in body["scenarios"]}


def upload(stack: Stack, scenario_id: str, text: str) -> tuple[int, Any]:
    return admin(stack, "PUT", f"/admin/api/scenarios/{scenario_id}", text.encode())


# --------------------------------------------------------------------------------------------
# SPEC §2: admin API


LIFECYCLE = """
id: acc-life
name: ライフサイクル
status: {status}
channel: default
timezone: Asia/Tokyo
start: {{trigger: follow, from: followed_at, audience: new}}
steps:
  - id: l1
    at: {{after: 0s}}
    messages: [{{text: "L1 {{display_name}}さん"}}]
  - id: l2
    at: {{wait: {wait}}}
    messages: [{{text: "{l2}"}}]
  - id: l3
    at: {{wait: 2s}}
    messages: [{{text: "L3 おわり"}}]
"""


def lifecycle(status: str = "live", wait: str = "4s", l2: str = "L2 つぎ") -> str:
    return LIFECYCLE.format(status=status, wait=wait, l2=l2)


def test_admin_api_auth_validation_and_preview(live: Stack, sim: SimulatorHandle) -> None:
    # no token, wrong token: 401 JSON, nothing stored
    status, body = raw_admin(live, "GET", "/admin/api/scenarios")
    assert status == 401 and "error" in body, body
    status, body = raw_admin(live, "PUT", "/admin/api/scenarios/acc-life", lifecycle().encode(),
                             {"Authorization": "Bearer wrong", "Content-Type": "application/yaml"})
    assert status == 401 and "error" in body, body
    assert "acc-life" not in scenarios_by_id(live)

    # invalid YAML (syntax), invalid field, unknown variable: 4xx with located details, nothing changed
    broken_syntax = "id: acc-bad\nname: x\nsteps:\n  - id: a\n    at: {after: 0s\n    messages: []\n"
    bad_field = lifecycle().replace("at: {after: 0s}", "at: {after: soon}").replace("acc-life", "acc-bad")
    bad_variable = lifecycle().replace("{display_name}", "{nickname}").replace("acc-life", "acc-bad")
    for document, expected_line in ((broken_syntax, None), (bad_field, 10), (bad_variable, 11)):
        status, body = upload(live, "acc-bad", document)
        assert 400 <= status < 500, (status, body)
        assert isinstance(body.get("error"), str) and body["details"], body
        for detail in body["details"]:
            assert {"file", "line", "column", "path", "message"} <= set(detail), detail
            assert detail["message"], detail
        if expected_line is not None:
            assert any(d["line"] == expected_line and d["column"] for d in body["details"]), body
            assert any("steps[0]" in str(d["path"]) for d in body["details"]), body
    assert "acc-bad" not in scenarios_by_id(live)

    # an id that does not match the URL is refused too
    status, body = upload(live, "acc-other", lifecycle(status="draft"))
    assert 400 <= status < 500 and body["details"], body

    # draft upload (201), same document again (200, same version)
    status, body = upload(live, "acc-prev", lifecycle(status="draft").replace("acc-life", "acc-prev"))
    assert status == 201, body
    assert body["version"] == 1 and body["scenario"]["status"] == "draft", body
    status, body = upload(live, "acc-prev", lifecycle(status="draft").replace("acc-life", "acc-prev"))
    assert status == 200 and body["version"] == 1 and body["changed"] is False, body

    # preview: exact timeline, nothing sent
    before = len(sim.deliveries())
    status, body = admin(live, "GET", "/admin/api/scenarios/acc-prev/preview?start=2026-11-23T15:00:00%2B09:00")
    assert status == 200, body
    assert [entry["step_id"] for entry in body["timeline"]] == ["l1", "l2", "l3"], body
    assert body["timeline"][0]["due_utc"].startswith("2026-11-23T06:00:00"), body  # 15:00 JST
    assert body["timeline"][0]["due_local"].startswith("2026-11-23T15:00:00"), body
    assert body["timeline"][1]["due_utc"].startswith("2026-11-23T06:00:04"), body
    assert body["timeline"][2]["due_utc"].startswith("2026-11-23T06:00:06"), body
    for bad_start in ("tomorrow", "", "2026-13-40T25:00"):
        status, body = admin(live, "GET", f"/admin/api/scenarios/acc-prev/preview?start={bad_start}")
        assert status == 400 and body["error"] and body["details"], (bad_start, body)
    status, body = admin(live, "GET", "/admin/api/scenarios/acc-missing/preview?start=2026-11-23T15:00:00Z")
    assert status == 404 and body["error"], body
    assert len(sim.deliveries()) == before

    # status in the document is applied on upload: live publishes, paused pauses
    status, body = upload(live, "acc-prev", lifecycle(status="live").replace("acc-life", "acc-prev"))
    assert status == 200 and body["scenario"]["status"] == "live", body
    status, body = upload(live, "acc-prev", lifecycle(status="paused").replace("acc-life", "acc-prev"))
    assert status == 200 and body["scenario"]["status"] == "paused", body
    assert scenarios_by_id(live)["acc-prev"]["status"] == "paused"
    status, body = admin(live, "POST", "/admin/api/scenarios/acc-prev/pause")
    assert status == 409 and body["error"], body  # already paused


def test_versions_impact_pause_and_resume(live: Stack, sim: SimulatorHandle) -> None:
    status, body = upload(live, "acc-life", lifecycle(status="draft"))
    assert status == 201 and body["scenario"]["status"] == "draft", body
    status, body = admin(live, "POST", "/admin/api/scenarios/acc-life/publish")
    assert status == 200 and body["scenario"]["status"] == "live", body

    users = ["Ulife0001", "Ulife0002"]
    sim.users(display_names={"Ulife0001": "花子", "Ulife0002": "太郎"})
    assert signed(live, [follow(sim, u) for u in users])[0] == 200
    wait_until(lambda: all(texts(sim, u, prefix="L") for u in users), 30, "L1 for both friends")
    assert texts(sim, "Ulife0001", prefix="L") == ["L1 花子さん"]

    # pause before l2 is due: nothing goes out while paused
    status, body = admin(live, "POST", "/admin/api/scenarios/acc-life/pause")
    assert status == 200 and body["scenario"]["status"] == "paused", body
    time.sleep(6)  # l2 was due 4 s after l1: it must not go out
    assert all(texts(sim, u, prefix="L") == [texts(sim, u, prefix="L")[0]] for u in users)

    # a changed step while friends wait on it: new version, impact names the step and its friends
    status, body = upload(live, "acc-life", lifecycle(status="paused", l2="L2 新しい文面"))
    assert status == 200, body
    assert body["version"] == 2 and body["changed"] is True and body["action"] == "updated", body
    assert body["impact"] == [{"step_id": "l2", "friends": 2, "change": "changed"}], body
    assert scenarios_by_id(live)["acc-life"]["version"] == 2
    assert scenarios_by_id(live)["acc-life"]["status"] == "paused"

    # resume: the due step goes out at once (new text), then the rest, each once
    status, body = admin(live, "POST", "/admin/api/scenarios/acc-life/resume")
    assert status == 200 and body["scenario"]["status"] == "live", body
    wait_until(lambda: all(len(texts(sim, u, prefix="L")) >= 3 for u in users), 30, "l2 and l3 after resume")
    time.sleep(1)
    assert texts(sim, "Ulife0002", prefix="L") == ["L1 太郎さん", "L2 新しい文面", "L3 おわり"]
    counts = scenarios_by_id(live)["acc-life"]["enrollments"]
    assert counts.get("completed") == 2, counts
    # leave the module clean: no more follow enrollments from this scenario
    assert admin(live, "POST", "/admin/api/scenarios/acc-life/pause")[0] == 200


# --------------------------------------------------------------------------------------------
# SPEC §1: webhook


RULES = """
id: acc-rules
name: ルール
status: live
channel: default
timezone: Asia/Tokyo
start: {trigger: follow, from: followed_at, audience: new}
steps:
  - id: r1
    at: {after: 0s}
    messages: [{text: "R1 {display_name}さん、ようこそ"}]
  - id: r2
    at: {wait: 1h}
    messages: [{text: "R2 一時間後"}]
  - id: r3
    at: {wait: 2s}
    messages: [{text: "R3 詳細"}]
  - id: r4
    at: {wait: 1h}
    messages: [{text: "R4 最後"}]
rules:
  - when: {keyword: [配信停止, stop], match: exact}
    do: [{reply: [{text: "配信を停止しました"}]}, {stop: true}]
  - when: {keyword: [詳しく], match: contains}
    do: [{reply: [{text: "詳細はこちら"}]}, {goto: r3}]
  - when: {postback: "action=buy"}
    do: [{reply: [{text: "ご購入ありがとう"}]}, {tag: buyer}]
"""


def test_webhook_signature_connectivity_and_malformed(live: Stack) -> None:
    event = line_event("follow", "Usig0001", follow={"isUnblocked": False})
    body = json.dumps({"destination": BOT, "events": [event]}).encode()
    assert post_webhook(live, body, None)[0] == 400
    assert post_webhook(live, body, sign(body, "another-secret"))[0] == 400
    assert post_webhook(live, body, "not base64 at all")[0] == 400
    assert post_webhook(live, body + b" ", sign(body, SECRET))[0] == 400  # signed a different body
    empty = json.dumps({"destination": BOT, "events": []}).encode()
    assert post_webhook(live, empty, sign(empty, SECRET))[0] == 200
    malformed = b'{"destination": "U", "events": [ '
    assert post_webhook(live, malformed, sign(malformed, SECRET))[0] == 400
    huge = b'{"destination": "U", "events": [], "pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert post_webhook(live, huge, sign(huge, SECRET))[0] == 413
    assert post_webhook(live, body, sign(body, SECRET), path="/callback/nosuchchannel")[0] in (400, 404)
    # nothing from the rejected bodies was processed: no friend "Usig0001"
    status, answer = admin(live, "GET", "/admin/api/deliveries?limit=1000")
    assert status == 200 and all(d["user_id"] != "Usig0001" for d in answer["deliveries"]), answer


def test_webhook_events_rules_and_duplicates(live: Stack, sim: SimulatorHandle) -> None:
    assert upload(live, "acc-rules", RULES)[0] in (200, 201)
    sim.users(display_names={"Urule0001": "山田", "Urule0002": "佐藤", "Urule0003": "鈴木", "Udup00001": "重複"})

    # redelivered / duplicated follow: one enrollment, one push
    first = follow(sim, "Udup00001")
    again = {**first, "deliveryContext": {"isRedelivery": True}}
    assert signed(live, [first])[0] == 200
    assert signed(live, [again])[0] == 200
    assert signed(live, [first, again])[0] == 200
    assert sim.webhook([{"type": "follow", "userId": "Udup00002"}], url=live.base_url + "/callback",
                       channel_secret=SECRET, duplicate=3)["statuses"] == [200] * 4

    # group / room / standby / unknown / unhandled-type events: 200, stored, ignored
    ignored = [
        line_event("message", "Uign0001", reply_token=sim.reply_token("Uign0001"),
                   source={"type": "group", "groupId": "Ca56f94637c0001", "userId": "Uign0001"},
                   message={"id": "1", "type": "text", "quoteToken": "q", "text": "配信停止"}),
        line_event("follow", "Uign0002", source={"type": "room", "roomId": "Ra8dc0001", "userId": "Uign0002"},
                   follow={"isUnblocked": False}),
        line_event("follow", "Uign0003", mode="standby", follow={"isUnblocked": False}),
        line_event("message", "Uign0004", mode="standby",
                   message={"id": "2", "type": "text", "quoteToken": "q", "text": "詳しく"}),
        line_event("join", "", source={"type": "group", "groupId": "Ca56f94637c0002"},
                   reply_token=sim.reply_token("Uign0005")),
        line_event("memberJoined", "", source={"type": "group", "groupId": "Ca56f94637c0002"},
                   joined={"members": [{"type": "user", "userId": "Uign0006"}]}),
        line_event("somethingLineInventsLater", "Uign0007", novel={"x": 1}),
        line_event("message", "Uign0008", reply_token=sim.reply_token("Uign0008"),
                   message={"id": "3", "type": "sticker", "packageId": "446", "stickerId": "1988",
                            "stickerResourceType": "STATIC", "keywords": ["happy"]}),
        line_event("accountLink", "Uign0009", link={"result": "ok", "nonce": "xxx"}),
        line_event("unsend", "Uign0010", unsend={"messageId": "325708"}),
        line_event("videoPlayComplete", "Uign0011", videoPlayComplete={"trackingId": "track-id"}),
        line_event("beacon", "Uign0012", beacon={"hwid": "d41d8cd98f", "type": "enter"}),
    ]
    status, body = signed(live, ignored)
    assert status == 200, body

    # friends: follow with a display name from the profile API, then keyword / postback rules
    users = ["Urule0001", "Urule0002", "Urule0003"]
    assert signed(live, [follow(sim, u) for u in users])[0] == 200
    wait_until(lambda: all(texts(sim, u, prefix="R") for u in users + ["Udup00001", "Udup00002"]), 30,
               "R1 for every friend")
    assert texts(sim, "Urule0001", prefix="R") == ["R1 山田さん、ようこそ"]

    usage_before = sim.stats()["channels"]["default"]["usage"]
    assert signed(live, [text_message(sim, "Urule0001", "配信停止")])[0] == 200  # exact: stop
    assert signed(live, [text_message(sim, "Urule0002", "もっと詳しく知りたい")])[0] == 200  # contains: goto r3
    assert signed(live, [postback(sim, "Urule0003", "action=buy")])[0] == 200
    wait_until(lambda: replies_to(sim, "Urule0003") and replies_to(sim, "Urule0001"), 30, "replies")
    wait_until(lambda: "R3 詳細" in texts(sim, "Urule0002", prefix="R"), 30, "goto r3 pushes r3 at once")
    assert replies_to(sim, "Urule0001") == ["配信を停止しました"]
    assert replies_to(sim, "Urule0002") == ["詳細はこちら"]
    assert replies_to(sim, "Urule0003") == ["ご購入ありがとう"]
    assert sim.stats()["channels"]["default"]["usage"] == usage_before + 1  # replies are free; r3 is one push
    assert texts(sim, "Urule0002", prefix="R") == ["R1 佐藤さん、ようこそ", "R3 詳細"]

    time.sleep(3)  # anything extra (a duplicate, an ignored event acted on) would show by now
    assert texts(sim, "Udup00001", prefix="R") == ["R1 重複さん、ようこそ"]
    assert len(texts(sim, "Udup00002", prefix="R")) == 1
    assert texts(sim, "Urule0001", prefix="R") == ["R1 山田さん、ようこそ"]  # stopped
    for n in range(1, 13):
        user_id = f"Uign{n:04d}"
        assert not sim.deliveries(to=user_id), (user_id, sim.deliveries(to=user_id))
    counts = scenarios_by_id(live)["acc-rules"]["enrollments"]
    assert sum(counts.values()) == 5, counts  # the five real friends only, each once
    assert counts.get("stopped") == 1, counts

    # block (unfollow, no reply token) stops the friend's enrollment
    assert signed(live, [line_event("unfollow", "Urule0003")])[0] == 200
    wait_until(lambda: scenarios_by_id(live)["acc-rules"]["enrollments"].get("stopped") == 2, 30,
               "unfollow stops the enrollment")
    assert admin(live, "POST", "/admin/api/scenarios/acc-rules/pause")[0] == 200


ORDER = """
id: acc-order
name: 順序
status: live
channel: default
timezone: Asia/Tokyo
start: {trigger: follow, from: followed_at, audience: new, on_refollow: resume}
steps:
  - id: o1
    at: {after: 0s}
    messages: [{text: "O1 {display_name}さん"}]
  - id: o2
    at: {wait: 3s}
    messages: [{text: "O2 つづき"}]
rules:
  - when: {keyword: [止めて], match: exact}
    do: [{reply: [{text: "止めました"}]}, {stop: true}]
"""


def timed(event: dict[str, Any], timestamp: int) -> dict[str, Any]:
    return {**event, "timestamp": timestamp, "webhookEventId": ulid(timestamp)}


def test_event_order_profile_failure_and_reply_failure(live: Stack, sim: SimulatorHandle) -> None:
    code, body = upload(live, "acc-order", ORDER.replace("acc-order", "acc-order-draft").replace("live", "draft", 1))
    assert code == 400  # the URL names another id
    code, body = admin(live, "PUT", "/admin/api/scenarios/acc-order",
                       json.dumps({"id": "acc-order", "name": "JSON", "status": "draft",
                                   "start": {"trigger": "follow", "from": "followed_at"}, "steps": [
                           {"id": "o1", "at": {"after": "0s"}, "messages": [{"text": "json"}]}]}).encode(),
                       content_type="application/json")
    assert code == 201 and body["scenario"]["status"] == "draft", body  # a JSON body works as well
    code, body = upload(live, "acc-order", ORDER)
    assert code == 200 and body["version"] == 2 and body["scenario"]["status"] == "live", body

    now = int(time.time() * 1000)
    # a block that happened after the follow arrives first (separate bodies, then one body reversed)
    assert signed(live, [timed(line_event("unfollow", "Uorder0001"), now)])[0] == 200
    assert signed(live, [timed(follow(sim, "Uorder0001"), now - 5000)])[0] == 200
    assert signed(live, [timed(line_event("unfollow", "Uorder0002"), now),
                         timed(follow(sim, "Uorder0002"), now - 5000)])[0] == 200

    # the profile API fails: the friend is still enrolled, {display_name} renders empty, never raw
    sim.config(faults={"error_500": {"probability": 1.0, "endpoints": ["profile"]}})
    try:
        assert signed(live, [follow(sim, "Uorder0003")])[0] == 200
        wait_until(lambda: texts(sim, "Uorder0003", prefix="O"), 30, "O1 without a profile")
    finally:
        sim.config(faults={})
    assert texts(sim, "Uorder0003", prefix="O")[0] == "O1 さん"

    # the reply API fails: the rule still applies (stop), nothing is pushed instead of the reply
    sim.users(display_names={"Uorder0004": "四郎"})
    assert signed(live, [follow(sim, "Uorder0004")])[0] == 200
    wait_until(lambda: texts(sim, "Uorder0004", prefix="O"), 30, "O1")
    sim.config(faults={"error_500": {"probability": 1.0, "endpoints": ["reply"]}})
    try:
        assert signed(live, [text_message(sim, "Uorder0004", "止めて")])[0] == 200
        wait_until(lambda: scenarios_by_id(live)["acc-order"]["enrollments"].get("stopped", 0) >= 1, 30, "stop")
    finally:
        sim.config(faults={})

    wait_until(lambda: "O2 つづき" in texts(sim, "Uorder0003", prefix="O"), 30, "O2 for the control friend")
    time.sleep(2)
    assert texts(sim, "Uorder0003", prefix="O") == ["O1 さん", "O2 つづき"]
    assert texts(sim, "Uorder0004", prefix="O") == ["O1 四郎さん"]
    assert not sim.deliveries(to="Uorder0001") and not sim.deliveries(to="Uorder0002")
    counts = scenarios_by_id(live)["acc-order"]["enrollments"]
    assert counts.get("active", 0) == 0, counts
    assert admin(live, "POST", "/admin/api/scenarios/acc-order/pause")[0] == 200
