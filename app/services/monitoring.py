"""What staff watch: the overview, the outbox lists, a scenario's figures, each channel's quota and
the RQ state. Each function is one read in its own deferred transaction (never SQLite's write lock)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from app import heartbeat
from app.delivery import monitor, stats
from app.delivery.retry import list_deliveries
from app.extensions import db
from app.pagination import Page
from app.quota import tracker
from app.quota.forecast import Forecast, forecast
from app.services import clicks
from app.work import QueueState, Work, WorkerState


@dataclass(frozen=True)
class ChannelUsage:
    """One channel's month: the quota now, its forecast (None when it cannot be computed), the
    messages sent per day and the names of the scenarios the forecast counts."""

    channel: str
    status: tracker.QuotaStatus
    forecast: Forecast | None
    daily_sent: dict[int, int]
    scenario_names: dict[str, str]


@dataclass(frozen=True)
class Overview:
    """The overview page's data: every channel's usage, the pipeline and webhook traffic."""

    channels: list[ChannelUsage]
    pipeline: monitor.Pipeline
    events_per_minute: list[int]


def overview(configured: Iterable[str], now: datetime) -> Overview:
    """The configured channels and any that ever had a quota month, ``default`` first."""
    with db.read() as session:
        names = sorted(set(configured) | set(monitor.channels_with_quota(session)))
        names = sorted(names, key=lambda name: (name != "default", name)) or ["default"]
        return Overview([_usage(session, name, now) for name in names], monitor.pipeline(session, now),
                        monitor.events_per_minute(session, now))


def _usage(session: Session, channel: str, now: datetime) -> ChannelUsage:
    status = tracker.status(session, channel, now)
    try:
        projection: Forecast | None = forecast(session, channel, now)
    except Exception:  # noqa: BLE001 - a failing forecast must not hide the quota itself
        projection = None
    wanted = [sid for sid, n in projection.by_scenario.items() if n] if projection is not None else []
    return ChannelUsage(channel, status, projection, monitor.daily_sent(session, channel, status.month),
                        monitor.scenario_names(session, wanted))


def quota_statuses(channels: Iterable[str], now: datetime) -> list[tracker.QuotaStatus]:
    """This month's quota of each channel."""
    with db.read() as session:
        return [tracker.status(session, channel, now) for channel in channels]


def quota_forecast(channel: str, now: datetime) -> Forecast:
    """The month's projected usage of ``channel`` and the day its limit will be reached."""
    with db.read() as session:
        return forecast(session, channel, now)


def scenario_stats(scenario_id: str) -> stats.ScenarioStats:
    """A scenario's figures per step; clicks still buffered in Redis are stored first, so a click
    made a moment ago is counted."""
    clicks.drain_now()
    with db.read() as session:
        return stats.stats_for(session, scenario_id)


def deliveries(*, status: str | None, scenario_id: str | None, limit: int,
               before_id: int | None = None) -> list[dict[str, Any]]:
    """Newest deliveries (by id) with LINE's error, for the API and the CLI."""
    with db.read() as session:
        return list_deliveries(session, status=status, scenario_id=scenario_id, limit=limit, before_id=before_id)


def deliveries_page(status: str, page: int) -> Page:
    """One dashboard page of the deliveries in ``status`` with their friends."""
    with db.read() as session:
        return monitor.deliveries_by_status(session, status, page)


@dataclass
class RqState:
    """RQ queues, workers and the scheduler heartbeat; ``error`` set when Redis is unreachable."""

    queues: list[QueueState] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    heartbeat_age: float | None = None
    error: str | None = None


def rq_state(work: Work) -> RqState:
    """Queue depths, live workers and seconds since the scheduler's last tick (``app.heartbeat``)."""
    state = RqState()
    try:
        state.queues = work.queues()
        state.workers = work.workers()
        state.heartbeat_age = heartbeat.age_seconds()
    except (RedisError, OSError) as exc:
        state.error = f"Redis unavailable ({type(exc).__name__})"
    return state
