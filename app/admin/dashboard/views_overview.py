"""Overview page: quota per channel (gauge, month chart, forecast, alerts) and the pipeline."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

from flask import render_template
from markupsafe import Markup
from sqlalchemy.orm import Session

from app import current_settings
from app.admin.dashboard import bp, charts, queries
from app.extensions import db, redis_handle
from app.models.base import utcnow
from app.quota import tracker
from app.quota.alerts import banner_text
from app.quota.forecast import Forecast, forecast
from app.quota.months import local

# the banner reflects usage now, whether or not this month's alert already fired
BANNER_THRESHOLDS = ["80", "100"]


@dataclass(frozen=True)
class ChannelPanel:
    """Everything the overview shows for one channel."""

    name: str
    quota: tracker.QuotaStatus
    forecast: Forecast | None
    gauge: Markup
    chart: Markup
    banner: str | None
    level: str


def _channels(session: Session) -> list[str]:
    configured = list(current_settings().channels)
    names = sorted(set(configured) | set(queries.channels_with_quota(session)))
    return sorted(names, key=lambda name: (name != "default", name)) or ["default"]


def _cumulative_forecast(quota: tracker.QuotaStatus, projection: Forecast | None, today: int) -> list[tuple[int, int]]:
    """The forecast as a cumulative line: today's usage, then each remaining day (today included)."""
    if projection is None:
        return []
    points, total = [(today, quota.used)], quota.used
    for entry in projection.days:
        total += entry.messages
        points.append((entry.day.day, total))
    return points


def _panel(session: Session, channel: str, now: datetime) -> ChannelPanel:
    quota = tracker.status(session, channel, now)
    try:
        projection: Forecast | None = forecast(session, channel, now)
    except Exception:  # noqa: BLE001 - a failing forecast must not hide the quota itself
        projection = None
    year, month = (int(part) for part in quota.month.split("-"))
    days_in_month = calendar.monthrange(year, month)[1]
    sent = queries.daily_sent(session, channel, quota.month)
    today = local(now, current_settings().quota_timezone).day
    bars = [charts.DayBar(day, count) for day, count in sorted(sent.items())]
    banner = banner_text(channel, BANNER_THRESHOLDS, quota.used, quota.limit)
    if quota.exhausted and banner is None:
        banner = f"Channel {channel}: LINE reports the monthly limit reached; due pushes are held."
    return ChannelPanel(
        name=channel,
        quota=quota,
        forecast=projection,
        gauge=charts.quota_gauge(quota.used, quota.limit, exhausted=quota.exhausted, title=f"{channel} quota"),
        chart=charts.month_chart(bars, days_in_month, limit=quota.limit,
                                 forecast=_cumulative_forecast(quota, projection, today),
                                 month_label=f"{channel} {quota.month}"),
        banner=banner,
        level=charts.level(quota.percent, quota.exhausted),
    )


@bp.route("", strict_slashes=False)
def overview() -> str:
    """``/admin``: quota, forecast, alerts, pipeline, RQ and webhook traffic at a glance."""
    now = utcnow()
    with db.read() as session:
        panels = [_panel(session, channel, now) for channel in _channels(session)]
        pipeline = queries.pipeline(session, now)
        per_minute = queries.events_per_minute(session, now)
    rq = queries.rq_state(redis_handle.client)
    return render_template(
        "dashboard/overview.html",
        panels=panels,
        pipeline=pipeline,
        rq=rq,
        per_minute=per_minute,
        per_minute_chart=charts.minute_bars(per_minute),
        now=now,
    )
