"""The simulator answers push / multicast / reply like LINE: validation, limits, auth, retry keys."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from linesim.testing import SimulatorHandle

PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"
REPLY = "/v2/bot/message/reply"
USER = "U" + "a" * 32


def text(value: str = "hello") -> dict[str, Any]:
    return {"type": "text", "text": value}


def quick_reply(items: int) -> dict[str, Any]:
    action = {"type": "action", "action": {"type": "message", "label": "yes", "text": "yes"}}
    return {"items": [action] * items}


def assert_rejected(answer: tuple[int, dict[str, str], Any], prop: str) -> None:
    status, _, body = answer
    assert status == 400, body
    assert body["message"] == f"The request body has {len(body['details'])} error(s)"
    assert any(d["property"] == prop for d in body["details"]), body["details"]


def test_valid_push_is_accepted_and_recorded(sim: SimulatorHandle) -> None:
    status, headers, body = sim.api("POST", PUSH, {"to": USER, "messages": [text()]})
    assert status == 200
    assert len(body["sentMessages"]) == 1
    [delivery] = sim.deliveries(to=USER)
    assert delivery["request_id"] == headers["x-line-request-id"]
    assert delivery["messages"] == [text()] and delivery["channel"] == "default" and delivery["endpoint"] == "push"


def test_schema_invalid_body_is_rejected_with_details(sim: SimulatorHandle) -> None:
    assert_rejected(sim.api("POST", PUSH, {"messages": [text()]}), "")
    assert_rejected(sim.api("POST", PUSH, {"to": USER, "messages": [{"type": "image"}]}), "messages[0]")
    assert sim.deliveries() == []


def test_message_checked_against_its_own_type_schema(sim: SimulatorHandle) -> None:
    sticker_without_ids = {"type": "sticker"}
    assert_rejected(sim.api("POST", PUSH, {"to": USER, "messages": [sticker_without_ids]}), "messages[0]")
    items = [{"type": "action", "action": {"type": "nope"}}]
    bad_action = {"type": "text", "text": "x", "quickReply": {"items": items}}
    assert_rejected(sim.api("POST", PUSH, {"to": USER, "messages": [bad_action]}),
                    "messages[0].quickReply.items[0].action.type")


def test_six_messages_are_too_many(sim: SimulatorHandle) -> None:
    assert_rejected(sim.api("POST", PUSH, {"to": USER, "messages": [text()] * 6}), "messages")


def test_text_limit_counts_utf16_units(sim: SimulatorHandle) -> None:
    assert sim.api("POST", PUSH, {"to": USER, "messages": [text("😀" * 2500)]})[0] == 200
    assert_rejected(sim.api("POST", PUSH, {"to": USER, "messages": [text("😀" * 2500 + "a")]}), "messages[0].text")
    assert_rejected(sim.api("POST", PUSH, {"to": USER, "messages": [text("a" * 5001)]}), "messages[0].text")


def test_fourteen_quick_replies_are_too_many(sim: SimulatorHandle) -> None:
    assert sim.api("POST", PUSH, {"to": USER, "messages": [{**text(), "quickReply": quick_reply(13)}]})[0] == 200
    message = {**text(), "quickReply": quick_reply(14)}
    assert_rejected(sim.api("POST", PUSH, {"to": USER, "messages": [message]}), "messages[0].quickReply.items")


def test_label_and_postback_data_limits(sim: SimulatorHandle) -> None:
    action = {"type": "postback", "label": "x" * 21, "data": "d" * 301}
    message = {**text(), "quickReply": {"items": [{"type": "action", "action": action}]}}
    status, _, body = sim.api("POST", PUSH, {"to": USER, "messages": [message]})
    assert status == 400
    props = {d["property"] for d in body["details"]}
    assert {"messages[0].quickReply.items[0].action.label", "messages[0].quickReply.items[0].action.data"} <= props


def test_multicast_allows_500_recipients_not_501(sim: SimulatorHandle) -> None:
    users = [f"U{i:032d}" for i in range(501)]
    assert_rejected(sim.api("POST", MULTICAST, {"to": users, "messages": [text()]}), "to")
    assert sim.api("POST", MULTICAST, {"to": users[:500], "messages": [text()]})[0] == 200
    assert len(sim.deliveries(to=users[499])) == 1


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_bad_token_is_401(sim: SimulatorHandle, token: str | None) -> None:
    status, _, body = sim.api("POST", PUSH, {"to": USER, "messages": [text()]}, token=token)
    assert status == 401
    assert body["message"].startswith("Authentication failed")


def test_each_token_is_its_own_channel(sim: SimulatorHandle) -> None:
    assert sim.api("POST", PUSH, {"to": USER, "messages": [text()]}, token="shop-token")[0] == 200
    assert sim.deliveries(channel="shop")[0]["to"] == [USER]
    assert sim.api("GET", "/v2/bot/message/quota/consumption")[2] == {"totalUsage": 0}


def test_reused_retry_key_answers_409_with_original_request(sim: SimulatorHandle) -> None:
    key = {"X-Line-Retry-Key": str(uuid.uuid4())}
    status, headers, first = sim.api("POST", PUSH, {"to": USER, "messages": [text()]}, headers=key)
    assert status == 200
    status, again_headers, again = sim.api("POST", PUSH, {"to": USER, "messages": [text()]}, headers=key)
    assert status == 409
    assert again_headers["x-line-accepted-request-id"] == headers["x-line-request-id"]
    assert again["sentMessages"] == first["sentMessages"]
    assert len(sim.deliveries(to=USER)) == 1
    assert sim.api("GET", "/v2/bot/message/quota/consumption")[2] == {"totalUsage": 1}


def test_invalid_retry_key_is_400(sim: SimulatorHandle) -> None:
    status, _, _ = sim.api("POST", PUSH, {"to": USER, "messages": [text()]}, headers={"X-Line-Retry-Key": "nope"})
    assert status == 400


def test_reply_token_is_single_use_and_free(sim: SimulatorHandle) -> None:
    token = sim.reply_token(USER)
    assert sim.api("POST", REPLY, {"replyToken": token, "messages": [text()]})[0] == 200
    status, _, body = sim.api("POST", REPLY, {"replyToken": token, "messages": [text()]})
    assert (status, body["message"]) == (400, "Invalid reply token")
    assert sim.deliveries(to=USER)[0]["endpoint"] == "reply"
    assert sim.api("GET", "/v2/bot/message/quota/consumption")[2] == {"totalUsage": 0}


def test_unknown_reply_token_is_400(sim: SimulatorHandle) -> None:
    status, _, body = sim.api("POST", REPLY, {"replyToken": "f" * 32, "messages": [text()]})
    assert (status, body["message"]) == (400, "Invalid reply token")


def test_reply_with_retry_key_is_400(sim: SimulatorHandle) -> None:
    token = sim.reply_token(USER)
    headers = {"X-Line-Retry-Key": str(uuid.uuid4())}
    assert sim.api("POST", REPLY, {"replyToken": token, "messages": [text()]}, headers=headers)[0] == 400
    assert sim.deliveries() == []


def test_profile_and_bot_info(sim: SimulatorHandle) -> None:
    sim.users(display_names={USER: "Hanako"})
    status, _, body = sim.api("GET", f"/v2/bot/profile/{USER}")
    assert (status, body["displayName"], body["userId"]) == (200, "Hanako", USER)
    assert sim.api("GET", "/v2/bot/info")[2]["userId"].startswith("U")
