"""Quota months and days are calendar periods in the quota time zone (Asia/Tokyo by default)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local(now: datetime, timezone: str) -> datetime:
    """``now`` (aware) seen in the quota time zone."""
    return now.astimezone(ZoneInfo(timezone))


def month_key(now: datetime, timezone: str) -> str:
    """``YYYY-MM`` of the quota month containing ``now``."""
    return local(now, timezone).strftime("%Y-%m")


def day_key(now: datetime, timezone: str) -> str:
    """``YYYY-MM-DD`` of the local day containing ``now`` (the daily chart's bucket)."""
    return local(now, timezone).strftime("%Y-%m-%d")


def previous_month_key(key: str) -> str:
    """The month before ``key`` (``2026-01`` → ``2025-12``)."""
    year, month = (int(part) for part in key.split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def month_first_day(now: datetime, timezone: str) -> date:
    """First local calendar day of the quota month containing ``now``."""
    return local(now, timezone).date().replace(day=1)


def month_last_day(now: datetime, timezone: str) -> date:
    """Last local calendar day of the quota month containing ``now``."""
    first = month_first_day(now, timezone)
    next_first = (first + timedelta(days=32)).replace(day=1)
    return next_first - timedelta(days=1)


def month_bounds(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of the quota month containing ``now``, as aware UTC instants."""
    tz = ZoneInfo(timezone)
    first = month_first_day(now, timezone)
    next_first = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(next_first, time(), tzinfo=tz).astimezone(UTC)
    return start, end


def day_of(instant: datetime, timezone: str) -> date:
    """Local calendar date of ``instant`` in the quota time zone."""
    return local(instant, timezone).date()
