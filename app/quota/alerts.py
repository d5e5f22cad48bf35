"""Quota alerts at 80 % and 100 %: a WARNING log, a metric and a dashboard banner, once per month each."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models.quota import QuotaMonth
from app.quota.months import month_key
from app.quota.usage import quota_config, reached_thresholds, used_of

log = logging.getLogger("stepline.quota")

_COLUMNS = {80: QuotaMonth.alert_80_at, 100: QuotaMonth.alert_100_at}


def check_alerts(session: Session, channel: str, now: datetime) -> list[str]:
    """Fire the thresholds reached this month that have not fired yet; returns them (``"80"``, ``"100"``).

    The conditional UPDATE (``WHERE alert_N_at IS NULL``) makes each threshold fire once per month
    even when several workers cross it at the same moment.
    """
    month = month_key(now, quota_config().timezone)
    row = session.execute(
        sa.select(QuotaMonth.reserved, QuotaMonth.external, QuotaMonth.limit, QuotaMonth.exhausted).where(
            QuotaMonth.channel == channel, QuotaMonth.month == month
        )
    ).first()
    if row is None:
        return []
    used = used_of(row.reserved, row.external, row.limit, row.exhausted)
    fired: list[str] = []
    for threshold in reached_thresholds(used, row.limit):
        column = _COLUMNS[threshold]
        result = session.execute(
            sa.update(QuotaMonth)
            .where(QuotaMonth.channel == channel, QuotaMonth.month == month, column.is_(None))
            .values({column.key: now})
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            fired.append(str(threshold))
            log.warning(
                "quota alert: channel %s reached %d%% of its monthly limit in %s (%d of %s messages)",
                channel, threshold, month, used, row.limit,
            )
            _count_alert(channel, threshold)
    return fired


def active_alerts(alert_80_at: datetime | None, alert_100_at: datetime | None) -> list[str]:
    """Thresholds that fired this month (what the dashboard banner shows)."""
    return [name for name, at in (("80", alert_80_at), ("100", alert_100_at)) if at is not None]


def banner_text(channel: str, alerts: list[str], used: int, limit: int | None) -> str | None:
    """One line for the dashboard banner while a fired threshold is still reached, else None."""
    if not alerts or limit is None:
        return None
    reached = reached_thresholds(used, limit)
    if 100 in reached:
        return f"Channel {channel}: monthly quota used up ({used}/{limit}); due pushes are held until it returns."
    if 80 in reached:
        return f"Channel {channel}: {used}/{limit} messages used this month (over 80%)."
    return None  # the limit was raised since the alert fired


def _count_alert(channel: str, threshold: int) -> None:
    from app.metrics.recorder import record_quota_alert  # metrics are best-effort, never a hard dependency

    record_quota_alert(channel, threshold)
