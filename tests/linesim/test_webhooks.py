"""The simulator sends LINE-shaped, correctly signed webhooks, and issues working reply tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from linesim.testing import SimulatorHandle
from linesim.webhooks import build_event, sign, ulid

SECRET = "webhook-secret"


class Receiver:
    """A tiny bot: records raw bodies and signatures, answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, str]] = []
        self.status = 200


@pytest.fixture()
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((body, self.headers.get("x-line-signature", "")))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/callback"
    server.shutdown()
    server.server_close()


def expected_signature(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def test_sign_matches_hmac_sha256_base64() -> None:
    assert sign(b'{"events":[]}', SECRET) == expected_signature(b'{"events":[]}')


def test_webhook_is_signed_and_line_shaped(sim: SimulatorHandle, receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    answer = sim.webhook([{"type": "follow", "userId": "U1", "isUnblocked": False},
                          {"type": "message", "userId": "U1", "text": "詳しく"},
                          {"type": "postback", "userId": "U1", "data": "action=buy"},
                          {"type": "unfollow", "userId": "U1"}], url=url, channel_secret=SECRET)
    assert answer["status"] == 200
    [(body, signature)] = state.requests
    assert signature == expected_signature(body)
    payload = json.loads(body)
    assert payload["destination"].startswith("U")
    follow, message, postback, unfollow = payload["events"]
    assert [e["webhookEventId"] for e in payload["events"]] == answer["event_ids"]
    assert follow["follow"] == {"isUnblocked": False} and follow["source"] == {"type": "user", "userId": "U1"}
    assert message["message"]["text"] == "詳しく" and postback["postback"]["data"] == "action=buy"
    assert "replyToken" not in unfollow
    for event in payload["events"]:
        assert event["mode"] == "active" and event["deliveryContext"] == {"isRedelivery": False}
        assert len(event["webhookEventId"]) == 26 and isinstance(event["timestamp"], int)


def test_webhook_reply_tokens_work_once(sim: SimulatorHandle, receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    sim.webhook([{"type": "message", "userId": "U1", "text": "hi"}], url=url, channel_secret=SECRET)
    token = json.loads(state.requests[0][0])["events"][0]["replyToken"]
    body = {"replyToken": token, "messages": [{"type": "text", "text": "hello"}]}
    assert sim.api("POST", "/v2/bot/message/reply", body)[0] == 200
    assert sim.api("POST", "/v2/bot/message/reply", body)[0] == 400


def test_redelivery_after_an_error_reuses_the_event_id(sim: SimulatorHandle, receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.status = 500
    answer = sim.webhook([{"type": "follow", "userId": "U1"}], url=url, channel_secret=SECRET, redeliver=2)
    assert answer["statuses"] == [500, 500, 500]
    events = [json.loads(body)["events"][0] for body, _ in state.requests]
    assert {e["webhookEventId"] for e in events} == set(answer["event_ids"])
    assert [e["deliveryContext"]["isRedelivery"] for e in events] == [False, True, True]
    assert len({e["timestamp"] for e in events}) == 1


def test_duplicates_are_sent_even_on_success(sim: SimulatorHandle, receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    answer = sim.webhook([{"type": "follow", "userId": "U1"}], url=url, channel_secret=SECRET, duplicate=1)
    assert answer["statuses"] == [200, 200]
    assert state.requests[0][0] == state.requests[1][0]


def test_build_event_helper() -> None:
    event = build_event("follow", "U1", is_unblocked=True, reply_token="r", timestamp=1_700_000_000_000)
    assert event["follow"] == {"isUnblocked": True} and event["replyToken"] == "r"
    assert event["timestamp"] == 1_700_000_000_000
    assert build_event("message", "U1", text="x", mode="standby", reply_token="r").get("replyToken") is None
    assert ulid(0) < ulid(1)
