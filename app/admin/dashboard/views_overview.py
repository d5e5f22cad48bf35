"""Overview page: quota per channel (gauge, month chart, forecast, alerts) and the pipeline."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

from flask import render_template, request
from flask_babel import format_date
from flask_babel import gettext as _
from markupsafe import Markup

from app.admin.auth import requires
from app.admin.dashboard import charts
from app.admin.dashboard.blueprint import bp
from app.admin.dashboard.formatting import count
from app.current import current_settings
from app.models.base import utcnow
from app.quota import tracker
from app.quota.alerts import banner_text
from app.quota.forecast import Forecast
from app.quota.months import local
from app.quota.usage import reached_thresholds
from app.services import monitoring
from app.work import current_work

# the banner reflects usage now, whether or not this month's alert already fired
BANNER_THRESHOLDS = ["80", "100"]
REFRESH_SECONDS = 30  # the overview reloads itself (meta refresh, no JS); ?refresh=off stops it


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
    at_risk: bool = False
    risk_banner: str | None = None
    by_scenario: list[tuple[str, str, int]] | None = None  # (id, name, messages forecast)


def _cumulative_forecast(quota: tracker.QuotaStatus, projection: Forecast | None, today: int) -> list[tuple[int, int]]:
    """The forecast as a cumulative line: today's usage, then each remaining day (today included)."""
    if projection is None:
        return []
    points, total = [(today, quota.used)], quota.used
    for entry in projection.days:
        total += entry.messages
        points.append((entry.day.day, total))
    return points


def _panel(usage: monitoring.ChannelUsage, now: datetime) -> ChannelPanel:
    channel, quota, projection = usage.channel, usage.status, usage.forecast
    year, month = (int(part) for part in quota.month.split("-"))
    days_in_month = calendar.monthrange(year, month)[1]
    sent = usage.daily_sent
    today = local(now, current_settings().quota_timezone).day
    bars = [charts.DayBar(day, count) for day, count in sorted(sent.items())]
    banner = _banner(channel, quota)
    at_risk = projection is not None and projection.at_risk
    risk_banner = None
    if at_risk and projection is not None and projection.limit_reached_on is not None:
        risk_banner = _("Channel %(channel)s: at this pace the monthly limit is reached on %(day)s; "
                        "%(over)s messages will not fit (held or skipped).", channel=channel,
                        day=format_date(projection.limit_reached_on, "medium"), over=count(projection.over_by))
    return ChannelPanel(
        name=channel,
        quota=quota,
        forecast=projection,
        gauge=charts.quota_gauge(quota.used, quota.limit, exhausted=quota.exhausted,
                                 title=_("%(channel)s quota", channel=channel)),
        chart=charts.month_chart(bars, days_in_month, limit=quota.limit,
                                 forecast=_cumulative_forecast(quota, projection, today),
                                 month_label=f"{channel} {quota.month}"),
        banner=banner,
        level=charts.level(quota.percent, quota.exhausted),
        at_risk=at_risk,
        risk_banner=risk_banner,
        by_scenario=_by_scenario(usage),
    )


def _banner(channel: str, quota: tracker.QuotaStatus) -> str | None:
    """The 80 % / 100 % banner in the page's language (same conditions as ``banner_text``)."""
    if banner_text(channel, BANNER_THRESHOLDS, quota.used, quota.limit) is None:
        if quota.exhausted:
            return _("Channel %(channel)s: LINE reports the monthly limit reached; due pushes are held.",
                     channel=channel)
        return None
    reached = reached_thresholds(quota.used, quota.limit or 0)
    numbers = {"channel": channel, "used": count(quota.used), "limit": count(quota.limit or 0)}
    if 100 in reached:
        return _("Channel %(channel)s: monthly quota used up (%(used)s/%(limit)s); due pushes are held until "
                 "it returns.", **numbers)
    return _("Channel %(channel)s: %(used)s/%(limit)s messages used this month (over 80%%).", **numbers)


def _by_scenario(usage: monitoring.ChannelUsage) -> list[tuple[str, str, int]]:
    """The forecast's messages per scenario, largest first, with the scenario's name."""
    projection, names = usage.forecast, usage.scenario_names
    if projection is None or not projection.by_scenario:
        return []
    rows = [(sid, names.get(sid, sid), n) for sid, n in projection.by_scenario.items() if n]
    return sorted(rows, key=lambda row: (-row[2], row[0]))


@bp.route("", strict_slashes=False)
@requires("viewer")
def overview() -> str:
    """``/admin``: quota, forecast, alerts, pipeline, RQ and webhook traffic at a glance."""
    now = utcnow()
    seen = monitoring.overview(current_settings().channels, now)
    panels = [_panel(usage, now) for usage in seen.channels]
    pipeline, per_minute = seen.pipeline, seen.events_per_minute
    rq = monitoring.rq_state(current_work())
    refresh = None if request.args.get("refresh") == "off" else REFRESH_SECONDS
    return render_template(
        "dashboard/overview.html",
        section="overview",
        refresh=refresh,
        panels=panels,
        pipeline=pipeline,
        rq=rq,
        per_minute=per_minute,
        per_minute_chart=charts.minute_bars(per_minute, title=_("webhook events per minute")),
        now=now,
    )
