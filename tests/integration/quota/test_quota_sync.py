"""Reconciling with LINE (the simulator over HTTP): its limit wins, external usage counts, raises resume."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from app.extensions import db
from app.line.client import LineClient
from app.models.base import utcnow
from app.quota import tracker
from app.services.quota import sync_channel
from linesim.testing import SimulatorHandle
from tests.factories import in_tx


@pytest.fixture()
def line(sim: SimulatorHandle) -> Iterator[LineClient]:
    client = LineClient(sim.base_url, "test-token")
    yield client
    client.close()


def _push(line: LineClient, count: int) -> None:
    for _ in range(count):
        assert line.push(f"U{uuid.uuid4().hex}", [{"type": "text", "text": "hi"}], str(uuid.uuid4())).sent


def test_the_limit_line_reports_wins_over_the_configured_plan(quota_app: object, sim: SimulatorHandle,
                                                              line: LineClient) -> None:
    sim.config(quota_limit=20)
    status = sync_channel("default", line, utcnow())
    assert status.limit == 20 and status.synced_at is not None
    assert in_tx(tracker.reserve, "default", 20, utcnow())


def test_external_usage_from_the_consumption_api_is_respected(quota_app: object, sim: SimulatorHandle,
                                                             line: LineClient) -> None:
    sim.config(quota_limit=10, external_usage=6)  # e.g. a broadcast from LINE Official Account Manager
    status = sync_channel("default", line, utcnow())
    assert (status.external, status.used, status.remaining) == (6, 6, 4)
    assert not in_tx(tracker.reserve, "default", 5, utcnow())
    assert in_tx(tracker.reserve, "default", 4, utcnow())


def test_sent_messages_are_not_counted_twice_and_in_flight_ones_still_count(quota_app: object, sim: SimulatorHandle,
                                                                            line: LineClient) -> None:
    sim.config(quota_limit=100, external_usage=4)
    now = utcnow()
    assert in_tx(tracker.reserve, "default", 3, now)
    _push(line, 2)  # two of the three went out (LINE counts them), one is still in flight
    in_tx(tracker.record_sent, "default", 2, now)
    status = sync_channel("default", line, now)
    assert status.external == 4
    assert status.used == 7  # LINE's 6 + our 1 in flight


def test_usage_is_never_below_our_own_count(quota_app: object, sim: SimulatorHandle, line: LineClient) -> None:
    sim.config(quota_limit=100)
    assert in_tx(tracker.reserve, "default", 3, utcnow())
    in_tx(tracker.record_sent, "default", 3, utcnow())  # pushed to friends who blocked: LINE did not count them
    status = sync_channel("default", line, utcnow())
    assert (status.external, status.used) == (0, 3)


def test_raising_the_limit_clears_exhausted(quota_app: object, sim: SimulatorHandle, line: LineClient) -> None:
    sim.config(quota_limit=5)
    sync_channel("default", line, utcnow())
    assert in_tx(tracker.reserve, "default", 5, utcnow())
    in_tx(tracker.mark_exhausted, "default", utcnow())
    assert sync_channel("default", line, utcnow()).exhausted  # same limit: still exhausted
    sim.config(quota_limit=50)  # the plan was upgraded mid-month
    status = sync_channel("default", line, utcnow())
    assert not status.exhausted and status.remaining == 45
    assert in_tx(tracker.reserve, "default", 1, utcnow())


def test_a_plan_without_limit_is_unlimited(quota_app: object, sim: SimulatorHandle, line: LineClient) -> None:
    sim.config(quota_limit=None)
    status = sync_channel("default", line, utcnow())
    assert status.limit is None and status.remaining is None
    assert in_tx(tracker.reserve, "default", 10_000, utcnow())


def test_line_unavailable_keeps_the_configured_plan(quota_app: object) -> None:
    dead = LineClient("http://127.0.0.1:9", "test-token", connect_timeout=0.5, read_timeout=0.5)
    try:
        status = sync_channel("default", dead, utcnow())
    finally:
        dead.close()
    assert status.limit == 5 and status.synced_at is None
    with db.session() as session:
        assert tracker.status(session, "default", utcnow()).limit == 5
