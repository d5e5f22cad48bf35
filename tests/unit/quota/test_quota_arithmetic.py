"""Pure quota arithmetic: plans, months in the quota time zone, usage and thresholds."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.config import ConfigError
from app.metrics.recorder import bucket_label
from app.quota.months import day_key, month_bounds, month_key, month_last_day, previous_month_key
from app.quota.plans import plan_limit
from app.quota.usage import percent_of, reached_thresholds, remaining_of, used_of


@pytest.mark.parametrize(("plan", "limit"), [("communication", 200), ("Light", 5000), ("standard", 30000),
                                             ("12345", 12345), ("30_000", 30000), ("", None)])
def test_plans_name_their_monthly_limit(plan: str, limit: int | None) -> None:
    assert plan_limit(plan) == limit


def test_an_unknown_plan_says_what_is_expected() -> None:
    with pytest.raises(ConfigError, match="communication, light, standard"):
        plan_limit("premium")


def test_months_and_days_follow_the_quota_time_zone() -> None:
    instant = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # 2026-04-01 00:00 in Tokyo
    assert month_key(instant, "Asia/Tokyo") == "2026-04"
    assert month_key(instant, "UTC") == "2026-03"
    assert day_key(instant, "Asia/Tokyo") == "2026-04-01"
    start, end = month_bounds(instant, "Asia/Tokyo")
    assert start == datetime(2026, 3, 31, 15, 0, tzinfo=UTC) and end == datetime(2026, 4, 30, 15, 0, tzinfo=UTC)
    assert month_last_day(datetime(2028, 2, 10, tzinfo=UTC), "Asia/Tokyo") == date(2028, 2, 29)
    assert previous_month_key("2026-01") == "2025-12" and previous_month_key("2026-10") == "2026-09"


def test_usage_arithmetic() -> None:
    assert used_of(3, 2, 10, False) == 5
    assert used_of(3, 2, 10, True) == 10  # LINE said the limit is reached
    assert remaining_of(5, 10, False) == 5 and remaining_of(5, None, False) is None
    assert remaining_of(1, 10, True) == 0 and remaining_of(12, 10, False) == 0
    assert percent_of(4, 5) == 80.0 and percent_of(1, None) is None and percent_of(0, 0) == 100.0
    assert reached_thresholds(3, 5) == [] and reached_thresholds(4, 5) == [80]
    assert reached_thresholds(5, 5) == [80, 100] and reached_thresholds(10**6, None) == []


def test_latency_buckets() -> None:
    assert bucket_label(0.005) == "0.005" and bucket_label(0.0051) == "0.01" and bucket_label(11) == "+Inf"
