"""Sends reuse the SDK's validated body for a message list they have seen, and refuse the bad ones."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from linebot.v3.messaging import PushMessageRequest, ReplyMessageRequest

from app.line.client import LineClient, Outcome
from app.line.wire import WireBodies
from linesim.testing import SimulatorHandle

TEXT = [{"type": "text", "text": "こんにちは"}]
FLEX = [{"type": "flex", "altText": "card", "contents": {"type": "bubble", "body": {
    "type": "box", "layout": "vertical", "contents": [{"type": "text", "text": "hi"}]}}}]


class Counting(PushMessageRequest):
    """PushMessageRequest that counts how often the SDK validates one."""

    calls = 0

    @classmethod
    def from_dict(cls, obj: Any) -> Any:
        Counting.calls += 1
        return PushMessageRequest.from_dict(obj)


def test_a_message_list_is_validated_once_and_each_send_keeps_its_own_recipient() -> None:
    bodies, Counting.calls = WireBodies(), 0
    first = bodies.body(Counting, {"to": "U1"}, TEXT)
    second = bodies.body(Counting, {"to": "U2"}, [dict(TEXT[0])])
    assert Counting.calls == 1
    assert first == PushMessageRequest.from_dict({"to": "U1", "messages": TEXT}).to_dict()
    assert (first["to"], second["to"], second["messages"]) == ("U1", "U2", first["messages"])


def test_the_kept_bodies_are_bounded_and_the_oldest_goes_first() -> None:
    bodies, Counting.calls = WireBodies(size=2), 0
    lists = [[{"type": "text", "text": f"m{i}"}] for i in range(3)]
    for messages in lists:
        bodies.body(Counting, {"to": "U1"}, messages)
    bodies.body(Counting, {"to": "U1"}, lists[2])  # kept
    assert Counting.calls == 3
    bodies.body(Counting, {"to": "U1"}, lists[0])  # evicted: validated again
    assert Counting.calls == 4


@pytest.mark.parametrize("messages", [[{"type": "text"}], [{"type": "nope"}], "text", None, [{"text": b"x"}]])
def test_a_bad_message_list_is_refused_every_time(messages: Any) -> None:
    bodies = WireBodies()
    for _ in range(2):
        with pytest.raises((ValueError, TypeError)):
            bodies.body(ReplyMessageRequest, {"replyToken": "t"}, messages)


@pytest.fixture()
def line(sim: SimulatorHandle) -> Any:
    client = LineClient(sim.base_url, "test-token", pool_size=4, connect_timeout=1.0, read_timeout=1.0)
    yield client
    client.close()


def test_repeated_sends_reach_line_as_the_typed_call_would_send_them(sim: SimulatorHandle, line: LineClient) -> None:
    for user in ("U1", "U2"):
        assert line.push(user, FLEX, str(uuid.uuid4())).outcome is Outcome.ACCEPTED
        assert line.reply(sim.reply_token(user), FLEX).outcome is Outcome.ACCEPTED
    expected = PushMessageRequest.from_dict({"to": "U1", "messages": FLEX}).to_dict()["messages"]
    recorded = sim.deliveries()
    assert [(d["endpoint"], d["to"]) for d in recorded] == [
        ("push", ["U1"]), ("reply", ["U1"]), ("push", ["U2"]), ("reply", ["U2"])]
    assert all(d["messages"] == expected for d in recorded)


def test_a_bad_recipient_or_token_is_refused_before_line_even_for_known_messages(
        sim: SimulatorHandle, line: LineClient) -> None:
    assert line.push("U1", TEXT, str(uuid.uuid4())).sent
    bad = [line.push("", TEXT, str(uuid.uuid4())), line.push(["U1"], TEXT, str(uuid.uuid4())),  # type: ignore[arg-type]
           line.reply("", TEXT), line.reply(None, TEXT)]  # type: ignore[arg-type]
    assert {result.outcome for result in bad} == {Outcome.REJECTED}
    assert len(sim.deliveries()) == 1
