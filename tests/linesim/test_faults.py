"""Injected faults: 500s, rate 429s, latency and lost answers (accepted, but the client never hears)."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from urllib.parse import urlsplit

from linesim.testing import SimulatorHandle

PUSH = "/v2/bot/message/push"
BODY = {"to": "U1", "messages": [{"type": "text", "text": "hi"}]}


def test_next_n_500s_then_normal(sim: SimulatorHandle) -> None:
    sim.config(faults={"error_500": {"next": 2}})
    assert [sim.api("POST", PUSH, BODY)[0] for _ in range(3)] == [500, 500, 200]
    assert len(sim.deliveries()) == 1


def test_injected_rate_429(sim: SimulatorHandle) -> None:
    sim.config(faults={"rate_429": {"next": 1}})
    status, _, body = sim.api("POST", PUSH, BODY)
    assert (status, body["message"]) == (429, "The API rate limit has been exceeded. Try again later.")


def test_probabilistic_faults_are_deterministic_with_a_seed(sim: SimulatorHandle) -> None:
    def run() -> list[int]:
        sim.reset()
        sim.config(seed=42, faults={"error_500": {"probability": 0.5}})
        return [sim.api("POST", PUSH, BODY)[0] for _ in range(20)]

    first = run()
    assert first == run()
    assert 500 in first and 200 in first


def test_latency_delays_answers(sim: SimulatorHandle) -> None:
    sim.config(latency_ms=200)
    started = time.monotonic()
    assert sim.api("POST", PUSH, BODY)[0] == 200
    assert time.monotonic() - started >= 0.2


def test_faults_can_target_endpoints(sim: SimulatorHandle) -> None:
    sim.config(faults={"error_500": {"next": 5, "endpoints": ["multicast"]}})
    assert sim.api("POST", PUSH, BODY)[0] == 200


def test_lost_answer_drop_records_the_push_and_a_retry_gets_409(sim: SimulatorHandle) -> None:
    sim.config(faults={"lost_answer": {"next": 1, "mode": "drop"}})
    key = str(uuid.uuid4())
    parts = urlsplit(sim.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    headers = {"Authorization": "Bearer test-token", "Content-Type": "application/json", "X-Line-Retry-Key": key}
    connection.request("POST", PUSH, json.dumps(BODY), headers)
    try:
        connection.getresponse()
        raise AssertionError("expected the connection to be dropped")
    except (http.client.RemoteDisconnected, ConnectionError):
        pass
    assert len(sim.deliveries()) == 1
    status, headers_409, _ = sim.api("POST", PUSH, BODY, headers={"X-Line-Retry-Key": key})
    assert status == 409
    assert headers_409["x-line-accepted-request-id"] == sim.deliveries()[0]["request_id"]


def test_lost_answer_500_still_records(sim: SimulatorHandle) -> None:
    sim.config(faults={"lost_answer": {"next": 1, "mode": "500"}})
    key = {"X-Line-Retry-Key": str(uuid.uuid4())}
    assert sim.api("POST", PUSH, BODY, headers=key)[0] == 500
    assert sim.api("POST", PUSH, BODY, headers=key)[0] == 409
    assert len(sim.deliveries()) == 1
    assert sim.stats()["endpoints"]["push"]["lost_answer"] == 1
