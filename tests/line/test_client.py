"""The LINE client classifies every answer of a real (simulated) LINE into an Outcome."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from app.line.client import LineApiError, LineClient, Outcome, classify, client_for
from linesim.testing import SimulatorHandle

TEXT = [{"type": "text", "text": "こんにちは"}]


@pytest.fixture()
def line(sim: SimulatorHandle) -> Iterator[LineClient]:
    client = LineClient(sim.base_url, "test-token", pool_size=4, connect_timeout=1.0, read_timeout=1.0)
    yield client
    client.close()


def key() -> str:
    return str(uuid.uuid4())


def test_push_accepted_with_request_id(sim: SimulatorHandle, line: LineClient) -> None:
    result = line.push("U1", TEXT, key())
    assert (result.outcome, result.status) == (Outcome.ACCEPTED, 200)
    assert result.request_id == sim.deliveries(to="U1")[0]["request_id"]


def test_reused_retry_key_is_accepted_with_the_accepted_request_id(line: LineClient) -> None:
    retry_key = key()
    first = line.push("U1", TEXT, retry_key)
    again = line.push("U1", TEXT, retry_key)
    assert (again.outcome, again.status) == (Outcome.ACCEPTED, 409)
    assert again.request_id == first.request_id


def test_multicast_and_reply_accepted(sim: SimulatorHandle, line: LineClient) -> None:
    assert line.multicast(["U1", "U2"], TEXT, key()).outcome is Outcome.ACCEPTED
    assert line.reply(sim.reply_token("U1"), TEXT).outcome is Outcome.ACCEPTED
    assert [d["endpoint"] for d in sim.deliveries(to="U1")] == ["multicast", "reply"]


def test_a_full_multicast_carries_every_recipient_and_bad_input_is_refused_before_line(
        sim: SimulatorHandle, line: LineClient) -> None:
    to = [f"U{i:032x}" for i in range(500)]
    assert line.multicast(to, TEXT, key()).outcome is Outcome.ACCEPTED
    [recorded] = sim.deliveries(to=to[-1])
    assert (recorded["to"], recorded["messages"]) == (to, TEXT)
    bad_message = line.multicast(["U1"], [{"type": "text"}], key())  # no text
    bad_recipient = line.multicast(["U1", ""], TEXT, key())
    assert (bad_message.outcome, bad_recipient.outcome) == (Outcome.REJECTED, Outcome.REJECTED)
    assert bad_message.message and bad_message.message.startswith("invalid message")
    assert len(sim.deliveries()) == 1


def test_rate_limited(sim: SimulatorHandle, line: LineClient) -> None:
    sim.config(push_rate=1)
    line.push("U1", TEXT, key())
    result = line.push("U1", TEXT, key())
    assert (result.outcome, result.status) == (Outcome.RATE_LIMITED, 429)


def test_quota_exhausted(sim: SimulatorHandle, line: LineClient) -> None:
    sim.config(quota_limit=1)
    assert line.push("U1", TEXT, key()).sent
    result = line.push("U2", TEXT, key())
    assert (result.outcome, result.message) == (Outcome.QUOTA_EXHAUSTED, "You have reached your monthly limit.")


def test_injected_500_is_transient(sim: SimulatorHandle, line: LineClient) -> None:
    sim.config(faults={"error_500": {"next": 1}})
    assert line.push("U1", TEXT, key()).outcome is Outcome.TRANSIENT
    assert line.push("U1", TEXT, key()).outcome is Outcome.ACCEPTED


def test_timeout_is_transient_and_the_retry_is_accepted(sim: SimulatorHandle, line: LineClient) -> None:
    sim.config(faults={"lost_answer": {"next": 1, "mode": "delay", "delay_ms": 1500}})
    retry_key = key()
    lost = line.push("U1", TEXT, retry_key)
    assert (lost.outcome, lost.status) == (Outcome.TRANSIENT, None)
    again = line.push("U1", TEXT, retry_key)
    assert (again.outcome, again.status) == (Outcome.ACCEPTED, 409)
    assert len(sim.deliveries(to="U1")) == 1


def test_latency_beyond_read_timeout_is_transient(sim: SimulatorHandle, line: LineClient) -> None:
    sim.config(latency_ms=1500)
    assert line.push("U1", TEXT, key()).outcome is Outcome.TRANSIENT


def test_dropped_connection_is_transient(sim: SimulatorHandle, line: LineClient) -> None:
    sim.config(faults={"lost_answer": {"next": 1, "mode": "drop"}})
    assert line.push("U1", TEXT, key()).outcome is Outcome.TRANSIENT


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = LineClient(f"http://127.0.0.1:{port}", "test-token", connect_timeout=0.5, read_timeout=0.5)
    result = client.push("U1", TEXT, key())
    assert (result.outcome, result.status) == (Outcome.TRANSIENT, None)
    assert client.profile("U1") is None
    with pytest.raises(LineApiError):
        client.quota_limit()


def test_schema_invalid_push_is_rejected_with_lines_message(line: LineClient) -> None:
    result = line.push("U1", [{"type": "text", "text": "a" * 5001}], key())
    assert (result.outcome, result.status) == (Outcome.REJECTED, 400)
    assert result.message is not None
    assert result.message.startswith("The request body has 1 error(s)")
    assert "messages[0].text" in result.message


def test_bad_token_is_rejected(sim: SimulatorHandle) -> None:
    result = LineClient(sim.base_url, "wrong").push("U1", TEXT, key())
    assert (result.outcome, result.status) == (Outcome.REJECTED, 401)


def test_used_reply_token_is_rejected(sim: SimulatorHandle, line: LineClient) -> None:
    token = sim.reply_token("U1")
    line.reply(token, TEXT)
    result = line.reply(token, TEXT)
    assert (result.outcome, result.message) == (Outcome.REJECTED, "Invalid reply token")


def test_profile_is_best_effort(sim: SimulatorHandle, line: LineClient) -> None:
    sim.users(display_names={"U1": "Taro"}, blocked=["U2"])
    profile = line.profile("U1")
    assert profile is not None and profile["displayName"] == "Taro"
    assert line.profile("U2") is None


def test_quota_limit_none_or_limited(sim: SimulatorHandle, line: LineClient) -> None:
    assert line.quota_limit() is None
    sim.config(quota_limit=200)
    assert line.quota_limit() == 200


def test_consumption_counts_recipients(sim: SimulatorHandle, line: LineClient) -> None:
    line.multicast(["U1", "U2", "U3"], TEXT, key())
    sim.config(add_external_usage=2)
    assert line.consumption() == 5


def test_classify_table() -> None:
    assert classify(200, b"{}") is Outcome.ACCEPTED
    assert classify(409, b'{"message": "dup"}') is Outcome.ACCEPTED
    assert classify(429, b'{"message": "You have reached your monthly limit."}') is Outcome.QUOTA_EXHAUSTED
    rate = b'{"message": "The API rate limit has been exceeded. Try again later."}'
    assert classify(429, rate) is Outcome.RATE_LIMITED
    assert classify(503, None) is Outcome.TRANSIENT
    assert classify(None, None, TimeoutError()) is Outcome.TRANSIENT
    assert classify(400, b'{"message": "bad"}') is Outcome.REJECTED
    assert classify(403, None) is Outcome.REJECTED


def test_client_for_is_one_per_channel_and_process(sim: SimulatorHandle) -> None:
    first = client_for("default", sim.base_url, "test-token")
    assert client_for("default", sim.base_url, "test-token") is first
    assert client_for("shop", sim.base_url, "shop-token") is not first
