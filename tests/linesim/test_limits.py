"""Rate limits, the monthly quota and blocked users, per channel."""

from __future__ import annotations

import uuid

from linesim.testing import SimulatorHandle

PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"
CONSUMPTION = "/v2/bot/message/quota/consumption"
MESSAGES = [{"type": "text", "text": "hi"}]


def push(sim: SimulatorHandle, to: str = "U1", token: str = "test-token") -> tuple[int, dict[str, object]]:
    status, _, body = sim.api("POST", PUSH, {"to": to, "messages": MESSAGES}, token=token,
                              headers={"X-Line-Retry-Key": str(uuid.uuid4())})
    return status, body


def test_push_over_the_rate_is_429(sim: SimulatorHandle) -> None:
    sim.config(push_rate=3)
    statuses = [push(sim)[0] for _ in range(6)]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]


def test_rate_limit_body_names_the_rate_limit(sim: SimulatorHandle) -> None:
    sim.config(push_rate=1)
    push(sim)
    status, body = push(sim)
    assert (status, body) == (429, {"message": "The API rate limit has been exceeded. Try again later."})


def test_rate_limits_are_per_channel(sim: SimulatorHandle) -> None:
    sim.config(push_rate=1)
    assert push(sim)[0] == 200
    assert push(sim, token="shop-token")[0] == 200


def test_multicast_has_its_own_lower_rate(sim: SimulatorHandle) -> None:
    sim.config(multicast_rate=1)
    body = {"to": ["U1", "U2"], "messages": MESSAGES}
    assert sim.api("POST", MULTICAST, body)[0] == 200
    assert sim.api("POST", MULTICAST, body)[0] == 429
    assert push(sim)[0] == 200


def test_quota_counts_recipients_and_stops_at_the_monthly_limit(sim: SimulatorHandle) -> None:
    sim.config(quota_limit=4)
    assert sim.api("GET", "/v2/bot/message/quota")[2] == {"type": "limited", "value": 4}
    assert sim.api("POST", MULTICAST, {"to": ["U1", "U2", "U3"], "messages": MESSAGES * 5})[0] == 200
    assert sim.api("GET", CONSUMPTION)[2] == {"totalUsage": 3}
    assert sim.api("POST", MULTICAST, {"to": ["U4", "U5"], "messages": MESSAGES})[0] == 429
    assert push(sim, "U4")[0] == 200
    status, body = push(sim, "U5")
    assert (status, body) == (429, {"message": "You have reached your monthly limit."})
    assert sim.api("GET", CONSUMPTION)[2] == {"totalUsage": 4}


def test_no_quota_limit_is_type_none(sim: SimulatorHandle) -> None:
    assert sim.api("GET", "/v2/bot/message/quota")[2] == {"type": "none"}


def test_external_usage_counts_towards_consumption_and_limit(sim: SimulatorHandle) -> None:
    sim.config(quota_limit=5, add_external_usage=4)
    assert sim.api("GET", CONSUMPTION)[2] == {"totalUsage": 4}
    assert push(sim)[0] == 200
    assert push(sim)[0] == 429
    sim.config(quota_limit=10)  # plan upgraded mid-month
    assert push(sim)[0] == 200


def test_blocked_user_push_is_200_but_not_delivered_or_counted(sim: SimulatorHandle) -> None:
    sim.users(blocked=["Ublocked"])
    status, body = push(sim, "Ublocked")
    assert status == 200 and "sentMessages" in body
    assert sim.deliveries(to="Ublocked") == []
    assert sim.api("GET", CONSUMPTION)[2] == {"totalUsage": 0}
    assert sim.api("GET", "/v2/bot/profile/Ublocked")[0] == 404


def test_blocked_recipients_of_a_multicast_are_skipped(sim: SimulatorHandle) -> None:
    sim.users(blocked=["U2"])
    assert sim.api("POST", MULTICAST, {"to": ["U1", "U2"], "messages": MESSAGES})[0] == 200
    assert sim.deliveries()[0]["to"] == ["U1"]
    assert sim.api("GET", CONSUMPTION)[2] == {"totalUsage": 1}


def test_stats_count_outcomes_per_endpoint(sim: SimulatorHandle) -> None:
    push(sim)
    sim.api("POST", PUSH, {"to": "U1", "messages": []})
    assert sim.stats()["endpoints"]["push"] == {"accepted": 1, "invalid": 1}


def test_rate_limits_are_per_endpoint(sim: SimulatorHandle) -> None:
    sim.config(push_rate=1)
    assert push(sim)[0] == 200
    assert sim.api("GET", CONSUMPTION)[0] == 200
