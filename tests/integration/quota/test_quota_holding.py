"""Held deliveries resume when quota returns: new month, raised limit; priority first, only what fits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.line.client import LineClient
from app.models.base import utcnow
from app.models.delivery import DELIVERY_HELD, DELIVERY_QUEUED, Delivery
from app.quota import holding, tracker
from app.services.quota import sync_channel
from linesim.testing import SimulatorHandle
from tests.factories import in_tx
from tests.integration.quota.quota_rows import MID_MARCH, Rows
from workers import delivery_jobs
from workers.queues import DELIVERIES, get_queue


def _statuses(ids: list[int]) -> list[str]:
    with db.session() as session:
        by_id = dict(session.execute(sa.select(Delivery.id, Delivery.status).where(Delivery.id.in_(ids))).all())
    return [by_id[i] for i in ids]


def _use_up(now: datetime) -> None:
    assert in_tx(tracker.reserve, "default", 5, now)
    in_tx(tracker.mark_exhausted, "default", now)


def test_nothing_resumes_while_the_quota_is_used_up(rows: Rows) -> None:
    _use_up(MID_MARCH)
    held = [rows.delivery(due_at=MID_MARCH) for _ in range(3)]
    assert in_tx(holding.resume_held, MID_MARCH) == []
    assert _statuses(held) == [DELIVERY_HELD] * 3


def test_held_deliveries_resume_when_the_month_rolls_over(rows: Rows) -> None:
    march_end = datetime(2026, 3, 31, 14, 0, tzinfo=UTC)  # 23:00 JST
    _use_up(march_end)
    held = [rows.delivery(due_at=march_end - timedelta(minutes=i)) for i in range(3)]
    assert in_tx(holding.resume_held, march_end + timedelta(minutes=59)) == []  # 23:59 JST: still March
    april = march_end + timedelta(hours=1)
    assert sorted(in_tx(holding.resume_held, april)) == sorted(held)
    assert _statuses(held) == [DELIVERY_QUEUED] * 3


def test_higher_priority_then_oldest_resume_first_and_only_what_fits(rows: Rows) -> None:
    assert in_tx(tracker.reserve, "default", 3, MID_MARCH)  # 2 of 5 left
    low_old = rows.delivery(due_at=MID_MARCH - timedelta(hours=5), priority=0, scenario_id="low")
    high_new = rows.delivery(due_at=MID_MARCH - timedelta(hours=1), priority=10, scenario_id="high")
    high_old = rows.delivery(due_at=MID_MARCH - timedelta(hours=2), priority=10, scenario_id="high")
    assert in_tx(holding.resume_held, MID_MARCH) == [high_old, high_new]
    assert _statuses([low_old]) == [DELIVERY_HELD]


def test_unreserved_queued_deliveries_take_their_share_first(rows: Rows) -> None:
    assert in_tx(tracker.reserve, "default", 3, MID_MARCH)
    rows.delivery(due_at=MID_MARCH, status=DELIVERY_QUEUED)  # will reserve 1 of the 2 left
    held = [rows.delivery(due_at=MID_MARCH + timedelta(seconds=i)) for i in range(3)]
    assert in_tx(holding.resume_held, MID_MARCH) == held[:1]


def test_a_multicast_group_resumes_whole_or_waits(rows: Rows) -> None:
    assert in_tx(tracker.reserve, "default", 3, MID_MARCH)  # 2 left
    group = [rows.delivery(due_at=MID_MARCH, priority=5, request_key="k-group") for _ in range(3)]
    single = rows.delivery(due_at=MID_MARCH + timedelta(minutes=1))
    assert in_tx(holding.resume_held, MID_MARCH) == [single]  # the group of 3 does not fit into 2
    assert in_tx(tracker.release, "default", 3, MID_MARCH) == 3
    assert in_tx(holding.resume_held, MID_MARCH) == group


def test_the_limit_parameter_bounds_one_run(rows: Rows) -> None:
    held = [rows.delivery(due_at=MID_MARCH + timedelta(seconds=i)) for i in range(4)]
    assert in_tx(holding.resume_held, MID_MARCH, limit=2) == held[:2]


def test_raising_the_limit_resumes_held_deliveries_and_enqueues_them(rows: Rows, sim: SimulatorHandle,
                                                                    quota_app: object) -> None:

    now = utcnow()
    line = LineClient(sim.base_url, "test-token")
    try:
        sim.config(quota_limit=5)
        sync_channel("default", line, now)
        _use_up(now)
        held = [rows.delivery(due_at=now - timedelta(seconds=i)) for i in range(3)]
        assert delivery_jobs.sweep_deliveries() == 0
        sim.config(quota_limit=7)
        assert not sync_channel("default", line, utcnow()).exhausted
    finally:
        line.close()
    assert delivery_jobs.sweep_deliveries() == 2  # the 2 new messages, oldest first
    assert _statuses(held) == [DELIVERY_HELD, DELIVERY_QUEUED, DELIVERY_QUEUED]
    jobs = get_queue(DELIVERIES).get_jobs()
    assert [job.args[0] for job in jobs] == [[held[2], held[1]]]
