"""Acceptance through HTTP only: SPEC §4 (quota) with the LINE simulator enforcing a monthly limit.

The simulator refuses pushes past its limit with LINE's 429 "monthly limit" answer, so what it
accepted is what LINE would have delivered (and counted). Nothing here reads the database.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from typing import Any

import pytest

from devstack.processes import Stack
from linesim.testing import SimulatorHandle
from tests.e2e.conftest import SECRET, admin, wait_until

pytestmark = pytest.mark.e2e

SCENARIO = """
id: {id}
name: {id}
status: live
channel: default
timezone: Asia/Tokyo
priority: {priority}
on_quota_exhausted: {policy}
start: {{trigger: follow, from: followed_at, audience: new}}
steps:
  - id: only
    at: {{after: 0s}}
    messages: [{{text: "{marker} {{display_name}}さん"}}]
"""


def scenario(scenario_id: str, marker: str, *, priority: int = 0, policy: str = "hold") -> bytes:
    return SCENARIO.format(id=scenario_id, marker=marker, priority=priority, policy=policy).encode()


def start(stack: Stack) -> None:
    stack.start_web()
    stack.start_worker()
    stack.start_scheduler()


def follow(sim: SimulatorHandle, stack: Stack, users: list[str]) -> None:
    answer = sim.webhook([{"type": "follow", "userId": u} for u in users], url=stack.base_url + "/callback",
                         channel_secret=SECRET)
    assert answer["status"] == 200, answer


def accepted(sim: SimulatorHandle) -> Counter[tuple[str, str]]:
    """(user, marker) → how many times LINE accepted it."""
    found: Counter[tuple[str, str]] = Counter()
    for delivery in sim.deliveries():
        if delivery["endpoint"] in ("push", "multicast"):
            marker = delivery["messages"][0]["text"].split(" ", 1)[0]
            for user_id in delivery["to"]:
                found[(user_id, marker)] += 1
    return found


def deliveries(stack: Stack, status: str) -> list[dict[str, Any]]:
    code, body = admin(stack, "GET", f"/admin/api/deliveries?status={status}&limit=1000")
    assert code == 200, body
    return list(body["deliveries"])


def quota(stack: Stack) -> dict[str, Any]:
    code, body = admin(stack, "GET", "/admin/api/quota")
    assert code == 200, body
    (channel,) = [c for c in body["channels"] if c["channel"] == "default"]
    return dict(channel)


def sync(stack: Stack) -> dict[str, Any]:
    code, body = admin(stack, "POST", "/admin/api/quota/sync", b"{}", content_type="application/json")
    assert code == 200, body
    (channel,) = [c for c in body["channels"] if c["channel"] == "default"]
    return dict(channel)


def usage(sim: SimulatorHandle) -> int:
    return int(sim.stats()["channels"]["default"]["usage"])


def settled(check: Any, *, seconds: float = 6.0) -> None:
    """``check`` still holds after the scheduler and the resume task had time to do something wrong."""
    time.sleep(seconds)
    check()


def test_quota_holds_then_resumes_by_priority_each_once(stack: Stack, simulator: SimulatorHandle) -> None:
    simulator.config(quota_limit=5)
    start(stack)
    code, body = admin(stack, "PUT", "/admin/api/scenarios/q-hold", scenario("q-hold", "HOLD", priority=10))
    assert code == 201, body
    users = [f"Uquota{i:03d}" for i in range(10)]
    simulator.users(display_names={u: f"友{i}" for i, u in enumerate(users)})
    follow(simulator, stack, users)

    # limit 5, 10 friends due: exactly 5 accepted by LINE, 5 held
    wait_until(lambda: len(deliveries(stack, "held")) == 5 and len(accepted(simulator)) == 5, 60,
               "5 sent and 5 held")

    def five_and_five() -> None:
        assert usage(simulator) == 5
        assert sorted(accepted(simulator).values()) == [1] * 5
        held = deliveries(stack, "held")
        assert len(held) == 5 and {d["scenario_id"] for d in held} == {"q-hold"}, held
        assert {d["user_id"] for d in held}.isdisjoint({u for u, _ in accepted(simulator)})

    settled(five_and_five)
    status = quota(stack)
    assert status["limit"] == 5 and status["used"] == 5 and status["remaining"] == 0, status
    assert "100" in " ".join(map(str, status["alerts"])) or status["exhausted"], status

    # LINE raises the limit to 8: after a sync exactly three more go out, two stay held
    simulator.config(quota_limit=8)
    assert sync(stack)["limit"] == 8
    wait_until(lambda: len(accepted(simulator)) == 8, 30, "three held deliveries resumed")

    def eight_sent() -> None:
        assert usage(simulator) == 8 and sorted(accepted(simulator).values()) == [1] * 8
        assert len(deliveries(stack, "held")) == 2

    settled(eight_sent)

    # scarce quota goes to the higher-priority scenario first
    code, body = admin(stack, "PUT", "/admin/api/scenarios/q-vip", scenario("q-vip", "VIP", priority=90))
    assert code == 201, body
    vips = ["Uquotavip0", "Uquotavip1"]
    follow(simulator, stack, vips)
    wait_until(lambda: len(deliveries(stack, "held")) == 6, 30, "both scenarios hold for the new friends")
    simulator.config(quota_limit=10)
    assert sync(stack)["limit"] == 10
    wait_until(lambda: len(accepted(simulator)) == 10, 30, "two more sent")
    settled(lambda: None, seconds=2)
    sent_now = accepted(simulator)
    assert sent_now[(vips[0], "VIP")] == 1 and sent_now[(vips[1], "VIP")] == 1, sent_now
    assert usage(simulator) == 10

    # plenty of quota: everything held goes out, each exactly once
    simulator.config(quota_limit=1000)
    synced = sync(stack)
    assert synced["limit"] == 1000 and synced["exhausted"] is False, synced
    expected = {(u, "HOLD") for u in users + vips} | {(u, "VIP") for u in vips}
    wait_until(lambda: set(accepted(simulator)) == expected, 60, "every held delivery sent")

    def all_once() -> None:
        assert dict(accepted(simulator)) == dict.fromkeys(expected, 1)
        assert deliveries(stack, "held") == []
        assert usage(simulator) == len(expected)

    settled(all_once)
    first = [d for d in simulator.deliveries(to=users[0]) if d["endpoint"] == "push"]
    assert first[0]["messages"][0]["text"] == "HOLD 友0さん"
    assert quota(stack)["used"] == len(expected)


def test_quota_skip_policy_external_usage_metrics_and_readiness(stack: Stack, simulator: SimulatorHandle) -> None:
    simulator.config(quota_limit=10, external_usage=8)  # 8 sent from LINE Official Account Manager
    start(stack)
    code, body = admin(stack, "PUT", "/admin/api/scenarios/q-skip",
                       scenario("q-skip", "SKIP", priority=5, policy="skip"))
    assert code == 201, body
    synced = sync(stack)
    assert synced["limit"] == 10 and synced["used"] == 8 and synced["remaining"] == 2, synced

    users = [f"Uskip{i:03d}" for i in range(5)]
    follow(simulator, stack, users)
    wait_until(lambda: len(deliveries(stack, "skipped")) == 3 and len(accepted(simulator)) == 2, 60,
               "2 sent, 3 skipped")

    def two_sent_three_skipped() -> None:
        assert sorted(accepted(simulator).values()) == [1, 1]
        skipped = deliveries(stack, "skipped")
        assert len(skipped) == 3 and {d["scenario_id"] for d in skipped} == {"q-skip"}, skipped
        assert deliveries(stack, "held") == []
        assert simulator.stats()["channels"]["default"]["usage"] == 2

    settled(two_sent_three_skipped)
    status = quota(stack)
    assert status["limit"] == 10 and status["used"] == 10 and status["remaining"] == 0, status

    # skipped means skipped: more quota later does not send them
    simulator.config(quota_limit=100)
    assert sync(stack)["limit"] == 100
    settled(two_sent_three_skipped)

    # ops endpoints answer (no token needed for probes and Prometheus)
    with urllib.request.urlopen(stack.base_url + "/readyz", timeout=30) as response:
        assert response.status == 200
    with urllib.request.urlopen(stack.base_url + "/metrics", timeout=30) as response:
        assert response.status == 200
        metrics = response.read().decode()
    assert 'stepline_quota_limit_messages{channel="default"} 100.0' in metrics, metrics
    assert 'stepline_deliveries{' in metrics and 'status="skipped"' in metrics, metrics


def test_quota_scarce_for_identical_messages_multicast(stack: Stack, simulator: SimulatorHandle) -> None:
    """Same text for everyone (multicast-eligible): the limit still splits 5 sent / 5 held."""
    simulator.config(quota_limit=5)
    start(stack)
    # no variable: one multicast; due 4 s after the follow so one tick claims all ten together
    document = scenario("q-same", "SAME").replace(b"{display_name}", b"").replace(b"after: 0s", b"after: 4s")
    code, body = admin(stack, "PUT", "/admin/api/scenarios/q-same", document)
    assert code == 201, body
    sync(stack)
    users = [f"Usame{i:03d}" for i in range(10)]
    follow(simulator, stack, users)
    wait_until(lambda: len(deliveries(stack, "held")) == 5 and len(accepted(simulator)) == 5, 20,
               "5 sent and 5 held")
    settled(lambda: None, seconds=3)
    assert usage(simulator) == 5 and sorted(accepted(simulator).values()) == [1] * 5
    simulator.config(quota_limit=100)
    sync(stack)
    wait_until(lambda: len(accepted(simulator)) == 10, 60, "the held half sent")
    settled(lambda: None, seconds=3)
    assert dict(accepted(simulator)) == {(u, "SAME"): 1 for u in users}
    assert deliveries(stack, "held") == []
