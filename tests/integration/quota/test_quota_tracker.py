"""The quota ledger on a real database: reserve, release, exhaustion, month rollover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models.delivery import DELIVERY_QUEUED, Delivery
from app.models.quota import QuotaDay, QuotaMonth
from app.quota import tracker
from tests.factories import in_tx
from tests.integration.quota.quota_rows import MID_MARCH, Rows


def _status(channel: str = "default", now: datetime = MID_MARCH) -> tracker.QuotaStatus:
    with db.session() as session:
        return tracker.status(session, channel, now)


def test_limit_five_lets_exactly_five_of_ten_reservations_through(quota_app: object) -> None:
    results = [in_tx(tracker.reserve, "default", 1, MID_MARCH) for _ in range(10)]
    assert results.count(True) == 5
    assert results[:5] == [True] * 5
    status = _status()
    assert (status.limit, status.used, status.reserved, status.remaining) == (5, 5, 5, 0)
    assert status.percent == 100.0


def test_a_batch_that_does_not_fit_reserves_nothing(quota_app: object) -> None:
    assert in_tx(tracker.reserve, "default", 3, MID_MARCH)
    assert not in_tx(tracker.reserve, "default", 3, MID_MARCH)
    assert _status().reserved == 3


def test_reserve_flags_the_deliveries_and_release_gives_the_quota_back_once(rows: Rows) -> None:
    ids = [rows.delivery(due_at=MID_MARCH, status=DELIVERY_QUEUED) for _ in range(3)]
    assert in_tx(tracker.reserve, "default", 3, MID_MARCH, delivery_ids=ids)
    with db.session() as session:
        assert session.scalars(sa.select(Delivery.quota_reserved).where(Delivery.id.in_(ids))).all() == [True] * 3
    assert in_tx(tracker.release, "default", 3, MID_MARCH, delivery_ids=ids) == 3
    assert in_tx(tracker.release, "default", 3, MID_MARCH, delivery_ids=ids) == 0  # idempotent
    with db.session() as session:
        assert not any(session.scalars(sa.select(Delivery.quota_reserved).where(Delivery.id.in_(ids))))
    assert _status().reserved == 0


def test_release_without_ids_gives_back_the_count(quota_app: object) -> None:
    assert in_tx(tracker.reserve, "default", 4, MID_MARCH)
    assert in_tx(tracker.release, "default", 2, MID_MARCH) == 2
    assert in_tx(tracker.reserve, "default", 3, MID_MARCH)
    assert _status().reserved == 5


def test_mark_exhausted_stops_reservations_and_shows_the_whole_limit_used(quota_app: object) -> None:
    assert in_tx(tracker.reserve, "default", 1, MID_MARCH)
    in_tx(tracker.mark_exhausted, "default", MID_MARCH)
    assert not in_tx(tracker.reserve, "default", 1, MID_MARCH)
    status = _status()
    assert status.exhausted and status.used == 5 and status.remaining == 0
    assert status.external == 4  # LINE counted messages we did not send


def test_a_new_month_in_the_quota_time_zone_starts_fresh(quota_app: object) -> None:
    last_evening = datetime(2026, 3, 31, 14, 59, tzinfo=UTC)  # 23:59 JST, still March
    for _ in range(5):
        assert in_tx(tracker.reserve, "default", 1, last_evening)
    in_tx(tracker.mark_exhausted, "default", last_evening)
    assert not in_tx(tracker.reserve, "default", 1, last_evening)
    april = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # 00:00 JST on April 1st
    assert in_tx(tracker.reserve, "default", 1, april)
    status = _status(now=april)
    assert status.month == "2026-04" and status.reserved == 1 and not status.exhausted


def test_a_new_month_keeps_the_limit_line_told_us(quota_app: object) -> None:
    with db.transaction() as session:
        session.add(QuotaMonth(channel="default", month="2026-02", limit=2, reserved=0, external=0,
                               synced_at=MID_MARCH - timedelta(days=30)))
    assert [in_tx(tracker.reserve, "default", 1, MID_MARCH) for _ in range(3)] == [True, True, False]


def test_unlimited_when_no_plan_is_configured_and_line_never_answered(quota_app: object,
                                                                     monkeypatch: object) -> None:
    from app.quota import usage

    monkeypatch.setattr(usage, "quota_config", lambda settings=None: usage.QuotaConfig("Asia/Tokyo", None))  # type: ignore[attr-defined]
    monkeypatch.setattr(tracker, "quota_config", usage.quota_config)  # type: ignore[attr-defined]
    assert all(in_tx(tracker.reserve, "default", 100, MID_MARCH) for _ in range(5))
    status = _status()
    assert status.limit is None and status.remaining is None and status.percent is None


def test_channels_have_separate_quotas(quota_app: object) -> None:
    assert in_tx(tracker.reserve, "default", 5, MID_MARCH)
    assert in_tx(tracker.reserve, "shop", 5, MID_MARCH)
    assert not in_tx(tracker.reserve, "shop", 1, MID_MARCH)


def test_record_sent_counts_per_local_day(quota_app: object) -> None:
    in_tx(tracker.record_sent, "default", 2, datetime(2026, 3, 15, 14, 0, tzinfo=UTC))  # 23:00 JST on the 15th
    in_tx(tracker.record_sent, "default", 3, datetime(2026, 3, 15, 15, 30, tzinfo=UTC))  # 00:30 JST on the 16th
    in_tx(tracker.record_sent, "default", 1, datetime(2026, 3, 15, 16, 0, tzinfo=UTC))
    with db.session() as session:
        days = dict(session.execute(sa.select(QuotaDay.day, QuotaDay.sent)).all())
    assert days == {"2026-03-15": 2, "2026-03-16": 4}


def test_status_of_an_unused_month_shows_the_plan_without_writing(quota_app: object) -> None:
    status = _status()
    assert (status.limit, status.used, status.remaining, status.exhausted) == (5, 0, 5, False)
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(QuotaMonth)) == 0
    assert status.to_dict()["month"] == "2026-03"


def test_reserving_zero_is_free(quota_app: object) -> None:
    assert in_tx(tracker.reserve, "default", 0, datetime(2026, 3, 1, tzinfo=UTC))
